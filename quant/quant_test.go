package quant_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/fixedpoint"
	"github.com/ninedge/ninedge/quant/quanttest"
	"github.com/ninedge/ninedge/safetensors"
)

// Each integer op against the float computation it stands for, at known scales: the int8
// result dequantized must be within the rounding the scheme allows.
func TestOpsAgainstFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	in := nin.Shape{H: 6, W: 5, C: 3}
	x := make([]uint8, in.Size())
	for i := range x {
		x[i] = uint8(r.UintN(256))
	}
	const inScale, outScale = float32(0.02), float32(0.05)

	t.Run("conv", func(t *testing.T) {
		n := quant.Node{Name: "c", Op: quant.OpConv, In: in, Out: nin.Shape{H: 6, W: 5, C: 4}, Kernel: 3, Stride: 1, Pad: 1,
			InScale: inScale, OutScale: outScale, PadValue: 0}
		w := make([]float32, n.K()*4)
		for i := range w {
			w[i] = float32(r.NormFloat64() * 0.3)
		}
		b := []float32{0.1, -0.2, 0.3, 0}
		g := graphOf(t, in, n, w, b)
		got := g.Reference(x).Acts[0]
		// Compare with the float conv over the dequantized weights: what is left is the
		// bias's and the output's rounding.
		q := &g.Nodes[0]
		for r := 0; r < q.K(); r++ {
			for o := 0; o < 4; o++ {
				w[r*4+o] = float32(q.Weights[r*4+o]) * q.WScale[o]
			}
		}
		var worst float64
		for oy := 0; oy < 6; oy++ {
			for ox := 0; ox < 5; ox++ {
				for o := 0; o < 4; o++ {
					s := float64(b[o])
					for ky := 0; ky < 3; ky++ {
						for kx := 0; kx < 3; kx++ {
							iy, ix := oy-1+ky, ox-1+kx
							if iy < 0 || iy >= 6 || ix < 0 || ix >= 5 {
								continue
							}
							for c := 0; c < 3; c++ {
								s += float64(x[(iy*5+ix)*3+c]) * float64(inScale) * float64(w[((ky*3+kx)*3+c)*4+o])
							}
						}
					}
					want := math.Min(math.Max(s, 0), 255*float64(outScale))
					worst = math.Max(worst, math.Abs(float64(got[(oy*5+ox)*4+o])*float64(outScale)-want))
				}
			}
		}
		// Half an output step for the final rounding, half an accumulator step for the bias.
		if worst > 0.5*float64(outScale)+1e-3 {
			t.Errorf("largest error %g (output step %g)", worst, outScale)
		}
	})
	t.Run("pools", func(t *testing.T) {
		for _, op := range []string{quant.OpMaxPool, quant.OpAvgPool} {
			n := quant.Node{Op: op, In: in, Out: nin.Shape{H: 3, W: 2, C: 3}, Kernel: 3, Stride: 2}
			y := make([]uint8, n.Out.Size())
			n.Pool(x, y)
			for oy := 0; oy < 3; oy++ {
				for ox := 0; ox < 2; ox++ {
					for c := 0; c < 3; c++ {
						var vals []float64
						for iy := oy * 2; iy < min(oy*2+3, 6); iy++ {
							for ix := ox * 2; ix < min(ox*2+3, 5); ix++ {
								vals = append(vals, float64(x[(iy*5+ix)*3+c]))
							}
						}
						var want float64
						if op == quant.OpMaxPool {
							for _, v := range vals {
								want = math.Max(want, v)
							}
						} else {
							for _, v := range vals {
								want += v
							}
							want = math.Floor(want/float64(len(vals)) + 0.5)
						}
						if got := float64(y[(oy*2+ox)*3+c]); got != want {
							t.Fatalf("%s (%d,%d,%d): %v, want %v", op, oy, ox, c, got, want)
						}
					}
				}
			}
		}
	})
}

