//go:build !purego

#include "textflag.h"

// func biasReLUAVX(c *float32, ldc, rows, cols int, b *float32, relu bool)
//
// Eight values at a time, then one. The max is VMAXPS with zero as its first source, which
// returns the second (the value) when either is NaN or both are zero; adding +0 then turns
// −0 into +0: max(v, 0) exactly as Go defines it.
TEXT ·biasReLUAVX(SB), NOSPLIT, $0-41
	MOVQ    c+0(FP), DI
	MOVQ    ldc+8(FP), R8
	SHLQ    $2, R8
	MOVQ    rows+16(FP), R9
	MOVQ    cols+24(FP), R10
	MOVQ    b+32(FP), SI
	MOVBQZX relu+40(FP), R11
	VXORPS  Y0, Y0, Y0

row:
	XORQ AX, AX

vec:
	LEAQ  8(AX), BX
	CMPQ  BX, R10
	JGT   tail
	VMOVUPS (DI)(AX*4), Y1
	TESTQ SI, SI
	JEQ   vecmax
	VADDPS (SI)(AX*4), Y1, Y1

vecmax:
	TESTQ  R11, R11
	JEQ    vecstore
	VMAXPS Y1, Y0, Y1
	VADDPS Y0, Y1, Y1

vecstore:
	VMOVUPS Y1, (DI)(AX*4)
	MOVQ    BX, AX
	JMP     vec

tail:
	CMPQ   AX, R10
	JGE    next
	VMOVSS (DI)(AX*4), X1
	TESTQ  SI, SI
	JEQ    tailmax
	VADDSS (SI)(AX*4), X1, X1

tailmax:
	TESTQ  R11, R11
	JEQ    tailstore
	VMAXSS X1, X0, X1
	VADDSS X0, X1, X1

tailstore:
	VMOVSS X1, (DI)(AX*4)
	INCQ   AX
	JMP    tail

next:
	ADDQ R8, DI
	DECQ R9
	JNZ  row
	VZEROUPPER
	RET
