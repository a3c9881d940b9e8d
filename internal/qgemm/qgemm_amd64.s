//go:build !purego

#include "textflag.h"

DATA lowbytes<>+0(SB)/4, $0x00ff00ff
GLOBL lowbytes<>(SB), RODATA|NOPTR, $4

DATA ones16<>+0(SB)/4, $0x00010001
GLOBL ones16<>(SB), RODATA|NOPTR, $4

DATA max8<>+0(SB)/8, $255
GLOBL max8<>(SB), RODATA|NOPTR, $8

// VNNIROW adds one row's 4 activations at addr times the 32 columns in Z24, Z25.
#define VNNIROW(addr, acc0, acc1) \
	VPBROADCASTD addr, Z26; \
	VPDPBUSD     Z24, Z26, acc0; \
	VPDPBUSD     Z25, Z26, acc1

// func gemmVNNI(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)
// Rows 0-3 are addressed from SI, 4-7 from R9, 8-11 from R10; row r's sums for columns 0-15 and
// 16-31 live in Z(2r) and Z(2r+1).
TEXT ·gemmVNNI(SB), NOSPLIT, $0-41
	MOVQ a+0(FP), SI
	MOVQ lda+8(FP), BX
	MOVQ w+16(FP), DI
	MOVQ kk+24(FP), CX
	MOVQ t+32(FP), DX
	LEAQ (BX)(BX*2), R8
	LEAQ (SI)(BX*4), R9
	LEAQ (R9)(BX*4), R10
	CMPB accum+40(FP), $0
	JEQ  vnnizero
	VMOVDQU32 0(DX), Z0
	VMOVDQU32 64(DX), Z1
	VMOVDQU32 128(DX), Z2
	VMOVDQU32 192(DX), Z3
	VMOVDQU32 256(DX), Z4
	VMOVDQU32 320(DX), Z5
	VMOVDQU32 384(DX), Z6
	VMOVDQU32 448(DX), Z7
	VMOVDQU32 512(DX), Z8
	VMOVDQU32 576(DX), Z9
	VMOVDQU32 640(DX), Z10
	VMOVDQU32 704(DX), Z11
	VMOVDQU32 768(DX), Z12
	VMOVDQU32 832(DX), Z13
	VMOVDQU32 896(DX), Z14
	VMOVDQU32 960(DX), Z15
	VMOVDQU32 1024(DX), Z16
	VMOVDQU32 1088(DX), Z17
	VMOVDQU32 1152(DX), Z18
	VMOVDQU32 1216(DX), Z19
	VMOVDQU32 1280(DX), Z20
	VMOVDQU32 1344(DX), Z21
	VMOVDQU32 1408(DX), Z22
	VMOVDQU32 1472(DX), Z23
	JMP  vnnistart

vnnizero:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23

vnnistart:
	SHRQ $2, CX
	JZ   vnnistore

vnniloop:
	VMOVDQU32 0(DI), Z24
	VMOVDQU32 64(DI), Z25
	VNNIROW((SI), Z0, Z1)
	VNNIROW((SI)(BX*1), Z2, Z3)
	VNNIROW((SI)(BX*2), Z4, Z5)
	VNNIROW((SI)(R8*1), Z6, Z7)
	VNNIROW((R9), Z8, Z9)
	VNNIROW((R9)(BX*1), Z10, Z11)
	VNNIROW((R9)(BX*2), Z12, Z13)
	VNNIROW((R9)(R8*1), Z14, Z15)
	VNNIROW((R10), Z16, Z17)
	VNNIROW((R10)(BX*1), Z18, Z19)
	VNNIROW((R10)(BX*2), Z20, Z21)
	VNNIROW((R10)(R8*1), Z22, Z23)
	ADDQ $4, SI
	ADDQ $4, R9
	ADDQ $4, R10
	ADDQ $128, DI
	DECQ CX
	JNZ  vnniloop

