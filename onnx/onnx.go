// Package onnx imports a float32 CNN stored as ONNX, the format torch.onnx.export writes, as a
// nin.Model that the rest of the toolchain (quantization, backends, the edge runtime) runs
// unchanged.
//
// It accepts opsets 11 to 21 and the subset of operators that Network-In-Network-style
// networks export to: Conv (with BatchNormalization folded into it and Relu fused), MaxPool,
// AveragePool, GlobalAveragePool, a Gemm or MatMul classifier, and the ops that do not change
// values (Dropout, Identity, zero Pad, Flatten, Reshape, Squeeze, the shape arithmetic of
// x.view(x.size(0), -1), a final Softmax). The graph must be a chain from the one image input
// to the one output. Everything else is refused with an error naming the node, its op and the
// reason, wrapping ErrUnsupported: an attribute whose semantics nin does not reproduce exactly
// (asymmetric padding, dilation, groups, pools whose border windows nin would size
// differently) is refused, never approximated.
//
// A quantized model in the QDQ form (QuantizeLinear/DequantizeLinear pairs, what onnxruntime's
// quantize_static writes) is refused by Import with ErrQuantized and imported by
// ImportQuantized to an int8 graph (see qdq.go).
//
// The file is read with the generated ONNX schema (package onnxpb) and checked as input from
// anywhere: sizes are checked against dims before anything is allocated, weights kept in
// external files are refused, and a malformed file gives an error, never a panic.
package onnx

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/onnx/onnxpb"
)

// MaxSize is the largest file accepted: protobuf's own limit on a message (2 GiB less a
// byte), which ONNX files without external data are held to.
const MaxSize = math.MaxInt32

// Opsets accepted for the default (ai.onnx) domain.
const (
	MinOpset = 11
	MaxOpset = 21
)

// IR versions accepted: 3 is the first with opset imports, 11 the newest released.
const (
	minIR = 3
	maxIR = 11
)

// ErrUnsupported is wrapped by every error that refuses a valid ONNX model because nin cannot
// compute exactly what it describes.
var ErrUnsupported = errors.New("not supported by nin")

type refusal string

func (r refusal) Error() string        { return string(r) }
func (r refusal) Is(target error) bool { return target == ErrUnsupported }

func refuse(format string, a ...any) error { return refusal(fmt.Sprintf(format, a...)) }

// Options says what an ONNX file does not record.
type Options struct {
	// Preprocess is how uint8 pixels become the network's input (the normalisation the model
	// was trained with, e.g. mean/std). ONNX graphs start at the float tensor, so it is required.
	Preprocess nin.Preprocess
	// Classes names the outputs; nil numbers them "0", "1", ...
	Classes []string
	// Arch, when set, is the built-in architecture (see nin.Builtins) the graph must be: the
	// model then carries that spec, with its layer names and dropout layers.
	Arch string
	// Name is the spec's name when Arch is not set; default "onnx".
	Name string
}

// Import reads an ONNX model from r (at most MaxSize bytes) and converts it.
func Import(r io.Reader, opt Options) (*nin.Model, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(MaxSize)+1))
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return ImportBytes(b, opt)
}

// ErrQuantized is wrapped by the error ImportBytes returns for a quantized (QDQ) model, which
// ImportQuantized imports.
var ErrQuantized = errors.New("the model is quantized (QuantizeLinear/DequantizeLinear): import it as an int8 model")

// ImportBytes converts an ONNX model held in memory.
func ImportBytes(b []byte, opt Options) (*nin.Model, error) {
	m, opset, err := parse(b, opt)
	if err != nil {
		return nil, err
	}
	if n := quantNode(m.GetGraph()); n != nil {
		return nil, fmt.Errorf("onnx: node %q (%s): %w", n.GetName(), n.GetOpType(), ErrQuantized)
	}
	mod, _, err := importGraph(m.GetGraph(), opset, opt)
	return mod, err
}

// parse decodes and checks the envelope of a model: size, versions, a graph.
func parse(b []byte, opt Options) (*onnxpb.ModelProto, int64, error) {
	if int64(len(b)) > MaxSize {
		return nil, 0, fmt.Errorf("onnx: file larger than %d bytes", MaxSize)
	}
	if opt.Preprocess.Kind == "" {
		return nil, 0, errors.New("onnx: Options.Preprocess is not set: an ONNX graph starts at the float input, so the normalisation it was trained with must be given")
	}
	var m onnxpb.ModelProto
	// An accepted model nests five deep (model, graph, node, attribute, tensor); the limit
	// keeps a hostile file of nested subgraphs cheap to refuse.
	if err := (proto.UnmarshalOptions{RecursionLimit: 32}).Unmarshal(b, &m); err != nil {
		return nil, 0, fmt.Errorf("onnx: not an ONNX model: %w", err)
	}
	opset, err := checkVersions(&m)
	if err != nil {
		return nil, 0, err
	}
	if m.GetGraph() == nil {
		return nil, 0, errors.New("onnx: the model has no graph")
	}
	return &m, opset, nil
}

