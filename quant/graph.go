// Package quant turns a float NIN into an int8 graph and runs that graph with integer
// arithmetic only. Its executor is the oracle every backend is tested against, byte for byte.
//
// The scheme (docs/architecture.md has the whole of it):
//   - activations are uint8 with one scale per tensor; every NIN activation follows a ReLU,
//     so their zero point is 0, except the network input, which has its own zero point;
//   - weights are int8 in [-127, 127] (or [-63, 63] with 7-bit weights), symmetric, one scale
//     per output channel; biases int32;
//   - a convolution accumulates u8×s8 in int32, adds its bias, and requantizes with
//     fixedpoint.Requantize (ReLU fused); pooling keeps its input's scale and average pooling
//     divides with fixedpoint.DivRound;
//   - the global average pool outputs int32 channel sums, so the classifier's argmax keeps
//     the full resolution of 64 (or 49) summed uint8 values; scores are those sums dequantized.
package quant

import (
	"fmt"
	"math"
	"strings"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant/fixedpoint"
)

// Node kinds of the int8 graph.
const (
	OpConv      = "conv"
	OpMaxPool   = "maxpool"
	OpAvgPool   = "avgpool"
	OpGlobalAvg = "globalavg"
)

// Node is one integer op. Its input is the previous node's output (the graph input for the
// first node).
type Node struct {
	Name     string
	Op       string
	In, Out  nin.Shape
	Kernel   int
	Stride   int
	Pad      int
	InScale  float32 // real value of one input step
	OutScale float32 // real value of one output step (pools: same as InScale)
	PadValue uint8   // the input's zero point: what padding reads as, so it means a real 0

	// Integer convolution: Weights is K×N row-major (K = kernel·kernel·in channels in HWIO
	// order, N = out channels); the bias already includes −zero·Σweights for a non-zero input
	// zero point.
	Weights     []int8
	Bias        []int32
	Mult, Shift []int32
	WScale      []float32 // per output channel, for reports and dequantization

	// Float convolution (a layer the user kept in float): it dequantizes its uint8 input, runs
	// in float32 and quantizes its ReLU output to OutScale.
	Float    bool
	FWeights []float32 // HWIO
	FBias    []float32
}

// MACs is the multiply-adds of one image through a conv node (0 for other nodes).
func (n *Node) MACs() int64 {
	if n.Op != OpConv {
		return 0
	}
	return int64(n.Out.H*n.Out.W*n.Out.C) * int64(n.K())
}

// K is the length of a conv node's weight-matrix rows: kernel·kernel·input channels.
func (n *Node) K() int { return n.Kernel * n.Kernel * n.In.C }

// Graph is an int8 NIN: input quantization, integer nodes, and what the user needs to read the
// output (classes, preprocessing).
type Graph struct {
	Spec      nin.Spec
	Classes   []string
	Pre       nin.Preprocess
	InScale   float32
	InZero    uint8
	Nodes     []Node
	Calib     CalibInfo
	OutScale  float32 // scale of the last node's input: scores = sum·OutScale/pixels
	OutPixels int
	// FloatFingerprint is the nin.Model.Fingerprint of the float model the graph was
	// converted from; empty in files written before it was recorded and in graphs imported
	// already quantized.
	FloatFingerprint string
}

// CalibInfo records how the scales were chosen, for reports and reproducibility.
type CalibInfo struct {
	Method     string   `json:"method"`
	Percentile float64  `json:"percentile,omitempty"`
	Images     int      `json:"images"`
	Dataset    string   `json:"dataset,omitempty"`
	Float      []string `json:"float_layers,omitempty"`
	WeightBits int      `json:"weight_bits,omitempty"` // 7 or 8; files from before the option have 0, meaning 8
	// Source names the file of a model quantized elsewhere (Method MethodImported), and
	// Changes lists what had to change to fit ninedge's scheme, each with its reason.
	Source  string   `json:"source,omitempty"`
	Changes []string `json:"changes,omitempty"`
}

