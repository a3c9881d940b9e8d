//go:build !purego

#include "textflag.h"

// The Go assembler has no SDOT, SMLAL, UXTL, SMAX, SMULL, URSHL or UQXTN for vectors: they are
// WORD encodings, each checked with aarch64-linux-gnu-objdump -d (the comment is its text).

// SDOTLANE0 adds B's dwords for 4 k in V10, V11 times lane 0 of each row's activations
// (V0-V7) into the row sums V16-V31.
#define SDOTLANE0 \
	WORD   $0x4f80e150; /* sdot v16.4s, v10.16b, v0.4b[0] */ \
	WORD   $0x4f80e171; /* sdot v17.4s, v11.16b, v0.4b[0] */ \
	WORD   $0x4f81e152; /* sdot v18.4s, v10.16b, v1.4b[0] */ \
	WORD   $0x4f81e173; /* sdot v19.4s, v11.16b, v1.4b[0] */ \
	WORD   $0x4f82e154; /* sdot v20.4s, v10.16b, v2.4b[0] */ \
	WORD   $0x4f82e175; /* sdot v21.4s, v11.16b, v2.4b[0] */ \
	WORD   $0x4f83e156; /* sdot v22.4s, v10.16b, v3.4b[0] */ \
	WORD   $0x4f83e177; /* sdot v23.4s, v11.16b, v3.4b[0] */ \
	WORD   $0x4f84e158; /* sdot v24.4s, v10.16b, v4.4b[0] */ \
	WORD   $0x4f84e179; /* sdot v25.4s, v11.16b, v4.4b[0] */ \
	WORD   $0x4f85e15a; /* sdot v26.4s, v10.16b, v5.4b[0] */ \
	WORD   $0x4f85e17b; /* sdot v27.4s, v11.16b, v5.4b[0] */ \
	WORD   $0x4f86e15c; /* sdot v28.4s, v10.16b, v6.4b[0] */ \
	WORD   $0x4f86e17d; /* sdot v29.4s, v11.16b, v6.4b[0] */ \
	WORD   $0x4f87e15e; /* sdot v30.4s, v10.16b, v7.4b[0] */ \
	WORD   $0x4f87e17f; /* sdot v31.4s, v11.16b, v7.4b[0] */

// SMLALLANE0 adds B's row in V10 times lane 0 of each row's widened activations (V0-V7)
// into the row sums V16-V31.
#define SMLALLANE0 \
	WORD   $0xf402150; /* smlal v16.4s, v10.4h, v0.h[0] */ \
	WORD   $0x4f402151; /* smlal2 v17.4s, v10.8h, v0.h[0] */ \
	WORD   $0xf412152; /* smlal v18.4s, v10.4h, v1.h[0] */ \
	WORD   $0x4f412153; /* smlal2 v19.4s, v10.8h, v1.h[0] */ \
	WORD   $0xf422154; /* smlal v20.4s, v10.4h, v2.h[0] */ \
	WORD   $0x4f422155; /* smlal2 v21.4s, v10.8h, v2.h[0] */ \
	WORD   $0xf432156; /* smlal v22.4s, v10.4h, v3.h[0] */ \
	WORD   $0x4f432157; /* smlal2 v23.4s, v10.8h, v3.h[0] */ \
	WORD   $0xf442158; /* smlal v24.4s, v10.4h, v4.h[0] */ \
	WORD   $0x4f442159; /* smlal2 v25.4s, v10.8h, v4.h[0] */ \
	WORD   $0xf45215a; /* smlal v26.4s, v10.4h, v5.h[0] */ \
	WORD   $0x4f45215b; /* smlal2 v27.4s, v10.8h, v5.h[0] */ \
	WORD   $0xf46215c; /* smlal v28.4s, v10.4h, v6.h[0] */ \
	WORD   $0x4f46215d; /* smlal2 v29.4s, v10.8h, v6.h[0] */ \
	WORD   $0xf47215e; /* smlal v30.4s, v10.4h, v7.h[0] */ \
	WORD   $0x4f47215f; /* smlal2 v31.4s, v10.8h, v7.h[0] */

