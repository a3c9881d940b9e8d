// ninedge int8 kernels: OpenCL C 1.2, 32-bit integer arithmetic only (no long: many mobile
// GPUs have no 64-bit integers). Every kernel reproduces quant's reference executor bit for
// bit; the rounding rules are those of quant/fixedpoint.
//
// Layouts: activations are NHWC uint8 with the batch folded into the pixel index (pixel p of
// image i is row i*H*W + p). Convolution weights are packed per group of CW output channels:
// for group g, input position k (HWI order) and lane j, byte (g*K + k)*CW + j holds weight
// [k][g*CW + j], zero for the padding channels past N; bias, multiplier and shift are padded
// to whole groups the same way. One work-item computes TP pixels × CW channels, so that each
// weight vector it loads feeds TP pixels and each input byte feeds CW channels.
//
// Sizes arrive as arguments set once per plan. The pixel count passed in (total) is the
// plan's whole batch, not the images of one run: a run rounds its global size up to whole
// work-groups, and the spare work-items then compute stale but in-bounds pixels of the next
// images instead of needing a per-run argument.
//
// Build options: -DCW=8|16 (channels per work-item), -DTP=n (pixels per work-item).

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define intv CAT(int, CW)
#define uintv CAT(uint, CW)
#define charv CAT(char, CW)
#define ucharv CAT(uchar, CW)
#define vloadv CAT(vload, CW)
#define vstorev CAT(vstore, CW)
#define convert_intv CAT(convert_int, CW)
#define convert_ucharv CAT(convert_uchar, CW)
#define as_uintv CAT(as_uint, CW)
#define as_intv CAT(as_int, CW)

// requantize is fixedpoint.Requantize on CW lanes: acc <= 0 gives 0, otherwise
// (acc*m + 2^(s-1)) >> s clamped to 255, with m in [2^30, 2^31) (or m = 0, s = 1) and s in
// [1, 62]. The 63-bit product is kept as a (hi, lo) pair of uints: both factors are
// non-negative, so the unsigned mul_hi is the high word. Shift counts are taken modulo 32 by
// OpenCL, so both branches are computed without undefined behaviour and select picks one.
ucharv requantize(intv acc, intv m, intv s)
{
	uintv a = as_uintv(max(acc, (intv)0));
	uintv um = as_uintv(m);
	uintv us = as_uintv(s);
	uintv lo = a * um;
	uintv hi = mul_hi(a, um);
	// Rounding constant 2^(s-1): in lo when s-1 < 32, else in hi.
	uintv r = us - 1;
	intv rlow = as_intv(r) < 32;
	uintv one = (uintv)1;
	uintv radd = one << r; // r mod 32: the right bit for whichever word it lands in
	uintv lo2 = lo + select((uintv)0, radd, rlow);
	hi += select(radd, (uintv)0, rlow);
	hi -= as_uintv(as_intv(lo2 < lo)); // carry: a true comparison is -1
	// Shift right by s. With s < 32 a non-zero hi >> s means the result exceeds 255.
	intv small = as_intv(us) < 32;
	uintv below = (lo2 >> us) | (hi << (32 - us));
	uintv above = hi >> (us - 32);
	uintv over = select((uintv)0, hi >> us, small);
	uintv v = select(above, below, small);
	v = select(min(v, (uintv)255), (uintv)255, as_intv(over) != 0);
	return convert_ucharv(v);
}

// store writes TP pixels' CW requantized channels, clipped to N channels and to the batch.
inline void store(__global uchar *out, intv acc[TP], int p0, int o0, int N, int total,
                  __global const int *mult, __global const int *shift, int g)
{
	intv m = vloadv(g, mult), s = vloadv(g, shift);
	for (int t = 0; t < TP; t++) {
		int p = p0 + t;
		if (p >= total)
			return;
		ucharv q = requantize(acc[t], m, s);
		__global uchar *dst = out + (size_t)p * N + o0;
		if (o0 + CW <= N) {
			vstorev(q, 0, dst);
		} else {
			uchar lanes[CW];
			vstorev(q, 0, lanes);
			for (int j = 0; o0 + j < N; j++)
				dst[j] = lanes[j];
		}
	}
}

