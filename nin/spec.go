// Package nin is the float32 Network In Network as every tool shares it: its architecture as
// data (Spec), its layers and forward pass (Runner, and ForwardRef, the oracle the fast path
// is tested against), model files (Model, reading and writing them), Softmax and TopK, and
// the preprocessing as it is applied at inference (Preprocess, Preprocessor, GCN) and stored
// in model files.
//
// Training, including fitting a preprocessing, is nin/train; importing Caffe weights is
// caffe.Import. nin imports neither, so the edge runtime, which only reads model files and
// runs them, links neither the trainer (nor gonum, which it needs) nor the Caffe decoder.
//
// The architecture is a Spec (JSON in every model file), so NIN-CIFAR10, NIN-CIFAR100,
// NIN-SVHN and NIN-MNIST are four specs of one implementation. Tensors are NHWC float32;
// convolution weights are held as HWIO ([kh][kw][cin][cout]) so that a convolution is an
// im2col matrix times the weight matrix with no transposition. Files store OIHW, the layout
// PyTorch and Caffe use, so a user can exchange weights with them.
package nin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Layer kinds.
const (
	Conv      = "conv"      // k×k convolution (1×1 for the mlpconv "cccp" layers), optional ReLU
	MaxPool   = "maxpool"   // Caffe ceil-mode max pooling
	AvgPool   = "avgpool"   // Caffe ceil-mode average pooling, divisor = in-bounds cells
	GlobalAvg = "globalavg" // average over the whole feature map: the NIN classifier
	Dropout   = "dropout"   // identity at inference
	FC        = "fc"        // fully connected over the flattened map (the paper's Table 5 head)
)

// Shape is one image's activation shape, NHWC without the N.
type Shape struct{ H, W, C int }

// Size is the number of values in one image's activation.
func (s Shape) Size() int { return s.H * s.W * s.C }

// values is Size in 64 bits, for checking shapes not yet validated on 32-bit targets.
func (s Shape) values() int64 { return int64(s.H) * int64(s.W) * int64(s.C) }

func (s Shape) String() string { return fmt.Sprintf("%dx%dx%d", s.H, s.W, s.C) }

// Layer is one step of the flattened network.
type Layer struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"`
	Out    int     `json:"out,omitempty"`    // conv and fc output channels
	Kernel int     `json:"kernel,omitempty"` // conv and pool window
	Stride int     `json:"stride,omitempty"` // default 1 for conv
	Pad    int     `json:"pad,omitempty"`
	ReLU   bool    `json:"relu,omitempty"`
	Rate   float64 `json:"rate,omitempty"` // dropout probability
}

// HasWeights reports whether the layer owns a weight tensor and a bias.
func (l Layer) HasWeights() bool { return l.Kind == Conv || l.Kind == FC }

// Spec is a NIN architecture.
type Spec struct {
	Name    string  `json:"name"`
	Input   Shape   `json:"-"`
	Classes int     `json:"classes"`
	Layers  []Layer `json:"layers"`
}

type specJSON struct {
	Name    string  `json:"name"`
	Input   [3]int  `json:"input"` // H, W, C
	Classes int     `json:"classes"`
	Blocks  []Block `json:"blocks,omitempty"`
	Head    *Head   `json:"head,omitempty"`
	Layers  []Layer `json:"layers,omitempty"`
}

// Block is one mlpconv block as users write it in a JSON spec: a k×k convolution then 1×1
// convolutions (widths in Out, the first is the k×k one), each followed by ReLU, then an
// optional pooling and dropout. Pool "global" ends the network with global average pooling.
type Block struct {
	Out     []int   `json:"out"`
	Kernel  int     `json:"kernel"`
	Pad     int     `json:"pad,omitempty"`
	Stride  int     `json:"stride,omitempty"`
	Pool    string  `json:"pool,omitempty"` // "max", "avg", "global" or empty
	Size    int     `json:"size,omitempty"` // pool window
	Step    int     `json:"step,omitempty"` // pool stride
	Dropout float64 `json:"dropout,omitempty"`
}

