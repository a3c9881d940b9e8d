//go:build !purego

#include "textflag.h"

// func maxAVX2(dst, src *uint8, n int)
TEXT ·maxAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	CMPQ CX, $64
	JB   max16

max64:
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VPMAXUB (DI), Y0, Y0
	VPMAXUB 32(DI), Y1, Y1
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JAE     max64

max16:
	TESTQ   CX, CX
	JZ      maxdone
	VMOVDQU (SI), X0
	VPMAXUB (DI), X0, X0
	VMOVDQU X0, (DI)
	ADDQ    $16, SI
	ADDQ    $16, DI
	SUBQ    $16, CX
	JMP     max16

maxdone:
	VZEROUPPER
	RET

// func addWidenAVX2(acc *uint16, src *uint8, n int)
TEXT ·addWidenAVX2(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	CMPQ CX, $32
	JB   add16

add32:
	VPMOVZXBW (SI), Y0
	VPMOVZXBW 16(SI), Y1
	VPADDW    (DI), Y0, Y0
	VPADDW    32(DI), Y1, Y1
	VMOVDQU   Y0, (DI)
	VMOVDQU   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $32, CX
	CMPQ      CX, $32
	JAE       add32

add16:
	TESTQ     CX, CX
	JZ        adddone
	VPMOVZXBW (SI), Y0
	VPADDW    (DI), Y0, Y0
	VMOVDQU   Y0, (DI)

adddone:
	VZEROUPPER
	RET

// DIVROUND16 turns the 16 sums at addr into their quotients (words) in q, with a, r as
// scratch: Y13 holds count/2, Y14 count, Y12 count−1, Y15 the multiplier.
#define DIVROUND16(addr, a, q, r) \
	VPADDW   addr, Y13, a; \
	VPMULHUW Y15, a, q; \
	VPMULLW  Y14, q, r; \
	VPSUBW   r, a, r; \
	VPCMPGTW Y12, r, r; \
	VPSUBW   r, q, q

// func divRoundAVX2(dst *uint8, sum *uint16, n, count int)
TEXT ·divRoundAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ sum+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ count+24(FP), BX

	// m = min(65535, 65536/count). The moves to X registers are VMOVD, not MOVL (legacy
	// SSE): on this project's EPYC machines the legacy form cost about 350 ns a call.
	MOVL    $65536, AX
	XORL    DX, DX
	DIVL    BX
	MOVL    $65535, DX
	CMPL    AX, DX
	CMOVLHI DX, AX
	VMOVD   AX, X15
	VPBROADCASTW X15, Y15
	VMOVD   BX, X14
	VPBROADCASTW X14, Y14
	LEAL    -1(BX), AX
	VMOVD   AX, X12
	VPBROADCASTW X12, Y12
	SHRL    $1, BX
	VMOVD   BX, X13
	VPBROADCASTW X13, Y13

	CMPQ CX, $32
	JB   div16

div32:
	DIVROUND16((SI), Y0, Y2, Y4)
	DIVROUND16(32(SI), Y1, Y3, Y5)
	// VPACKUSWB packs within 128-bit lanes; VPERMQ puts the four quadwords back in order.
	VPACKUSWB Y3, Y2, Y2
	VPERMQ    $0xd8, Y2, Y2
	VMOVDQU   Y2, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	SUBQ      $32, CX
	CMPQ      CX, $32
	JAE       div32

div16:
	TESTQ CX, CX
	JZ    divdone
	DIVROUND16((SI), Y0, Y2, Y4)
	VEXTRACTI128 $1, Y2, X3
	VPACKUSWB    X3, X2, X2
	VMOVDQU      X2, (DI)

divdone:
	VZEROUPPER
	RET
