//go:build !purego

#include "textflag.h"

// The Go assembler has no UMULL, MUL or CMHS for vectors: they are WORD encodings, each
// checked with aarch64-linux-gnu-objdump -d (the comment is its text).

// func maxNEON(dst, src *uint8, n int)
// R0 reads dst, R3 writes it back.
TEXT ·maxNEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	MOVD R0, R3

max64:
	CMP    $64, R2
	BLT    max16
	VLD1.P 64(R1), [V0.B16, V1.B16, V2.B16, V3.B16]
	VLD1.P 64(R0), [V4.B16, V5.B16, V6.B16, V7.B16]
	VUMAX  V4.B16, V0.B16, V0.B16
	VUMAX  V5.B16, V1.B16, V1.B16
	VUMAX  V6.B16, V2.B16, V2.B16
	VUMAX  V7.B16, V3.B16, V3.B16
	VST1.P [V0.B16, V1.B16, V2.B16, V3.B16], 64(R3)
	SUB    $64, R2
	B      max64

max16:
	CBZ    R2, maxdone
	VLD1.P 16(R1), [V0.B16]
	VLD1.P 16(R0), [V4.B16]
	VUMAX  V4.B16, V0.B16, V0.B16
	VST1.P [V0.B16], 16(R3)
	SUB    $16, R2
	B      max16

maxdone:
	RET

// func addWidenNEON(acc *uint16, src *uint8, n int)
TEXT ·addWidenNEON(SB), NOSPLIT, $0-24
	MOVD acc+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2

add16:
	CBZ     R2, adddone
	VLD1.P  16(R1), [V0.B16]
	VLD1    (R0), [V1.H8, V2.H8]
	VUADDW  V0.B8, V1.H8, V1.H8
	VUADDW2 V0.B16, V2.H8, V2.H8
	VST1.P  [V1.H8, V2.H8], 32(R0)
	SUB     $16, R2
	B       add16

adddone:
	RET

// func divRoundNEON(dst *uint8, sum *uint16, n, count int)
// V29 holds count/2, V30 count, V31 the multiplier.
TEXT ·divRoundNEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R0
	MOVD sum+8(FP), R1
	MOVD n+16(FP), R2
	MOVD count+24(FP), R3

	// m = min(65535, 65536/count)
	MOVD $65536, R4
	UDIV R3, R4, R4
	MOVD $65535, R5
	CMP  R5, R4
	CSEL HI, R5, R4, R4
	VDUP R4, V31.H8
	VDUP R3, V30.H8
	LSR  $1, R3, R3
	VDUP R3, V29.H8

div16:
	CBZ    R2, divdone
	VLD1.P 32(R1), [V0.H8, V1.H8]
	VADD   V29.H8, V0.H8, V0.H8
	VADD   V29.H8, V1.H8, V1.H8
	WORD   $0x2e7fc002 // umull v2.4s, v0.4h, v31.4h
	WORD   $0x6e7fc003 // umull2 v3.4s, v0.8h, v31.8h
	WORD   $0x2e7fc024 // umull v4.4s, v1.4h, v31.4h
	WORD   $0x6e7fc025 // umull2 v5.4s, v1.8h, v31.8h
	VUZP2  V3.H8, V2.H8, V2.H8
	VUZP2  V5.H8, V4.H8, V4.H8
	WORD   $0x4e7e9c46 // mul v6.8h, v2.8h, v30.8h
	WORD   $0x4e7e9c87 // mul v7.8h, v4.8h, v30.8h
	VSUB   V6.H8, V0.H8, V6.H8
	VSUB   V7.H8, V1.H8, V7.H8
	WORD   $0x6e7e3cc6 // cmhs v6.8h, v6.8h, v30.8h
	WORD   $0x6e7e3ce7 // cmhs v7.8h, v7.8h, v30.8h
	VSUB   V6.H8, V2.H8, V2.H8
	VSUB   V7.H8, V4.H8, V4.H8
	// The quotients are at most 255: the low byte of each halfword is all of it.
	VUZP1  V4.B16, V2.B16, V2.B16
	VST1.P [V2.B16], 16(R0)
	SUB    $16, R2
	B      div16

divdone:
	RET