// func gemmSDOT(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)
// R0-R7 walk rows 0-7, whose 16 activations (as a−128) sit in V0-V7; row r's sums for columns
// 0-3 and 4-7 live in V(16+2r) and V(17+2r). B's dwords for 4 k come in V10, V11 (even k
// groups) and V12, V13 (odd).
TEXT ·gemmSDOT(SB), NOSPLIT, $0-41
	MOVD a+0(FP), R0
	MOVD lda+8(FP), R11
	MOVD w+16(FP), R8
	MOVD kk+24(FP), R9
	MOVD t+32(FP), R10
	ADD  R11, R0, R1
	ADD  R11, R1, R2
	ADD  R11, R2, R3
	ADD  R11, R3, R4
	ADD  R11, R4, R5
	ADD  R11, R5, R6
	ADD  R11, R6, R7
	VMOVI $128, V8.B16

	MOVBU accum+40(FP), R12
	CBZ   R12, sdotzero
	MOVD  R10, R12
	VLD1.P 64(R12), [V16.S4, V17.S4, V18.S4, V19.S4]
	VLD1.P 64(R12), [V20.S4, V21.S4, V22.S4, V23.S4]
	VLD1.P 64(R12), [V24.S4, V25.S4, V26.S4, V27.S4]
	VLD1   (R12), [V28.S4, V29.S4, V30.S4, V31.S4]
	B     sdotstart

sdotzero:
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
	VEOR V28.B16, V28.B16, V28.B16
	VEOR V29.B16, V29.B16, V29.B16
	VEOR V30.B16, V30.B16, V30.B16
	VEOR V31.B16, V31.B16, V31.B16

sdotstart:
	LSR  $4, R9, R9
	CBZ  R9, sdotstore