vnnistore:
	VMOVDQU32 Z0, 0(DX)
	VMOVDQU32 Z1, 64(DX)
	VMOVDQU32 Z2, 128(DX)
	VMOVDQU32 Z3, 192(DX)
	VMOVDQU32 Z4, 256(DX)
	VMOVDQU32 Z5, 320(DX)
	VMOVDQU32 Z6, 384(DX)
	VMOVDQU32 Z7, 448(DX)
	VMOVDQU32 Z8, 512(DX)
	VMOVDQU32 Z9, 576(DX)
	VMOVDQU32 Z10, 640(DX)
	VMOVDQU32 Z11, 704(DX)
	VMOVDQU32 Z12, 768(DX)
	VMOVDQU32 Z13, 832(DX)
	VMOVDQU32 Z14, 896(DX)
	VMOVDQU32 Z15, 960(DX)
	VMOVDQU32 Z16, 1024(DX)
	VMOVDQU32 Z17, 1088(DX)
	VMOVDQU32 Z18, 1152(DX)
	VMOVDQU32 Z19, 1216(DX)
	VMOVDQU32 Z20, 1280(DX)
	VMOVDQU32 Z21, 1344(DX)
	VMOVDQU32 Z22, 1408(DX)
	VMOVDQU32 Z23, 1472(DX)
	VZEROUPPER
	RET

// AVX2ROW adds one row's 4 activations at addr times the 16 columns at DI. Y15 holds
// 0x00ff00ff in every dword: the broadcast dword (a0 a1 a2 a3) ANDed with it is the word pair
// (a0, a2), shifted right by 8 per word it is (a1, a3).
#define AVX2ROW(addr, acc0, acc1) \
	VPBROADCASTD addr, Y12; \
	VPSRLW       $8, Y12, Y13; \
	VPAND        Y15, Y12, Y12; \
	VPMADDWD     0(DI), Y12, Y14; \
	VPADDD       Y14, acc0, acc0; \
	VPMADDWD     32(DI), Y12, Y14; \
	VPADDD       Y14, acc1, acc1; \
	VPMADDWD     64(DI), Y13, Y14; \
	VPADDD       Y14, acc0, acc0; \
	VPMADDWD     96(DI), Y13, Y14; \
	VPADDD       Y14, acc1, acc1

// MADDUBSROW adds one row's 4 activations at addr times the 16 columns at DI (two vectors of
// 8 dwords). VPMADDUBSW takes its first source as unsigned bytes, the second (the weights) as
// signed; Y15 holds 1 in every word, so VPMADDWD adds each int16 pair into an int32.
#define MADDUBSROW(addr, acc0, acc1) \
	VPBROADCASTD addr, Y12; \
	VPMADDUBSW   0(DI), Y12, Y13; \
	VPMADDWD     Y15, Y13, Y13; \
	VPADDD       Y13, acc0, acc0; \
	VPMADDUBSW   32(DI), Y12, Y14; \
	VPMADDWD     Y15, Y14, Y14; \
	VPADDD       Y14, acc1, acc1

// The two AVX2 kernels share their 6×16 int32 tile in Y0-Y11 (row r's columns 0-7 and 8-15 in
// Y(2r) and Y(2r+1)), their arguments and their row addressing: rows 0-3 from SI, 4-5 from R9.
#define TILE6X16ARGS \
	MOVQ a+0(FP), SI; \
	MOVQ lda+8(FP), BX; \
	MOVQ w+16(FP), DI; \
	MOVQ kk+24(FP), CX; \
	MOVQ t+32(FP), DX; \
	LEAQ (BX)(BX*2), R8; \
	LEAQ (SI)(BX*4), R9

#define TILE6X16LOAD \
	VMOVDQU 0(DX), Y0; \
	VMOVDQU 32(DX), Y1; \
	VMOVDQU 64(DX), Y2; \
	VMOVDQU 96(DX), Y3; \
	VMOVDQU 128(DX), Y4; \
	VMOVDQU 160(DX), Y5; \
	VMOVDQU 192(DX), Y6; \
	VMOVDQU 224(DX), Y7; \
	VMOVDQU 256(DX), Y8; \
	VMOVDQU 288(DX), Y9; \
	VMOVDQU 320(DX), Y10; \
	VMOVDQU 352(DX), Y11

