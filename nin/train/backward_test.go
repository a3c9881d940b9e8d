package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ninedge/ninedge/internal/sgemm"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/nin/nintest"
)

// oracle is the training-mode forward pass in float64 with direct loops: the loss as a
// function of the parameters, for finite differences. It takes the trainer's parameters and
// dropout masks, and records how close any ReLU input or max-pool runner-up came to a kink.
type oracle struct {
	t       *Trainer
	params  [][]float64 // the trainer's params, in its order
	running bool        // eval mode: BN with running statistics, no dropout
	margin  float64     // smallest |ReLU input| and max-pool gap seen
}

func newOracle(t *Trainer) *oracle {
	o := &oracle{t: t}
	for _, p := range t.params {
		v := make([]float64, len(p.w))
		for i, w := range p.w {
			v[i] = float64(w)
		}
		o.params = append(o.params, v)
	}
	return o
}

// scores runs n images (the trainer's batch input) and returns the class scores per image.
func (o *oracle) scores(n int) [][]float64 {
	t := o.t
	o.margin = math.Inf(1)
	acts := make([][]float64, n)
	for i := range acts {
		acts[i] = make([]float64, t.shapes[0].Size())
		for j := range acts[i] {
			acts[i][j] = float64(t.x[i*len(acts[i])+j])
		}
	}
	p := 0
	for li, l := range t.Model.Spec.Layers {
		in, out := t.shapes[li], t.shapes[li+1]
		next := make([][]float64, n)
		for i := range next {
			next[i] = make([]float64, out.Size())
		}
		switch l.Kind {
		case nin.Conv, nin.FC:
			w := o.params[p]
			var b []float64
			if t.bn[li] == nil {
				b = o.params[p+1]
			}
			for img := range n {
				o.linear(l, in, out, w, b, acts[img], next[img])
			}
			if bn := t.bn[li]; bn != nil {
				o.batchNorm(bn, o.params[p+1], o.params[p+2], next, out)
				p += 3
			} else {
				p += 2
			}
			if l.Kind == nin.Conv && l.ReLU {
				for _, a := range next {
					for j, v := range a {
						o.margin = min(o.margin, math.Abs(v))
						a[j] = max(v, 0)
					}
				}
			}
		case nin.MaxPool, nin.AvgPool:
			for img := range n {
				o.pool(l, in, out, acts[img], next[img])
			}
		case nin.GlobalAvg:
			for img := range n {
				for j, v := range acts[img] {
					next[img][j%in.C] += v / float64(in.H*in.W)
				}
			}
		case nin.Dropout:
			for img := range n {
				for j, v := range acts[img] {
					if !o.running {
						v *= float64(t.mask[li][img*out.Size()+j])
					}
					next[img][j] = v
				}
			}
		}
		acts = next
	}
	return acts
}

func (o *oracle) linear(l nin.Layer, in, out nin.Shape, w, b, x, y []float64) {
	if l.Kind == nin.FC {
		for k := range l.Out {
			for j, v := range x {
				y[k] += v * w[j*l.Out+k]
			}
			if b != nil {
				y[k] += b[k]
			}
		}
		return
	}
	k := l.Kernel
	for oy := range out.H {
		for ox := range out.W {
			for c := range l.Out {
				s := 0.0
				if b != nil {
					s = b[c]
				}
				for ky := range k {
					for kx := range k {
						iy, ix := oy*l.Stride-l.Pad+ky, ox*l.Stride-l.Pad+kx
						if iy < 0 || iy >= in.H || ix < 0 || ix >= in.W {
							continue
						}
						for ci := range in.C {
							s += x[(iy*in.W+ix)*in.C+ci] * w[((ky*k+kx)*in.C+ci)*l.Out+c]
						}
					}
				}
				y[(oy*out.W+ox)*l.Out+c] = s
			}
		}
	}
}