// importGraph imports a float graph; the importer keeps the ONNX node of each layer.
func importGraph(g *onnxpb.GraphProto, opset int64, opt Options) (*nin.Model, *importer, error) {
	im, err := newImporter(g, opset)
	if err != nil {
		return nil, nil, err
	}
	if err := im.run(g); err != nil {
		return nil, nil, err
	}
	m, err := im.model(opt)
	return m, im, err
}

// checkVersions returns the default domain's opset after checking the IR version and the
// opset range.
func checkVersions(m *onnxpb.ModelProto) (int64, error) {
	if v := m.GetIrVersion(); v < minIR || v > maxIR {
		return 0, refuse("onnx: IR version %d, want %d to %d", v, minIR, maxIR)
	}
	opset := int64(-1)
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d != "" && d != "ai.onnx" {
			continue // nodes of other domains are refused one by one
		}
		if opset >= 0 {
			return 0, errors.New("onnx: the default domain is imported twice")
		}
		opset = o.GetVersion()
	}
	if opset < MinOpset || opset > MaxOpset {
		if opset < 0 {
			return 0, refuse("onnx: no opset imported for the default domain")
		}
		return 0, refuse("onnx: opset %d, want %d to %d (re-export with opset_version in that range)", opset, MinOpset, MaxOpset)
	}
	return opset, nil
}

// model turns the imported layers into a nin model.
func (im *importer) model(opt Options) (*nin.Model, error) {
	spec := nin.Spec{Name: opt.Name, Input: im.input, Classes: im.acts[im.cur].in.C}
	if spec.Name == "" {
		spec.Name = "onnx"
	}
	for _, l := range im.layers {
		spec.Layers = append(spec.Layers, l.Layer)
	}
	nameLayers(spec.Layers)
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if opt.Arch != "" {
		var err error
		if spec, err = matchArch(spec, opt.Arch); err != nil {
			return nil, err
		}
	}
	if err := opt.Preprocess.Validate(spec.Input); err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	classes := opt.Classes
	if classes == nil {
		classes = nin.NumberedClasses(spec.Classes)
	}
	m, err := nin.NewModel(spec, classes, opt.Preprocess)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	src := im.layers
	for i, l := range spec.Layers {
		if !l.HasWeights() {
			continue
		}
		for !src[0].HasWeights() {
			src = src[1:]
		}
		m.SetWeightsOIHW(i, src[0].w)
		copy(m.Biases[i], src[0].b)
		src = src[1:]
	}
	return m, nil
}

// nameLayers names layers as nin's built-in specs do (conv1, cccp1 for 1×1 convolutions,
// pool1, fc), so that an imported NIN reads like one trained here.
func nameLayers(ls []nin.Layer) {
	var conv, cccp, pool, fc int
	for i := range ls {
		l := &ls[i]
		switch {
		case l.Kind == nin.Conv && l.Kernel == 1:
			cccp++
			l.Name = fmt.Sprintf("cccp%d", cccp)
		case l.Kind == nin.Conv:
			conv++
			l.Name = fmt.Sprintf("conv%d", conv)
		case l.Kind == nin.FC:
			fc++
			l.Name = "fc"
			if fc > 1 {
				l.Name = fmt.Sprintf("fc%d", fc)
			}
		default:
			pool++
			l.Name = fmt.Sprintf("pool%d", pool)
		}
	}
}

// matchArch checks that the imported spec is the built-in architecture arch, apart from the
// dropout layers that inference drops, and returns the built-in spec.
func matchArch(got nin.Spec, arch string) (nin.Spec, error) {
	if !slices.Contains(nin.Builtins(), arch) {
		return nin.Spec{}, fmt.Errorf("onnx: unknown architecture %q (built in: %s)", arch, strings.Join(nin.Builtins(), ", "))
	}
	want, err := nin.LoadSpec(arch, nil)
	if err != nil {
		return nin.Spec{}, fmt.Errorf("onnx: %w", err)
	}
	if got.Input != want.Input || got.Classes != want.Classes {
		return nin.Spec{}, fmt.Errorf("onnx: the graph takes %v and gives %d classes; %s takes %v and gives %d", got.Input, got.Classes, arch, want.Input, want.Classes)
	}
	var ls []nin.Layer
	for _, l := range want.Layers {
		if l.Kind != nin.Dropout {
			ls = append(ls, l)
		}
	}
	if len(ls) != len(got.Layers) {
		return nin.Spec{}, fmt.Errorf("onnx: the graph has %d layers besides dropout, %s has %d", len(got.Layers), arch, len(ls))
	}
	for i, l := range ls {
		g := got.Layers[i]
		g.Name = l.Name
		if g != l {
			return nin.Spec{}, fmt.Errorf("onnx: layer %d of the graph is %+v, %s has %+v", i+1, got.Layers[i], arch, l)
		}
	}
	return want, nil
}
