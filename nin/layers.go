package nin

import (
	"fmt"
	"math"

	"github.com/ninedge/ninedge/internal/parallel"
	"github.com/ninedge/ninedge/internal/sgemm"
)

// The fast float32 layers: NHWC batches, convolution as im2col (or nothing, for 1×1) times the
// HWIO weight matrix on the blocked SGEMM, pooling split over images.
//
// The trainer (nin/train) runs these layers and differentiates them: what it needs of them is
// exported, each saying why, and nothing else.

// ForwardLayer runs layer l (conv, fc, max or average pool, global average; not dropout, the
// identity, which callers alias rather than copy) on n images: x holds them in shape in, y
// receives shape out. w and b are the layer's weights (HWIO) and bias, where it has them; a
// conv's b may be nil (see convForward). col is im2col scratch for ColImages(l, in, out, n)
// images.
//
// Exported for nin/train, whose training forward pass runs these layers between its batch
// norms and dropout masks: training and inference compute one function.
func ForwardLayer(threads int, x []float32, n int, in Shape, l Layer, w, b []float32, out Shape, y, col []float32) {
	switch l.Kind {
	case Conv:
		convForward(threads, x, n, in, l, w, b, out, y, col)
	case FC:
		fcForward(threads, x, n, in, l, w, b, y)
	case MaxPool, AvgPool:
		poolForward(threads, x, n, in, l, out, y)
	case GlobalAvg:
		globalAvgForward(x, n, in, y)
	default:
		panic(fmt.Sprintf("nin: ForwardLayer of layer %s, kind %q", l.Name, l.Kind))
	}
}

// Im2col writes, for each output pixel of one image, its k×k×cin receptive field (zeros where
// it hangs over the padding) as one row of col, in the HWIO order of the weight matrix rows.
// The in-bounds part of each kernel row is contiguous in the NHWC input, so it is one copy.
// Exported for nin/train: the weight gradient is a product with these same rows.
func Im2col(x []float32, in Shape, l Layer, out Shape, col []float32) {
	im2colRows(x, in, l, out, col, 0, out.H)
}

// im2colRows is Im2col of output rows [oy0, oy1) only, so that goroutines can share an image.
func im2colRows(x []float32, in Shape, l Layer, out Shape, col []float32, oy0, oy1 int) {
	k, c := l.Kernel, in.C
	rowLen := k * k * c
	for oy := oy0; oy < oy1; oy++ {
		for ox := 0; ox < out.W; ox++ {
			row := col[(oy*out.W+ox)*rowLen:][:rowLen]
			kx0, kx1, ix0 := KernelSpan(ox, l, in.W)
			for ky := 0; ky < k; ky++ {
				iy := oy*l.Stride - l.Pad + ky
				seg := row[ky*k*c : (ky+1)*k*c]
				if iy < 0 || iy >= in.H || kx0 >= kx1 {
					clear(seg)
					continue
				}
				clear(seg[:kx0*c])
				copy(seg[kx0*c:kx1*c], x[(iy*in.W+ix0)*c:])
				clear(seg[kx1*c:])
			}
		}
	}
}

// KernelSpan returns the kernel columns kx0 ≤ kx < kx1 of output column ox that fall inside
// an input of width w, and the input column of kx0; kernel column kx reads input column
// ix0 − kx0 + kx whatever the stride, so the span is contiguous in the input. Exported for
// nin/train, whose col2im (Im2col's adjoint) must walk the same spans.
func KernelSpan(ox int, l Layer, w int) (kx0, kx1, ix0 int) {
	ix := ox*l.Stride - l.Pad // input column of kx = 0
	kx0 = max(0, -ix)
	kx1 = min(l.Kernel, w-ix)
	return kx0, kx1, ix + kx0
}

// IsPointwise reports whether a conv reads its input as-is (1×1, stride 1, no padding), so the
// NHWC activation already is the GEMM's left matrix. Exported for nin/train, whose backward
// pass takes the same shortcut.
func IsPointwise(l Layer) bool { return l.Kernel == 1 && l.Stride == 1 && l.Pad == 0 }

// ColImages is how many images one im2col buffer holds (0 for a pointwise conv, which needs
// none): enough rows to keep the GEMM busy, few enough to stay near the caches. Exported for
// nin/train, whose backward pass takes chunks of a multiple of it in a buffer that ForwardLayer
// also uses.
func ColImages(l Layer, in, out Shape, batch int) int {
	if IsPointwise(l) {
		return 0
	}
	per := out.H * out.W * l.Kernel * l.Kernel * in.C
	return max(1, min(batch, (1<<21)/per))
}

