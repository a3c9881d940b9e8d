package quant

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant/fixedpoint"
)

// Options say how to calibrate and what to keep in float.
type Options struct {
	Method      string
	Percentile  float64  // for MethodPercentile, e.g. 99.99
	FloatLayers []string // conv layers to keep in float
	// WeightBits is 8 (weights in [-127, 127]) or 7 ([-63, 63]): 7-bit weights cost some
	// accuracy (docs/quantization.md) and run faster on x86 CPUs without VNNI, where the
	// CPU backend can then multiply with VPMADDUBSW (docs/performance.md). 0 means 8.
	WeightBits int
	Threads    int
	Batch      int    // calibration batch size
	Dataset    string // recorded in the model file
}

// DefaultMethod and DefaultPercentile are what `ninquant convert` uses unless told otherwise;
// docs/quantization.md has the measurements behind the choice.
const (
	DefaultMethod     = MethodPercentile
	DefaultPercentile = 99.99
)

// Convert calibrates the float model on n uint8 HWC images and builds its int8 graph. It is
// deterministic: the same model, images and options give the same graph.
func Convert(m *nin.Model, images []uint8, n int, opt Options) (*Graph, error) {
	if err := checkMethod(opt.Method, opt.Percentile); err != nil {
		return nil, err
	}
	if opt.WeightBits == 0 {
		opt.WeightBits = 8
	}
	if opt.WeightBits != 7 && opt.WeightBits != 8 {
		return nil, fmt.Errorf("convert: weight bits %d; 7 and 8 are supported", opt.WeightBits)
	}
	if n <= 0 {
		return nil, fmt.Errorf("convert: the calibration set is empty")
	}
	spec := m.Spec
	if len(images) < n*spec.Input.Size() {
		return nil, fmt.Errorf("convert: %d bytes of calibration images, need %d for %d images of %v", len(images), n*spec.Input.Size(), n, spec.Input)
	}
	for _, name := range opt.FloatLayers {
		i := slices.IndexFunc(spec.Layers, func(l nin.Layer) bool { return l.Name == name })
		if i < 0 || spec.Layers[i].Kind != nin.Conv {
			return nil, fmt.Errorf("convert: --float-layers %q is not a conv layer of %s (conv layers: %s)", name, spec.Name, strings.Join(convNames(spec), ", "))
		}
	}
	if err := checkInt8Spec(spec); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	input, layers, err := calibrate(m, images, n, opt)
	if err != nil {
		return nil, err
	}
	lo, hi := input.signedRange(opt.Method, opt.Percentile)
	inScale, inZero := asymmetric(lo, hi)
	calib := CalibInfo{Method: opt.Method, Images: n, Dataset: opt.Dataset, Float: opt.FloatLayers, WeightBits: opt.WeightBits}
	if opt.Method == MethodPercentile {
		calib.Percentile = opt.Percentile
	}
	g, err := assemble(m, inScale, inZero, calib, func(i int, node *Node) error {
		node.OutScale = outputScale(layers[i].unsignedThreshold(opt.Method, opt.Percentile))
		if slices.Contains(opt.FloatLayers, node.Name) {
			node.Float = true
			node.FWeights = slices.Clone(m.Weights[i])
			node.FBias = slices.Clone(m.Biases[i])
			return nil
		}
		return quantizeConv(node, m.Weights[i], m.Biases[i], opt.WeightBits)
	})
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	g.FloatFingerprint = m.Fingerprint()
	return g, nil
}

// GivenConv is one conv layer's quantization chosen elsewhere (a model quantized by another
// tool), in ninedge's scheme: symmetric int8 weights per output channel, a uint8 output with
// zero point 0 after the ReLU.
type GivenConv struct {
	OutScale float32   // the ReLU output's scale
	Weights  []int8    // OIHW, within ±127 (±63 for 7-bit weights)
	WScale   []float32 // per output channel
	// Bias is at scale InScale·WScale[o] for a real-valued input, as ONNX's QDQ form stores
	// it; the input zero point's term is added here.
	Bias []int32
}

