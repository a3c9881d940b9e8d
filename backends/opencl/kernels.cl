// ninedge int8 kernels: OpenCL C 1.2, 32-bit integer arithmetic only (no long: many mobile
// GPUs have no 64-bit integers). Every kernel reproduces quant's reference executor bit for
// bit; the rounding rules are those of quant/fixedpoint.
//
// Layouts: activations are NHWC uint8 with the batch folded into the pixel index (pixel p of
// image i is row i*H*W + p). A convolution work-item computes TP pixels × CW output channels
// (CW a multiple of 8), so that each weight it loads feeds TP pixels and each input byte CW
// channels. Its weights are packed per group of CW output channels as a run of pair-steps:
// each step holds two consecutive input channels of one kernel position (the second zero past
// an odd channel count) for the group's CW channels, in chunks of 8 channels whose 16 bytes
// interleave the two inputs (plan.go's packWeights); bias, multiplier and shift are padded to
// whole groups, and channels past N to zero weights.
//
// Sizes arrive as arguments set once per plan. The pixel count passed in (total) is the
// plan's whole batch, not the images of one run: a run rounds its global size up to whole
// work-groups, and the spare work-items then compute stale but in-bounds pixels of the next
// images instead of needing a per-run argument.
//
// Build options: -DCW=n (output channels per work-item, a multiple of 8), -DTP=n (pixels per
// work-item), -DNINEDGE_PORTABLE (see madd).

#define NC (CW / 8) // 8-channel chunks per work-item

// requantize is fixedpoint.Requantize on 8 lanes: acc <= 0 gives 0, otherwise
// (acc*m + 2^(s-1)) >> s clamped to 255, with m in [2^30, 2^31) (or m = 0, s = 1) and s in
// [1, 62]. The 63-bit product is kept as a (hi, lo) pair of uints: both factors are
// non-negative, so the unsigned mul_hi is the high word. OpenCL takes shift counts modulo 32,
// so both branches are computed without undefined behaviour and select picks one.
uchar8 requantize(int8 acc, int8 m, int8 s)
{
	uint8 a = as_uint8(max(acc, (int8)0));
	uint8 um = as_uint8(m), us = as_uint8(s);
	uint8 lo = a * um;
	uint8 hi = mul_hi(a, um);
	// Add the rounding constant 2^(s-1) to lo when s-1 < 32, else to hi, with the carry.
	uint8 r = us - 1;
	int8 rlow = as_int8(r) < 32;
	uint8 bit = (uint8)1 << r; // r mod 32: the right bit of whichever word it lands in
	uint8 lo2 = lo + select((uint8)0, bit, rlow);
	hi += select(bit, (uint8)0, rlow);
	hi -= as_uint8(lo2 < lo); // a true comparison is -1: subtracting it adds the carry
	// Shift right by s. With s < 32 a non-zero hi >> s means the result exceeds 255.
	int8 small = as_int8(us) < 32;
	uint8 below = (lo2 >> us) | (hi << (32 - us));
	uint8 above = hi >> (us - 32);
	uint8 over = select((uint8)0, hi >> us, small);
	uint8 v = select(above, below, small);
	v = select(min(v, (uint8)255), (uint8)255, as_int8(over) != 0);
	return convert_uchar8(v);
}

// madd is a pairwise multiply-add on 8 lanes: w holds (even, odd) pairs of 16-bit weights
// and lane i gets w[2i]*lo + w[2i+1]*hi, where the pair word x holds the input values lo and
// hi in its 16-bit halves. A uint8 times an int8 fits in 16 bits and a pair of them in 32,
// so this is exact. On x86 it is one PMADDWD; LLVM does not find that instruction in the
// portable expression, so where clang targets AVX2 (PoCL on x86) the kernels name it.
// -DNINEDGE_PORTABLE forces the portable form, which the tests check too.
#if defined(__AVX2__) && defined(__has_builtin) && !defined(NINEDGE_PORTABLE)
#if __has_builtin(__builtin_ia32_pmaddwd256)
#define NINEDGE_PMADDWD
#endif
#endif
#ifdef NINEDGE_PMADDWD
#define madd(w, x) __builtin_ia32_pmaddwd256((w), as_short16((uint8)(x)))
#else
static inline int8 madd(short16 w, uint x)
{
	return convert_int8(w.even) * (int)(x & 0xffff) + convert_int8(w.odd) * (int)(x >> 16);
}
#endif

