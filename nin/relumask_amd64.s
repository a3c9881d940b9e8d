//go:build !purego

#include "textflag.h"

// func reluMaskRowsAVX2(y, dy *float32, rows, c int, p *float64)
//
// Eight channels at a time, then one. The mask is the sign of bits(y) − 1, spread over the
// word, as reluMask computes it; the sums are the Go loop's, channel by channel in row order,
// widened to float64 before each addition, so the result is the same bit for bit.
TEXT ·reluMaskRowsAVX2(SB), NOSPLIT, $0-40
	MOVQ    y+0(FP), SI
	MOVQ    dy+8(FP), DI
	MOVQ    rows+16(FP), R9
	MOVQ    c+24(FP), R10
	MOVQ    p+32(FP), DX
	VPCMPEQD Y0, Y0, Y0 // −1 in every lane

row:
	XORQ AX, AX

vec:
	LEAQ     8(AX), BX
	CMPQ     BX, R10
	JGT      tail
	VMOVDQU  (SI)(AX*4), Y1
	VPADDD   Y0, Y1, Y1
	VPSRAD   $31, Y1, Y1
	VPANDN   (DI)(AX*4), Y1, Y1
	VMOVDQU  Y1, (DI)(AX*4)
	VCVTPS2PD X1, Y2
	VEXTRACTF128 $1, Y1, X3
	VCVTPS2PD X3, Y3
	VADDPD   (DX)(AX*8), Y2, Y2
	VADDPD   32(DX)(AX*8), Y3, Y3
	VMOVUPD  Y2, (DX)(AX*8)
	VMOVUPD  Y3, 32(DX)(AX*8)
	MOVQ     BX, AX
	JMP      vec

tail:
	CMPQ     AX, R10
	JGE      next
	VMOVD    (SI)(AX*4), X1
	VPADDD   X0, X1, X1
	VPSRAD   $31, X1, X1
	VMOVD    (DI)(AX*4), X2
	VPANDN   X2, X1, X1
	VMOVD    X1, (DI)(AX*4)
	VCVTSS2SD X1, X1, X2
	VADDSD   (DX)(AX*8), X2, X2
	VMOVSD   X2, (DX)(AX*8)
	INCQ     AX
	JMP      tail

next:
	LEAQ (SI)(R10*4), SI
	LEAQ (DI)(R10*4), DI
	DECQ R9
	JNZ  row
	VZEROUPPER
	RET