#define TILE6X16ZERO \
	VPXOR Y0, Y0, Y0; \
	VPXOR Y1, Y1, Y1; \
	VPXOR Y2, Y2, Y2; \
	VPXOR Y3, Y3, Y3; \
	VPXOR Y4, Y4, Y4; \
	VPXOR Y5, Y5, Y5; \
	VPXOR Y6, Y6, Y6; \
	VPXOR Y7, Y7, Y7; \
	VPXOR Y8, Y8, Y8; \
	VPXOR Y9, Y9, Y9; \
	VPXOR Y10, Y10, Y10; \
	VPXOR Y11, Y11, Y11

#define TILE6X16STORE \
	VMOVDQU Y0, 0(DX); \
	VMOVDQU Y1, 32(DX); \
	VMOVDQU Y2, 64(DX); \
	VMOVDQU Y3, 96(DX); \
	VMOVDQU Y4, 128(DX); \
	VMOVDQU Y5, 160(DX); \
	VMOVDQU Y6, 192(DX); \
	VMOVDQU Y7, 224(DX); \
	VMOVDQU Y8, 256(DX); \
	VMOVDQU Y9, 288(DX); \
	VMOVDQU Y10, 320(DX); \
	VMOVDQU Y11, 352(DX)

// func gemmAVX2(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)
TEXT ·gemmAVX2(SB), NOSPLIT, $0-41
	TILE6X16ARGS
	VPBROADCASTD lowbytes<>(SB), Y15
	CMPB accum+40(FP), $0
	JEQ  avx2zero
	TILE6X16LOAD
	JMP  avx2start

avx2zero:
	TILE6X16ZERO

avx2start:
	SHRQ $2, CX
	JZ   avx2store

avx2loop:
	AVX2ROW((SI), Y0, Y1)
	AVX2ROW((SI)(BX*1), Y2, Y3)
	AVX2ROW((SI)(BX*2), Y4, Y5)
	AVX2ROW((SI)(R8*1), Y6, Y7)
	AVX2ROW((R9), Y8, Y9)
	AVX2ROW((R9)(BX*1), Y10, Y11)
	ADDQ $4, SI
	ADDQ $4, R9
	ADDQ $128, DI
	DECQ CX
	JNZ  avx2loop

avx2store:
	TILE6X16STORE
	VZEROUPPER
	RET

// func gemmAVX2Maddubs(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)
TEXT ·gemmAVX2Maddubs(SB), NOSPLIT, $0-41
	TILE6X16ARGS
	VPBROADCASTD ones16<>(SB), Y15
	CMPB accum+40(FP), $0
	JEQ  mbzero
	TILE6X16LOAD
	JMP  mbstart

mbzero:
	TILE6X16ZERO

mbstart:
	SHRQ $2, CX
	JZ   mbstore

mbloop:
	MADDUBSROW((SI), Y0, Y1)
	MADDUBSROW((SI)(BX*1), Y2, Y3)
	MADDUBSROW((SI)(BX*2), Y4, Y5)
	MADDUBSROW((SI)(R8*1), Y6, Y7)
	MADDUBSROW((R9), Y8, Y9)
	MADDUBSROW((R9)(BX*1), Y10, Y11)
	ADDQ $4, SI
	ADDQ $4, R9
	ADDQ $64, DI
	DECQ CX
	JNZ  mbloop

mbstore:
	TILE6X16STORE
	VZEROUPPER
	RET

// func requantAVX512(t *int32, rows, nr int, bias, mult *int32, rnd, shift *int64, c *uint8, ldc int)
// Per 16 columns (outer loop) the parameters stay in Z16-Z22; per row (inner loop) the even
// lanes' 64-bit products go through Z1, the odd lanes' through Z2. acc ≤ 0 needs no branch:
// max(acc, 0) = 0 requantizes to 0 since the rounding term is below 2^s.
TEXT ·requantAVX512(SB), NOSPLIT, $0-72
	MOVQ t+0(FP), SI
	MOVQ nr+16(FP), R10
	MOVQ bias+24(FP), R11
	MOVQ mult+32(FP), R12
	MOVQ rnd+40(FP), R13
	MOVQ shift+48(FP), R14
	MOVQ c+56(FP), DI
	MOVQ ldc+64(FP), DX
	LEAQ 0(R10*4), BX
	VPXORD       Z31, Z31, Z31
	VPBROADCASTQ max8<>(SB), Z23

