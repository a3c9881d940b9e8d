//go:build !purego

#include "textflag.h"

// func copyRowsAsm(d *float32, ldd int, src *float32, lds, w, rows int)
TEXT ·copyRowsAsm(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ ldd+8(FP), R10
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), DX
	MOVQ w+32(FP), CX
	MOVQ rows+40(FP), BX
	SHLQ $2, R10 // bytes between rows of d
	SHLQ $2, DX  // bytes between rows of src

row:
	XORQ AX, AX // byte offset in the row
	MOVQ CX, R8 // values left in the row

oct:
	CMPQ   R8, $8
	JLT    quad
	MOVUPS (SI)(AX*1), X0
	MOVUPS 16(SI)(AX*1), X1
	MOVUPS X0, (DI)(AX*1)
	MOVUPS X1, 16(DI)(AX*1)
	ADDQ   $32, AX
	SUBQ   $8, R8
	JMP    oct

quad:
	CMPQ   R8, $4 // at most seven values are left
	JLT    pair
	MOVUPS (SI)(AX*1), X0
	MOVUPS X0, (DI)(AX*1)
	ADDQ   $16, AX
	SUBQ   $4, R8

pair:
	CMPQ R8, $2 // at most three values are left
	JLT  single
	MOVQ (SI)(AX*1), R9
	MOVQ R9, (DI)(AX*1)
	ADDQ $8, AX
	SUBQ $2, R8

single:
	TESTQ R8, R8
	JZ    next
	MOVL  (SI)(AX*1), R9
	MOVL  R9, (DI)(AX*1)

next:
	ADDQ R10, DI
	ADDQ DX, SI
	DECQ BX
	JNZ  row
	RET
