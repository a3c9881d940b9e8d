//go:build !purego

#include "textflag.h"

// The Go assembler has no FMLA by element; FMLA12x8 is one p of micro12x8NEON as WORD
// encodings: A values p*12..p*12+11 in V0-V2, B row p in V3, V4, row i of the tile in
// V(8+2i), V(9+2i); acc += B·A[i] for the 24 vectors of the tile.
#define FMLA12x8 \
	WORD $0x4f801068; \
	WORD $0x4f801089; \
	WORD $0x4fa0106a; \
	WORD $0x4fa0108b; \
	WORD $0x4f80186c; \
	WORD $0x4f80188d; \
	WORD $0x4fa0186e; \
	WORD $0x4fa0188f; \
	WORD $0x4f811070; \
	WORD $0x4f811091; \
	WORD $0x4fa11072; \
	WORD $0x4fa11093; \
	WORD $0x4f811874; \
	WORD $0x4f811895; \
	WORD $0x4fa11876; \
	WORD $0x4fa11897; \
	WORD $0x4f821078; \
	WORD $0x4f821099; \
	WORD $0x4fa2107a; \
	WORD $0x4fa2109b; \
	WORD $0x4f82187c; \
	WORD $0x4f82189d; \
	WORD $0x4fa2187e; \
	WORD $0x4fa2189f

// The words of FMLA12x8, in order, as aarch64-linux-gnu-objdump -d decodes them:
//	0x4f801068	fmla v8.4s, v3.4s, v0.s[0]
//	0x4f801089	fmla v9.4s, v4.4s, v0.s[0]
//	0x4fa0106a	fmla v10.4s, v3.4s, v0.s[1]
//	0x4fa0108b	fmla v11.4s, v4.4s, v0.s[1]
//	0x4f80186c	fmla v12.4s, v3.4s, v0.s[2]
//	0x4f80188d	fmla v13.4s, v4.4s, v0.s[2]
//	0x4fa0186e	fmla v14.4s, v3.4s, v0.s[3]
//	0x4fa0188f	fmla v15.4s, v4.4s, v0.s[3]
//	0x4f811070	fmla v16.4s, v3.4s, v1.s[0]
//	0x4f811091	fmla v17.4s, v4.4s, v1.s[0]
//	0x4fa11072	fmla v18.4s, v3.4s, v1.s[1]
//	0x4fa11093	fmla v19.4s, v4.4s, v1.s[1]
//	0x4f811874	fmla v20.4s, v3.4s, v1.s[2]
//	0x4f811895	fmla v21.4s, v4.4s, v1.s[2]
//	0x4fa11876	fmla v22.4s, v3.4s, v1.s[3]
//	0x4fa11897	fmla v23.4s, v4.4s, v1.s[3]
//	0x4f821078	fmla v24.4s, v3.4s, v2.s[0]
//	0x4f821099	fmla v25.4s, v4.4s, v2.s[0]
//	0x4fa2107a	fmla v26.4s, v3.4s, v2.s[1]
//	0x4fa2109b	fmla v27.4s, v4.4s, v2.s[1]
//	0x4f82187c	fmla v28.4s, v3.4s, v2.s[2]
//	0x4f82189d	fmla v29.4s, v4.4s, v2.s[2]
//	0x4fa2187e	fmla v30.4s, v3.4s, v2.s[3]
//	0x4fa2189f	fmla v31.4s, v4.4s, v2.s[3]

// func micro12x8NEON(k int, a, b, c *float32, ldc int, beta float32)
TEXT ·micro12x8NEON(SB), NOSPLIT, $0-44
	MOVD k+0(FP), R0
	MOVD a+8(FP), R1
	MOVD b+16(FP), R2
	MOVD c+24(FP), R3
	MOVD ldc+32(FP), R4
	LSL  $2, R4, R4 // bytes per row of C

	// Fetch the tile of C while the products are computed.
	MOVD R3, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	ADD  R4, R5, R5
	PRFM (R5), PLDL1KEEP
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
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
	CBZ  R0, store

loop:
	VLD1.P 48(R1), [V0.S4, V1.S4, V2.S4]
	VLD1.P 32(R2), [V3.S4, V4.S4]
	FMLA12x8
	SUB    $1, R0, R0
	CBNZ   R0, loop

store:
	FMOVS beta+40(FP), F0
	FCMPS $(0.0), F0
	BNE   accumulate // also when beta is NaN: unordered is not equal
	VST1 [V8.S4, V9.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V10.S4, V11.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V12.S4, V13.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V14.S4, V15.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V16.S4, V17.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V18.S4, V19.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V20.S4, V21.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V22.S4, V23.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V24.S4, V25.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V26.S4, V27.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V28.S4, V29.S4], (R3)
	ADD  R4, R3, R3
	VST1 [V30.S4, V31.S4], (R3)
	RET

accumulate:
	VDUP V0.S[0], V0.S4
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V8.S4
	VFMLA V0.S4, V2.S4, V9.S4
	VST1  [V8.S4, V9.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V10.S4
	VFMLA V0.S4, V2.S4, V11.S4
	VST1  [V10.S4, V11.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V12.S4
	VFMLA V0.S4, V2.S4, V13.S4
	VST1  [V12.S4, V13.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V14.S4
	VFMLA V0.S4, V2.S4, V15.S4
	VST1  [V14.S4, V15.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V16.S4
	VFMLA V0.S4, V2.S4, V17.S4
	VST1  [V16.S4, V17.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V18.S4
	VFMLA V0.S4, V2.S4, V19.S4
	VST1  [V18.S4, V19.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V20.S4
	VFMLA V0.S4, V2.S4, V21.S4
	VST1  [V20.S4, V21.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V22.S4
	VFMLA V0.S4, V2.S4, V23.S4
	VST1  [V22.S4, V23.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V24.S4
	VFMLA V0.S4, V2.S4, V25.S4
	VST1  [V24.S4, V25.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V26.S4
	VFMLA V0.S4, V2.S4, V27.S4
	VST1  [V26.S4, V27.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V28.S4
	VFMLA V0.S4, V2.S4, V29.S4
	VST1  [V28.S4, V29.S4], (R3)
	ADD   R4, R3, R3
	VLD1  (R3), [V1.S4, V2.S4]
	VFMLA V0.S4, V1.S4, V30.S4
	VFMLA V0.S4, V2.S4, V31.S4
	VST1  [V30.S4, V31.S4], (R3)
	RET
