package train

import (
	"math"

	"github.com/ninedge/ninedge/internal/parallel"
	"github.com/ninedge/ninedge/internal/sgemm"
	"github.com/ninedge/ninedge/nin"
)

// The backward passes of nin's fast layers. They mirror its layers.go: NHWC batches,
// convolution gradients as GEMMs on the same im2col rows (recomputed chunk by chunk rather
// than stored, since conv2's columns for a batch of 128 would take 300 MB), work split over
// images. Sums over a batch are taken per image first and then added in image order, so a
// result never depends on how many threads computed it.

// backwardColImages is how many images a chunk of convBackward holds: four times the
// forward's, because the weight-gradient GEMM sums over the chunk's rows into one small
// matrix, and a longer sum amortises writing that matrix back and packing its operands.
func backwardColImages(l nin.Layer, in, out nin.Shape, batch int) int {
	return min(batch, 4*nin.ColImages(l, in, out, batch))
}

// convBackward takes dy, the gradient at the conv's output before bias and ReLU (the caller
// has applied the ReLU mask), and writes the weight gradient dw (HWIO, overwritten) and, when
// dx is non-nil, the gradient at the input. col is im2col scratch for backwardColImages
// images (unused for pointwise convolutions); it also holds the column gradient, since a
// chunk's columns are dead once its dw product is done. dwT is scratch of dw's size.
func convBackward(threads int, x []float32, n int, in nin.Shape, l nin.Layer, w []float32, out nin.Shape, dy, dw, dx, col, dwT []float32) {
	kdim := l.Kernel * l.Kernel * in.C
	pix := out.H * out.W
	// When the kernel has at least as many rows as outputs, the weight gradient is computed
	// transposed, dwᵀ = dyᵀ·cols, and turned around at the end: the GEMM then packs the larger
	// operand, the columns, into its 16-wide B micro-panels (whole cache lines) instead of 6-wide
	// A ones. Measured alone, one thread: conv2 of nin-cifar10 72 → 79 GFLOP/s, cccp2 60 → 67,
	// conv3 73 → 79; conv1 (75 rows, 192 outputs) lost 9% and is not turned. Each element is
	// the same sum of the same products in the same order, so dw comes out bit for bit the same.
	turn := kdim >= l.Out
	wgrad := func(rows int, cols, dyc []float32, beta float32) {
		if turn {
			sgemm.Gemm(threads, true, false, l.Out, kdim, rows, dyc, l.Out, cols, kdim, beta, dwT, kdim)
		} else {
			sgemm.Gemm(threads, true, false, kdim, l.Out, rows, cols, kdim, dyc, l.Out, beta, dw, l.Out)
		}
	}
	if nin.IsPointwise(l) {
		wgrad(n*pix, x, dy, 0)
		if dx != nil {
			sgemm.Gemm(threads, false, true, n*pix, kdim, l.Out, dy, l.Out, w, l.Out, 0, dx, kdim)
		}
	} else {
		chunk := backwardColImages(l, in, out, n)
		for i0 := 0; i0 < n; i0 += chunk {
			cnt := min(chunk, n-i0)
			parallel.For(threads, cnt, func(i int) {
				nin.Im2col(x[(i0+i)*in.Size():], in, l, out, col[i*pix*kdim:])
			})
			dyc := dy[i0*pix*l.Out:]
			beta := float32(1)
			if i0 == 0 {
				beta = 0
			}
			wgrad(cnt*pix, col, dyc, beta)
			if dx == nil {
				continue
			}
			sgemm.Gemm(threads, false, true, cnt*pix, kdim, l.Out, dyc, l.Out, w, l.Out, 0, col, kdim)
			parallel.For(threads, cnt, func(i int) {
				col2im(col[i*pix*kdim:], in, l, out, dx[(i0+i)*in.Size():][:in.Size()])
			})
		}
	}
	if turn {
		for o := 0; o < l.Out; o++ {
			for r, v := range dwT[o*kdim : (o+1)*kdim] {
				dw[r*l.Out+o] = v
			}
		}
	}
}

