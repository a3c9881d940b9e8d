// requantize mirrors fixedpoint.Requantize bit for bit with 32-bit integer operations only
// (many mobile GPUs have no int64): acc <= 0 gives 0, else (acc*m + 2^(s-1)) >> s clamped to
// 255, for m in [2^30, 2^31) (or m = 0, s = 1) and s in [1, 62]. The product of two values
// below 2^31 is below 2^62, so after the rounding term the 64-bit pair hi:lo stays below
// 2^63 and hi below 2^31.
uint requantize(int acc, int m, int s) {
    uint hi, lo;
    umulExtended(uint(max(acc, 0)), uint(m), hi, lo);
    uint r = uint(s) - 1u; // bit position of the rounding term, 0..61
    uint carry;
    lo = uaddCarry(lo, r < 32u ? 1u << r : 0u, carry);
    hi += carry + (r >= 32u ? 1u << (r - 32u) : 0u);
    uint su = uint(s);
    // GLSL leaves shifts by 32 or more undefined, so each side of the 32-bit boundary gets
    // its own in-range shift; below it, any bit of hi left after the shift means > 2^32.
    uint lowPart = (lo >> min(su, 31u)) | (hi << (32u - min(su, 31u)));
    uint v = su >= 32u ? hi >> (su - 32u) : ((hi >> min(su, 31u)) != 0u ? 255u : lowPart);
    return acc <= 0 ? 0u : min(v, 255u);
}