q16chunk:
	VMOVDQU32 (R11), Z16
	VMOVDQU32 (R12), Z17
	VPSRLQ    $32, Z17, Z18
	VMOVDQU64 (R13), Z19
	VMOVDQU64 64(R13), Z20
	VMOVDQU64 (R14), Z21
	VMOVDQU64 64(R14), Z22
	MOVQ      rows+8(FP), CX
	MOVQ      SI, AX
	MOVQ      DI, R9

q16row:
	VPADDD   (AX), Z16, Z0
	VPMAXSD  Z31, Z0, Z0
	VPMULUDQ Z17, Z0, Z1
	VPSRLQ   $32, Z0, Z2
	VPMULUDQ Z18, Z2, Z2
	VPADDQ   Z19, Z1, Z1
	VPADDQ   Z20, Z2, Z2
	VPSRLVQ  Z21, Z1, Z1
	VPSRLVQ  Z22, Z2, Z2
	VPMINUQ  Z23, Z1, Z1
	VPMINUQ  Z23, Z2, Z2
	VPSLLQ   $32, Z2, Z2
	VPORQ    Z2, Z1, Z1
	VPMOVDB  Z1, (R9)
	ADDQ     BX, AX
	ADDQ     DX, R9
	DECQ     CX
	JNZ      q16row

	ADDQ $64, SI
	ADDQ $64, R11
	ADDQ $64, R12
	ADDQ $128, R13
	ADDQ $128, R14
	ADDQ $16, DI
	SUBQ $16, R10
	JNZ  q16chunk
	VZEROUPPER
	RET

// func requantAVX512Hi(t *int32, rows, nr int, bias, mult, rnd, shift *int32, c *uint8, ldc int)
// requantAVX512 for panels whose shifts are all 33 or more: with hi = ⌊acc·m / 2^32⌋,
// Requantize(acc) = (hi + 2^(s−33)) >> (s−32) exactly (the low 32 bits of the product and the
// rest of the rounding term cannot carry past a multiple of 2^(s−32)), so the 64-bit adds, shifts
// and minimums become 32-bit ones on the product's high halves: ten instructions per 16 outputs
// instead of fourteen. The even lanes' high halves move down a dword, the odd lanes' are in
// place (merged under K1 = the odd lanes); VPMOVUSDB clamps to 255. rnd and shift are 2^(s−33)
// and s−32 per column, in natural order.
TEXT ·requantAVX512Hi(SB), NOSPLIT, $0-72
	MOVQ t+0(FP), SI
	MOVQ nr+16(FP), R10
	MOVQ bias+24(FP), R11
	MOVQ mult+32(FP), R12
	MOVQ rnd+40(FP), R13
	MOVQ shift+48(FP), R14
	MOVQ c+56(FP), DI
	MOVQ ldc+64(FP), DX
	LEAQ 0(R10*4), BX
	VPXORD Z31, Z31, Z31
	MOVL   $0xAAAA, AX
	KMOVW  AX, K1

h16chunk:
	VMOVDQU32 (R11), Z16
	VMOVDQU32 (R12), Z17
	VPSRLQ    $32, Z17, Z18
	VMOVDQU32 (R13), Z19
	VMOVDQU32 (R14), Z20
	MOVQ      rows+8(FP), CX
	MOVQ      SI, AX
	MOVQ      DI, R9