// MethodImported is the calibration method of a graph whose scales another tool chose.
const MethodImported = "imported"

// String describes the calibration in one line, for reports and inspect.
func (c CalibInfo) String() string {
	var b strings.Builder
	if c.Method == MethodImported {
		fmt.Fprintf(&b, "imported already quantized from %s, its scales kept", c.Source)
		if len(c.Changes) > 0 {
			fmt.Fprintf(&b, " but for %d changes (ninquant inspect lists them)", len(c.Changes))
		}
		return b.String()
	}
	b.WriteString(c.Method)
	if c.Method == MethodPercentile {
		fmt.Fprintf(&b, " %g", c.Percentile)
	}
	fmt.Fprintf(&b, " on %d images of %s", c.Images, c.Dataset)
	if c.WeightBits == 7 {
		b.WriteString(", 7-bit weights")
	}
	if len(c.Float) > 0 {
		fmt.Fprintf(&b, "; kept in float: %s", strings.Join(c.Float, ", "))
	}
	return b.String()
}

// weightLimit is the largest weight magnitude the graph's weight bits allow.
func (c CalibInfo) weightLimit() (int8, error) {
	switch c.WeightBits {
	case 0, 8:
		return 127, nil
	case 7:
		return 63, nil
	}
	return 0, fmt.Errorf("graph: weight bits %d; 7 and 8 are supported", c.WeightBits)
}

// QuantizeInput maps a preprocessed float image to the graph's uint8 input: round half away
// from zero, then clamp.
func (g *Graph) QuantizeInput(x []float32, dst []uint8) {
	inv := 1 / float64(g.InScale)
	for i, v := range x[:len(dst)] {
		q := math.Round(float64(v)*inv) + float64(g.InZero)
		dst[i] = uint8(min(255, max(0, q)))
	}
}

// Scores dequantizes the int32 channel sums of the global average pool into class scores.
func (g *Graph) Scores(sums []int32, scores []float32) {
	f := float64(g.OutScale) / float64(g.OutPixels)
	for i, s := range sums[:len(scores)] {
		scores[i] = float32(float64(s) * f)
	}
}

// Validate checks that the graph is internally consistent, so that executors can trust it;
// the file reader calls it on everything it loads.
func (g *Graph) Validate() error {
	if len(g.Nodes) == 0 {
		return fmt.Errorf("graph has no nodes")
	}
	if !plausibleScale(g.InScale) || !plausibleScale(g.OutScale) || g.OutPixels <= 0 {
		return fmt.Errorf("graph: bad input scale %v, output scale %v or pixels %d", g.InScale, g.OutScale, g.OutPixels)
	}
	if len(g.Classes) == 0 {
		return fmt.Errorf("graph has no classes")
	}
	wlim, err := g.Calib.weightLimit()
	if err != nil {
		return err
	}
	in := g.Spec.Input
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.In != in {
			return fmt.Errorf("node %s: input %v, previous output %v", n.Name, n.In, in)
		}
		if i > 0 && n.PadValue != 0 {
			return fmt.Errorf("node %s: only the first node's input has a zero point", n.Name)
		}
		var want nin.Shape
		var err error
		switch n.Op {
		case OpConv:
			want, err = nin.Layer{Kind: nin.Conv, Out: n.Out.C, Kernel: n.Kernel, Stride: n.Stride, Pad: n.Pad}.OutShape(n.In)
			if err == nil {
				err = n.checkConv(wlim)
			}
		case OpMaxPool, OpAvgPool:
			kind := nin.MaxPool
			if n.Op == OpAvgPool {
				kind = nin.AvgPool
			}
			want, err = nin.Layer{Kind: kind, Kernel: n.Kernel, Stride: n.Stride}.OutShape(n.In)
			if err == nil && n.Op == OpAvgPool {
				err = sumFits(n.Kernel*n.Kernel, true)
			}
		case OpGlobalAvg:
			want = nin.Shape{H: 1, W: 1, C: n.In.C}
			if i != len(g.Nodes)-1 {
				err = fmt.Errorf("global average pool must be the last node")
			} else {
				err = sumFits(n.In.H*n.In.W, false)
			}
		default:
			err = fmt.Errorf("unknown op %q", n.Op)
		}
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		if n.Out != want {
			return fmt.Errorf("node %s: output %v, want %v", n.Name, n.Out, want)
		}
		in = n.Out
	}
	last := g.Nodes[len(g.Nodes)-1]
	if last.Op != OpGlobalAvg || last.Out.C != len(g.Classes) {
		return fmt.Errorf("graph must end in a global average pool over %d classes", len(g.Classes))
	}
	if g.OutPixels != last.In.H*last.In.W {
		return fmt.Errorf("graph: output pixels %d, last pool covers %d", g.OutPixels, last.In.H*last.In.W)
	}
	return nil
}