// Head replaces the last block's global pooling by a fully connected classifier, the
// comparison of the paper's Table 5.
type Head struct {
	Kind    string  `json:"kind"` // "gap" or "fc"
	Dropout float64 `json:"dropout,omitempty"`
}

// Expand turns blocks into the flat layer list, naming layers as the authors' Caffe files do
// (conv1, cccp1, cccp2, pool1, drop1, conv2, ...) so imported weights line up by name.
func Expand(name string, input Shape, classes int, blocks []Block) (Spec, error) {
	s := Spec{Name: name, Input: input, Classes: classes}
	nconv, ncccp := 0, 0
	for bi, b := range blocks {
		if len(b.Out) == 0 {
			return Spec{}, fmt.Errorf("spec %s: block %d has no convolutions", name, bi+1)
		}
		for i, out := range b.Out {
			l := Layer{Kind: Conv, Out: out, ReLU: true, Kernel: 1, Stride: 1}
			if i == 0 {
				nconv++
				l.Name = fmt.Sprintf("conv%d", nconv)
				l.Kernel, l.Pad = b.Kernel, b.Pad
				if b.Stride > 0 {
					l.Stride = b.Stride
				}
			} else {
				ncccp++
				l.Name = fmt.Sprintf("cccp%d", ncccp)
			}
			s.Layers = append(s.Layers, l)
		}
		pool := fmt.Sprintf("pool%d", bi+1)
		switch b.Pool {
		case "":
		case "max", "avg":
			kind := MaxPool
			if b.Pool == "avg" {
				kind = AvgPool
			}
			s.Layers = append(s.Layers, Layer{Name: pool, Kind: kind, Kernel: b.Size, Stride: b.Step})
		case "global":
			s.Layers = append(s.Layers, Layer{Name: pool, Kind: GlobalAvg})
		default:
			return Spec{}, fmt.Errorf("spec %s: block %d: unknown pool %q (max, avg, global)", name, bi+1, b.Pool)
		}
		if b.Dropout > 0 {
			s.Layers = append(s.Layers, Layer{Name: fmt.Sprintf("drop%d", bi+1), Kind: Dropout, Rate: b.Dropout})
		}
	}
	return s, s.Validate()
}

func (s Spec) MarshalJSON() ([]byte, error) {
	return json.Marshal(specJSON{Name: s.Name, Input: [3]int{s.Input.H, s.Input.W, s.Input.C}, Classes: s.Classes, Layers: s.Layers})
}

// UnmarshalJSON accepts either the flat layer list (what model files store) or blocks (what
// people write), and validates the result.
func (s *Spec) UnmarshalJSON(b []byte) error {
	var j specJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	in := Shape{H: j.Input[0], W: j.Input[1], C: j.Input[2]}
	var out Spec
	switch {
	case len(j.Blocks) > 0 && len(j.Layers) > 0:
		return fmt.Errorf("spec %s: give blocks or layers, not both", j.Name)
	case len(j.Blocks) > 0:
		var err error
		if out, err = Expand(j.Name, in, j.Classes, j.Blocks); err != nil {
			return err
		}
		if j.Head != nil {
			if out, err = out.WithHead(*j.Head); err != nil {
				return fmt.Errorf("spec %s: %w", j.Name, err)
			}
		}
	default:
		out = Spec{Name: j.Name, Input: in, Classes: j.Classes, Layers: j.Layers}
		for i := range out.Layers {
			if out.Layers[i].Kind == Conv && out.Layers[i].Stride == 0 {
				out.Layers[i].Stride = 1
			}
		}
		if err := out.Validate(); err != nil {
			return err
		}
	}
	*s = out
	return nil
}

// Bounds on what a spec may ask for, so that a small hostile file cannot make a loader
// allocate gigabytes or a run last hours. They are far above the authors' networks
// (nin-cifar10: 0.2 M values in its largest tensor, 0.6 M in its largest im2col, 0.46 M
// weights in its largest layer, 0.22 G multiply-accumulates).
const (
	maxDim     = 1 << 14        // any one size
	maxTensor  = 1 << 24        // values in one image's tensor
	maxColumns = 1 << 27        // values in one image's im2col matrix of a layer
	maxWeights = 1 << 26        // weights of one layer
	maxMACs    = int64(1) << 33 // multiply-accumulates per image
)