h16row:
	VPADDD    (AX), Z16, Z0
	VPMAXSD   Z31, Z0, Z0
	VPMULUDQ  Z17, Z0, Z1
	VPSRLQ    $32, Z0, Z2
	VPMULUDQ  Z18, Z2, Z2
	VPSRLQ    $32, Z1, Z1
	VMOVDQA32 Z2, K1, Z1
	VPADDD    Z19, Z1, Z1
	VPSRLVD   Z20, Z1, Z1
	VPMOVUSDB Z1, (R9)
	ADDQ      BX, AX
	ADDQ      DX, R9
	DECQ      CX
	JNZ       h16row

	ADDQ $64, SI
	ADDQ $64, R11
	ADDQ $64, R12
	ADDQ $64, R13
	ADDQ $64, R14
	ADDQ $16, DI
	SUBQ $16, R10
	JNZ  h16chunk
	VZEROUPPER
	RET

// func requantAVX2(t *int32, rows, nr int, bias, mult *int32, rnd, shift *int64, c *uint8, ldc int)
// As requantAVX512 with 8 lanes; AVX2 has no unsigned 64-bit minimum, so values over 255 are
// found with a signed compare (they are below 2^63) and replaced by a blend.
TEXT ·requantAVX2(SB), NOSPLIT, $0-72
	MOVQ t+0(FP), SI
	MOVQ nr+16(FP), R10
	MOVQ bias+24(FP), R11
	MOVQ mult+32(FP), R12
	MOVQ rnd+40(FP), R13
	MOVQ shift+48(FP), R14
	MOVQ c+56(FP), DI
	MOVQ ldc+64(FP), DX
	LEAQ 0(R10*4), BX
	VPXOR        Y15, Y15, Y15
	VPBROADCASTQ max8<>(SB), Y7

q8chunk:
	VMOVDQU (R11), Y8
	VMOVDQU (R12), Y9
	VPSRLQ  $32, Y9, Y10
	VMOVDQU (R13), Y11
	VMOVDQU 32(R13), Y12
	VMOVDQU (R14), Y13
	VMOVDQU 32(R14), Y14
	MOVQ    rows+8(FP), CX
	MOVQ    SI, AX
	MOVQ    DI, R9

q8row:
	VPADDD       (AX), Y8, Y0
	VPMAXSD      Y15, Y0, Y0
	VPMULUDQ     Y9, Y0, Y1
	VPSRLQ       $32, Y0, Y2
	VPMULUDQ     Y10, Y2, Y2
	VPADDQ       Y11, Y1, Y1
	VPADDQ       Y12, Y2, Y2
	VPSRLVQ      Y13, Y1, Y1
	VPSRLVQ      Y14, Y2, Y2
	VPCMPGTQ     Y7, Y1, Y3
	VPBLENDVB    Y3, Y7, Y1, Y1
	VPCMPGTQ     Y7, Y2, Y4
	VPBLENDVB    Y4, Y7, Y2, Y2
	VPSLLQ       $32, Y2, Y2
	VPOR         Y2, Y1, Y1
	VEXTRACTI128 $1, Y1, X2
	VPACKUSDW    X2, X1, X1
	VPACKUSWB    X1, X1, X1
	VMOVQ        X1, (R9)
	ADDQ         BX, AX
	ADDQ         DX, R9
	DECQ         CX
	JNZ          q8row

	ADDQ $32, SI
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $64, R13
	ADDQ $64, R14
	ADDQ $8, DI
	SUBQ $8, R10
	JNZ  q8chunk
	VZEROUPPER
	RET

// func requantAVX2Hi(t *int32, rows, nr int, bias, mult, rnd, shift *int32, c *uint8, ldc int)
// requantAVX512Hi with 8 lanes: the odd lanes' high halves merge by VPBLENDD; values are below
// 2^31, so VPMINUD clamps them and the signed packs keep them.
TEXT ·requantAVX2Hi(SB), NOSPLIT, $0-72
	MOVQ t+0(FP), SI
	MOVQ nr+16(FP), R10
	MOVQ bias+24(FP), R11
	MOVQ mult+32(FP), R12
	MOVQ rnd+40(FP), R13
	MOVQ shift+48(FP), R14
	MOVQ c+56(FP), DI
	MOVQ ldc+64(FP), DX
	LEAQ 0(R10*4), BX
	VPXOR        Y15, Y15, Y15
	VPBROADCASTD max8<>(SB), Y7

