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

// The lane numbers 0..7, the offsets of eight channels from the first.
DATA lanes<>+0(SB)/4, $0
DATA lanes<>+4(SB)/4, $1
DATA lanes<>+8(SB)/4, $2
DATA lanes<>+12(SB)/4, $3
DATA lanes<>+16(SB)/4, $4
DATA lanes<>+20(SB)/4, $5
DATA lanes<>+24(SB)/4, $6
DATA lanes<>+28(SB)/4, $7
GLOBL lanes<>(SB), RODATA|NOPTR, $32

// func maxArgAVX2(dst *float32, idx *int32, src *float32, n int, base int32)
//
// The comparison is ordered greater-than (false when either side is NaN), as Go's >; the
// winners' values and indices are selected with blends.
TEXT ·maxArgAVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         idx+8(FP), DX
	MOVQ         src+16(FP), SI
	MOVQ         n+24(FP), CX
	MOVL         base+32(FP), AX
	MOVL         AX, X0
	VPBROADCASTD X0, Y0
	VPADDD       lanes<>(SB), Y0, Y0 // the indices of this group of eight
	MOVL         $8, AX
	MOVL         AX, X1
	VPBROADCASTD X1, Y1                // 8 in every lane: the step between groups
	XORQ         AX, AX

loop:
	VMOVUPS   (SI)(AX*4), Y2          // v
	VMOVUPS   (DI)(AX*4), Y3          // d
	VCMPPS    $0x1e, Y3, Y2, Y4       // v > d (GT_OQ)
	VBLENDVPS Y4, Y2, Y3, Y3
	VMOVUPS   Y3, (DI)(AX*4)
	VMOVDQU   (DX)(AX*4), Y5
	VBLENDVPS Y4, Y0, Y5, Y5
	VMOVDQU   Y5, (DX)(AX*4)
	VPADDD    Y1, Y0, Y0
	ADDQ      $8, AX
	CMPQ      AX, CX
	JLT       loop
	VZEROUPPER
	RET