// col2im is nin.Im2col's adjoint: it sums each column row's k×k×cin values back onto the
// input pixels they were copied from, dropping those that fell on the padding.
func col2im(col []float32, in nin.Shape, l nin.Layer, out nin.Shape, dx []float32) {
	clear(dx)
	k, c := l.Kernel, in.C
	rowLen := k * k * c
	for oy := 0; oy < out.H; oy++ {
		for ox := 0; ox < out.W; ox++ {
			row := col[(oy*out.W+ox)*rowLen:][:rowLen]
			kx0, kx1, ix0 := nin.KernelSpan(ox, l, in.W)
			if kx0 >= kx1 {
				continue
			}
			for ky := 0; ky < k; ky++ {
				iy := oy*l.Stride - l.Pad + ky
				if iy < 0 || iy >= in.H {
					continue
				}
				src := row[(ky*k+kx0)*c : (ky*k+kx1)*c]
				sgemm.Add(dx[(iy*in.W+ix0)*c:][:len(src)], src)
			}
		}
	}
}

// reluMaskSum zeroes dy where the layer's output y was clipped by its ReLU (relu false: no
// mask) and returns per-image channel sums of the result in part (n×c), the bias gradient
// before its reduction. Fusing both keeps the largest tensors to one pass.
func reluMaskSum(threads int, relu bool, y, dy []float32, n, pix, c int, part []float64) {
	parallel.For(threads, n, func(img int) {
		p := part[img*c:][:c]
		clear(p)
		off := img * pix * c
		if relu {
			reluMaskRows(y[off:][:pix*c], dy[off:][:pix*c], pix, c, p)
			return
		}
		for r := 0; r < pix; r++ {
			for ch, v := range dy[off+r*c:][:c] {
				p[ch] += float64(v)
			}
		}
	})
}

// reduceParts adds the n per-image rows of part (n×c) in image order into sum.
func reduceParts(part []float64, n, c int, sum []float64) {
	clear(sum)
	for img := 0; img < n; img++ {
		for ch, v := range part[img*c:][:c] {
			sum[ch] += v
		}
	}
}

// fcBackward writes the weight gradient and, when dx is non-nil, the input gradient of an fc
// layer; the bias gradient is the column sum of dy, taken by the caller.
func fcBackward(threads int, x []float32, n int, in nin.Shape, l nin.Layer, w, dy, dw, dx []float32) {
	d := in.Size()
	sgemm.Gemm(threads, true, false, d, l.Out, n, x, d, dy, l.Out, 0, dw, l.Out)
	if dx != nil {
		sgemm.Gemm(threads, false, true, n, d, l.Out, dy, l.Out, w, l.Out, 0, dx, d)
	}
}

// maxPoolTrain is nin's max pooling (nin.ForwardLayer) that also records, for every output,
// the index within its image of the input that won (the first, on ties), so the backward pass
// can route the gradient without searching again. The output is the winner's value: the same
// as nin's max except where a window holds NaN (never a winner here) or both zeros.
func maxPoolTrain(threads int, x []float32, n int, in nin.Shape, l nin.Layer, out nin.Shape, y []float32, arg []int32) {
	c := in.C
	parallel.For(threads, n, func(img int) {
		xi := x[img*in.Size():][:in.Size()]
		yi := y[img*out.Size():][:out.Size()]
		ai := arg[img*out.Size():][:out.Size()]
		for oy := 0; oy < out.H; oy++ {
			y0, y1 := nin.PoolWindow(oy, l.Kernel, l.Stride, in.H)
			for ox := 0; ox < out.W; ox++ {
				x0, x1 := nin.PoolWindow(ox, l.Kernel, l.Stride, in.W)
				o := (oy*out.W + ox) * c
				dst, idx := yi[o:][:c], ai[o:][:c]
				// The first cell starts as the winner, so that every output has one.
				base := (y0*in.W + x0) * c
				copy(dst, xi[base:][:c])
				for ch := range idx {
					idx[ch] = int32(base + ch)
				}
				for iy := y0; iy < y1; iy++ {
					for ix := x0; ix < x1; ix++ {
						if iy == y0 && ix == x0 {
							continue
						}
						base := (iy*in.W + ix) * c
						maxArg(dst, idx, xi[base:][:c], int32(base))
					}
				}
			}
		}
	})
}