// conv is a k×k convolution with stride and padding; padding reads the input's zero point
// (pad points at a row of C bytes holding it), so the bias's −zero·Σw correction holds.
// Global size: (pixel groups of TP, channel groups of CW).
__kernel void conv(__global const uchar *in, __global const char *w, __global const int *bias,
                   __global const int *mult, __global const int *shift, __global uchar *out,
                   __global const uchar *pad, int inH, int inW, int C, int outH, int outW,
                   int N, int k, int stride, int padding, int total)
{
	int p0 = get_global_id(0) * TP, g = get_global_id(1);
	if (p0 >= total)
		return;
	int K = k * k * C;
	intv b = vloadv(g, bias);
	intv acc[TP];
	int img[TP], iy0[TP], ix0[TP];
	for (int t = 0; t < TP; t++) {
		acc[t] = b;
		int p = min(p0 + t, total - 1);
		int q = p % (outH * outW);
		img[t] = p / (outH * outW);
		iy0[t] = q / outW * stride - padding;
		ix0[t] = q % outW * stride - padding;
	}
	__global const char *wp = w + (size_t)g * K * CW;
	for (int ky = 0; ky < k; ky++) {
		for (int kx = 0; kx < k; kx++) {
			__global const uchar *src[TP];
			for (int t = 0; t < TP; t++) {
				int iy = iy0[t] + ky, ix = ix0[t] + kx;
				bool inside = iy >= 0 && iy < inH && ix >= 0 && ix < inW;
				src[t] = inside ? in + ((size_t)(img[t] * inH + iy) * inW + ix) * C : pad;
			}
			for (int c = 0; c < C; c++) {
				intv wv = convert_intv(vloadv(c, wp));
				for (int t = 0; t < TP; t++)
					acc[t] += wv * (int)src[t][c];
			}
			wp += C * CW;
		}
	}
	store(out, acc, p0, g * CW, N, total, mult, shift, g);
}

// conv1x1 is the pointwise convolution (1×1, stride 1, no padding): a plain GEMM over
// contiguous pixel rows of C bytes. Global size as conv.
__kernel void conv1x1(__global const uchar *in, __global const char *w, __global const int *bias,
                      __global const int *mult, __global const int *shift, __global uchar *out,
                      int C, int N, int total)
{
	int p0 = get_global_id(0) * TP, g = get_global_id(1);
	if (p0 >= total)
		return;
	intv b = vloadv(g, bias);
	intv acc[TP];
	__global const uchar *src[TP];
	for (int t = 0; t < TP; t++) {
		acc[t] = b;
		src[t] = in + (size_t)min(p0 + t, total - 1) * C;
	}
	__global const char *wp = w + (size_t)g * C * CW;
	for (int c = 0; c < C; c++) {
		intv wv = convert_intv(vloadv(c, wp));
		for (int t = 0; t < TP; t++)
			acc[t] += wv * (int)src[t][c];
	}
	store(out, acc, p0, g * CW, N, total, mult, shift, g);
}

// pool is Caffe's ceil-mode max or average pool with windows clipped at the border; the
// average divides by the in-bounds count, rounding half up (fixedpoint.DivRound). One
// work-item per output byte; total is the batch's output bytes.
__kernel void pool(__global const uchar *in, __global uchar *out, int inH, int inW, int C,
                   int outH, int outW, int k, int stride, int average, int total)
{
	int i = get_global_id(0);
	if (i >= total)
		return;
	int c = i % C, p = i / C;
	int ox = p % outW, oy = p / outW % outH, img = p / (outW * outH);
	int y0 = oy * stride, y1 = min(y0 + k, inH);
	int x0 = ox * stride, x1 = min(x0 + k, inW);
	__global const uchar *src = in + (size_t)img * inH * inW * C + c;
	uint best = 0, sum = 0;
	for (int y = y0; y < y1; y++) {
		for (int x = x0; x < x1; x++) {
			uint v = src[(y * inW + x) * C];
			best = max(best, v);
			sum += v;
		}
	}
	if (average) {
		uint count = (y1 - y0) * (x1 - x0);
		best = (sum + count / 2) / count;
	}
	out[i] = (uchar)best;
}

// globalsum adds each channel over an image's pixels: one work-item per (image, channel),
// total = images × C.
__kernel void globalsum(__global const uchar *in, __global int *sums, int pixels, int C, int total)
{
	int i = get_global_id(0);
	if (i >= total)
		return;
	int c = i % C, img = i / C;
	__global const uchar *src = in + (size_t)img * pixels * C + c;
	int s = 0;
	for (int p = 0; p < pixels; p++)
		s += src[p * C];
	sums[i] = s;
}

// requant_test applies requantize to CW-lane groups of arrays, for the tests that compare it
// with fixedpoint.Requantize on random and edge values.
__kernel void requant_test(__global const int *acc, __global const int *m, __global const int *s,
                           __global uchar *out)
{
	int g = get_global_id(0);
	vstorev(requantize(vloadv(g, acc), vloadv(g, m), vloadv(g, s)), g, out);
}