sdotloop:
	VLD1.P 16(R0), [V0.B16]
	VLD1.P 16(R1), [V1.B16]
	VLD1.P 16(R2), [V2.B16]
	VLD1.P 16(R3), [V3.B16]
	VLD1.P 16(R4), [V4.B16]
	VLD1.P 16(R5), [V5.B16]
	VLD1.P 16(R6), [V6.B16]
	VLD1.P 16(R7), [V7.B16]
	VEOR   V8.B16, V0.B16, V0.B16
	VEOR   V8.B16, V1.B16, V1.B16
	VEOR   V8.B16, V2.B16, V2.B16
	VEOR   V8.B16, V3.B16, V3.B16
	VEOR   V8.B16, V4.B16, V4.B16
	VEOR   V8.B16, V5.B16, V5.B16
	VEOR   V8.B16, V6.B16, V6.B16
	VEOR   V8.B16, V7.B16, V7.B16
	VLD1.P 32(R8), [V10.B16, V11.B16]
	SDOTLANE0
	VLD1.P 32(R8), [V12.B16, V13.B16]
	WORD   $0x4fa0e190 // sdot v16.4s, v12.16b, v0.4b[1]
	WORD   $0x4fa0e1b1 // sdot v17.4s, v13.16b, v0.4b[1]
	WORD   $0x4fa1e192 // sdot v18.4s, v12.16b, v1.4b[1]
	WORD   $0x4fa1e1b3 // sdot v19.4s, v13.16b, v1.4b[1]
	WORD   $0x4fa2e194 // sdot v20.4s, v12.16b, v2.4b[1]
	WORD   $0x4fa2e1b5 // sdot v21.4s, v13.16b, v2.4b[1]
	WORD   $0x4fa3e196 // sdot v22.4s, v12.16b, v3.4b[1]
	WORD   $0x4fa3e1b7 // sdot v23.4s, v13.16b, v3.4b[1]
	WORD   $0x4fa4e198 // sdot v24.4s, v12.16b, v4.4b[1]
	WORD   $0x4fa4e1b9 // sdot v25.4s, v13.16b, v4.4b[1]
	WORD   $0x4fa5e19a // sdot v26.4s, v12.16b, v5.4b[1]
	WORD   $0x4fa5e1bb // sdot v27.4s, v13.16b, v5.4b[1]
	WORD   $0x4fa6e19c // sdot v28.4s, v12.16b, v6.4b[1]
	WORD   $0x4fa6e1bd // sdot v29.4s, v13.16b, v6.4b[1]
	WORD   $0x4fa7e19e // sdot v30.4s, v12.16b, v7.4b[1]
	WORD   $0x4fa7e1bf // sdot v31.4s, v13.16b, v7.4b[1]
	VLD1.P 32(R8), [V10.B16, V11.B16]
	WORD   $0x4f80e950 // sdot v16.4s, v10.16b, v0.4b[2]
	WORD   $0x4f80e971 // sdot v17.4s, v11.16b, v0.4b[2]
	WORD   $0x4f81e952 // sdot v18.4s, v10.16b, v1.4b[2]
	WORD   $0x4f81e973 // sdot v19.4s, v11.16b, v1.4b[2]
	WORD   $0x4f82e954 // sdot v20.4s, v10.16b, v2.4b[2]
	WORD   $0x4f82e975 // sdot v21.4s, v11.16b, v2.4b[2]
	WORD   $0x4f83e956 // sdot v22.4s, v10.16b, v3.4b[2]
	WORD   $0x4f83e977 // sdot v23.4s, v11.16b, v3.4b[2]
	WORD   $0x4f84e958 // sdot v24.4s, v10.16b, v4.4b[2]
	WORD   $0x4f84e979 // sdot v25.4s, v11.16b, v4.4b[2]
	WORD   $0x4f85e95a // sdot v26.4s, v10.16b, v5.4b[2]
	WORD   $0x4f85e97b // sdot v27.4s, v11.16b, v5.4b[2]
	WORD   $0x4f86e95c // sdot v28.4s, v10.16b, v6.4b[2]
	WORD   $0x4f86e97d // sdot v29.4s, v11.16b, v6.4b[2]
	WORD   $0x4f87e95e // sdot v30.4s, v10.16b, v7.4b[2]
	WORD   $0x4f87e97f // sdot v31.4s, v11.16b, v7.4b[2]
	VLD1.P 32(R8), [V12.B16, V13.B16]
	WORD   $0x4fa0e990 // sdot v16.4s, v12.16b, v0.4b[3]
	WORD   $0x4fa0e9b1 // sdot v17.4s, v13.16b, v0.4b[3]
	WORD   $0x4fa1e992 // sdot v18.4s, v12.16b, v1.4b[3]
	WORD   $0x4fa1e9b3 // sdot v19.4s, v13.16b, v1.4b[3]
	WORD   $0x4fa2e994 // sdot v20.4s, v12.16b, v2.4b[3]
	WORD   $0x4fa2e9b5 // sdot v21.4s, v13.16b, v2.4b[3]
	WORD   $0x4fa3e996 // sdot v22.4s, v12.16b, v3.4b[3]
	WORD   $0x4fa3e9b7 // sdot v23.4s, v13.16b, v3.4b[3]
	WORD   $0x4fa4e998 // sdot v24.4s, v12.16b, v4.4b[3]
	WORD   $0x4fa4e9b9 // sdot v25.4s, v13.16b, v4.4b[3]
	WORD   $0x4fa5e99a // sdot v26.4s, v12.16b, v5.4b[3]
	WORD   $0x4fa5e9bb // sdot v27.4s, v13.16b, v5.4b[3]
	WORD   $0x4fa6e99c // sdot v28.4s, v12.16b, v6.4b[3]
	WORD   $0x4fa6e9bd // sdot v29.4s, v13.16b, v6.4b[3]
	WORD   $0x4fa7e99e // sdot v30.4s, v12.16b, v7.4b[3]
	WORD   $0x4fa7e9bf // sdot v31.4s, v13.16b, v7.4b[3]
	SUBS   $1, R9, R9
	BNE    sdotloop

sdotstore:
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R10)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R10)
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R10)
	VST1   [V28.S4, V29.S4, V30.S4, V31.S4], (R10)
	RET

// func gemmNEON(a *uint8, lda int, w *byte, kk int, t *int32, accum bool)
// R0-R7 walk rows 0-7, whose 8 activations (widened to int16) sit in V0-V7; row r's sums for
// columns 0-3 and 4-7 live in V(16+2r) and V(17+2r). B's row of 8 int16 for one k comes in V10
// (even k) or V11 (odd).
TEXT ·gemmNEON(SB), NOSPLIT, $0-41
	MOVD a+0(FP), R0
	MOVD lda+8(FP), R11
	MOVD w+16(FP), R8
	MOVD kk+24(FP), R9
	MOVD t+32(FP), R10
	ADD  R11, R0, R1
	ADD  R11, R1, R2
	ADD  R11, R2, R3
	ADD  R11, R3, R4
	ADD  R11, R4, R5
	ADD  R11, R5, R6
	ADD  R11, R6, R7

	MOVBU accum+40(FP), R12
	CBZ   R12, neonzero
	MOVD  R10, R12
	VLD1.P 64(R12), [V16.S4, V17.S4, V18.S4, V19.S4]
	VLD1.P 64(R12), [V20.S4, V21.S4, V22.S4, V23.S4]
	VLD1.P 64(R12), [V24.S4, V25.S4, V26.S4, V27.S4]
	VLD1   (R12), [V28.S4, V29.S4, V30.S4, V31.S4]
	B     neonstart

