package onnx

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/onnx/onnxpb"
	"github.com/ninedge/ninedge/quant"
)

// A quantized model in ONNX's QDQ form (what onnxruntime's quantize_static writes): the float
// graph with QuantizeLinear/DequantizeLinear pairs on the activations and DequantizeLinear on
// integer weights and biases. ImportQuantized strips the pairs, imports the float graph that
// remains as Import does, and builds the int8 graph from the file's own integers and scales
// where they fit ninedge's scheme (docs/architecture.md, "The int8 scheme"):
//   - weights: symmetric int8 per output channel in [-127, 127], kept; a -128 is clamped to
//     -127; asymmetric, unsigned or float weights, and weights a BatchNormalization was
//     folded into, are quantized again from their real values;
//   - biases: int32 at input scale × weight scale, kept; at another scale (the input's scale
//     changed, see pools) they are quantized again;
//   - activations: uint8 with zero point 0 after each ReLU, kept; another zero point or int8
//     keeps the scale with zero point 0 (values the exporter clipped at the top now fit);
//   - the input: uint8 with its zero point, kept; int8 becomes uint8 (zero point + 128, exact);
//   - pools keep their input's scale: a pool output quantized to another scale is not;
//   - the global pool outputs exact int32 channel sums: its output quantization is dropped;
//   - a QuantizeLinear inside a layer (between a Conv and its Relu) is dropped, as ninedge
//     requantizes once per layer;
//   - a Conv without Relu whose output is quantized to uint8 with zero point 0 is a ReLU.
//
// Each change is listed, with its reason, in the graph's calibration info.

// qparam is one QuantizeLinear/DequantizeLinear pair's parameters (per tensor).
type qparam struct {
	scale  float32
	zero   int32
	signed bool // int8 rather than uint8
}

func (p qparam) String() string {
	t := "uint8"
	if p.signed {
		t = "int8"
	}
	return fmt.Sprintf("%s scale %.6g zero point %d", t, p.scale, p.zero)
}

// qconst is a quantized constant (a weight or a bias) behind a DequantizeLinear.
type qconst struct {
	q      []int32
	dtype  int32
	dims   []int64
	scales []float32 // one, or one per index of axis
	zeros  []int32
	axis   int
}

// real is the constant's value at index i, as DequantizeLinear computes it.
func (c *qconst) real(i int) float32 {
	j := 0
	if len(c.scales) > 1 {
		inner := 1
		for _, d := range c.dims[c.axis+1:] {
			inner *= int(d)
		}
		j = i / inner % len(c.scales)
	}
	z := c.zeros[min(j, len(c.zeros)-1)]
	return float32(c.q[i]-z) * c.scales[j]
}

// quantNode returns the first QuantizeLinear or DequantizeLinear node, nil for a float graph.
func quantNode(g *onnxpb.GraphProto) *onnxpb.NodeProto {
	for _, n := range g.GetNode() {
		if op := n.GetOpType(); op == "QuantizeLinear" || op == "DequantizeLinear" {
			return n
		}
	}
	return nil
}

// ImportQuantized reads a QDQ model from r (at most MaxSize bytes) and builds its int8 graph;
// source names the file in the graph's calibration info.
func ImportQuantized(r io.Reader, opt Options, source string) (*quant.Graph, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(MaxSize)+1))
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return ImportQuantizedBytes(b, opt, source)
}

// ImportQuantizedBytes is ImportQuantized of a model held in memory.
func ImportQuantizedBytes(b []byte, opt Options, source string) (*quant.Graph, error) {
	m, opset, err := parse(b, opt)
	if err != nil {
		return nil, err
	}
	if quantNode(m.GetGraph()) == nil {
		return nil, refuse("onnx: the model has no QuantizeLinear or DequantizeLinear: it is a float model (Import)")
	}
	s, err := stripQDQ(m.GetGraph(), opset)
	if err != nil {
		return nil, err
	}
	mod, im, err := importGraph(s.g, opset, opt)
	if err != nil {
		return nil, err
	}
	return s.build(mod, im, source)
}

// stripped is a QDQ graph with its pairs taken out: a float graph whose integer constants
// became float ones, and what the pairs said.
type stripped struct {
	g      *onnxpb.GraphProto
	acts   map[string]qparam  // by the activation quantized
	consts map[string]*qconst // by the float constant it became
	// changes lists each departure from the file's quantization, with its reason.
	changes []string
}

func (s *stripped) change(format string, a ...any) {
	s.changes = append(s.changes, fmt.Sprintf(format, a...))
}

