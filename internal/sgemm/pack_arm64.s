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
