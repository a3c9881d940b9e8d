//go:build !purego

#include "textflag.h"

// func axpyNEONAsm(n int, alpha float32, x, y *float32)
TEXT ·axpyNEONAsm(SB), NOSPLIT, $0-32
	MOVD  n+0(FP), R0
	FMOVS alpha+8(FP), F0
	MOVD  x+16(FP), R1
	MOVD  y+24(FP), R2
	VDUP  V0.S[0], V0.S4 // F0, the low lane, still holds alpha for the tail

loop16:
	CMP    $16, R0
	BLT    loop4
	VLD1.P 64(R1), [V1.S4, V2.S4, V3.S4, V4.S4]
	VLD1   (R2), [V5.S4, V6.S4, V7.S4, V8.S4]
	VFMLA  V0.S4, V1.S4, V5.S4
	VFMLA  V0.S4, V2.S4, V6.S4
	VFMLA  V0.S4, V3.S4, V7.S4
	VFMLA  V0.S4, V4.S4, V8.S4
	VST1.P [V5.S4, V6.S4, V7.S4, V8.S4], 64(R2)
	SUB    $16, R0, R0
	B      loop16

loop4:
	CMP    $4, R0 // at most 15 values are left
	BLT    tail
	VLD1.P 16(R1), [V1.S4]
	VLD1   (R2), [V5.S4]
	VFMLA  V0.S4, V1.S4, V5.S4
	VST1.P [V5.S4], 16(R2)
	SUB    $4, R0, R0
	B      loop4

tail:
	CBZ     R0, done // at most three values are left
	FMOVS.P 4(R1), F1
	FMOVS   (R2), F2
	FMADDS  F0, F2, F1, F2 // F2 += F1·F0
	FMOVS.P F2, 4(R2)
	SUB     $1, R0, R0
	B       tail

done:
	RET