// graphOf wraps one conv node, quantized from float weights, into a runnable graph.
func graphOf(t *testing.T, in nin.Shape, n quant.Node, w, b []float32) *quant.Graph {
	t.Helper()
	s, err := nin.Expand("one", in, n.Out.C, []nin.Block{{Out: []int{n.Out.C}, Kernel: n.Kernel, Pad: n.Pad, Pool: "global"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := nin.NewModel(s, nin.NumberedClasses(n.Out.C), nin.Preprocess{Kind: nin.PreScale})
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Weights[0], w)
	copy(m.Biases[0], b)
	g, err := quant.Convert(m, quanttest.Images(1, 4, in), 4, quant.Options{Method: quant.MethodMinMax})
	if err != nil {
		t.Fatal(err)
	}
	// Pin the scales the test reasons about.
	c := &g.Nodes[0]
	c.InScale, c.OutScale = n.InScale, n.OutScale
	g.InScale, g.InZero = n.InScale, 0
	if err := quantizeAgain(c, w, b); err != nil {
		t.Fatal(err)
	}
	return g
}

func quantizeAgain(n *quant.Node, w, b []float32) error {
	k, c := n.K(), n.Out.C
	for o := 0; o < c; o++ {
		ws := float64(n.WScale[o])
		for r := 0; r < k; r++ {
			n.Weights[r*c+o] = int8(math.Round(float64(w[r*c+o]) / ws))
		}
		n.Bias[o] = int32(math.Round(float64(b[o]) / (float64(n.InScale) * ws)))
		m, s, err := fixedpoint.Multiplier(float64(n.InScale) * ws / float64(n.OutScale))
		if err != nil {
			return err
		}
		n.Mult[o], n.Shift[o] = m, s
	}
	return nil
}

// Convert, write, read, write: the bytes are identical, and the graph reads back whole.
func TestFileRoundTrip(t *testing.T) {
	for _, c := range quanttest.Cases(t) {
		for _, float := range [][]string{nil, {"conv1"}} {
			g := quanttest.Graph(t, c.Spec, 4, float...)
			f1, err := g.File()
			if err != nil {
				t.Fatal(err)
			}
			b1 := f1.Encode()
			dec, err := safetensors.Decode(b1)
			if err != nil {
				t.Fatal(err)
			}
			back, err := quant.FromFile(dec)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			f2, _ := back.File()
			if !bytes.Equal(b1, f2.Encode()) {
				t.Fatalf("%s: round trip changed the file", c.Name)
			}
			in := quanttest.Input(g, 1, 1)
			if a, b := g.Reference(in), back.Reference(in); !equalSums(a.Sums, b.Sums) {
				t.Fatalf("%s: read-back graph computes differently", c.Name)
			}
		}
	}
}

// Converting is deterministic.
func TestConvertDeterministic(t *testing.T) {
	s := quanttest.Cases(t)[1].Spec
	for _, method := range quant.Methods {
		var first []byte
		for i := 0; i < 2; i++ {
			m, _ := nin.NewModel(s, nin.NumberedClasses(s.Classes), nin.Preprocess{Kind: nin.PreScale})
			m.InitHe(9)
			g, err := quant.Convert(m, quanttest.Images(2, 16, s.Input), 16, quant.Options{Method: method, Percentile: 99.9, Threads: 1 + i})
			if err != nil {
				t.Fatal(err)
			}
			f, _ := g.File()
			if i == 0 {
				first = f.Encode()
			} else if !bytes.Equal(first, f.Encode()) {
				t.Errorf("%s: two conversions differ", method)
			}
		}
	}
}

// 7-bit weights stay in [-63, 63] with each channel's largest weight at ±63, survive the file,
// and a graph that claims 7 bits but holds a wider weight is rejected.
func TestWeightBits(t *testing.T) {
	s := quanttest.Cases(t)[1].Spec
	m, _ := nin.NewModel(s, nin.NumberedClasses(s.Classes), nin.Preprocess{Kind: nin.PreScale})
	m.InitHe(5)
	imgs := quanttest.Images(3, 8, s.Input)
	for _, tc := range []struct{ bits, recorded, limit int }{{0, 8, 127}, {8, 8, 127}, {7, 7, 63}} {
		g, err := quant.Convert(m, imgs, 8, quant.Options{Method: quant.MethodMinMax, WeightBits: tc.bits})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range g.Nodes {
			if n.Op != quant.OpConv {
				continue
			}
			for o := 0; o < n.Out.C; o++ {
				amax := 0
				for r := 0; r < n.K(); r++ {
					amax = max(amax, abs(int(n.Weights[r*n.Out.C+o])))
				}
				if amax != tc.limit {
					t.Fatalf("bits %d: %s channel %d: largest weight %d, want %d", tc.bits, n.Name, o, amax, tc.limit)
				}
			}
		}
		f, _ := g.File()
		back, err := quant.FromFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if back.Calib.WeightBits != g.Calib.WeightBits || g.Calib.WeightBits != tc.recorded {
			t.Fatalf("bits %d: graph says %d, file says %d", tc.bits, g.Calib.WeightBits, back.Calib.WeightBits)
		}
		if tc.bits == 7 {
			g.Nodes[0].Weights[0] = 64
			if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "[-63, 63]") {
				t.Fatalf("a weight of 64 in a 7-bit graph: %v", err)
			}
		}
	}
	if _, err := quant.Convert(m, imgs, 8, quant.Options{Method: quant.MethodMinMax, WeightBits: 4}); err == nil {
		t.Error("4-bit weights accepted")
	}
}

func abs(x int) int { return max(x, -x) }

func TestBadInputs(t *testing.T) {
	s := quanttest.Cases(t)[0].Spec
	m, _ := nin.NewModel(s, nin.NumberedClasses(s.Classes), nin.Preprocess{Kind: nin.PreScale})
	m.InitHe(1)
	imgs := quanttest.Images(1, 2, s.Input)
	for name, opt := range map[string]quant.Options{
		"unknown method":  {Method: "vibes"},
		"bad percentile":  {Method: quant.MethodPercentile, Percentile: 101},
		"unknown layer":   {Method: quant.MethodMinMax, FloatLayers: []string{"conv9"}},
		"pool kept float": {Method: quant.MethodMinMax, FloatLayers: []string{"pool1"}},
	} {
		if _, err := quant.Convert(m, imgs, 2, opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := quant.Convert(m, nil, 0, quant.Options{Method: quant.MethodMinMax}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty calibration set: %v", err)
	}
	if _, err := quant.Convert(m, imgs[:10], 2, quant.Options{Method: quant.MethodMinMax}); err == nil {
		t.Error("short calibration buffer accepted")
	}
	// A float file where an int8 one is expected.
	path := filepath.Join(t.TempDir(), "f.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := quant.Load(path); err == nil || !strings.Contains(err.Error(), "float model") {
		t.Errorf("loading a float file as int8: %v", err)
	}
	// An int8 file whose graph does not match its spec.
	g := quanttest.Graph(t, s, 1)
	g2 := quanttest.Graph(t, quanttest.Cases(t)[1].Spec, 1)
	f, _ := g.File()
	f2, _ := g2.File()
	f.Metadata["spec"] = f2.Metadata["spec"]
	if _, err := quant.FromFile(f); err == nil {
		t.Error("mismatched spec and graph accepted")
	}
}

// Every backend accumulates in int32 without saturation, so a graph whose worst case could
// wrap must be refused, by the converter and by the loader alike; sizes just inside the
// bound must still be accepted.
func TestAccumulatorBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     nin.Shape
		blocks []nin.Block
		ok     bool
	}{
		{"conv depth 64800", nin.Shape{H: 3, W: 3, C: 7200}, []nin.Block{{Out: []int{1}, Kernel: 3, Pool: "global"}}, true},
		{"conv depth 1.3 M", nin.Shape{H: 9, W: 9, C: 16384}, []nin.Block{{Out: []int{1}, Kernel: 9, Pool: "global"}}, false},
		{"global pool of 2900²", nin.Shape{H: 2900, W: 2900, C: 1}, []nin.Block{{Out: []int{1}, Kernel: 1, Pool: "global"}}, true},
		{"global pool of 2910²", nin.Shape{H: 2910, W: 2910, C: 1}, []nin.Block{{Out: []int{1}, Kernel: 1, Pool: "global"}}, false},
		{"avg pool of 2899²", nin.Shape{H: 2899, W: 2899, C: 1}, []nin.Block{
			{Out: []int{1}, Kernel: 1, Pool: "avg", Size: 2899, Step: 1},
			{Out: []int{1}, Kernel: 1, Pool: "global"}}, true},
		// 255·2900² fits an int32, but not with DivRound's rounding term added.
		{"avg pool of 2900²", nin.Shape{H: 2900, W: 2900, C: 1}, []nin.Block{
			{Out: []int{1}, Kernel: 1, Pool: "avg", Size: 2900, Step: 1},
			{Out: []int{1}, Kernel: 1, Pool: "global"}}, false},
	} {
		if testing.Short() && tc.in.Size() > 1<<20 {
			continue // calibrating megapixel images takes minutes under emulation; the bound is plain Go
		}
		s, err := nin.Expand(tc.name, tc.in, 1, tc.blocks)
		if err != nil {
			t.Fatal(err)
		}
		_, err = quant.Convert(quanttest.Model(t, s, 1), quanttest.Images(1, 1, s.Input), 1, quant.Options{Method: quant.MethodMinMax, Threads: 1})
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "overflows")) {
			t.Errorf("%s: want an overflow error, got %v", tc.name, err)
		}
	}
	// A loaded file's bias is checked against the same bound, and its scales must keep
	// the scores finite.
	g := quanttest.Graph(t, quanttest.Cases(t)[0].Spec, 1)
	g.Nodes[0].Bias[0] = math.MaxInt32 - 1000
	if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "overflows int32") {
		t.Errorf("bias at the int32 limit: %v", err)
	}
	g = quanttest.Graph(t, quanttest.Cases(t)[0].Spec, 1)
	g.OutScale = math.MaxFloat32
	if err := g.Validate(); err == nil {
		t.Error("an output scale of 3.4e38 accepted")
	}
}