// FromQuantized builds the graph of a model quantized elsewhere: the float model gives the
// architecture, classes and preprocessing; the input quantization and convs (by layer name,
// one per conv layer) give the integers. Pools keep their input's scale. calib records where
// the numbers came from.
func FromQuantized(m *nin.Model, inScale float32, inZero uint8, convs map[string]GivenConv, calib CalibInfo) (*Graph, error) {
	if err := checkInt8Spec(m.Spec); err != nil {
		return nil, err
	}
	return assemble(m, inScale, inZero, calib, func(i int, node *Node) error {
		c, ok := convs[node.Name]
		k, out := node.K(), node.Out.C
		switch {
		case !ok:
			return fmt.Errorf("no quantization given")
		case len(c.Weights) != k*out || len(c.WScale) != out || len(c.Bias) != out:
			return fmt.Errorf("%d weights, %d weight scales and %d biases; want %d, %d and %d", len(c.Weights), len(c.WScale), len(c.Bias), k*out, out, out)
		case !plausibleScale(c.OutScale):
			return fmt.Errorf("output scale %v", c.OutScale)
		}
		for o, ws := range c.WScale {
			if !plausibleScale(ws) {
				return fmt.Errorf("channel %d: weight scale %v", o, ws)
			}
		}
		node.OutScale = c.OutScale
		node.Weights = nin.OIHWToHWIO(c.Weights, node.convShape())
		node.WScale = slices.Clone(c.WScale)
		node.Bias = slices.Clone(c.Bias)
		wscale := make([]float64, len(c.WScale))
		for o, ws := range c.WScale {
			wscale[o] = float64(ws)
		}
		return node.requantization(wscale)
	})
}

// assemble builds the graph of the float model's spec with the given input quantization:
// pools keep their input's scale, the global pool ends the graph, and conv fills in each
// conv node (its output scale, weights and requantization) from layer i.
func assemble(m *nin.Model, inScale float32, inZero uint8, calib CalibInfo, conv func(i int, node *Node) error) (*Graph, error) {
	spec := m.Spec
	g := &Graph{Spec: spec, Classes: m.Classes, Pre: m.Pre, InScale: inScale, InZero: inZero, Calib: calib}
	shapes := spec.Shapes()
	scale, pad := inScale, inZero
	for i, l := range spec.Layers {
		in, out := shapes[i], shapes[i+1]
		node := Node{Name: l.Name, In: in, Out: out, Kernel: l.Kernel, Stride: l.Stride, InScale: scale, OutScale: scale, PadValue: pad}
		switch l.Kind {
		case nin.Dropout:
			continue
		case nin.Conv:
			node.Op, node.Pad = OpConv, l.Pad
			if err := conv(i, &node); err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.Name, err)
			}
		case nin.MaxPool:
			node.Op = OpMaxPool
		case nin.AvgPool:
			node.Op = OpAvgPool
		case nin.GlobalAvg:
			node.Op = OpGlobalAvg
			g.OutScale, g.OutPixels = scale, in.H*in.W
		}
		g.Nodes = append(g.Nodes, node)
		scale, pad = node.OutScale, 0
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// checkInt8Spec refuses what the int8 scheme cannot run: a fully connected head, a conv
// without ReLU.
func checkInt8Spec(spec nin.Spec) error {
	for _, l := range spec.Layers {
		if l.Kind == nin.FC {
			return fmt.Errorf("layer %s is fully connected; the int8 path supports NIN's global-average-pool head only", l.Name)
		}
		if l.Kind == nin.Conv && !l.ReLU {
			return fmt.Errorf("conv %s has no ReLU; int8 activations are unsigned, so every conv must end in ReLU", l.Name)
		}
	}
	return nil
}

func convNames(s nin.Spec) []string {
	var names []string
	for _, l := range s.Layers {
		if l.Kind == nin.Conv {
			names = append(names, l.Name)
		}
	}
	return names
}

// outputScale maps a post-ReLU threshold to a uint8 step; a layer that never fired gets
// scale 1, which represents its zeros exactly.
func outputScale(threshold float64) float32 {
	if !(threshold > 0) {
		return 1
	}
	return float32(threshold / 255)
}

// asymmetric picks the input's uint8 scale and zero point for the range [lo, hi], widened to
// contain 0 so that padding (a real 0) is exact.
func asymmetric(lo, hi float64) (float32, uint8) {
	lo, hi = min(lo, 0), max(hi, 0)
	if hi-lo <= 0 {
		return 1, 0
	}
	scale := (hi - lo) / 255
	zero := math.Round(-lo / scale)
	return float32(scale), uint8(min(255, max(0, zero)))
}