func (o *oracle) batchNorm(bn *batchNorm, gamma, beta []float64, z [][]float64, out nin.Shape) {
	c := out.C
	for ch := range c {
		mean, v := float64(bn.runMean[ch]), float64(bn.runVar[ch])
		if !o.running {
			var s, sq float64
			cnt := 0.0
			for _, a := range z {
				for j := ch; j < len(a); j += c {
					s += a[j]
					sq += a[j] * a[j]
					cnt++
				}
			}
			mean = s / cnt
			v = sq/cnt - mean*mean
		}
		for _, a := range z {
			for j := ch; j < len(a); j += c {
				a[j] = (a[j]-mean)/math.Sqrt(v+bnEps)*gamma[ch] + beta[ch]
			}
		}
	}
}

func (o *oracle) pool(l nin.Layer, in, out nin.Shape, x, y []float64) {
	for oy := range out.H {
		y0, y1 := nin.PoolWindow(oy, l.Kernel, l.Stride, in.H)
		for ox := range out.W {
			x0, x1 := nin.PoolWindow(ox, l.Kernel, l.Stride, in.W)
			for c := range in.C {
				best, second, sum := math.Inf(-1), math.Inf(-1), 0.0
				for iy := y0; iy < y1; iy++ {
					for ix := x0; ix < x1; ix++ {
						v := x[(iy*in.W+ix)*in.C+c]
						sum += v
						if v > best {
							best, second = v, best
						} else if v > second {
							second = v
						}
					}
				}
				if l.Kind == nin.AvgPool {
					y[(oy*out.W+ox)*in.C+c] = sum / float64((y1-y0)*(x1-x0))
					continue
				}
				if best > 0 { // a tie at 0 is between ReLU-clipped values: no gradient either way
					o.margin = min(o.margin, best-second)
				}
				y[(oy*out.W+ox)*in.C+c] = best
			}
		}
	}
}

// loss is the mean softmax cross-entropy of the batch against the labels, smoothed as the
// trainer's options say.
func (o *oracle) loss(n int) float64 {
	eps := o.t.Opt.LabelSmoothing
	var l float64
	for i, s := range o.scores(n) {
		mx := math.Inf(-1)
		for _, v := range s {
			mx = max(mx, v)
		}
		sum := 0.0
		for _, v := range s {
			sum += math.Exp(v - mx)
		}
		lse := math.Log(sum) + mx
		for j, v := range s {
			q := eps / float64(len(s))
			if j == int(o.t.labels[i]) {
				q += 1 - eps
			}
			l += q * (lse - v)
		}
	}
	return l / float64(n)
}