func equalSums(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzFromFile(f *testing.F) {
	g := quanttest.Graph(f, quanttest.Cases(f)[0].Spec, 1)
	file, _ := g.File()
	f.Add(file.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		dec, err := safetensors.Decode(b)
		if err != nil {
			return
		}
		g, err := quant.FromFile(dec)
		if err != nil {
			return
		}
		// Anything accepted must run.
		g.Reference(make([]uint8, g.Spec.Input.Size()))
	})
}

// The int8 file records the fingerprint of the float model it was converted from; one weight
// changes it; a file without it (written before it was recorded) still loads.
func TestFloatFingerprint(t *testing.T) {
	s := quanttest.Cases(t)[0].Spec
	m := quanttest.Model(t, s, 3)
	g := quanttest.Graph(t, s, 3)
	if fp := m.Fingerprint(); g.FloatFingerprint != fp || !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+64 {
		t.Fatalf("graph records %q, the model's fingerprint is %q", g.FloatFingerprint, fp)
	}
	other := quanttest.Model(t, s, 3)
	other.Biases[0][0] += 1e-6
	if other.Fingerprint() == m.Fingerprint() {
		t.Fatal("a changed bias keeps the fingerprint")
	}
	f, _ := g.File()
	back, err := quant.FromFile(f)
	if err != nil || back.FloatFingerprint != g.FloatFingerprint {
		t.Fatalf("read back %q (%v), want %q", back.FloatFingerprint, err, g.FloatFingerprint)
	}
	if !strings.Contains(f.Metadata["quant"], `"float_fingerprint":"sha256:`) {
		t.Fatalf("metadata quant lacks the fingerprint: %s", f.Metadata["quant"])
	}
	g.FloatFingerprint = ""
	f, _ = g.File()
	if strings.Contains(f.Metadata["quant"], "float_fingerprint") {
		t.Fatal("an empty fingerprint is written")
	}
	if back, err := quant.FromFile(f); err != nil || back.FloatFingerprint != "" {
		t.Fatalf("a file without a fingerprint: %v, %q", err, back.FloatFingerprint)
	}
}
