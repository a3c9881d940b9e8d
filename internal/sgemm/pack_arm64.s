//go:build !purego

#include "textflag.h"

// func copyRowsAsm(d *float32, ldd int, src *float32, lds, w, rows int)
TEXT ·copyRowsAsm(SB), NOSPLIT, $0-48
	MOVD d+0(FP), R0
	MOVD ldd+8(FP), R8
	MOVD src+16(FP), R2
	MOVD lds+24(FP), R3
	MOVD w+32(FP), R1
	MOVD rows+40(FP), R4
	LSL  $2, R8, R8 // bytes between rows of d
	LSL  $2, R3, R3 // bytes between rows of src

row:
	MOVD R0, R9 // destination position
	MOVD R2, R5 // source position
	MOVD R1, R6 // values left in the row

oct:
	CMP    $8, R6
	BLT    quad
	VLD1.P 32(R5), [V0.S4, V1.S4]
	VST1.P [V0.S4, V1.S4], 32(R9)
	SUB    $8, R6, R6
	B      oct

quad:
	CMP    $4, R6 // at most seven values are left
	BLT    pair
	VLD1.P 16(R5), [V0.S4]
	VST1.P [V0.S4], 16(R9)
	SUB    $4, R6, R6

pair:
	CMP    $2, R6 // at most three values are left
	BLT    single
	MOVD.P 8(R5), R7
	MOVD.P R7, 8(R9)
	SUB    $2, R6, R6

single:
	CBZ    R6, next
	MOVWU  (R5), R7
	MOVW   R7, (R9)

next:
	ADD  R8, R0, R0
	ADD  R3, R2, R2
	SUB  $1, R4, R4
	CBNZ R4, row
	RET

// func transpose4Asm(d *float32, w int, src *float32, ld, kb int)
TEXT ·transpose4Asm(SB), NOSPLIT, $0-40
	MOVD d+0(FP), R0
	MOVD w+8(FP), R1
	MOVD src+16(FP), R2
	MOVD ld+24(FP), R3
	MOVD kb+32(FP), R4
	LSL  $2, R1, R1 // bytes between rows of d
	LSL  $2, R3, R3 // bytes between rows of src
	ADD  R3, R2, R5 // source row 1
	ADD  R3, R5, R6 // source row 2
	ADD  R3, R6, R7 // source row 3
	LSR  $2, R4, R4 // blocks of four values

block:
	// Four values from each of source rows r0..r3 become four rows of d, 4 wide.
	VLD1.P 16(R2), [V0.S4]
	VLD1.P 16(R5), [V1.S4]
	VLD1.P 16(R6), [V2.S4]
	VLD1.P 16(R7), [V3.S4]
	VTRN1  V1.S4, V0.S4, V4.S4 // r0[0] r1[0] r0[2] r1[2]
	VTRN2  V1.S4, V0.S4, V5.S4 // r0[1] r1[1] r0[3] r1[3]
	VTRN1  V3.S4, V2.S4, V6.S4 // r2[0] r3[0] r2[2] r3[2]
	VTRN2  V3.S4, V2.S4, V7.S4 // r2[1] r3[1] r2[3] r3[3]
	VTRN1  V6.D2, V4.D2, V0.D2 // column 0
	VTRN1  V7.D2, V5.D2, V1.D2 // column 1
	VTRN2  V6.D2, V4.D2, V2.D2 // column 2
	VTRN2  V7.D2, V5.D2, V3.D2 // column 3
	VST1.P [V0.S4], (R0)(R1)
	VST1.P [V1.S4], (R0)(R1)
	VST1.P [V2.S4], (R0)(R1)
	VST1.P [V3.S4], (R0)(R1)
	SUB    $1, R4, R4
	CBNZ   R4, block
	RET