func stripQDQ(g *onnxpb.GraphProto, opset int64) (*stripped, error) {
	consts := map[string]*onnxpb.TensorProto{}
	for _, t := range g.GetInitializer() {
		consts[t.GetName()] = t
	}
	s := &stripped{acts: map[string]qparam{}, consts: map[string]*qconst{}}
	out := &onnxpb.GraphProto{Name: g.Name, Input: g.GetInput(), Output: g.GetOutput(), Initializer: slices.Clone(g.GetInitializer())}
	alias := map[string]string{}                // a DequantizeLinear's output -> the value quantized
	quantized := map[string]*onnxpb.NodeProto{} // a QuantizeLinear's output -> its node
	name := func(v string) string {
		if a, ok := alias[v]; ok {
			return a
		}
		return v
	}
	for i, n := range g.GetNode() {
		label := n.GetName()
		if label == "" {
			label = fmt.Sprintf("#%d", i)
		}
		fail := func(err error) error { return fmt.Errorf("onnx: node %q (%s): %w", label, n.GetOpType(), err) }
		switch n.GetOpType() {
		case "QuantizeLinear":
			if len(n.GetInput()) < 2 || len(n.GetOutput()) != 1 {
				return nil, fail(fmt.Errorf("%d inputs and %d outputs", len(n.GetInput()), len(n.GetOutput())))
			}
			if _, err := qdqParam(n, consts, opset); err != nil {
				return nil, fail(err)
			}
			quantized[n.GetOutput()[0]] = n
		case "DequantizeLinear":
			if len(n.GetInput()) < 2 || len(n.GetOutput()) != 1 {
				return nil, fail(fmt.Errorf("%d inputs and %d outputs", len(n.GetInput()), len(n.GetOutput())))
			}
			in, outName := n.GetInput()[0], n.GetOutput()[0]
			if q := quantized[in]; q != nil {
				p, err := qdqParam(n, consts, opset)
				if err != nil {
					return nil, fail(err)
				}
				qp, _ := qdqParam(q, consts, opset)
				if p != qp {
					return nil, fail(refuse("dequantizes with %v what %q quantized with %v", p, q.GetName(), qp))
				}
				x := name(q.GetInput()[0])
				if old, ok := s.acts[x]; ok && old != p {
					return nil, fail(refuse("%q is quantized twice, with %v and %v", x, old, p))
				}
				s.acts[x], alias[outName] = p, x
				continue
			}
			t := consts[in]
			if t == nil {
				return nil, fail(refuse("input %q is neither a QuantizeLinear output nor a constant", in))
			}
			c, f, err := dequantize(n, t, consts, outName)
			if err != nil {
				return nil, fail(err)
			}
			consts[outName], s.consts[outName] = f, c
			out.Initializer = append(out.Initializer, f)
		default:
			c := &onnxpb.NodeProto{Name: n.Name, OpType: n.OpType, Domain: n.Domain, Attribute: n.Attribute, Output: n.Output}
			for _, in := range n.GetInput() {
				if quantized[in] != nil {
					return nil, fail(refuse("reads %q, a QuantizeLinear output, without a DequantizeLinear: only the QDQ form is supported (not QOperator ops)", in))
				}
				c.Input = append(c.Input, name(in))
			}
			out.Node = append(out.Node, c)
		}
	}
	out.Output = nil
	for _, o := range g.GetOutput() {
		if a, ok := alias[o.GetName()]; ok {
			o = proto.Clone(o).(*onnxpb.ValueInfoProto)
			o.Name = &a
		}
		out.Output = append(out.Output, o)
	}
	s.g = out
	s.fuseReLUs()
	return s, nil
}

// fuseReLUs adds the Relu that a quantizer removed after a Conv whose output it quantizes to
// uint8 with zero point 0, which clamps at 0 as a ReLU does (onnxruntime drops such Relus),
// so that the float import sees the layer ninedge runs.
func (s *stripped) fuseReLUs() {
	for i := 0; i < len(s.g.Node); i++ {
		n := s.g.Node[i]
		if n.GetOpType() != "Conv" || len(n.GetOutput()) == 0 {
			continue
		}
		y := n.GetOutput()[0]
		p, ok := s.acts[y]
		if !ok || p.signed || p.zero != 0 || slices.ContainsFunc(s.g.Node[i+1:], func(m *onnxpb.NodeProto) bool {
			return m.GetOpType() == "Relu" && slices.Contains(m.GetInput(), y)
		}) {
			continue
		}
		r := y + "_relu"
		relu := &onnxpb.NodeProto{Name: proto.String(n.GetName() + "_relu"), OpType: proto.String("Relu"), Input: []string{y}, Output: []string{r}}
		s.g.Node = slices.Insert(s.g.Node, i+1, relu)
		for _, later := range s.g.Node[i+2:] {
			for j, in := range later.Input {
				if in == y {
					later.Input[j] = r
				}
			}
		}
		for k, o := range s.g.Output {
			if o.GetName() == y {
				o = proto.Clone(o).(*onnxpb.ValueInfoProto)
				o.Name = &r
				s.g.Output[k] = o
			}
		}
		delete(s.acts, y)
		s.acts[r] = p
		s.change("%s: no Relu, but its output's QuantizeLinear (uint8, zero point 0) clamps at 0 as a ReLU does: fused as one", n.GetName())
	}
}

