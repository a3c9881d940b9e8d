#version 450
#extension GL_GOOGLE_include_directive : require
// One k×k or 1×1 convolution with stride and padding, int8 weights, int32 accumulation and
// the fused requantization of quant's reference executor.
//
// Activations are uint8 NHWC with each pixel's channels padded to whole 32-bit words (4 per
// word, zeros in the padding); weights are int8 packed 4 per word in the same channel order,
// so no 8-bit storage or arithmetic extension is needed. Each invocation computes OG words
// (4·OG output channels) of PX consecutive output pixels: each activation word it fetches
// serves 4·OG outputs and each weight word PX pixels.
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

// Tile sizes, mirrored by convWords and convPixels in backends/vulkan. On lavapipe (AVX2) a
// larger tile spills more accumulators and a smaller one makes more texel fetches, each a
// function call there; 8 pixels × 16 channels measured fastest.
#define OG 4 // output words per invocation
#define PX 8 // output pixels per invocation

// Texel buffers rather than storage buffers: a CPU driver (lavapipe) fetches texels with
// vector gathers but loads storage buffers one lane at a time.
layout(set = 0, binding = 0) uniform usamplerBuffer src; // one word per texel
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uint dst[]; };
// Weights: texel (g·KS·KS·ICW + k)·OG + j holds, for output channels 4·(g·OG + j)..+3 in
// its four words, input channels 4·(k mod ICW)..+3 of kernel tap k / ICW.
layout(set = 0, binding = 2) uniform usamplerBuffer wts; // four words per texel
// Per output channel: bias, multiplier, shift.
layout(std430, set = 0, binding = 3) readonly buffer Prm { ivec4 prm[]; };

ivec4 unpackS8(uint w) {
    return ivec4(int(w << 24) >> 24, int(w << 16) >> 24, int(w << 8) >> 24, int(w) >> 24);
}

int dot4(ivec4 a, ivec4 w) { return a.x * w.x + a.y * w.y + a.z * w.z + a.w * w.w; }

ivec4 unpackU8(uint w) {
    return ivec4((uvec4(w) >> uvec4(0, 8, 16, 24)) & 255u);
}

void main() {
    const uint KW = KS * KS * ICW;
    const uint PIXELS = OH * OW;
    uint first = gl_GlobalInvocationID.x * PX;
    uint g = gl_WorkGroupID.y;
    uint img = gl_WorkGroupID.z;
    uint srcBase = img * IH * IW * ICW;
    uint wBase = g * KW * OG;

    int py[PX], px[PX];
    for (uint p = 0u; p < PX; p++) {
        // Invocations past the last pixel compute a copy of it and write nothing.
        uint pix = min(first + p, PIXELS - 1u);
        uint oy = pix / OW;
        py[p] = int(oy * STRIDE) - int(PAD);
        px[p] = int((pix - oy * OW) * STRIDE) - int(PAD);
    }
    ivec4 acc[PX][OG];
    for (uint p = 0u; p < PX; p++) {
        for (uint j = 0u; j < OG; j++) {
            acc[p][j] = ivec4(0);
        }
    }
    for (uint ky = 0u; ky < KS; ky++) {
        for (uint kx = 0u; kx < KS; kx++) {
            uint at[PX];
            bool inside[PX];
            for (uint p = 0u; p < PX; p++) {
                int iy = py[p] + int(ky), ix = px[p] + int(kx);
                inside[p] = iy >= 0 && iy < int(IH) && ix >= 0 && ix < int(IW);
                // Outside the image the fetch still reads a valid texel and the zero point
                // replaces it, so that no invocation branches.
                at[p] = srcBase + (inside[p] ? (uint(iy) * IW + uint(ix)) * ICW : 0u);
            }
            uint wAt = wBase + (ky * KS + kx) * ICW * OG;
            for (uint c = 0u; c < ICW; c++) {
                // Every fetch first, then the multiply-adds: on lavapipe a texel fetch is a
                // function call that spills the vector registers, so the calls are kept
                // together and the arithmetic runs between them uninterrupted (12% faster).
                uvec4 wq[OG];
                for (uint j = 0u; j < OG; j++) {
                    wq[j] = texelFetch(wts, int(wAt + c * OG + j));
                }
                ivec4 a[PX];
                for (uint p = 0u; p < PX; p++) {
                    a[p] = unpackU8(inside[p] ? texelFetch(src, int(at[p] + c)).x : PADWORD);
                }
                for (uint j = 0u; j < OG; j++) {
                    uvec4 wv = wq[j];
                    ivec4 w0 = unpackS8(wv.x), w1 = unpackS8(wv.y), w2 = unpackS8(wv.z), w3 = unpackS8(wv.w);
                    for (uint p = 0u; p < PX; p++) {
                        ivec4 s = a[p];
                        acc[p][j] += ivec4(dot4(s, w0), dot4(s, w1), dot4(s, w2), dot4(s, w3));
                    }
                }
            }
        }
    }
    ivec4 q[OG][4];
    for (uint j = 0u; j < OG; j++) {
        for (uint b = 0u; b < 4u; b++) {
            q[j][b] = prm[(g * OG + j) * 4u + b];
        }
    }
    for (uint p = 0u; p < PX; p++) {
        uint dstAt = (img * PIXELS + first + p) * OCW + g * OG;
        for (uint j = 0u; j < OG; j++) {
            uint word = 0u;
            for (uint b = 0u; b < 4u; b++) {
                word |= requantize(acc[p][j][b] + q[j][b].x, q[j][b].y, q[j][b].z) << (8u * b);
            }
            if (first + p < PIXELS && g * OG + j < OCW) {
                dst[dstAt + j] = word;
            }
        }
    }
}