neonzero:
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
	VEOR V28.B16, V28.B16, V28.B16
	VEOR V29.B16, V29.B16, V29.B16
	VEOR V30.B16, V30.B16, V30.B16
	VEOR V31.B16, V31.B16, V31.B16

neonstart:
	LSR  $3, R9, R9
	CBZ  R9, neonstore

neonloop:
	VLD1.P 8(R0), [V0.B8]
	VLD1.P 8(R1), [V1.B8]
	VLD1.P 8(R2), [V2.B8]
	VLD1.P 8(R3), [V3.B8]
	VLD1.P 8(R4), [V4.B8]
	VLD1.P 8(R5), [V5.B8]
	VLD1.P 8(R6), [V6.B8]
	VLD1.P 8(R7), [V7.B8]
	WORD   $0x2f08a400 // uxtl v0.8h, v0.8b
	WORD   $0x2f08a421 // uxtl v1.8h, v1.8b
	WORD   $0x2f08a442 // uxtl v2.8h, v2.8b
	WORD   $0x2f08a463 // uxtl v3.8h, v3.8b
	WORD   $0x2f08a484 // uxtl v4.8h, v4.8b
	WORD   $0x2f08a4a5 // uxtl v5.8h, v5.8b
	WORD   $0x2f08a4c6 // uxtl v6.8h, v6.8b
	WORD   $0x2f08a4e7 // uxtl v7.8h, v7.8b
	VLD1.P 16(R8), [V10.B16]
	SMLALLANE0
	VLD1.P 16(R8), [V11.B16]
	WORD   $0xf502170 // smlal v16.4s, v11.4h, v0.h[1]
	WORD   $0x4f502171 // smlal2 v17.4s, v11.8h, v0.h[1]
	WORD   $0xf512172 // smlal v18.4s, v11.4h, v1.h[1]
	WORD   $0x4f512173 // smlal2 v19.4s, v11.8h, v1.h[1]
	WORD   $0xf522174 // smlal v20.4s, v11.4h, v2.h[1]
	WORD   $0x4f522175 // smlal2 v21.4s, v11.8h, v2.h[1]
	WORD   $0xf532176 // smlal v22.4s, v11.4h, v3.h[1]
	WORD   $0x4f532177 // smlal2 v23.4s, v11.8h, v3.h[1]
	WORD   $0xf542178 // smlal v24.4s, v11.4h, v4.h[1]
	WORD   $0x4f542179 // smlal2 v25.4s, v11.8h, v4.h[1]
	WORD   $0xf55217a // smlal v26.4s, v11.4h, v5.h[1]
	WORD   $0x4f55217b // smlal2 v27.4s, v11.8h, v5.h[1]
	WORD   $0xf56217c // smlal v28.4s, v11.4h, v6.h[1]
	WORD   $0x4f56217d // smlal2 v29.4s, v11.8h, v6.h[1]
	WORD   $0xf57217e // smlal v30.4s, v11.4h, v7.h[1]
	WORD   $0x4f57217f // smlal2 v31.4s, v11.8h, v7.h[1]
	VLD1.P 16(R8), [V10.B16]
	WORD   $0xf602150 // smlal v16.4s, v10.4h, v0.h[2]
	WORD   $0x4f602151 // smlal2 v17.4s, v10.8h, v0.h[2]
	WORD   $0xf612152 // smlal v18.4s, v10.4h, v1.h[2]
	WORD   $0x4f612153 // smlal2 v19.4s, v10.8h, v1.h[2]
	WORD   $0xf622154 // smlal v20.4s, v10.4h, v2.h[2]
	WORD   $0x4f622155 // smlal2 v21.4s, v10.8h, v2.h[2]
	WORD   $0xf632156 // smlal v22.4s, v10.4h, v3.h[2]
	WORD   $0x4f632157 // smlal2 v23.4s, v10.8h, v3.h[2]
	WORD   $0xf642158 // smlal v24.4s, v10.4h, v4.h[2]
	WORD   $0x4f642159 // smlal2 v25.4s, v10.8h, v4.h[2]
	WORD   $0xf65215a // smlal v26.4s, v10.4h, v5.h[2]
	WORD   $0x4f65215b // smlal2 v27.4s, v10.8h, v5.h[2]
	WORD   $0xf66215c // smlal v28.4s, v10.4h, v6.h[2]
	WORD   $0x4f66215d // smlal2 v29.4s, v10.8h, v6.h[2]
	WORD   $0xf67215e // smlal v30.4s, v10.4h, v7.h[2]
	WORD   $0x4f67215f // smlal2 v31.4s, v10.8h, v7.h[2]
	VLD1.P 16(R8), [V11.B16]
	WORD   $0xf702170 // smlal v16.4s, v11.4h, v0.h[3]
	WORD   $0x4f702171 // smlal2 v17.4s, v11.8h, v0.h[3]
	WORD   $0xf712172 // smlal v18.4s, v11.4h, v1.h[3]
	WORD   $0x4f712173 // smlal2 v19.4s, v11.8h, v1.h[3]
	WORD   $0xf722174 // smlal v20.4s, v11.4h, v2.h[3]
	WORD   $0x4f722175 // smlal2 v21.4s, v11.8h, v2.h[3]
	WORD   $0xf732176 // smlal v22.4s, v11.4h, v3.h[3]
	WORD   $0x4f732177 // smlal2 v23.4s, v11.8h, v3.h[3]
	WORD   $0xf742178 // smlal v24.4s, v11.4h, v4.h[3]
	WORD   $0x4f742179 // smlal2 v25.4s, v11.8h, v4.h[3]
	WORD   $0xf75217a // smlal v26.4s, v11.4h, v5.h[3]
	WORD   $0x4f75217b // smlal2 v27.4s, v11.8h, v5.h[3]
	WORD   $0xf76217c // smlal v28.4s, v11.4h, v6.h[3]
	WORD   $0x4f76217d // smlal2 v29.4s, v11.8h, v6.h[3]
	WORD   $0xf77217e // smlal v30.4s, v11.4h, v7.h[3]
	WORD   $0x4f77217f // smlal2 v31.4s, v11.8h, v7.h[3]
	VLD1.P 16(R8), [V10.B16]
	WORD   $0xf402950 // smlal v16.4s, v10.4h, v0.h[4]
	WORD   $0x4f402951 // smlal2 v17.4s, v10.8h, v0.h[4]
	WORD   $0xf412952 // smlal v18.4s, v10.4h, v1.h[4]
	WORD   $0x4f412953 // smlal2 v19.4s, v10.8h, v1.h[4]
	WORD   $0xf422954 // smlal v20.4s, v10.4h, v2.h[4]
	WORD   $0x4f422955 // smlal2 v21.4s, v10.8h, v2.h[4]
	WORD   $0xf432956 // smlal v22.4s, v10.4h, v3.h[4]
	WORD   $0x4f432957 // smlal2 v23.4s, v10.8h, v3.h[4]
	WORD   $0xf442958 // smlal v24.4s, v10.4h, v4.h[4]
	WORD   $0x4f442959 // smlal2 v25.4s, v10.8h, v4.h[4]
	WORD   $0xf45295a // smlal v26.4s, v10.4h, v5.h[4]
	WORD   $0x4f45295b // smlal2 v27.4s, v10.8h, v5.h[4]
	WORD   $0xf46295c // smlal v28.4s, v10.4h, v6.h[4]
	WORD   $0x4f46295d // smlal2 v29.4s, v10.8h, v6.h[4]
	WORD   $0xf47295e // smlal v30.4s, v10.4h, v7.h[4]
	WORD   $0x4f47295f // smlal2 v31.4s, v10.8h, v7.h[4]
	VLD1.P 16(R8), [V11.B16]
	WORD   $0xf502970 // smlal v16.4s, v11.4h, v0.h[5]
	WORD   $0x4f502971 // smlal2 v17.4s, v11.8h, v0.h[5]
	WORD   $0xf512972 // smlal v18.4s, v11.4h, v1.h[5]
	WORD   $0x4f512973 // smlal2 v19.4s, v11.8h, v1.h[5]
	WORD   $0xf522974 // smlal v20.4s, v11.4h, v2.h[5]
	WORD   $0x4f522975 // smlal2 v21.4s, v11.8h, v2.h[5]
	WORD   $0xf532976 // smlal v22.4s, v11.4h, v3.h[5]
	WORD   $0x4f532977 // smlal2 v23.4s, v11.8h, v3.h[5]
	WORD   $0xf542978 // smlal v24.4s, v11.4h, v4.h[5]
	WORD   $0x4f542979 // smlal2 v25.4s, v11.8h, v4.h[5]
	WORD   $0xf55297a // smlal v26.4s, v11.4h, v5.h[5]
	WORD   $0x4f55297b // smlal2 v27.4s, v11.8h, v5.h[5]
	WORD   $0xf56297c // smlal v28.4s, v11.4h, v6.h[5]
	WORD   $0x4f56297d // smlal2 v29.4s, v11.8h, v6.h[5]
	WORD   $0xf57297e // smlal v30.4s, v11.4h, v7.h[5]
	WORD   $0x4f57297f // smlal2 v31.4s, v11.8h, v7.h[5]
	VLD1.P 16(R8), [V10.B16]
	WORD   $0xf602950 // smlal v16.4s, v10.4h, v0.h[6]
	WORD   $0x4f602951 // smlal2 v17.4s, v10.8h, v0.h[6]
	WORD   $0xf612952 // smlal v18.4s, v10.4h, v1.h[6]
	WORD   $0x4f612953 // smlal2 v19.4s, v10.8h, v1.h[6]
	WORD   $0xf622954 // smlal v20.4s, v10.4h, v2.h[6]
	WORD   $0x4f622955 // smlal2 v21.4s, v10.8h, v2.h[6]
	WORD   $0xf632956 // smlal v22.4s, v10.4h, v3.h[6]
	WORD   $0x4f632957 // smlal2 v23.4s, v10.8h, v3.h[6]
	WORD   $0xf642958 // smlal v24.4s, v10.4h, v4.h[6]
	WORD   $0x4f642959 // smlal2 v25.4s, v10.8h, v4.h[6]
	WORD   $0xf65295a // smlal v26.4s, v10.4h, v5.h[6]
	WORD   $0x4f65295b // smlal2 v27.4s, v10.8h, v5.h[6]
	WORD   $0xf66295c // smlal v28.4s, v10.4h, v6.h[6]
	WORD   $0x4f66295d // smlal2 v29.4s, v10.8h, v6.h[6]
	WORD   $0xf67295e // smlal v30.4s, v10.4h, v7.h[6]
	WORD   $0x4f67295f // smlal2 v31.4s, v10.8h, v7.h[6]
	VLD1.P 16(R8), [V11.B16]
	WORD   $0xf702970 // smlal v16.4s, v11.4h, v0.h[7]
	WORD   $0x4f702971 // smlal2 v17.4s, v11.8h, v0.h[7]
	WORD   $0xf712972 // smlal v18.4s, v11.4h, v1.h[7]
	WORD   $0x4f712973 // smlal2 v19.4s, v11.8h, v1.h[7]
	WORD   $0xf722974 // smlal v20.4s, v11.4h, v2.h[7]
	WORD   $0x4f722975 // smlal2 v21.4s, v11.8h, v2.h[7]
	WORD   $0xf732976 // smlal v22.4s, v11.4h, v3.h[7]
	WORD   $0x4f732977 // smlal2 v23.4s, v11.8h, v3.h[7]
	WORD   $0xf742978 // smlal v24.4s, v11.4h, v4.h[7]
	WORD   $0x4f742979 // smlal2 v25.4s, v11.8h, v4.h[7]
	WORD   $0xf75297a // smlal v26.4s, v11.4h, v5.h[7]
	WORD   $0x4f75297b // smlal2 v27.4s, v11.8h, v5.h[7]
	WORD   $0xf76297c // smlal v28.4s, v11.4h, v6.h[7]
	WORD   $0x4f76297d // smlal2 v29.4s, v11.8h, v6.h[7]
	WORD   $0xf77297e // smlal v30.4s, v11.4h, v7.h[7]
	WORD   $0x4f77297f // smlal2 v31.4s, v11.8h, v7.h[7]
	SUBS   $1, R9, R9
	BNE    neonloop