// convForward computes y = relu?(conv(x) + b) for n images; col is im2col scratch for
// ColImages(...) images (unused for pointwise convolutions). b may be nil (no bias), which with
// ReLU off leaves the GEMM's output untouched, as batch normalisation in training wants it.
// The bias and ReLU are the GEMM's output stage, applied while its blocks are in cache.
func convForward(threads int, x []float32, n int, in Shape, l Layer, w, b []float32, out Shape, y []float32, col []float32) {
	kdim := l.Kernel * l.Kernel * in.C
	pix := out.H * out.W
	y = y[:n*pix*l.Out]
	if IsPointwise(l) {
		sgemm.GemmBiasReLU(threads, false, false, n*pix, l.Out, kdim, x, kdim, w, l.Out, 0, y, l.Out, b, l.ReLU)
		return
	}
	chunk := ColImages(l, in, out, n)
	for i0 := 0; i0 < n; i0 += chunk {
		cnt := min(chunk, n-i0)
		// By output row, not by image: at batch 1 a second goroutine must have a share.
		parallel.For(threads, cnt*out.H, func(u int) {
			i, oy := u/out.H, u%out.H
			im2colRows(x[(i0+i)*in.Size():], in, l, out, col[i*pix*kdim:], oy, oy+1)
		})
		sgemm.GemmBiasReLU(threads, false, false, cnt*pix, l.Out, kdim, col, kdim, w, l.Out, 0, y[i0*pix*l.Out:], l.Out, b, l.ReLU)
	}
}

// fcForward computes y = x·W + b over the flattened HWC activation.
func fcForward(threads int, x []float32, n int, in Shape, l Layer, w, b []float32, y []float32) {
	for i := 0; i < n; i++ {
		copy(y[i*l.Out:(i+1)*l.Out], b)
	}
	sgemm.Gemm(threads, false, false, n, l.Out, in.Size(), x, in.Size(), w, l.Out, 1, y, l.Out)
}

// PoolWindow is the clipped input range of output index o: Caffe starts windows at o·stride
// and clips them at the border, so the ceil-mode last window may be smaller. Exported for
// nin/train, whose max pool and pooling gradients must use the forward's windows.
func PoolWindow(o, k, stride, size int) (lo, hi int) {
	lo = o * stride
	return lo, min(lo+k, size)
}

// poolForward computes max or average pooling for n images, output rows split over
// goroutines (at batch 1 a second goroutine must have a share).
func poolForward(threads int, x []float32, n int, in Shape, l Layer, out Shape, y []float32) {
	c := in.C
	parallel.For(threads, n*out.H, func(u int) {
		img, oy := u/out.H, u%out.H
		xi := x[img*in.Size():][:in.Size()]
		yi := y[img*out.Size():][:out.Size()]
		y0, y1 := PoolWindow(oy, l.Kernel, l.Stride, in.H)
		for ox := 0; ox < out.W; ox++ {
			x0, x1 := PoolWindow(ox, l.Kernel, l.Stride, in.W)
			dst := yi[(oy*out.W+ox)*c:][:c]
			if l.Kind == MaxPool {
				for ch := range dst {
					dst[ch] = float32(math.Inf(-1))
				}
			} else {
				clear(dst)
			}
			for iy := y0; iy < y1; iy++ {
				for ix := x0; ix < x1; ix++ {
					src := xi[(iy*in.W+ix)*c:][:c]
					if l.Kind == MaxPool {
						for ch, v := range src {
							dst[ch] = max(dst[ch], v)
						}
					} else {
						for ch, v := range src {
							dst[ch] += v
						}
					}
				}
			}
			if l.Kind == AvgPool {
				inv := 1 / float32((y1-y0)*(x1-x0))
				for ch := range dst {
					dst[ch] *= inv
				}
			}
		}
	})
}

// globalAvgForward averages each channel over the whole map.
func globalAvgForward(x []float32, n int, in Shape, y []float32) {
	pix, c := in.H*in.W, in.C
	for img := 0; img < n; img++ {
		dst := y[img*c : (img+1)*c]
		clear(dst)
		for p := 0; p < pix; p++ {
			for ch, v := range x[(img*pix+p)*c:][:c] {
				dst[ch] += v
			}
		}
		for ch := range dst {
			dst[ch] /= float32(pix)
		}
	}
}