// gradTrainer builds a trainer for nintest.GradSpec on a random batch of n images and runs one
// forward and backward pass (no update). The seed chooses weights, input and labels.
func gradTrainer(t *testing.T, head string, bn bool, smoothing float64, n int, seed uint64) *Trainer {
	s := nintest.GradSpec(t, head)
	m := nintest.RandomModel(t, s, seed)
	opt := DefaultTrainOptions()
	opt.Batch, opt.BN, opt.LabelSmoothing, opt.Seed = n, bn, smoothing, seed
	opt.EMA = 0 // the tests set γ and β after NewTrainer; an average would start from the old ones
	tr, err := NewTrainer(m, opt, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range tr.x {
		tr.x[i] = float32(r.NormFloat64())
	}
	for i := range tr.labels {
		tr.labels[i] = int32(r.IntN(s.Classes))
	}
	for _, b := range tr.bn {
		if b != nil {
			for i := range b.gamma {
				b.gamma[i] = float32(0.5 + r.Float64())
				b.beta[i] = float32(r.NormFloat64() * 0.3)
			}
		}
	}
	scores := tr.forward(n)
	softmaxCrossEntropy(scores, tr.labels, n, s.Classes, smoothing, tr.grad[0])
	tr.backward(n)
	return tr
}

// TestGradients checks every parameter's gradient against central finite differences of the
// float64 oracle's loss. ReLU kinks and max-pool ties are kept out by construction: the seed
// is the first for which no ReLU input and no max-pool runner-up lies within 100 steps of the
// kink, so no difference quotient straddles one.
func TestGradients(t *testing.T) {
	const (
		n = 3
		h = 1e-6
	)
	for _, tc := range []struct {
		head      string
		bn        bool
		smoothing float64
	}{{"gap", false, 0}, {"gap", true, 0}, {"fc", false, 0}, {"fc", true, 0}, {"gap", true, 0.2}, {"fc", false, 0.2}} {
		t.Run(fmt.Sprintf("%s/bn=%v/smoothing=%v", tc.head, tc.bn, tc.smoothing), func(t *testing.T) {
			var tr *Trainer
			var o *oracle
			for seed := uint64(1); ; seed++ {
				tr = gradTrainer(t, tc.head, tc.bn, tc.smoothing, n, seed)
				o = newOracle(tr)
				o.loss(n)
				if o.margin > 100*h {
					break
				}
				if seed == 50 {
					t.Fatal("no seed keeps the kinks away")
				}
			}
			checkLossMatches(t, tr, o, n)
			for pi, p := range tr.params {
				w := o.params[pi]
				var worst float64
				for j := range w {
					orig := w[j]
					w[j] = orig + h
					up := o.loss(n)
					w[j] = orig - h
					down := o.loss(n)
					w[j] = orig
					num := (up - down) / (2 * h)
					got := float64(p.g[j])
					// float32 gradients: relative error 2e-4, or absolute 2e-7 for values near 0.
					err := math.Abs(got-num) / (math.Abs(num) + 1e-3)
					worst = max(worst, err)
					if err > 2e-4 {
						t.Errorf("%s[%d]: backward %.7g, finite differences %.7g", p.name, j, got, num)
					}
				}
				t.Logf("%s: %d values, worst relative error %.2g", p.name, len(w), worst)
			}
		})
	}
}

// checkLossMatches compares the trainer's float32 forward loss with the oracle's.
func checkLossMatches(t *testing.T, tr *Trainer, o *oracle, n int) {
	t.Helper()
	scores := tr.forward(n)
	loss, _ := softmaxCrossEntropy(scores, tr.labels, n, tr.Model.Spec.Classes, tr.Opt.LabelSmoothing, make([]float32, len(scores)))
	if want := o.loss(n); math.Abs(loss/float64(n)-want) > 1e-5*(1+want) {
		t.Fatalf("forward loss %v, oracle %v", loss/float64(n), want)
	}
}

// TestExportFoldsBN checks that the saved model (BN folded with the running statistics)
// computes what the network with explicit BN computes in eval mode.
func TestExportFoldsBN(t *testing.T) {
	const n = 3
	tr := gradTrainer(t, "gap", true, 0, n, 5)
	r := rand.New(rand.NewPCG(5, 3))
	for _, b := range tr.bn {
		if b != nil {
			for i := range b.runMean {
				b.runMean[i] = float32(r.NormFloat64() * 0.2)
				b.runVar[i] = float32(0.5 + r.Float64())
			}
		}
	}
	o := newOracle(tr)
	o.running = true
	want := o.scores(n)
	got := nin.NewRunner(tr.Export(), n, 1).Forward(tr.x, n)
	c := tr.Model.Spec.Classes
	for i := range n {
		for j := range c {
			if d := math.Abs(float64(got[i*c+j]) - want[i][j]); d > 1e-4*(1+math.Abs(want[i][j])) {
				t.Errorf("image %d class %d: folded %v, BN in eval mode %v", i, j, got[i*c+j], want[i][j])
			}
		}
	}
}

// TestReluMaskRows checks reluMaskRows against its Go contract bit for bit, for every tail of
// the vector loop, on ReLU outputs with clipped (+0) and odd values (−0, NaN, negative).
func TestReluMaskRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	odd := []float32{float32(math.Copysign(0, -1)), float32(math.NaN()), -1, float32(math.Inf(1)), 1e-45}
	for c := 1; c <= 35; c++ {
		rows := 3
		y, g := make([]float32, rows*c), make([]float32, rows*c)
		for i := range y {
			g[i] = float32(rng.NormFloat64())
			switch i % 3 {
			case 0:
				y[i] = 0
			case 1:
				y[i] = rng.Float32()
			default:
				y[i] = odd[i/3%len(odd)]
			}
		}
		p0 := make([]float64, c)
		for j := range p0 {
			p0[j] = rng.NormFloat64()
		}
		gotG, wantG := slices.Clone(g), slices.Clone(g)
		gotP, wantP := slices.Clone(p0), slices.Clone(p0)
		reluMaskRows(y, gotG, rows, c, gotP)
		reluMaskRowsGo(y, wantG, rows, c, wantP)
		for i := range gotG {
			if math.Float32bits(gotG[i]) != math.Float32bits(wantG[i]) {
				t.Fatalf("c %d: g[%d] = %v, want %v (y %v)", c, i, gotG[i], wantG[i], y[i])
			}
		}
		for j := range gotP {
			if math.Float64bits(gotP[j]) != math.Float64bits(wantP[j]) {
				t.Fatalf("c %d: p[%d] = %v, want %v", c, j, gotP[j], wantP[j])
			}
		}
	}
}