// Validate checks that the layers fit together and that the network ends in Classes scores.
func (s Spec) Validate() error {
	if s.Input.H <= 0 || s.Input.W <= 0 || s.Input.C <= 0 || s.Input.H > maxDim || s.Input.W > maxDim || s.Input.C > maxDim {
		return fmt.Errorf("spec %s: bad input shape %v", s.Name, s.Input)
	}
	if s.Classes <= 0 || s.Classes > maxDim {
		return fmt.Errorf("spec %s: bad class count %d", s.Name, s.Classes)
	}
	if len(s.Layers) == 0 || len(s.Layers) > 1000 {
		return fmt.Errorf("spec %s: %d layers", s.Name, len(s.Layers))
	}
	if n := s.Input.values(); n > maxTensor {
		return fmt.Errorf("spec %s: input %v has %d values, more than %d", s.Name, s.Input, n, maxTensor)
	}
	seen := map[string]bool{}
	sh := s.Input
	var macs int64
	for i, l := range s.Layers {
		if l.Name == "" || seen[l.Name] || strings.ContainsAny(l.Name, ". \t\n\"") {
			return fmt.Errorf("spec %s: layer %d: name %q is empty, repeated or has '.', space or quote", s.Name, i, l.Name)
		}
		seen[l.Name] = true
		next, err := l.OutShape(sh)
		if err == nil {
			macs, err = l.checkCost(sh, next, macs)
		}
		if err != nil {
			return fmt.Errorf("spec %s: layer %s: %w", s.Name, l.Name, err)
		}
		sh = next
	}
	if sh.H != 1 || sh.W != 1 || sh.C != s.Classes {
		return fmt.Errorf("spec %s: network ends in %v, want 1x1x%d scores", s.Name, sh, s.Classes)
	}
	return nil
}

// checkCost holds a layer from in to out to the bounds on tensors, columns and weights, and
// returns the network's multiply-accumulates (pooling reads counted as such) so far, held
// to maxMACs. Sizes are at most
// maxDim each, so every product fits an int64.
func (l Layer) checkCost(in, out Shape, macs int64) (int64, error) {
	if n := out.values(); n > maxTensor {
		return macs, fmt.Errorf("output %v has %d values, more than %d", out, n, maxTensor)
	}
	var k int64 // rows of the weight matrix
	switch l.Kind {
	case Conv:
		k = int64(l.Kernel*l.Kernel) * int64(in.C)
		if cols := int64(out.H*out.W) * k; l.Kernel > 1 && cols > maxColumns {
			return macs, fmt.Errorf("im2col of %d values, more than %d", cols, maxColumns)
		}
	case FC:
		k = in.values()
	case MaxPool, AvgPool:
		// A window read per output value: as much work as a multiply-add, and a spec could
		// otherwise ask for a pool of 3000² windows over a small tensor.
		macs += out.values() * int64(l.Kernel*l.Kernel)
	}
	if w := k * int64(l.Out); w > maxWeights {
		return macs, fmt.Errorf("%d weights, more than %d", w, maxWeights)
	}
	macs += int64(out.H*out.W) * k * int64(l.Out)
	if macs > maxMACs {
		return macs, fmt.Errorf("the network so far needs %d multiply-accumulates per image, more than %d", macs, maxMACs)
	}
	return macs, nil
}

// poolOut is the ceil-mode pooled size (nin pools take no padding). A last window that
// would start past the input is dropped: it would be empty (a max of nothing, an average
// over no cells). PyTorch and ONNX always drop it; Caffe drops it only for padded pools and
// otherwise computes such an empty window, so a spec whose stride exceeds its kernel gets
// the PyTorch/ONNX size. With stride ≤ kernel no window can start past the input.
func poolOut(in, k, stride int) int {
	out := (in-k+stride-1)/stride + 1
	if (out-1)*stride >= in {
		out--
	}
	return out
}

