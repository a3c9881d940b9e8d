package onnx

import (
	"fmt"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/onnx/onnxpb"
)

// maxDim bounds the input's sizes as nin.Spec does; together with maxActivation it keeps the
// importer's shape arithmetic in range on 32-bit targets before the spec is validated.
const (
	maxDim        = 1 << 14
	maxActivation = 1 << 24
)

// act is an activation: the nin map (H, W, C) it holds and its ONNX shape without the batch,
// [C, H, W] until a Flatten, Reshape or Squeeze changes the view. Those never move values:
// the data stays the map, read in CHW order.
type act struct {
	in   nin.Shape
	dims []int
}

// String is the activation's ONNX shape, with N for the batch.
func (a act) String() string {
	s := "[N"
	for _, d := range a.dims {
		s += fmt.Sprintf(", %d", d)
	}
	return s + "]"
}

func (a act) isMap() bool {
	return len(a.dims) == 3 && a.dims[0] == a.in.C && a.dims[1] == a.in.H && a.dims[2] == a.in.W
}

// dim is one entry of a shape computed inside the graph (x.view(x.size(0), -1) exports as
// Shape, Gather, Unsqueeze and Concat): a number, or the input's batch size when it is a
// variable.
type dim struct {
	v     int64
	batch bool
}

type shapeVal struct {
	dims   []dim
	scalar bool
}

// layer is a nin layer with its parameters in the file layout (conv OIHW, fc [out][h·w·c]).
type layer struct {
	nin.Layer
	w, b []float32
	node *onnxpb.NodeProto // the op that made it
	in   string            // the activation it reads
	outs []string          // the activations from its output to the next layer's input, in order
}

// importer walks the graph in order. Every value is one of three things: a constant (an
// initializer or a Constant node), a shape computed from constants and activation shapes,
// or an activation; the activations must form one chain, each layer reading the previous
// layer's output.
type importer struct {
	opset  int64
	batch  dim
	input  nin.Shape
	output string
	consts map[string]*onnxpb.TensorProto
	shapes map[string]shapeVal
	acts   map[string]act
	uses   map[string]int
	cur    string // the newest activation
	layers []layer
	inputs []string // the image input and the activations before the first layer, in order
}

func newImporter(g *onnxpb.GraphProto, opset int64) (*importer, error) {
	im := &importer{opset: opset, consts: map[string]*onnxpb.TensorProto{},
		shapes: map[string]shapeVal{}, acts: map[string]act{}, uses: map[string]int{}}
	if len(g.GetSparseInitializer()) > 0 {
		return nil, refuse("onnx: sparse initializers are not supported")
	}
	for _, t := range g.GetInitializer() {
		if im.consts[t.GetName()] != nil || t.GetName() == "" {
			return nil, fmt.Errorf("onnx: initializer name %q is empty or repeated", t.GetName())
		}
		im.consts[t.GetName()] = t
	}
	// Before IR 4 the weights were listed among the inputs too.
	var inputs []*onnxpb.ValueInfoProto
	for _, vi := range g.GetInput() {
		if im.consts[vi.GetName()] == nil {
			inputs = append(inputs, vi)
		}
	}
	if len(inputs) != 1 {
		return nil, refuse("onnx: the graph has %d inputs besides its weights, want one image input", len(inputs))
	}
	if err := im.setInput(inputs[0]); err != nil {
		return nil, err
	}
	if len(g.GetOutput()) != 1 {
		return nil, refuse("onnx: the graph has %d outputs, want one", len(g.GetOutput()))
	}
	im.output = g.GetOutput()[0].GetName()
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			im.uses[in]++
		}
	}
	im.uses[im.output]++
	return im, nil
}

// setInput takes the image input, which must be float32 [N, C, H, W] with C, H and W fixed.
func (im *importer) setInput(vi *onnxpb.ValueInfoProto) error {
	name := vi.GetName()
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return refuse("onnx: input %q is not a tensor", name)
	}
	if tt.GetElemType() != int32(onnxpb.TensorProto_FLOAT) {
		return refuse("onnx: input %q is %s, want FLOAT", name, dtypeName(tt.GetElemType()))
	}
	d := tt.GetShape().GetDim()
	if len(d) != 4 {
		return refuse("onnx: input %q has %d dimensions, want 4 (N, C, H, W)", name, len(d))
	}
	im.batch = dim{batch: true}
	if n, ok := d[0].Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
		if n.DimValue < 1 || n.DimValue > maxDim {
			return fmt.Errorf("onnx: input %q has batch size %d", name, n.DimValue)
		}
		im.batch = dim{v: n.DimValue}
	}
	var chw [3]int
	for i, x := range d[1:] {
		v, ok := x.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue)
		if !ok || v.DimValue < 1 || v.DimValue > maxDim {
			return refuse("onnx: input %q: C, H and W must be fixed sizes from 1 to %d (got %v)", name, maxDim, x)
		}
		chw[i] = int(v.DimValue)
	}
	im.input = nin.Shape{H: chw[1], W: chw[2], C: chw[0]}
	if int64(chw[0])*int64(chw[1])*int64(chw[2]) > maxActivation {
		return fmt.Errorf("onnx: input %q: %v is larger than nin accepts", name, im.input)
	}
	im.cur = name
	im.inputs = []string{name}
	im.acts[name] = act{in: im.input, dims: chw[:]}
	return nil
}

