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

// func transpose4Asm(d *float32, w int, src *float32, ld, kb int)
TEXT ·transpose4Asm(SB), NOSPLIT, $0-40
	MOVQ     d+0(FP), DI
	MOVQ     w+8(FP), R8
	MOVQ     src+16(FP), SI
	MOVQ     ld+24(FP), DX
	MOVQ     kb+32(FP), CX
	SHLQ     $2, R8                // bytes between rows of d
	SHLQ     $2, DX                // bytes between rows of src
	LEAQ     (R8)(R8*2), R9        // three rows of d
	LEAQ     (SI)(DX*2), R10       // source row 2
	SHRQ     $2, CX                // blocks of four values

block:
	// Four values from each of source rows r0..r3 become four rows of d, 4 wide.
	MOVUPS   (SI), X0
	MOVUPS   (SI)(DX*1), X1
	MOVUPS   (R10), X2
	MOVUPS   (R10)(DX*1), X3
	MOVAPS   X0, X4
	UNPCKLPS X1, X0                // r0[0] r1[0] r0[1] r1[1]
	UNPCKHPS X1, X4                // r0[2] r1[2] r0[3] r1[3]
	MOVAPS   X2, X5
	UNPCKLPS X3, X2                // r2[0] r3[0] r2[1] r3[1]
	UNPCKHPS X3, X5                // r2[2] r3[2] r2[3] r3[3]
	MOVAPS   X0, X6
	MOVLHPS  X2, X0                // column 0
	MOVHLPS  X6, X2                // column 1
	MOVAPS   X4, X7
	MOVLHPS  X5, X4                // column 2
	MOVHLPS  X7, X5                // column 3
	MOVUPS   X0, (DI)
	MOVUPS   X2, (DI)(R8*1)
	MOVUPS   X4, (DI)(R8*2)
	MOVUPS   X5, (DI)(R9*1)
	ADDQ     $16, SI
	ADDQ     $16, R10
	LEAQ     (DI)(R8*4), DI
	DECQ     CX
	JNZ      block
	RET