// OutShape is the shape the layer produces from an input of shape in.
func (l Layer) OutShape(in Shape) (Shape, error) {
	switch l.Kind {
	case Conv:
		if l.Out <= 0 || l.Out > maxDim || l.Kernel <= 0 || l.Kernel > 64 || l.Stride <= 0 || l.Pad < 0 || l.Pad >= l.Kernel {
			return Shape{}, fmt.Errorf("conv needs out > 0, 1 ≤ kernel ≤ 64, stride ≥ 1, 0 ≤ pad < kernel (got out %d kernel %d stride %d pad %d)", l.Out, l.Kernel, l.Stride, l.Pad)
		}
		h := (in.H+2*l.Pad-l.Kernel)/l.Stride + 1
		w := (in.W+2*l.Pad-l.Kernel)/l.Stride + 1
		if in.H+2*l.Pad < l.Kernel || in.W+2*l.Pad < l.Kernel {
			return Shape{}, fmt.Errorf("kernel %d larger than padded input %v", l.Kernel, in)
		}
		return Shape{H: h, W: w, C: l.Out}, nil
	case MaxPool, AvgPool:
		if l.Kernel <= 0 || l.Stride <= 0 || l.Pad != 0 {
			return Shape{}, fmt.Errorf("pool needs kernel > 0, stride > 0, no padding (got %d/%d pad %d)", l.Kernel, l.Stride, l.Pad)
		}
		if in.H < l.Kernel || in.W < l.Kernel {
			return Shape{}, fmt.Errorf("pool window %d larger than input %v", l.Kernel, in)
		}
		return Shape{H: poolOut(in.H, l.Kernel, l.Stride), W: poolOut(in.W, l.Kernel, l.Stride), C: in.C}, nil
	case GlobalAvg:
		return Shape{H: 1, W: 1, C: in.C}, nil
	case Dropout:
		if l.Rate < 0 || l.Rate >= 1 {
			return Shape{}, fmt.Errorf("dropout rate %v not in [0, 1)", l.Rate)
		}
		return in, nil
	case FC:
		if l.Out <= 0 || l.Out > maxDim {
			return Shape{}, fmt.Errorf("fc needs out > 0 (got %d)", l.Out)
		}
		return Shape{H: 1, W: 1, C: l.Out}, nil
	}
	return Shape{}, fmt.Errorf("unknown layer kind %q", l.Kind)
}

// Shapes returns the input shape of every layer followed by the network's output shape.
func (s Spec) Shapes() []Shape {
	out := []Shape{s.Input}
	sh := s.Input
	for _, l := range s.Layers {
		sh, _ = l.OutShape(sh) // Validate has accepted the spec
		out = append(out, sh)
	}
	return out
}

// WeightShape is the HWIO shape of a layer's weights ([kh, kw, cin, cout]; fc: [1, 1, h·w·c, out]).
func (s Spec) WeightShape(i int) [4]int {
	l, in := s.Layers[i], s.Shapes()[i]
	if l.Kind == FC {
		return [4]int{1, 1, in.Size(), l.Out}
	}
	return [4]int{l.Kernel, l.Kernel, in.C, l.Out}
}

// Params counts the weights and biases of layer i.
func (s Spec) Params(i int) int {
	if !s.Layers[i].HasWeights() {
		return 0
	}
	w := s.WeightShape(i)
	return w[0]*w[1]*w[2]*w[3] + w[3]
}

// MACs counts the multiply-accumulates of layer i for one image.
func (s Spec) MACs(i int) int64 {
	if !s.Layers[i].HasWeights() {
		return 0
	}
	w := s.WeightShape(i)
	out := s.Shapes()[i+1]
	return int64(out.H*out.W) * int64(w[0]*w[1]*w[2]*w[3])
}

// TotalParams and TotalMACs sum over the network.
func (s Spec) TotalParams() int {
	n := 0
	for i := range s.Layers {
		n += s.Params(i)
	}
	return n
}

func (s Spec) TotalMACs() int64 {
	var n int64
	for i := range s.Layers {
		n += s.MACs(i)
	}
	return n
}