// qdqParam reads a per-tensor pair's scale and zero point.
func qdqParam(n *onnxpb.NodeProto, consts map[string]*onnxpb.TensorProto, opset int64) (qparam, error) {
	a, err := nodeAttrs(n, "axis", "saturate", "block_size", "output_dtype")
	if err != nil {
		return qparam{}, err
	}
	if bs, err := a.int("block_size", 0); err != nil || bs != 0 {
		return qparam{}, refuse("block_size %d: blocked quantization is not supported", bs)
	}
	st := consts[n.GetInput()[1]]
	if st == nil {
		return qparam{}, refuse("scale %q is not an initializer", n.GetInput()[1])
	}
	sc, err := floats(st)
	if err != nil {
		return qparam{}, err
	}
	if len(sc) != 1 {
		return qparam{}, refuse("%d scales: an activation is quantized per tensor in ninedge", len(sc))
	}
	if !(sc[0] > 0) {
		return qparam{}, fmt.Errorf("scale %v is not positive", sc[0])
	}
	p := qparam{scale: sc[0]}
	if len(n.GetInput()) < 3 || n.GetInput()[2] == "" {
		return p, nil // uint8, zero point 0
	}
	zt := consts[n.GetInput()[2]]
	if zt == nil {
		return qparam{}, refuse("zero point %q is not an initializer", n.GetInput()[2])
	}
	z, dt, err := qints(zt)
	if err != nil {
		return qparam{}, err
	}
	if len(z) != 1 {
		return qparam{}, refuse("%d zero points: an activation is quantized per tensor in ninedge", len(z))
	}
	switch dt {
	case int32(onnxpb.TensorProto_UINT8):
	case int32(onnxpb.TensorProto_INT8):
		p.signed = true
	default:
		return qparam{}, refuse("activations quantized to %s: uint8 and int8 are supported", dtypeName(dt))
	}
	p.zero = z[0]
	return p, nil
}

// dequantize reads a DequantizeLinear of a constant (an int8 weight or an int32 bias) and
// returns it and its float value, named name.
func dequantize(n *onnxpb.NodeProto, t *onnxpb.TensorProto, consts map[string]*onnxpb.TensorProto, name string) (*qconst, *onnxpb.TensorProto, error) {
	a, err := nodeAttrs(n, "axis", "block_size", "output_dtype")
	if err != nil {
		return nil, nil, err
	}
	if bs, err := a.int("block_size", 0); err != nil || bs != 0 {
		return nil, nil, refuse("block_size %d: blocked quantization is not supported", bs)
	}
	q, dt, err := qints(t)
	if err != nil {
		return nil, nil, err
	}
	c := &qconst{q: q, dtype: dt, dims: t.GetDims()}
	ax, err := a.int("axis", 1)
	if err != nil {
		return nil, nil, err
	}
	st := consts[n.GetInput()[1]]
	if st == nil {
		return nil, nil, refuse("scale %q is not an initializer", n.GetInput()[1])
	}
	if c.scales, err = floats(st); err != nil {
		return nil, nil, err
	}
	for _, v := range c.scales {
		if !(v > 0) {
			return nil, nil, fmt.Errorf("scale %v is not positive", v)
		}
	}
	if len(c.scales) > 1 {
		if c.axis, err = axis(ax, len(c.dims)); err != nil {
			return nil, nil, err
		}
		if int64(len(c.scales)) != c.dims[c.axis] {
			return nil, nil, fmt.Errorf("%d scales for axis %d of dims %v", len(c.scales), ax, c.dims)
		}
	}
	c.zeros = []int32{0}
	if len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
		zt := consts[n.GetInput()[2]]
		if zt == nil {
			return nil, nil, refuse("zero point %q is not an initializer", n.GetInput()[2])
		}
		var zdt int32
		if c.zeros, zdt, err = qints(zt); err != nil {
			return nil, nil, err
		}
		if zdt != dt || (len(c.zeros) != 1 && len(c.zeros) != len(c.scales)) {
			return nil, nil, fmt.Errorf("zero point %s ×%d for %s data with %d scales", dtypeName(zdt), len(c.zeros), dtypeName(dt), len(c.scales))
		}
	}
	v := make([]float32, len(q))
	for i := range v {
		v[i] = c.real(i)
	}
	return c, floatTensor(name, c.dims, v), nil
}