// mac adds one pair-step to the accumulators: NC chunks of weights at wp (two input
// channels × 8 output channels, 16 bytes each) times each pixel's pair word x[t].
static inline __attribute__((always_inline)) void mac(int8 acc[TP][NC], __global const char *wp, uint x[TP])
{
	short16 wv[NC];
	#pragma unroll
	for (int n = 0; n < NC; n++)
		wv[n] = convert_short16(vload16(n, wp));
	#pragma unroll
	for (int t = 0; t < TP; t++) {
		#pragma unroll
		for (int n = 0; n < NC; n++)
			acc[t][n] += madd(wv[n], x[t]);
	}
}

// dot runs C input channels of the TP pixel rows src[t] through mac, two at a time (an odd
// last channel pairs with zero), and returns wp advanced past their weights. Runs of 8
// channels are loaded at once and widened to four pair words: with little-endian 16-bit
// halves (Prepare refuses big-endian devices) word j is channels 2j and 2j+1.
static inline __attribute__((always_inline)) __global const char *dot(int8 acc[TP][NC], __global const char *wp,
                                                                      __global const uchar *src[TP], int C)
{
	uint x[TP];
	int c = 0;
	for (; c + 8 <= C; c += 8, wp += 8 * CW) {
		uint4 q[TP];
		#pragma unroll
		for (int t = 0; t < TP; t++)
			q[t] = as_uint4(convert_ushort8(vload8(0, src[t] + c)));
		#pragma unroll
		for (int t = 0; t < TP; t++)
			x[t] = q[t].s0;
		mac(acc, wp, x);
		#pragma unroll
		for (int t = 0; t < TP; t++)
			x[t] = q[t].s1;
		mac(acc, wp + 2 * CW, x);
		#pragma unroll
		for (int t = 0; t < TP; t++)
			x[t] = q[t].s2;
		mac(acc, wp + 4 * CW, x);
		#pragma unroll
		for (int t = 0; t < TP; t++)
			x[t] = q[t].s3;
		mac(acc, wp + 6 * CW, x);
	}
	for (; c < C; c += 2, wp += 2 * CW) {
		#pragma unroll
		for (int t = 0; t < TP; t++)
			x[t] = src[t][c] | (c + 1 < C ? (uint)src[t][c + 1] << 16 : 0);
		mac(acc, wp, x);
	}
	return wp;
}

// store requantizes TP pixels' CW channels and writes them, clipped to N channels and to the
// plan's pixels.
static inline __attribute__((always_inline)) void store(__global uchar *out, int8 acc[TP][NC], int p0, int g, int N, int total,
                  __global const int *mult, __global const int *shift)
{
	#pragma unroll
	for (int n = 0; n < NC; n++) {
		int o0 = g * CW + n * 8;
		if (o0 >= N)
			return;
		int8 m = vload8(g * NC + n, mult), s = vload8(g * NC + n, shift);
		#pragma unroll
		for (int t = 0; t < TP; t++) {
			int p = p0 + t;
			if (p >= total)
				break;
			uchar8 q = requantize(acc[t][n], m, s);
			__global uchar *dst = out + (size_t)p * N + o0;
			if (o0 + 8 <= N) {
				vstore8(q, 0, dst);
			} else {
				uchar lanes[8];
				vstore8(q, 0, lanes);
				for (int j = 0; o0 + j < N; j++)
					dst[j] = lanes[j];
			}
		}
	}
}