func (im *importer) defined(name string) bool {
	_, s := im.shapes[name]
	_, a := im.acts[name]
	return im.consts[name] != nil || s || a
}

// run imports the nodes, which ONNX requires to be in topological order: an input not defined
// by an earlier node is a dangling reference, a cycle or a misordered graph, all refused.
func (im *importer) run(g *onnxpb.GraphProto) error {
	for i, n := range g.GetNode() {
		if err := im.node(n); err != nil {
			name := n.GetName()
			if name == "" {
				name = fmt.Sprintf("#%d", i)
			}
			return fmt.Errorf("onnx: node %q (%s): %w", name, n.GetOpType(), err)
		}
	}
	switch {
	case im.output == im.cur:
		return nil
	case !im.defined(im.output):
		return fmt.Errorf("onnx: graph output %q is not computed by any node", im.output)
	default:
		return refuse("onnx: graph output %q is not the last layer's output %q", im.output, im.cur)
	}
}

func (im *importer) node(n *onnxpb.NodeProto) error {
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return refuse("domain %q is not supported", d)
	}
	for _, in := range n.GetInput() {
		if in != "" && !im.defined(in) {
			return fmt.Errorf("input %q is not defined by an earlier node, an initializer or the graph input (the graph is out of order, has a cycle or lacks a value)", in)
		}
	}
	if len(n.GetOutput()) == 0 || n.GetOutput()[0] == "" {
		return fmt.Errorf("no output")
	}
	for i, out := range n.GetOutput() {
		if out != "" && im.defined(out) {
			return fmt.Errorf("output %q is defined twice", out)
		}
		if i > 0 && out != "" && im.uses[out] > 0 {
			return refuse("output %d (%q) is read: only the first output of an op is supported", i, out)
		}
	}
	out := n.GetOutput()[0]
	switch n.GetOpType() {
	case "Constant":
		t, err := constantValue(n)
		if err != nil {
			return err
		}
		im.consts[out] = t
		return nil
	case "Identity":
		if len(n.GetInput()) != 1 {
			return fmt.Errorf("%d inputs, want 1", len(n.GetInput()))
		}
		in := n.GetInput()[0]
		if t := im.consts[in]; t != nil {
			im.consts[out] = t
			return nil
		}
		if s, ok := im.shapes[in]; ok {
			im.shapes[out] = s
			return nil
		}
	case "Shape", "Gather", "Unsqueeze", "Concat":
		s, err := im.shapeOp(n)
		if err != nil {
			return err
		}
		im.shapes[out] = s
		return nil
	}
	op, ok := layerOps[n.GetOpType()]
	if !ok {
		return refuse("op %s is not supported", n.GetOpType())
	}
	if im.actInput(n) < 0 {
		return refuse("reads no activation: only ops between the image input and the output are supported, with constant weights")
	}
	for _, name := range n.GetInput() {
		if _, ok := im.acts[name]; ok && name != im.cur {
			return refuse("reads %q, an earlier activation than the previous layer's output %q: only a chain of layers is supported (no branches or skip connections)", name, im.cur)
		}
	}
	made := len(im.layers)
	next, err := op(im, n, im.acts[im.cur])
	if err != nil {
		return err
	}
	if len(im.layers) > made {
		im.last().node, im.last().in = n, im.cur
	}
	if l := im.last(); l != nil {
		l.outs = append(l.outs, out)
	} else {
		im.inputs = append(im.inputs, out)
	}
	if int64(next.in.H)*int64(next.in.W)*int64(next.in.C) > maxActivation {
		return refuse("output %v is larger than nin accepts", next.in)
	}
	im.cur = out
	im.acts[out] = next
	return nil
}

// actInput is the index of the node's input that is an activation: the first for every op
// but Add, whose bias PyTorch may write first.
func (im *importer) actInput(n *onnxpb.NodeProto) int {
	for i, in := range n.GetInput() {
		if _, ok := im.acts[in]; ok && (i == 0 || n.GetOpType() == "Add") {
			return i
		}
	}
	return -1
}

// constInput returns input i as a constant, nil when the optional input is absent.
func (im *importer) constInput(n *onnxpb.NodeProto, i int, what string) (*onnxpb.TensorProto, error) {
	if i >= len(n.GetInput()) || n.GetInput()[i] == "" {
		return nil, nil
	}
	t := im.consts[n.GetInput()[i]]
	if t == nil {
		return nil, refuse("%s %q is not a constant", what, n.GetInput()[i])
	}
	return t, nil
}

// floatInput returns input i as a float32 constant and its dims; it is required.
func (im *importer) floatInput(n *onnxpb.NodeProto, i int, what string) ([]float32, []int64, error) {
	t, err := im.constInput(n, i, what)
	if err == nil && t == nil {
		err = fmt.Errorf("no %s", what)
	}
	if err != nil {
		return nil, nil, err
	}
	v, err := floats(t)
	return v, t.GetDims(), err
}

// constantValue is a Constant node's tensor, named after its output for error messages.
func constantValue(n *onnxpb.NodeProto) (*onnxpb.TensorProto, error) {
	a, err := nodeAttrs(n, "value")
	if err != nil {
		return nil, err
	}
	t, err := a.tensor("value")
	if err == nil && t == nil {
		err = fmt.Errorf("no value")
	}
	if err != nil {
		return nil, err
	}
	t.Name = &n.GetOutput()[0]
	return t, nil
}
