#version 450
// The global average pool's int32 channel sums (the division by the pixel count is left to
// the host, so the classifier keeps full resolution). Each invocation sums one word (4
// channels) of one image over the whole map and writes the real channels, C per image.
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint PIXELS = 1;
layout(constant_id = 2) const uint CW = 1; // words per pixel
layout(constant_id = 3) const uint C = 1;  // real channels

// A texel buffer rather than a storage buffer: see conv.comp.
layout(set = 0, binding = 0) uniform usamplerBuffer src; // one word per texel
layout(std430, set = 0, binding = 1) writeonly buffer Dst { int dst[]; };

void main() {
    uint cw = gl_GlobalInvocationID.x;
    if (cw >= CW) {
        return;
    }
    uint img = gl_WorkGroupID.z;
    uvec4 sum = uvec4(0);
    for (uint p = 0u; p < PIXELS; p++) {
        uint w = texelFetch(src, int((img * PIXELS + p) * CW + cw)).x;
        sum += (uvec4(w) >> uvec4(0, 8, 16, 24)) & 255u;
    }
    for (uint b = 0u; b < 4u; b++) {
        if (cw * 4u + b < C) {
            dst[img * C + cw * 4u + b] = int(sum[b]);
        }
    }
}