// poolBackward writes dx for max pooling (each output's gradient to the input that won it) or
// average pooling (spread evenly over the window's in-bounds cells, the forward's divisor).
func poolBackward(threads int, n int, in nin.Shape, l nin.Layer, out nin.Shape, dy []float32, arg []int32, dx []float32) {
	c := in.C
	parallel.For(threads, n, func(img int) {
		dxi := dx[img*in.Size():][:in.Size()]
		dyi := dy[img*out.Size():][:out.Size()]
		clear(dxi)
		if l.Kind == nin.MaxPool {
			for o, j := range arg[img*out.Size():][:out.Size()] {
				dxi[j] += dyi[o]
			}
			return
		}
		for oy := 0; oy < out.H; oy++ {
			y0, y1 := nin.PoolWindow(oy, l.Kernel, l.Stride, in.H)
			for ox := 0; ox < out.W; ox++ {
				x0, x1 := nin.PoolWindow(ox, l.Kernel, l.Stride, in.W)
				g := dyi[(oy*out.W+ox)*c:][:c]
				inv := 1 / float32((y1-y0)*(x1-x0))
				for iy := y0; iy < y1; iy++ {
					for ix := x0; ix < x1; ix++ {
						dst := dxi[(iy*in.W+ix)*c:][:c]
						for ch, v := range g {
							dst[ch] += v * inv
						}
					}
				}
			}
		}
	})
}

// globalAvgBackward spreads each channel's gradient evenly over the map.
func globalAvgBackward(threads int, n int, in nin.Shape, dy, dx []float32) {
	pix, c := in.H*in.W, in.C
	inv := 1 / float32(pix)
	parallel.For(threads, n, func(img int) {
		g := dy[img*c:][:c]
		for p := 0; p < pix; p++ {
			dst := dx[(img*pix+p)*c:][:c]
			for ch, v := range g {
				dst[ch] = v * inv
			}
		}
	})
}

// mulInto sets dst = a·b elementwise: dropout's forward and backward, both with the mask.
func mulInto(threads, n int, dst, a, b []float32) {
	per := len(dst) / n
	parallel.For(threads, n, func(img int) {
		d := dst[img*per:][:per]
		x, m := a[img*per:][:per], b[img*per:][:per]
		for i := range d {
			d[i] = x[i] * m[i]
		}
	})
}

// softmaxCrossEntropy returns the summed cross-entropy of n rows of scores against labels and
// the number of rows whose top score is the label, and writes the gradient of the mean loss
// with respect to the scores into d. With smoothing ε the target is (1−ε) on the label and
// ε/classes on every class: the loss is (1−ε)·nll(label) + ε·mean over classes of nll(class),
// its gradient (p − target)/n.
func softmaxCrossEntropy(scores []float32, labels []int32, n, classes int, smoothing float64, d []float32) (loss float64, correct int) {
	for i := 0; i < n; i++ {
		s := scores[i*classes:][:classes]
		g := d[i*classes:][:classes]
		best, mx := 0, s[0]
		for j, v := range s {
			if v > mx {
				best, mx = j, v
			}
		}
		if best == int(labels[i]) {
			correct++
		}
		var sum float64
		for j, v := range s {
			e := math.Exp(float64(v - mx))
			g[j] = float32(e)
			sum += e
		}
		lse := math.Log(sum)
		nll := lse - float64(s[labels[i]]-mx)
		for j := range g {
			g[j] = float32(float64(g[j]) / sum / float64(n))
		}
		if smoothing == 0 {
			// Without smoothing, exactly the arithmetic of checkpoints from before it existed.
			loss += nll
			g[labels[i]] -= 1 / float32(n)
			continue
		}
		var all float64
		for j, v := range s {
			all += lse - float64(v-mx)
			g[j] = float32(float64(g[j]) - smoothing/float64(classes)/float64(n))
		}
		loss += (1-smoothing)*nll + smoothing*all/float64(classes)
		g[labels[i]] = float32(float64(g[labels[i]]) - (1-smoothing)/float64(n))
	}
	return loss, correct
}