neonstore:
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R10)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R10)
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R10)
	VST1   [V28.S4, V29.S4, V30.S4, V31.S4], (R10)
	RET

// func requantNEON(t *int32, rows, nr int, bias, mult *int32, nshift *int64, c *uint8, ldc int)
// Per 8 columns (outer loop) bias sits in V16, V17, mult in V18, V19, −shift in V20-V23; per
// row (inner loop) max(acc+bias, 0) goes through V0, V1, the 64-bit products through V2-V5,
// and three saturating narrows clamp them to 255 on the way down to bytes.
TEXT ·requantNEON(SB), NOSPLIT, $0-64
	MOVD t+0(FP), R0
	MOVD nr+16(FP), R2
	MOVD bias+24(FP), R3
	MOVD mult+32(FP), R4
	MOVD nshift+40(FP), R5
	MOVD c+48(FP), R6
	MOVD ldc+56(FP), R7
	LSL  $2, R2, R8
	VEOR V24.B16, V24.B16, V24.B16

q8chunk:
	VLD1.P 32(R3), [V16.S4, V17.S4]
	VLD1.P 32(R4), [V18.S4, V19.S4]
	VLD1.P 64(R5), [V20.D2, V21.D2, V22.D2, V23.D2]
	MOVD   rows+8(FP), R1
	MOVD   R0, R9
	MOVD   R6, R10