// init loads the group's bias into every pixel's accumulators.
static inline __attribute__((always_inline)) void init(int8 acc[TP][NC], __global const int *bias, int g)
{
	#pragma unroll
	for (int n = 0; n < NC; n++) {
		int8 b = vload8(g * NC + n, bias);
		#pragma unroll
		for (int t = 0; t < TP; t++)
			acc[t][n] = b;
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
	int8 acc[TP][NC];
	init(acc, bias, g);
	int img[TP], iy0[TP], ix0[TP];
	#pragma unroll
	for (int t = 0; t < TP; t++) {
		int p = min(p0 + t, total - 1);
		int q = p % (outH * outW);
		img[t] = p / (outH * outW);
		iy0[t] = q / outW * stride - padding;
		ix0[t] = q % outW * stride - padding;
	}
	__global const char *wp = w + (size_t)g * k * k * (C + (C & 1)) * CW;
	for (int ky = 0; ky < k; ky++) {
		for (int kx = 0; kx < k; kx++) {
			__global const uchar *src[TP];
			#pragma unroll
			for (int t = 0; t < TP; t++) {
				int iy = iy0[t] + ky, ix = ix0[t] + kx;
				bool inside = iy >= 0 && iy < inH && ix >= 0 && ix < inW;
				src[t] = inside ? in + ((size_t)(img[t] * inH + iy) * inW + ix) * C : pad;
			}
			wp = dot(acc, wp, src, C);
		}
	}
	store(out, acc, p0, g, N, total, mult, shift);
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
	int8 acc[TP][NC];
	init(acc, bias, g);
	__global const uchar *src[TP];
	#pragma unroll
	for (int t = 0; t < TP; t++)
		src[t] = in + (size_t)min(p0 + t, total - 1) * C;
	dot(acc, w + (size_t)g * (C + (C & 1)) * CW, src, C);
	store(out, acc, p0, g, N, total, mult, shift);
}

// im2col writes each output pixel's k×k×C receptive field as one row of K = k·k·C bytes
// (HWC order, padding reading the zero point), so that a convolution over few input
// channels runs as conv1x1 over K channels instead of k·k runs too short to pair and vectorise.
// One work-item per (pixel, kernel row); total = the batch's output pixels.
__kernel void im2col(__global const uchar *in, __global uchar *col, int inH, int inW, int C,
                     int outH, int outW, int k, int stride, int padding, uchar padValue, int total)
{
	int i = get_global_id(0);
	if (i >= total * k)
		return;
	int p = i / k, ky = i % k;
	int q = p % (outH * outW), img = p / (outH * outW);
	int iy = q / outW * stride - padding + ky, ix0 = q % outW * stride - padding;
	__global uchar *dst = col + ((size_t)p * k + ky) * k * C;
	for (int kx = 0; kx < k; kx++) {
		int ix = ix0 + kx;
		bool inside = iy >= 0 && iy < inH && ix >= 0 && ix < inW;
		for (int c = 0; c < C; c++)
			dst[kx * C + c] = inside ? in[((size_t)(img * inH + iy) * inW + ix) * C + c] : padValue;
	}
}

// pool is Caffe's ceil-mode max or average pool with windows clipped at the border; the
// average divides by the in-bounds count, rounding half up (fixedpoint.DivRound). One
// work-item per pixel and run of up to 16 channels (whole runs as vectors); total = the
// batch's output pixels × runs per pixel.
__kernel void pool(__global const uchar *in, __global uchar *out, int inH, int inW, int C,
                   int outH, int outW, int k, int stride, int average, int total)
{
	int i = get_global_id(0);
	if (i >= total)
		return;
	int runs = (C + 15) / 16;
	int c0 = i % runs * 16, p = i / runs;
	int ox = p % outW, oy = p / outW % outH, img = p / (outW * outH);
	int y0 = oy * stride, y1 = min(y0 + k, inH);
	int x0 = ox * stride, x1 = min(x0 + k, inW);
	uint count = (y1 - y0) * (x1 - x0);
	__global const uchar *src = in + (size_t)img * inH * inW * C + c0;
	__global uchar *dst = out + (size_t)p * C + c0;
	if (c0 + 16 <= C) {
		uint16 best = 0, sum = 0;
		for (int y = y0; y < y1; y++) {
			for (int x = x0; x < x1; x++) {
				uint16 v = convert_uint16(vload16(0, src + (y * inW + x) * C));
				best = max(best, v);
				sum += v;
			}
		}
		vstore16(convert_uchar16(average ? (sum + count / 2) / count : best), 0, dst);
		return;
	}
	for (int c = 0; c0 + c < C; c++) {
		uint best = 0, sum = 0;
		for (int y = y0; y < y1; y++) {
			for (int x = x0; x < x1; x++) {
				uint v = src[(y * inW + x) * C + c];
				best = max(best, v);
				sum += v;
			}
		}
		dst[c] = average ? (sum + count / 2) / count : best;
	}
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

// requant_test applies requantize to 8-lane groups of arrays, for the tests that compare it
// with fixedpoint.Requantize on random and edge values.
__kernel void requant_test(__global const int *acc, __global const int *m, __global const int *s,
                           __global uchar *out)
{
	int g = get_global_id(0);
	vstore8(requantize(vload8(g, acc), vload8(g, m), vload8(g, s)), g, out);
}