// TestMaxArg checks maxArg against its Go contract bit for bit, for every tail of the vector
// loop, with ties, signed zeros, NaN and infinities on both sides.
func TestMaxArg(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	odd := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(-1)), float32(math.Inf(1)), 0.5}
	pick := func() float32 {
		if rng.IntN(2) == 0 {
			return odd[rng.IntN(len(odd))]
		}
		return float32(rng.NormFloat64())
	}
	for c := 1; c <= 35; c++ {
		dst, idx, src := make([]float32, c), make([]int32, c), make([]float32, c)
		for ch := range dst {
			dst[ch], src[ch], idx[ch] = pick(), pick(), int32(rng.IntN(1000))
		}
		if c > 2 {
			src[1] = dst[1] // a tie keeps the first
		}
		gotD, gotI := slices.Clone(dst), slices.Clone(idx)
		maxArg(gotD, gotI, src, 4000)
		maxArgGo(dst, idx, src, 4000)
		for ch := range dst {
			if math.Float32bits(gotD[ch]) != math.Float32bits(dst[ch]) || gotI[ch] != idx[ch] {
				t.Fatalf("c %d ch %d: (%v, %d), want (%v, %d)", c, ch, gotD[ch], gotI[ch], dst[ch], idx[ch])
			}
		}
	}
}