// builtin holds the authors' architectures. Widths follow their definitions; the MNIST
// model ends in a 7×7 global pool because two 3/2 pools take 28 to 7.
var builtin = map[string]func() (Spec, error){
	"nin-cifar10":  func() (Spec, error) { return cifarLike("nin-cifar10", 10, 192, 160, 96) },
	"nin-cifar100": func() (Spec, error) { return cifarLike("nin-cifar100", 100, 192, 160, 96) },
	"nin-svhn":     func() (Spec, error) { return svhn() },
	"nin-mnist":    func() (Spec, error) { return mnist() },
}

func cifarLike(name string, classes, w1, w2, w3 int) (Spec, error) {
	return Expand(name, Shape{32, 32, 3}, classes, []Block{
		{Out: []int{w1, w2, w3}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2, Dropout: 0.5},
		{Out: []int{192, 192, 192}, Kernel: 5, Pad: 2, Pool: "avg", Size: 3, Step: 2, Dropout: 0.5},
		{Out: []int{192, 192, classes}, Kernel: 3, Pad: 1, Pool: "global"},
	})
}

func svhn() (Spec, error) {
	return Expand("nin-svhn", Shape{32, 32, 3}, 10, []Block{
		{Out: []int{128, 128, 128}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2, Dropout: 0.5},
		{Out: []int{320, 320, 320}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2, Dropout: 0.5},
		{Out: []int{384, 384, 10}, Kernel: 3, Pad: 1, Pool: "global"},
	})
}

func mnist() (Spec, error) {
	return Expand("nin-mnist", Shape{28, 28, 1}, 10, []Block{
		{Out: []int{96, 96, 96}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2, Dropout: 0.5},
		{Out: []int{128, 128, 128}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2, Dropout: 0.5},
		{Out: []int{128, 128, 10}, Kernel: 3, Pad: 1, Pool: "global"},
	})
}

// Builtins lists the built-in architecture names.
func Builtins() []string {
	var names []string
	for n := range builtin {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LoadSpec returns a built-in spec by name, or reads a JSON spec file when name ends in .json.
func LoadSpec(name string, readFile func(string) ([]byte, error)) (Spec, error) {
	if f, ok := builtin[name]; ok {
		return f()
	}
	if strings.HasSuffix(name, ".json") {
		b, err := readFile(name)
		if err != nil {
			return Spec{}, fmt.Errorf("spec: %w", err)
		}
		var s Spec
		if err := json.Unmarshal(b, &s); err != nil {
			return Spec{}, fmt.Errorf("spec %s: %w", name, err)
		}
		return s, nil
	}
	return Spec{}, fmt.Errorf("unknown architecture %q (built in: %s; or a .json spec file)", name, strings.Join(Builtins(), ", "))
}

// WithHead returns the spec with its global-average-pool classifier replaced as head says.
func (s Spec) WithHead(h Head) (Spec, error) {
	if h.Kind == "" || h.Kind == "gap" {
		return s, nil
	}
	if h.Kind != "fc" {
		return Spec{}, fmt.Errorf("unknown head %q (gap, fc)", h.Kind)
	}
	out := s
	out.Layers = nil
	for _, l := range s.Layers {
		if l.Kind == GlobalAvg {
			if h.Dropout > 0 {
				out.Layers = append(out.Layers, Layer{Name: "drop_fc", Kind: Dropout, Rate: h.Dropout})
			}
			out.Layers = append(out.Layers, Layer{Name: "fc", Kind: FC, Out: s.Classes})
			continue
		}
		out.Layers = append(out.Layers, l)
	}
	return out, out.Validate()
}

// WithClasses returns the spec with k classes: its classifier, the last layer with weights
// (cccp6 in NIN, or the fc head), gets k outputs.
func (s Spec) WithClasses(k int) (Spec, error) {
	last := -1
	for i, l := range s.Layers {
		if l.HasWeights() {
			last = i
		}
	}
	if last < 0 {
		return Spec{}, fmt.Errorf("spec %s: no layer with weights to classify", s.Name)
	}
	out := s
	out.Layers = slices.Clone(s.Layers)
	out.Layers[last].Out, out.Classes = k, k
	return out, out.Validate()
}