q8row:
	VLD1   (R9), [V0.S4, V1.S4]
	VADD   V16.S4, V0.S4, V0.S4
	VADD   V17.S4, V1.S4, V1.S4
	WORD   $0x4eb86400 // smax v0.4s, v0.4s, v24.4s
	WORD   $0x4eb86421 // smax v1.4s, v1.4s, v24.4s
	WORD   $0xeb2c002 // smull v2.2d, v0.2s, v18.2s
	WORD   $0x4eb2c003 // smull2 v3.2d, v0.4s, v18.4s
	WORD   $0xeb3c024 // smull v4.2d, v1.2s, v19.2s
	WORD   $0x4eb3c025 // smull2 v5.2d, v1.4s, v19.4s
	WORD   $0x6ef45442 // urshl v2.2d, v2.2d, v20.2d
	WORD   $0x6ef55463 // urshl v3.2d, v3.2d, v21.2d
	WORD   $0x6ef65484 // urshl v4.2d, v4.2d, v22.2d
	WORD   $0x6ef754a5 // urshl v5.2d, v5.2d, v23.2d
	WORD   $0x2ea14846 // uqxtn v6.2s, v2.2d
	WORD   $0x6ea14866 // uqxtn2 v6.4s, v3.2d
	WORD   $0x2ea14887 // uqxtn v7.2s, v4.2d
	WORD   $0x6ea148a7 // uqxtn2 v7.4s, v5.2d
	WORD   $0x2e6148c6 // uqxtn v6.4h, v6.4s
	WORD   $0x6e6148e6 // uqxtn2 v6.8h, v7.4s
	WORD   $0x2e2148c6 // uqxtn v6.8b, v6.8h
	VST1   [V6.B8], (R10)
	ADD    R8, R9, R9
	ADD    R7, R10, R10
	SUBS   $1, R1, R1
	BNE    q8row

	ADD    $32, R0, R0
	ADD    $8, R6, R6
	SUBS   $8, R2, R2
	BNE    q8chunk
	RET

// The peak probes run a kernel's multiply-accumulate instructions on registers only: 16
// independent accumulators, no loads, so that only the arithmetic issue rate limits them.

// func peakSDOT(n int): n iterations of 16 SDOT by element, 16 multiply-adds each.
TEXT ·peakSDOT(SB), NOSPLIT, $0-8
	MOVD n+0(FP), R0
psdotloop:
	SDOTLANE0
	SUBS $1, R0, R0
	BNE  psdotloop
	RET

// func peakNEON(n int): n iterations of 16 SMLAL/SMLAL2 by element, 4 multiply-adds each.
TEXT ·peakNEON(SB), NOSPLIT, $0-8
	MOVD n+0(FP), R0
pneonloop:
	SMLALLANE0
	SUBS $1, R0, R0
	BNE  pneonloop
	RET