// qints decodes an INT8, UINT8 or INT32 tensor (quantized data or zero points).
func qints(t *onnxpb.TensorProto) ([]int32, int32, error) {
	if err := checkStored(t); err != nil {
		return nil, 0, err
	}
	dt := t.GetDataType()
	size := map[int32]int{int32(onnxpb.TensorProto_INT8): 1, int32(onnxpb.TensorProto_UINT8): 1, int32(onnxpb.TensorProto_INT32): 4}[dt]
	if size == 0 {
		return nil, 0, refuse("tensor %q is %s, want INT8, UINT8 or INT32", t.GetName(), dtypeName(dt))
	}
	n, err := count(t.GetDims())
	if err != nil {
		return nil, 0, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	raw, err := rawOrTyped(t, n, size, len(t.GetInt32Data()))
	if err != nil {
		return nil, 0, err
	}
	if !raw {
		return slices.Clone(t.GetInt32Data()), dt, nil
	}
	v := make([]int32, n)
	r := t.GetRawData()
	for i := range v {
		switch dt {
		case int32(onnxpb.TensorProto_INT8):
			v[i] = int32(int8(r[i]))
		case int32(onnxpb.TensorProto_UINT8):
			v[i] = int32(r[i])
		default:
			v[i] = int32(binary.LittleEndian.Uint32(r[4*i:]))
		}
	}
	return v, dt, nil
}

// build makes the int8 graph of the imported model from the file's quantization.
func (s *stripped) build(m *nin.Model, im *importer, source string) (*quant.Graph, error) {
	// The spec's layers but dropout, one for one with the importer's.
	var idx []int
	for i, l := range m.Spec.Layers {
		if l.Kind != nin.Dropout {
			idx = append(idx, i)
		}
	}
	if len(idx) != len(im.layers) {
		return nil, fmt.Errorf("onnx: %d layers imported for %d in the spec", len(im.layers), len(idx))
	}
	in, ok := s.last(im.inputs)
	if !ok {
		return nil, refuse("onnx: the input %q is not quantized (no QuantizeLinear/DequantizeLinear pair on it)", im.inputs[0])
	}
	if in.signed {
		s.change("input: int8 zero point %d became uint8 zero point %d (the same values: ninedge's input is uint8)", in.zero, in.zero+128)
		in.zero += 128
	}
	if in.zero < 0 || in.zero > 255 {
		return nil, fmt.Errorf("onnx: input zero point %d out of range", in.zero)
	}
	convs := map[string]quant.GivenConv{}
	scale := in.scale // the scale of the activation the current layer reads, in the int8 graph
	for j, l := range im.layers {
		i := idx[j]
		name := m.Spec.Layers[i].Name
		out, has := s.last(l.outs)
		switch l.Kind {
		case nin.MaxPool, nin.AvgPool:
			if has && out.scale != scale {
				s.change("%s: output %v not applied: ninedge's pools keep their input's scale %.6g (the layers after it are requantized to that scale)", name, out, scale)
			}
			continue
		case nin.GlobalAvg:
			if has {
				s.change("%s: output %v not applied: ninedge scores are the exact int32 channel sums × %.6g / pixels, finer than one uint8 step", name, out, scale)
			}
			continue
		case nin.Conv:
		default:
			return nil, refuse("onnx: layer %s (%s): the int8 path supports conv, pools and the global pool only", name, l.Kind)
		}
		if !has {
			return nil, refuse("onnx: layer %s: its output is not quantized: ninedge needs its scale", name)
		}
		if out.signed || out.zero != 0 {
			s.change("%s: output %v became uint8 zero point 0 with the same scale: it follows a ReLU, so only values ≥ 0 occur, and all of them up to 255 steps now fit", name, out)
		}
		c, err := s.conv(m, i, l, scale, out.scale)
		if err != nil {
			return nil, fmt.Errorf("onnx: layer %s: %w", name, err)
		}
		convs[name] = c
		scale = out.scale
	}
	g, err := quant.FromQuantized(m, in.scale, uint8(in.zero), convs, quant.CalibInfo{Method: quant.MethodImported, Source: source, Changes: s.changes})
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return g, nil
}

// last returns the quantization of the last activation in chain that has one; the others'
// are dropped, and said so.
func (s *stripped) last(chain []string) (qparam, bool) {
	var p qparam
	found := -1
	for k := len(chain) - 1; k >= 0; k-- {
		q, ok := s.acts[chain[k]]
		switch {
		case !ok:
		case found < 0:
			p, found = q, k
		default:
			s.change("%q: quantization %v dropped: ninedge quantizes once per layer, after its ReLU or pool (here at %q)", chain[k], q, chain[found])
		}
	}
	return p, found >= 0
}

// conv takes one conv layer's integers from the file, or quantizes again what does not fit.
func (s *stripped) conv(m *nin.Model, i int, l layer, inScale, outScale float32) (quant.GivenConv, error) {
	name := m.Spec.Layers[i].Name
	w := m.WeightsOIHW(i)
	o := l.Out
	per := len(w) / o
	c := quant.GivenConv{OutScale: outScale, Weights: make([]int8, len(w)), WScale: make([]float32, o), Bias: make([]int32, o)}
	qw := s.consts[l.node.GetInput()[1]]
	reason := ""
	switch {
	case qw == nil:
		reason = "its weights are float in the file"
	case qw.dtype != int32(onnxpb.TensorProto_INT8):
		reason = fmt.Sprintf("its weights are %s", dtypeName(qw.dtype))
	case slices.ContainsFunc(qw.zeros, func(z int32) bool { return z != 0 }):
		reason = "its weights are asymmetric (a zero point other than 0)"
	case len(qw.scales) > 1 && qw.axis != 0:
		reason = fmt.Sprintf("its weight scales run along axis %d, not the output channels", qw.axis)
	case len(qw.q) != len(w) || !sameReals(qw, w):
		reason = "its weights changed on import (a BatchNormalization was folded into them)"
	}
	if reason == "" {
		clamped := 0
		for j, q := range qw.q {
			if q == -128 {
				q, clamped = -127, clamped+1
			}
			c.Weights[j] = int8(q)
		}
		for ch := range o {
			c.WScale[ch] = qw.scales[min(ch, len(qw.scales)-1)]
		}
		if clamped > 0 {
			s.change("%s: %d weights of -128 clamped to -127: ninedge's weights are symmetric, in [-127, 127]", name, clamped)
		}
	} else {
		s.change("%s: weights quantized again (symmetric int8 per output channel), because %s", name, reason)
		for ch := range o {
			var amax float64
			for _, v := range w[ch*per : (ch+1)*per] {
				amax = max(amax, math.Abs(float64(v)))
			}
			ws := amax / 127
			if ws == 0 {
				ws = 1
			}
			c.WScale[ch] = float32(ws)
			for j, v := range w[ch*per : (ch+1)*per] {
				c.Weights[ch*per+j] = int8(math.Round(float64(v) / ws))
			}
		}
	}
	// The bias: the file's int32 where it is at input scale × weight scale, else quantized
	// from its real value.
	var qb *qconst
	if len(l.node.GetInput()) > 2 {
		qb = s.consts[l.node.GetInput()[2]]
	}
	fits := qb != nil && qb.dtype == int32(onnxpb.TensorProto_INT32) && len(qb.q) == o && sameReals(qb, m.Biases[i]) &&
		!slices.ContainsFunc(qb.zeros, func(z int32) bool { return z != 0 })
	requantized := false
	for ch := range o {
		acc := float64(inScale) * float64(c.WScale[ch])
		if fits && closeScale(qb.scales[min(ch, len(qb.scales)-1)], acc) {
			c.Bias[ch] = qb.q[ch]
			continue
		}
		b := math.Round(float64(m.Biases[i][ch]) / acc)
		if math.Abs(b) > math.MaxInt32/2 {
			return c, fmt.Errorf("channel %d: bias %v is out of int32 range at scale %g", ch, m.Biases[i][ch], acc)
		}
		c.Bias[ch] = int32(b)
		requantized = requantized || qb != nil
	}
	if requantized {
		s.change("%s: bias quantized again at input scale × weight scale (%.6g × the weight scales), the scale ninedge accumulates in", name, inScale)
	}
	return c, nil
}

// sameReals reports whether the quantized constant's real values are v, bit for bit: the
// float graph still holds the file's values (nothing was folded into them).
func sameReals(c *qconst, v []float32) bool {
	if len(c.q) != len(v) {
		return false
	}
	for i, x := range v {
		if c.real(i) != x {
			return false
		}
	}
	return true
}

// closeScale compares a bias scale with input scale × weight scale as exporters compute it,
// in float32 or float64.
func closeScale(s float32, want float64) bool {
	return math.Abs(float64(s)-want) <= 1e-6*want
}
