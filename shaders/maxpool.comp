#version 450
// Max pooling in Caffe's ceil mode: windows clipped at the border. Each invocation computes
// one word (4 channels) of one output pixel.
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
    uvec4 best = uvec4(0);
    for (uint y = y0; y < y1; y++) {
        for (uint x = x0; x < x1; x++) {
            uint w = texelFetch(src, int(((img * IH + y) * IW + x) * CW + cw)).x;
            best = max(best, (uvec4(w) >> uvec4(0, 8, 16, 24)) & 255u);
        }
    }
    dst[(img * OH * OW + pix) * CW + cw] = best.x | best.y << 8 | best.z << 16 | best.w << 24;
}