func (n *Node) checkConv(wlim int8) error {
	k, c := n.K(), n.Out.C
	if len(n.Bias) != c && !n.Float {
		return fmt.Errorf("%d biases for %d channels", len(n.Bias), c)
	}
	if !plausibleScale(n.InScale) || !plausibleScale(n.OutScale) {
		return fmt.Errorf("bad scales in %v out %v", n.InScale, n.OutScale)
	}
	if n.Float {
		if len(n.FWeights) != k*c || len(n.FBias) != c {
			return fmt.Errorf("float weights %d and bias %d, want %d and %d", len(n.FWeights), len(n.FBias), k*c, c)
		}
		return nil
	}
	if len(n.Weights) != k*c || len(n.Mult) != c || len(n.Shift) != c {
		return fmt.Errorf("weights %d, multipliers %d, shifts %d; want %d, %d, %d", len(n.Weights), len(n.Mult), len(n.Shift), k*c, c, c)
	}
	for j := 0; j < c; j++ {
		m, s := n.Mult[j], n.Shift[j]
		if !(m == 0 && s == 1) && (m < 1<<30 || s < 1 || s > fixedpoint.MaxShift) {
			return fmt.Errorf("channel %d: multiplier %d shift %d out of range", j, m, s)
		}
	}
	for _, w := range n.Weights {
		if w > wlim || w < -wlim {
			return fmt.Errorf("weight %d outside the symmetric range [%d, %d]", w, -wlim, wlim)
		}
	}
	// Every backend accumulates in int32, and sums wrap alike wherever they are taken, but a
	// result out of range is wrong everywhere: the bias plus the largest and the smallest
	// dot product any uint8 input gives (255 times the channel's positive, or negative,
	// weights) must fit.
	hi, lo := make([]int64, c), make([]int64, c)
	for i, w := range n.Weights {
		if w > 0 {
			hi[i%c] += 255 * int64(w)
		} else {
			lo[i%c] += 255 * int64(w)
		}
	}
	for j, b := range n.Bias {
		if int64(b)+hi[j] > math.MaxInt32 || int64(b)+lo[j] < math.MinInt32 {
			return fmt.Errorf("channel %d: bias %d plus dot products from %d to %d overflows int32", j, b, lo[j], hi[j])
		}
	}
	return nil
}

// plausibleScale bounds a scale (real units per integer step) far beyond any network's, so
// that scores computed from a file's scales stay finite: int32 sums times 1e20 are.
func plausibleScale(s float32) bool { return s >= 1e-20 && s <= 1e20 }

// sumFits checks that an int32 sum of cells uint8 values cannot overflow, nor, when it is
// divided, the rounding term fixedpoint.DivRound adds to it.
func sumFits(cells int, divided bool) error {
	reach := int64(cells) * 255
	if divided {
		reach += int64(cells) / 2
	}
	if reach > math.MaxInt32 {
		return fmt.Errorf("a window of %d cells overflows the int32 sum", cells)
	}
	return nil
}
