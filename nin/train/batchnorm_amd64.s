//go:build !purego

#include "textflag.h"

// The batch-norm passes, eight channels at a time along each row, then the next row (stride
// bytes on). Each does the Go contract's operations in its order, with its roundings: no
// FMA, sums widened to float64 before each addition, so results are the same bit for bit.

// func bnStatsAVX2(z *float32, rows, c8, stride int, s, sq *float64)
TEXT ·bnStatsAVX2(SB), NOSPLIT, $0-48
	MOVQ z+0(FP), SI
	MOVQ rows+8(FP), R9
	MOVQ c8+16(FP), R10
	MOVQ stride+24(FP), R11
	MOVQ s+32(FP), DX
	MOVQ sq+40(FP), R8
	SHLQ $2, R11

statsRow:
	XORQ AX, AX

statsVec:
	VMOVUPS      (SI)(AX*4), Y1
	VCVTPS2PD    X1, Y2
	VEXTRACTF128 $1, Y1, X3
	VCVTPS2PD    X3, Y3
	VADDPD       (DX)(AX*8), Y2, Y4
	VADDPD       32(DX)(AX*8), Y3, Y5
	VMOVUPD      Y4, (DX)(AX*8)
	VMOVUPD      Y5, 32(DX)(AX*8)
	VMULPD       Y2, Y2, Y2
	VMULPD       Y3, Y3, Y3
	VADDPD       (R8)(AX*8), Y2, Y2
	VADDPD       32(R8)(AX*8), Y3, Y3
	VMOVUPD      Y2, (R8)(AX*8)
	VMOVUPD      Y3, 32(R8)(AX*8)
	ADDQ         $8, AX
	CMPQ         AX, R10
	JLT          statsVec
	ADDQ         R11, SI
	DECQ         R9
	JNZ          statsRow
	VZEROUPPER
	RET

// func bnApplyReLUAVX2(z, y *float32, rows, c8, stride int, scale, shift *float32)
//
// max(u, 0) is VMAXPS with u first (u > 0 ? u : +0, so −0 gives +0 as Go's max does), then
// NaN lanes take u back: Go's max returns NaN, and a diverging run must show it.
TEXT ·bnApplyReLUAVX2(SB), NOSPLIT, $0-56
	MOVQ   z+0(FP), SI
	MOVQ   y+8(FP), DI
	MOVQ   rows+16(FP), R9
	MOVQ   c8+24(FP), R10
	MOVQ   stride+32(FP), R11
	MOVQ   scale+40(FP), BX
	MOVQ   shift+48(FP), CX
	SHLQ   $2, R11
	VXORPS Y0, Y0, Y0

applyRow:
	XORQ AX, AX

applyVec:
	VMOVUPS   (SI)(AX*4), Y1
	VMULPS    (BX)(AX*4), Y1, Y1
	VADDPS    (CX)(AX*4), Y1, Y1
	VMAXPS    Y0, Y1, Y2
	VCMPPS    $3, Y1, Y1, Y3
	VBLENDVPS Y3, Y1, Y2, Y2
	VMOVUPS   Y2, (DI)(AX*4)
	ADDQ      $8, AX
	CMPQ      AX, R10
	JLT       applyVec
	ADDQ      R11, SI
	ADDQ      R11, DI
	DECQ      R9
	JNZ       applyRow
	VZEROUPPER
	RET

// func bnGradStatsReLUAVX2(z, dy *float32, rows, c8, stride int, scale, shift, mean, invStd *float32, sg, sgx *float64)
//
// The ReLU mask is the sign of u = z·scale + shift spread over the word (reluMask).
TEXT ·bnGradStatsReLUAVX2(SB), NOSPLIT, $0-88
	MOVQ z+0(FP), SI
	MOVQ dy+8(FP), DI
	MOVQ rows+16(FP), R9
	MOVQ c8+24(FP), R10
	MOVQ stride+32(FP), R11
	MOVQ scale+40(FP), BX
	MOVQ shift+48(FP), CX
	MOVQ mean+56(FP), R12
	MOVQ invStd+64(FP), R13
	MOVQ sg+72(FP), DX
	MOVQ sgx+80(FP), R8
	SHLQ $2, R11

gstatsRow:
	XORQ AX, AX

gstatsVec:
	VMOVUPS      (SI)(AX*4), Y1
	VMULPS       (BX)(AX*4), Y1, Y2
	VADDPS       (CX)(AX*4), Y2, Y2
	VPSRAD       $31, Y2, Y2
	VANDNPS      (DI)(AX*4), Y2, Y2
	VSUBPS       (R12)(AX*4), Y1, Y1
	VMULPS       (R13)(AX*4), Y1, Y1
	VCVTPS2PD    X2, Y3
	VEXTRACTF128 $1, Y2, X4
	VCVTPS2PD    X4, Y4
	VCVTPS2PD    X1, Y5
	VEXTRACTF128 $1, Y1, X6
	VCVTPS2PD    X6, Y6
	VADDPD       (DX)(AX*8), Y3, Y7
	VMOVUPD      Y7, (DX)(AX*8)
	VADDPD       32(DX)(AX*8), Y4, Y7
	VMOVUPD      Y7, 32(DX)(AX*8)
	VMULPD       Y5, Y3, Y3
	VMULPD       Y6, Y4, Y4
	VADDPD       (R8)(AX*8), Y3, Y3
	VADDPD       32(R8)(AX*8), Y4, Y4
	VMOVUPD      Y3, (R8)(AX*8)
	VMOVUPD      Y4, 32(R8)(AX*8)
	ADDQ         $8, AX
	CMPQ         AX, R10
	JLT          gstatsVec
	ADDQ         R11, SI
	ADDQ         R11, DI
	DECQ         R9
	JNZ          gstatsRow
	VZEROUPPER
	RET

// func bnGradApplyReLUAVX2(z, dy *float32, rows, c8, stride int, scale, shift, a, k, m *float32)
TEXT ·bnGradApplyReLUAVX2(SB), NOSPLIT, $0-80
	MOVQ z+0(FP), SI
	MOVQ dy+8(FP), DI
	MOVQ rows+16(FP), R9
	MOVQ c8+24(FP), R10
	MOVQ stride+32(FP), R11
	MOVQ scale+40(FP), BX
	MOVQ shift+48(FP), CX
	MOVQ a+56(FP), R12
	MOVQ k+64(FP), R13
	MOVQ m+72(FP), DX
	SHLQ $2, R11

gapplyRow:
	XORQ AX, AX

gapplyVec:
	VMOVUPS (SI)(AX*4), Y1
	VMULPS  (BX)(AX*4), Y1, Y2
	VADDPS  (CX)(AX*4), Y2, Y2
	VPSRAD  $31, Y2, Y2
	VANDNPS (DI)(AX*4), Y2, Y2
	VMULPS  (R12)(AX*4), Y2, Y2
	VMULPS  (R13)(AX*4), Y1, Y1
	VADDPS  Y1, Y2, Y2
	VADDPS  (DX)(AX*4), Y2, Y2
	VMOVUPS Y2, (DI)(AX*4)
	ADDQ    $8, AX
	CMPQ    AX, R10
	JLT     gapplyVec
	ADDQ    R11, SI
	ADDQ    R11, DI
	DECQ    R9
	JNZ     gapplyRow
	VZEROUPPER
	RET