// quantizeConv fills a node's integer weights, bias and requantization from float weights
// (HWIO) and bias, per output channel, with weights in ±(2^(bits−1) − 1).
func quantizeConv(n *Node, w, b []float32, bits int) error {
	wmax := float64(int(1)<<(bits-1) - 1)
	k, c := n.K(), n.Out.C
	n.Weights = make([]int8, k*c)
	n.Bias = make([]int32, c)
	n.WScale = make([]float32, c)
	wscale := make([]float64, c)
	for o := 0; o < c; o++ {
		var amax float64
		for r := 0; r < k; r++ {
			amax = max(amax, math.Abs(float64(w[r*c+o])))
		}
		ws := amax / wmax
		if ws == 0 {
			ws = 1 // an all-zero channel: any scale represents it exactly
		}
		n.WScale[o], wscale[o] = float32(ws), ws
		for r := 0; r < k; r++ {
			n.Weights[r*c+o] = int8(math.Round(float64(w[r*c+o]) / ws))
		}
		accScale := float64(n.InScale) * ws
		bias := math.Round(float64(b[o]) / accScale)
		if math.Abs(bias) > math.MaxInt32/2 {
			return fmt.Errorf("channel %d: bias %v is out of int32 range at scale %g", o, b[o], accScale)
		}
		n.Bias[o] = int32(bias)
	}
	return n.requantization(wscale)
}

// requantization finishes a conv node whose Weights and Bias (at InScale·wscale, for a
// real-valued input) are set: the bias takes the input zero point's term, −zero·Σw, and each
// channel gets the fixed-point multiplier of InScale·wscale/OutScale. wscale is the weight
// scale the weights were rounded with, in float64 where Convert chose it: the float32 WScale
// stored in the file is that scale rounded, and a multiplier from it would be off by up to a
// part in 2^24.
func (n *Node) requantization(wscale []float64) error {
	k, c := n.K(), n.Out.C
	n.Mult = make([]int32, c)
	n.Shift = make([]int32, c)
	for o := 0; o < c; o++ {
		var wsum int64
		for r := 0; r < k; r++ {
			wsum += int64(n.Weights[r*c+o])
		}
		bias := int64(n.Bias[o]) - int64(n.PadValue)*wsum
		if bias > math.MaxInt32/2 || bias < -math.MaxInt32/2 {
			return fmt.Errorf("channel %d: bias %d is out of int32 range", o, bias)
		}
		n.Bias[o] = int32(bias)
		m, s, err := fixedpoint.Multiplier(float64(n.InScale) * wscale[o] / float64(n.OutScale))
		if err != nil {
			return fmt.Errorf("channel %d: %w", o, err)
		}
		n.Mult[o], n.Shift[o] = m, s
	}
	return nil
}

// calibrate runs the float model over the images twice, first for ranges, then (for the
// methods that need them) for histograms, and returns the input's and each layer's statistics.
func calibrate(m *nin.Model, images []uint8, n int, opt Options) (*stats, []*stats, error) {
	batch := max(1, opt.Batch)
	if opt.Batch == 0 {
		batch = 32
	}
	spec := m.Spec
	r := nin.NewRunner(m, batch, opt.Threads)
	pp := nin.NewPreprocessor(&m.Pre, spec.Input, r.Threads)
	x := make([]float32, batch*spec.Input.Size())
	input := newStats()
	layers := make([]*stats, len(spec.Layers))
	for i, l := range spec.Layers {
		if l.Kind == nin.Conv {
			layers[i] = newStats()
		}
	}
	pass := func(observe func(s *stats, v []float32)) {
		d := spec.Input.Size()
		for start := 0; start < n; start += batch {
			cnt := min(batch, n-start)
			pp.Apply(images[start*d:], cnt, x)
			observe(input, x[:cnt*d])
			r.Forward(x, cnt)
			for i, s := range layers {
				if s != nil {
					observe(s, r.Activation(i, cnt))
				}
			}
		}
	}
	pass((*stats).observeRange)
	for _, s := range append(layers, input) {
		if s != nil && (math.IsNaN(s.hi-s.lo) || math.IsInf(s.hi-s.lo, 0)) {
			return nil, nil, fmt.Errorf("convert: calibration met a non-finite activation; is the float model sound?")
		}
	}
	if opt.Method != MethodMinMax {
		for _, s := range append(layers, input) {
			if s != nil {
				s.startHistogram()
			}
		}
		pass((*stats).observeHistogram)
	}
	return input, layers, nil
}
