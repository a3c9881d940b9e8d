#version 450
// Average pooling in Caffe's ceil mode: windows clipped at the border, the sum divided by the
// in-bounds count rounding half up, as fixedpoint.DivRound does. Each invocation computes one
// word (4 channels) of one output pixel.
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint IH = 1;
layout(constant_id = 2) const uint IW = 1;
layout(constant_id = 3) const uint CW = 1; // words per pixel, input and output
layout(constant_id = 4) const uint OH = 1;
layout(constant_id = 5) const uint OW = 1;
layout(constant_id = 6) const uint KS = 1;
layout(constant_id = 7) const uint STRIDE = 1;

// A texel buffer rather than a storage buffer: see conv.comp.
layout(set = 0, binding = 0) uniform usamplerBuffer src; // one word per texel
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uint dst[]; };

void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i >= OH * OW * CW) {
        return;
    }
    uint img = gl_WorkGroupID.z;
    uint pix = i / CW, cw = i - pix * CW;
    uint oy = pix / OW, ox = pix - oy * OW;
    uint y0 = oy * STRIDE, y1 = min(y0 + KS, IH);
    uint x0 = ox * STRIDE, x1 = min(x0 + KS, IW);
    uvec4 sum = uvec4(0);
    for (uint y = y0; y < y1; y++) {
        for (uint x = x0; x < x1; x++) {
            uint w = texelFetch(src, int(((img * IH + y) * IW + x) * CW + cw)).x;
            sum += (uvec4(w) >> uvec4(0, 8, 16, 24)) & 255u;
        }
    }
    uint count = (y1 - y0) * (x1 - x0);
    uvec4 avg = (sum + count / 2u) / count;
    dst[(img * OH * OW + pix) * CW + cw] = avg.x | avg.y << 8 | avg.z << 16 | avg.w << 24;
}
