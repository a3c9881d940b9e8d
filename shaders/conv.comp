#version 450
#extension GL_GOOGLE_include_directive : require
// One k×k or 1×1 convolution with stride and padding, int8 weights, int32 accumulation and
// the fused requantization of quant's reference executor.
//
// Activations are uint8 NHWC with each pixel's channels padded to whole 32-bit words (4 per
// word, zeros in the padding); weights are int8 packed 4 per word in the same channel order,
// so no 8-bit storage or arithmetic extension is needed. Each invocation computes OG words
// (4·OG output channels) of one output pixel: every activation word it loads serves 4·OG
// outputs.
#include "requant.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint IH = 1;
layout(constant_id = 2) const uint IW = 1;
layout(constant_id = 3) const uint ICW = 1; // input words per pixel
layout(constant_id = 4) const uint OH = 1;
layout(constant_id = 5) const uint OW = 1;
layout(constant_id = 6) const uint OCW = 1; // output words per pixel
layout(constant_id = 7) const uint KS = 1;
layout(constant_id = 8) const uint STRIDE = 1;
layout(constant_id = 9) const uint PAD = 0;
layout(constant_id = 10) const uint PADWORD = 0; // the input zero point in every byte

#define OG 2 // output words per invocation

layout(std430, set = 0, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uint dst[]; };
// Weights of output group g, kernel word k (ky, kx, input word), output word j, byte b:
// wts[(g·KS·KS·ICW + k)·OG·4 + j·4 + b] holds input channels 4·(k mod ICW)..+3 of output
// channel (g·OG + j)·4 + b.
layout(std430, set = 0, binding = 2) readonly buffer Wts { uint wts[]; };
// Per output channel: bias, multiplier, shift.
layout(std430, set = 0, binding = 3) readonly buffer Prm { ivec4 prm[]; };

ivec4 unpackS8(uint w) {
    return ivec4(int(w << 24) >> 24, int(w << 16) >> 24, int(w << 8) >> 24, int(w) >> 24);
}

ivec4 unpackU8(uint w) {
    return ivec4((uvec4(w) >> uvec4(0, 8, 16, 24)) & 255u);
}

void main() {
    const uint KW = KS * KS * ICW;
    uint pix = min(gl_GlobalInvocationID.x, OH * OW - 1u);
    uint g = gl_WorkGroupID.y;
    uint img = gl_WorkGroupID.z;
    uint oy = pix / OW, ox = pix - oy * OW;
    uint srcBase = img * IH * IW * ICW;
    uint wBase = g * KW * OG * 4u;

    ivec4 acc[OG];
    for (uint j = 0u; j < OG; j++) {
        acc[j] = ivec4(0);
    }
    for (uint ky = 0u; ky < KS; ky++) {
        int iy = int(oy * STRIDE + ky) - int(PAD);
        for (uint kx = 0u; kx < KS; kx++) {
            int ix = int(ox * STRIDE + kx) - int(PAD);
            bool inside = iy >= 0 && iy < int(IH) && ix >= 0 && ix < int(IW);
            // Outside the image the load still reads a valid address and the zero point
            // replaces it, so that no invocation branches.
            uint at = srcBase + (inside ? (uint(iy) * IW + uint(ix)) * ICW : 0u);
            uint wAt = wBase + (ky * KS + kx) * ICW * OG * 4u;
            for (uint c = 0u; c < ICW; c++) {
                ivec4 a = unpackU8(inside ? src[at + c] : PADWORD);
                for (uint j = 0u; j < OG; j++) {
                    for (uint b = 0u; b < 4u; b++) {
                        ivec4 w = unpackS8(wts[wAt + (c * OG + j) * 4u + b]);
                        acc[j][b] += a.x * w.x + a.y * w.y + a.z * w.z + a.w * w.w;
                    }
                }
            }
        }
    }
    if (gl_GlobalInvocationID.x >= OH * OW) {
        return;
    }
    uint dstAt = (img * OH * OW + pix) * OCW + g * OG;
    for (uint j = 0u; j < OG; j++) {
        if (g * OG + j < OCW) {
            uint word = 0u;
            for (uint b = 0u; b < 4u; b++) {
                ivec4 p = prm[(g * OG + j) * 4u + b];
                word |= requantize(acc[j][b] + p.x, p.y, p.z) << (8u * b);
            }
            dst[dstAt + j] = word;
        }
    }
}
