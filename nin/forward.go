package nin

import (
	"fmt"
	"math"
	"runtime"
)

// Runner runs a model's forward pass on batches of up to Batch preprocessed images, holding
// every layer's output so that tools can compare layers (the int8 report does).
type Runner struct {
	Model   *Model
	Batch   int
	Threads int
	shapes  []Shape
	acts    [][]float32 // acts[i] is layer i's output for the last batch
	col     []float32
}

// NewRunner allocates the buffers for batches of up to batch images; threads ≤ 0 means all cores.
func NewRunner(m *Model, batch, threads int) *Runner {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	r := &Runner{Model: m, Batch: batch, Threads: threads, shapes: m.Spec.Shapes()}
	colLen := 0
	for i, l := range m.Spec.Layers {
		out := r.shapes[i+1]
		if l.Kind == Dropout {
			r.acts = append(r.acts, nil) // identity at inference: aliases its input
			continue
		}
		r.acts = append(r.acts, make([]float32, batch*out.Size()))
		if l.Kind == Conv {
			in := r.shapes[i]
			colLen = max(colLen, ColImages(l, in, out, batch)*out.H*out.W*l.Kernel*l.Kernel*in.C)
		}
	}
	r.col = make([]float32, colLen)
	return r
}

// Forward runs n ≤ Batch preprocessed images (NHWC) and returns their class scores (n×classes),
// a view into the runner's memory valid until the next call.
func (r *Runner) Forward(x []float32, n int) []float32 {
	if n > r.Batch {
		panic(fmt.Sprintf("nin: batch of %d images on a runner made for %d", n, r.Batch))
	}
	m := r.Model
	cur := x[:n*r.shapes[0].Size()]
	for i, l := range m.Spec.Layers {
		in, out := r.shapes[i], r.shapes[i+1]
		y := r.acts[i]
		if l.Kind == Dropout {
			r.acts[i] = cur
			continue
		}
		ForwardLayer(r.Threads, cur, n, in, l, m.Weights[i], m.Biases[i], out, y, r.col)
		cur = y[:n*out.Size()]
	}
	return cur
}

// Activation returns layer i's output from the last Forward (n images × the layer's shape).
func (r *Runner) Activation(i, n int) []float32 {
	return r.acts[i][:n*r.shapes[i+1].Size()]
}

// ForwardRef is the oracle: one image, direct loops, float64 accumulation. It is slow and
// obviously right; tests compare the fast path with it. It returns every layer's output.
func ForwardRef(m *Model, x []float32) [][]float32 {
	shapes := m.Spec.Shapes()
	var outs [][]float32
	cur := x
	for i, l := range m.Spec.Layers {
		in, out := shapes[i], shapes[i+1]
		y := make([]float32, out.Size())
		switch l.Kind {
		case Conv:
			w, b := m.Weights[i], m.Biases[i]
			k := l.Kernel
			for oy := 0; oy < out.H; oy++ {
				for ox := 0; ox < out.W; ox++ {
					for o := 0; o < l.Out; o++ {
						s := float64(b[o])
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								iy, ix := oy*l.Stride-l.Pad+ky, ox*l.Stride-l.Pad+kx
								if iy < 0 || iy >= in.H || ix < 0 || ix >= in.W {
									continue
								}
								for c := 0; c < in.C; c++ {
									s += float64(cur[(iy*in.W+ix)*in.C+c]) * float64(w[((ky*k+kx)*in.C+c)*l.Out+o])
								}
							}
						}
						if l.ReLU && s < 0 {
							s = 0
						}
						y[(oy*out.W+ox)*l.Out+o] = float32(s)
					}
				}
			}
		case FC:
			w, b := m.Weights[i], m.Biases[i]
			for o := 0; o < l.Out; o++ {
				s := float64(b[o])
				for j, v := range cur {
					s += float64(v) * float64(w[j*l.Out+o])
				}
				y[o] = float32(s)
			}
		case MaxPool, AvgPool:
			for oy := 0; oy < out.H; oy++ {
				for ox := 0; ox < out.W; ox++ {
					for c := 0; c < in.C; c++ {
						best, sum, cnt := math.Inf(-1), 0.0, 0
						for iy := oy * l.Stride; iy < min(oy*l.Stride+l.Kernel, in.H); iy++ {
							for ix := ox * l.Stride; ix < min(ox*l.Stride+l.Kernel, in.W); ix++ {
								v := float64(cur[(iy*in.W+ix)*in.C+c])
								best = math.Max(best, v)
								sum += v
								cnt++
							}
						}
						if l.Kind == MaxPool {
							y[(oy*out.W+ox)*in.C+c] = float32(best)
						} else {
							y[(oy*out.W+ox)*in.C+c] = float32(sum / float64(cnt))
						}
					}
				}
			}
		case GlobalAvg:
			for c := 0; c < in.C; c++ {
				s := 0.0
				for p := 0; p < in.H*in.W; p++ {
					s += float64(cur[p*in.C+c])
				}
				y[c] = float32(s / float64(in.H*in.W))
			}
		case Dropout:
			copy(y, cur)
		}
		outs = append(outs, y)
		cur = y
	}
	return outs
}

// Softmax writes the probabilities of one image's scores into p.
func Softmax(scores, p []float32) {
	mx := scores[0]
	for _, v := range scores {
		mx = max(mx, v)
	}
	var sum float64
	for i, v := range scores {
		e := math.Exp(float64(v - mx))
		p[i] = float32(e)
		sum += e
	}
	for i := range p {
		p[i] = float32(float64(p[i]) / sum)
	}
}

// TopK returns the indices of the k largest scores, best first (ties: lower index first).
func TopK(scores []float32, k int, idx []int) []int {
	idx = idx[:0]
	k = min(k, len(scores))
	for len(idx) < k {
		best := -1
		for i, v := range scores {
			taken := false
			for _, j := range idx {
				if j == i {
					taken = true
					break
				}
			}
			if !taken && (best < 0 || v > scores[best]) {
				best = i
			}
		}
		idx = append(idx, best)
	}
	return idx
}