h8chunk:
	VMOVDQU (R11), Y8
	VMOVDQU (R12), Y9
	VPSRLQ  $32, Y9, Y10
	VMOVDQU (R13), Y11
	VMOVDQU (R14), Y12
	MOVQ    rows+8(FP), CX
	MOVQ    SI, AX
	MOVQ    DI, R9

h8row:
	VPADDD       (AX), Y8, Y0
	VPMAXSD      Y15, Y0, Y0
	VPMULUDQ     Y9, Y0, Y1
	VPSRLQ       $32, Y0, Y2
	VPMULUDQ     Y10, Y2, Y2
	VPSRLQ       $32, Y1, Y1
	VPBLENDD     $0xAA, Y2, Y1, Y1
	VPADDD       Y11, Y1, Y1
	VPSRLVD      Y12, Y1, Y1
	VPMINUD      Y7, Y1, Y1
	VEXTRACTI128 $1, Y1, X2
	VPACKUSDW    X2, X1, X1
	VPACKUSWB    X1, X1, X1
	VMOVQ        X1, (R9)
	ADDQ         BX, AX
	ADDQ         DX, R9
	DECQ         CX
	JNZ          h8row

	ADDQ $32, SI
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $32, R13
	ADDQ $32, R14
	ADDQ $8, DI
	SUBQ $8, R10
	JNZ  h8chunk
	VZEROUPPER
	RET

// The peak probes run a kernel's multiply-accumulate instructions on registers only: 12
// independent accumulators, no loads, so that only the arithmetic issue rate limits them.

#define PEAKWD(acc) VPMADDWD Y13, Y12, Y14; VPADDD Y14, acc, acc
#define PEAKUBS(acc) VPMADDUBSW Y13, Y12, Y14; VPMADDWD Y15, Y14, Y14; VPADDD Y14, acc, acc
#define PEAKVNNI(acc) VPDPBUSD Z13, Z12, acc

// func peakAVX2(n int): n iterations of 12 VPMADDWD+VPADDD, 16 multiply-adds each.
TEXT ·peakAVX2(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
pwdloop:
	PEAKWD(Y0); PEAKWD(Y1); PEAKWD(Y2); PEAKWD(Y3); PEAKWD(Y4); PEAKWD(Y5)
	PEAKWD(Y6); PEAKWD(Y7); PEAKWD(Y8); PEAKWD(Y9); PEAKWD(Y10); PEAKWD(Y11)
	DECQ CX
	JNZ  pwdloop
	VZEROUPPER
	RET

// func peakAVX2Maddubs(n int): n iterations of 12 VPMADDUBSW+VPMADDWD+VPADDD, 32
// multiply-adds each.
TEXT ·peakAVX2Maddubs(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
pubsloop:
	PEAKUBS(Y0); PEAKUBS(Y1); PEAKUBS(Y2); PEAKUBS(Y3); PEAKUBS(Y4); PEAKUBS(Y5)
	PEAKUBS(Y6); PEAKUBS(Y7); PEAKUBS(Y8); PEAKUBS(Y9); PEAKUBS(Y10); PEAKUBS(Y11)
	DECQ CX
	JNZ  pubsloop
	VZEROUPPER
	RET

// func peakVNNI(n int): n iterations of 12 VPDPBUSD, 64 multiply-adds each.
TEXT ·peakVNNI(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
pvnniloop:
	PEAKVNNI(Z0); PEAKVNNI(Z1); PEAKVNNI(Z2); PEAKVNNI(Z3); PEAKVNNI(Z4); PEAKVNNI(Z5)
	PEAKVNNI(Z6); PEAKVNNI(Z7); PEAKVNNI(Z8); PEAKVNNI(Z9); PEAKVNNI(Z10); PEAKVNNI(Z11)
	DECQ CX
	JNZ  pvnniloop
	VZEROUPPER
	RET