// TestConvWeightGradTurned checks that the weight gradient computed transposed (kernel rows ≥
// outputs) is bit for bit the direct product of the columns and dy.
func TestConvWeightGradTurned(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, l := range []nin.Layer{
		{Kind: nin.Conv, Kernel: 3, Pad: 1, Stride: 1, Out: 5},
		{Kind: nin.Conv, Kernel: 1, Stride: 1, Out: 7},
	} {
		in, n := nin.Shape{H: 6, W: 6, C: 8}, 3
		out := nin.Shape{H: 6, W: 6, C: l.Out}
		kdim, pix := l.Kernel*l.Kernel*in.C, out.H*out.W
		if !nin.IsPointwise(l) && backwardColImages(l, in, out, n) < n {
			t.Fatal("the test needs one chunk")
		}
		x, dy := make([]float32, n*in.Size()), make([]float32, n*out.Size())
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range dy {
			dy[i] = float32(rng.NormFloat64())
		}
		cols := x
		if !nin.IsPointwise(l) {
			cols = make([]float32, n*pix*kdim)
			for i := 0; i < n; i++ {
				nin.Im2col(x[i*in.Size():], in, l, out, cols[i*pix*kdim:])
			}
		}
		want := make([]float32, kdim*l.Out)
		sgemm.Gemm(1, true, false, kdim, l.Out, n*pix, cols, kdim, dy, l.Out, 0, want, l.Out)
		dw, dwT := make([]float32, kdim*l.Out), make([]float32, kdim*l.Out)
		convBackward(2, x, n, in, l, make([]float32, kdim*l.Out), out, dy, dw, nil, make([]float32, n*pix*kdim), dwT)
		for i := range dw {
			if math.Float32bits(dw[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%dx%d conv: dw[%d] = %v, want %v", l.Kernel, l.Kernel, i, dw[i], want[i])
			}
		}
	}
}

// TestBatchNormPasses checks the four batch-norm passes against their Go contracts bit for
// bit (NaN against NaN), for every tail of the eight-channel vector loop, on values that
// include signed zeros, infinities and NaN, with and without the ReLU.
func TestBatchNormPasses(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	odd := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(-1)), float32(math.Inf(1)), 1e-45}
	pick := func() float32 {
		if rng.IntN(8) == 0 {
			return odd[rng.IntN(len(odd))]
		}
		return float32(rng.NormFloat64())
	}
	same32 := func(a, b []float32) bool {
		return slices.EqualFunc(a, b, func(x, y float32) bool {
			return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y
		})
	}
	same64 := func(a, b []float64) bool {
		return slices.EqualFunc(a, b, func(x, y float64) bool {
			return math.Float64bits(x) == math.Float64bits(y) || x != x && y != y
		})
	}
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = pick()
		}
		return v
	}
	for c := 1; c <= 35; c++ {
		for _, relu := range []bool{true, false} {
			const rows = 3
			bn := newBatchNorm(c, 1)
			for _, p := range [][]float32{bn.scale, bn.shift, bn.mean, bn.invStd, bn.coef} {
				copy(p, fill(len(p)))
			}
			z, dy := fill(rows*c), fill(rows*c)
			// u = −0·1 + −0 = −0 in channel 0: max(u, 0) must be +0, as Go's max gives.
			z[0], bn.scale[0], bn.shift[0] = float32(math.Copysign(0, -1)), 1, float32(math.Copysign(0, -1))
			sums := func() []float64 {
				s := make([]float64, c)
				for i := range s {
					s[i] = rng.NormFloat64()
				}
				return s
			}
			s, sq := sums(), sums()
			s2, sq2 := slices.Clone(s), slices.Clone(sq)
			bnStats(z, rows, c, s, sq)
			bnStatsGo(z, rows, c, c, s2, sq2)
			if !same64(s, s2) || !same64(sq, sq2) {
				t.Fatalf("c %d: stats (%v, %v), want (%v, %v)", c, s, sq, s2, sq2)
			}
			y, y2 := make([]float32, rows*c), make([]float32, rows*c)
			bnApply(z, y, rows, c, bn.scale, bn.shift, relu)
			bnApplyGo(z, y2, rows, c, c, bn.scale, bn.shift, relu)
			if !same32(y, y2) {
				t.Fatalf("c %d relu %v: apply %v, want %v", c, relu, y, y2)
			}
			bnGradStats(z, dy, rows, c, bn, relu, s, sq)
			bnGradStatsGo(z, dy, rows, c, c, bn.scale, bn.shift, bn.mean, bn.invStd, relu, s2, sq2)
			if !same64(s, s2) || !same64(sq, sq2) {
				t.Fatalf("c %d relu %v: gradient stats (%v, %v), want (%v, %v)", c, relu, s, sq, s2, sq2)
			}
			g, g2 := slices.Clone(dy), slices.Clone(dy)
			bnGradApply(z, g, rows, c, bn, relu)
			bnGradApplyGo(z, g2, rows, c, c, bn.scale, bn.shift, bn.coef[:c], bn.coef[c:2*c], bn.coef[2*c:], relu)
			if !same32(g, g2) {
				t.Fatalf("c %d relu %v: gradient %v, want %v", c, relu, g, g2)
			}
		}
	}
}
