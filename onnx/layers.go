package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/onnx/onnxpb"
)

// layerOp imports one op that reads the current activation x and returns the next one.
type layerOp func(im *importer, n *onnxpb.NodeProto, x act) (act, error)

var layerOps = map[string]layerOp{
	"Conv":               (*importer).conv,
	"BatchNormalization": (*importer).batchNorm,
	"Relu":               (*importer).relu,
	"MaxPool":            (*importer).pool,
	"AveragePool":        (*importer).pool,
	"GlobalAveragePool":  (*importer).globalAvg,
	"Gemm":               (*importer).gemm,
	"MatMul":             (*importer).matMul,
	"Add":                (*importer).add,
	"Identity":           (*importer).identity,
	"Dropout":            (*importer).dropout,
	"Pad":                (*importer).pad,
	"Flatten":            (*importer).flatten,
	"Reshape":            (*importer).reshape,
	"Squeeze":            (*importer).squeeze,
	"Softmax":            (*importer).softmax,
	"LogSoftmax":         (*importer).softmax,
}

func (im *importer) last() *layer {
	if len(im.layers) == 0 {
		return nil
	}
	return &im.layers[len(im.layers)-1]
}

// addLayer appends a layer reading x, with its parameters in the file layout.
func (im *importer) addLayer(l nin.Layer, w, b []float32, x act) (act, error) {
	out, err := l.OutShape(x.in)
	if err != nil {
		return act{}, refuse("as a nin %s layer: %v", l.Kind, err)
	}
	im.layers = append(im.layers, layer{Layer: l, w: w, b: b})
	return act{in: out, dims: []int{out.C, out.H, out.W}}, nil
}

func needMap(x act) error {
	if !x.isMap() {
		return refuse("the input is %v, not an image map [N, C, H, W]", x)
	}
	return nil
}

func needVector(x act) error {
	if len(x.dims) != 1 {
		return refuse("the input is %v, not flattened to [N, D]", x)
	}
	return nil
}

// window reads the attributes that convolutions and pools share and returns nin's one
// kernel size, stride and padding; kernel is the weights' kernel size, 0 for pools.
func window(a attrs, kernel int) (k, stride, pad int, err error) {
	ap, err := a.str("auto_pad", "NOTSET")
	if err != nil {
		return 0, 0, 0, err
	}
	if ap != "NOTSET" && ap != "VALID" {
		return 0, 0, 0, refuse("auto_pad %s: give explicit pads", ap)
	}
	ks, err := a.ints("kernel_shape", nil)
	if err != nil {
		return 0, 0, 0, err
	}
	switch {
	case ks == nil && kernel == 0:
		return 0, 0, 0, fmt.Errorf("no kernel_shape")
	case ks == nil:
		k = kernel
	case len(ks) != 2:
		return 0, 0, 0, refuse("kernel_shape %v: only 2-D windows are supported", ks)
	case ks[0] != ks[1]:
		return 0, 0, 0, refuse("kernel_shape %v: nin windows are square", ks)
	case ks[0] < 1 || ks[0] > maxDim || (kernel != 0 && ks[0] != int64(kernel)):
		return 0, 0, 0, fmt.Errorf("kernel_shape %v does not fit the weights' kernel %d", ks, kernel)
	default:
		k = int(ks[0])
	}
	s, err := a.ints("strides", []int64{1, 1})
	if err != nil {
		return 0, 0, 0, err
	}
	if len(s) != 2 || s[0] != s[1] || s[0] < 1 || s[0] > maxDim {
		return 0, 0, 0, refuse("strides %v: nin needs one stride from 1 to %d for both axes", s, maxDim)
	}
	d, err := a.ints("dilations", []int64{1, 1})
	if err != nil {
		return 0, 0, 0, err
	}
	if !slices.Equal(d, []int64{1, 1}) {
		return 0, 0, 0, refuse("dilations %v: nin has no dilation", d)
	}
	p, err := a.ints("pads", []int64{0, 0, 0, 0})
	if err != nil {
		return 0, 0, 0, err
	}
	if len(p) != 4 || p[0] != p[1] || p[0] != p[2] || p[0] != p[3] || p[0] < 0 || p[0] > maxDim {
		return 0, 0, 0, refuse("pads %v: nin pads all four sides alike", p)
	}
	if ap == "VALID" && p[0] != 0 {
		return 0, 0, 0, fmt.Errorf("auto_pad VALID with pads %v", p)
	}
	return k, int(s[0]), int(p[0]), nil
}

func (im *importer) conv(n *onnxpb.NodeProto, x act) (act, error) {
	a, err := nodeAttrs(n, "auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
	if err != nil {
		return act{}, err
	}
	if err := needMap(x); err != nil {
		return act{}, err
	}
	w, wd, err := im.floatInput(n, 1, "weight")
	if err != nil {
		return act{}, err
	}
	if g, err := a.int("group", 1); err != nil {
		return act{}, err
	} else if g != 1 {
		return act{}, refuse("group %d: grouped and depthwise convolutions are not supported", g)
	}
	if len(wd) != 4 {
		return act{}, refuse("weight dims %v: only 2-D convolutions ([out, in, kh, kw]) are supported", wd)
	}
	if wd[1] != int64(x.in.C) {
		return act{}, fmt.Errorf("weight dims %v for %d input channels", wd, x.in.C)
	}
	if wd[2] != wd[3] {
		return act{}, refuse("kernel %dx%d: nin convolutions are square", wd[2], wd[3])
	}
	k, stride, pad, err := window(a, int(wd[2]))
	if err != nil {
		return act{}, err
	}
	out := int(wd[0])
	b := make([]float32, out)
	if t, err := im.constInput(n, 2, "bias"); err != nil {
		return act{}, err
	} else if t != nil {
		if b, err = floats(t); err != nil {
			return act{}, err
		}
		if len(t.GetDims()) != 1 || len(b) != out {
			return act{}, fmt.Errorf("bias dims %v for %d channels", t.GetDims(), out)
		}
	}
	return im.addLayer(nin.Layer{Kind: nin.Conv, Out: out, Kernel: k, Stride: stride, Pad: pad}, w, b, x)
}

// batchNorm folds inference batch normalisation into the convolution before it:
// w' = w·γ/√(var+ε), b' = (b − mean)·γ/√(var+ε) + β, computed in float64.
func (im *importer) batchNorm(n *onnxpb.NodeProto, x act) (act, error) {
	a, err := nodeAttrs(n, "epsilon", "momentum", "training_mode")
	if err != nil {
		return act{}, err
	}
	if train, err := a.flag("training_mode"); err != nil {
		return act{}, err
	} else if train {
		return act{}, refuse("training_mode 1: batch statistics are not inference")
	}
	eps, err := a.float("epsilon", 1e-5)
	if err != nil {
		return act{}, err
	}
	l := im.last()
	if l == nil || l.Kind != nin.Conv || l.ReLU || !x.isMap() {
		return act{}, refuse("BatchNormalization must directly follow a Conv (before its Relu): nin folds it into the convolution")
	}
	var p [4][]float32 // γ, β, mean, var
	for i, what := range []string{"scale", "bias", "mean", "variance"} {
		v, dims, err := im.floatInput(n, i+1, what)
		if err != nil {
			return act{}, err
		}
		if len(dims) != 1 || len(v) != l.Out {
			return act{}, fmt.Errorf("%s dims %v for %d channels", what, dims, l.Out)
		}
		p[i] = v
	}
	per := len(l.w) / l.Out
	for o := range l.Out {
		v := float64(p[3][o]) + float64(eps)
		if !(v > 0) {
			return act{}, fmt.Errorf("channel %d: variance %v + epsilon %v is not positive", o, p[3][o], eps)
		}
		s := float64(p[0][o]) / math.Sqrt(v)
		for j := range l.w[o*per : (o+1)*per] {
			l.w[o*per+j] = float32(float64(l.w[o*per+j]) * s)
		}
		l.b[o] = float32((float64(l.b[o])-float64(p[2][o]))*s + float64(p[1][o]))
	}
	return x, nil
}

func (im *importer) relu(n *onnxpb.NodeProto, x act) (act, error) {
	if _, err := nodeAttrs(n); err != nil {
		return act{}, err
	}
	l := im.last()
	if l == nil || l.Kind != nin.Conv || l.ReLU {
		return act{}, refuse("Relu must follow a Conv (or its BatchNormalization): nin applies ReLU only as part of a convolution")
	}
	l.ReLU = true
	return x, nil
}

// onnxPoolOut is ONNX's pooled size without padding; in ceil mode a last window that would
// start past the input is dropped (the rule PyTorch and ONNX share).
func onnxPoolOut(in, k, stride int, ceil bool) int {
	if !ceil {
		return (in-k)/stride + 1
	}
	out := (in-k+stride-1)/stride + 1
	if (out-1)*stride >= in {
		out--
	}
	return out
}

// pool maps MaxPool and AveragePool onto nin's pools, which are Caffe's: ceil mode, windows
// clipped at the border, an average over the in-bounds cells. ONNX is accepted where it
// computes exactly that: the same output size, and for an average with clipped windows,
// count_include_pad 0.
func (im *importer) pool(n *onnxpb.NodeProto, x act) (act, error) {
	avg := n.GetOpType() == "AveragePool"
	known := []string{"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides", "storage_order"}
	if avg {
		known[len(known)-1] = "count_include_pad"
	}
	a, err := nodeAttrs(n, known...)
	if err != nil {
		return act{}, err
	}
	if err := needMap(x); err != nil {
		return act{}, err
	}
	k, stride, pad, err := window(a, 0)
	if err != nil {
		return act{}, err
	}
	if pad != 0 {
		return act{}, refuse("pads %d: nin pools take no padding", pad)
	}
	ceil, err := a.flag("ceil_mode")
	if err != nil {
		return act{}, err
	}
	countPad, err := a.flag("count_include_pad")
	if err != nil {
		return act{}, err
	}
	if _, err := a.flag("storage_order"); err != nil { // it orders only the Indices output, which is not read
		return act{}, err
	}
	in := x.in
	if k > in.H || k > in.W {
		return act{}, fmt.Errorf("window %d larger than the input %v", k, in)
	}
	if avg && k == in.H && k == in.W {
		return im.addLayer(nin.Layer{Kind: nin.GlobalAvg}, nil, nil, x)
	}
	l := nin.Layer{Kind: nin.MaxPool, Kernel: k, Stride: stride}
	if avg {
		l.Kind = nin.AvgPool
	}
	out, err := l.OutShape(in)
	if err != nil {
		return act{}, refuse("as a nin %s layer: %v", l.Kind, err)
	}
	if h, w := onnxPoolOut(in.H, k, stride, ceil), onnxPoolOut(in.W, k, stride, ceil); h != out.H || w != out.W {
		return act{}, refuse("ceil_mode %v gives %dx%d from %dx%d; nin's pool (Caffe's ceil mode) gives %dx%d", ceil, h, w, in.H, in.W, out.H, out.W)
	}
	if avg && countPad && ((in.H-k)%stride != 0 || (in.W-k)%stride != 0) {
		return act{}, refuse("count_include_pad 1 with windows that overhang the border: runtimes disagree on whether the overhang counts; nin divides by the in-bounds cells, as count_include_pad 0 does")
	}
	return im.addLayer(l, nil, nil, x)
}

func (im *importer) globalAvg(n *onnxpb.NodeProto, x act) (act, error) {
	if _, err := nodeAttrs(n); err != nil {
		return act{}, err
	}
	if err := needMap(x); err != nil {
		return act{}, err
	}
	return im.addLayer(nin.Layer{Kind: nin.GlobalAvg}, nil, nil, x)
}

// rowBias reads a bias broadcast over the rows of [N, out] (or the channels of a conv): out
// values, or one value for all.
func rowBias(t *onnxpb.TensorProto, out int) ([]float32, error) {
	v, err := floats(t)
	if err != nil {
		return nil, err
	}
	dims := t.GetDims()
	switch {
	case len(v) == out && (len(dims) == 1 || (len(dims) == 2 && dims[0] == 1)):
		return v, nil
	case len(v) == 1 && len(dims) <= 2:
		b := make([]float32, out)
		for i := range b {
			b[i] = v[0]
		}
		return b, nil
	}
	return nil, refuse("bias dims %v: want [%d], [1, %d] or one value", dims, out, out)
}

// hwcIndex maps each index of a map of shape in flattened in ONNX's CHW order to its index
// in nin's HWC order.
func hwcIndex(in nin.Shape) []int {
	idx := make([]int, 0, in.Size())
	for c := range in.C {
		for y := range in.H {
			for x := range in.W {
				idx = append(idx, (y*in.W+x)*in.C+c)
			}
		}
	}
	return idx
}

// fcWeights reorders a [d, out] (or, transposed, [out, d]) matrix over the activation
// flattened in CHW order into nin's fc layout, [out][d] over the HWC order, times alpha.
func fcWeights(in nin.Shape, m []float32, out int, trans bool, alpha float32) []float32 {
	d := in.Size()
	w := make([]float32, out*d)
	for j, h := range hwcIndex(in) {
		for o := range out {
			v := m[j*out+o]
			if trans {
				v = m[o*d+j]
			}
			w[o*d+h] = alpha * v
		}
	}
	return w
}

// fc adds a fully connected layer from the matrix in input 1.
func (im *importer) fc(n *onnxpb.NodeProto, x act, trans bool, alpha float32) (act, error) {
	if err := needVector(x); err != nil {
		return act{}, err
	}
	m, dims, err := im.floatInput(n, 1, "weight matrix")
	if err != nil {
		return act{}, err
	}
	if len(dims) != 2 {
		return act{}, refuse("weight dims %v, want a matrix", dims)
	}
	d, out := dims[0], dims[1]
	if trans {
		d, out = out, d
	}
	if d != int64(x.in.Size()) {
		return act{}, fmt.Errorf("weight dims %v for %d inputs", dims, x.in.Size())
	}
	next, err := im.addLayer(nin.Layer{Kind: nin.FC, Out: int(out)}, fcWeights(x.in, m, int(out), trans, alpha), make([]float32, out), x)
	if err != nil {
		return act{}, err
	}
	next.dims = []int{int(out)}
	return next, nil
}

func (im *importer) gemm(n *onnxpb.NodeProto, x act) (act, error) {
	a, err := nodeAttrs(n, "alpha", "beta", "transA", "transB")
	if err != nil {
		return act{}, err
	}
	if ta, err := a.flag("transA"); err != nil {
		return act{}, err
	} else if ta {
		return act{}, refuse("transA 1: the activation must be the left matrix as it is")
	}
	tb, err := a.flag("transB")
	if err != nil {
		return act{}, err
	}
	alpha, err := a.float("alpha", 1)
	if err != nil {
		return act{}, err
	}
	beta, err := a.float("beta", 1)
	if err != nil {
		return act{}, err
	}
	next, err := im.fc(n, x, tb, alpha)
	if err != nil {
		return act{}, err
	}
	if t, err := im.constInput(n, 2, "bias"); err != nil {
		return act{}, err
	} else if t != nil {
		b, err := rowBias(t, next.in.C)
		if err != nil {
			return act{}, err
		}
		for i, v := range b {
			im.last().b[i] = beta * v
		}
	}
	return next, nil
}

func (im *importer) matMul(n *onnxpb.NodeProto, x act) (act, error) {
	if _, err := nodeAttrs(n); err != nil {
		return act{}, err
	}
	return im.fc(n, x, false, 1)
}

// add is accepted only as the bias of the fully connected layer just made (MatMul + Add is
// how a Linear layer exports when it is not a Gemm).
func (im *importer) add(n *onnxpb.NodeProto, x act) (act, error) {
	if _, err := nodeAttrs(n); err != nil {
		return act{}, err
	}
	l := im.last()
	if l == nil || l.Kind != nin.FC || len(n.GetInput()) != 2 {
		return act{}, refuse("Add is supported only as the bias of a MatMul or Gemm")
	}
	t, err := im.constInput(n, 1-im.actInput(n), "bias")
	if err == nil && t == nil {
		err = fmt.Errorf("no bias")
	}
	if err != nil {
		return act{}, err
	}
	b, err := rowBias(t, l.Out)
	if err != nil {
		return act{}, err
	}
	for i, v := range b {
		l.b[i] += v
	}
	return x, nil
}

func (im *importer) identity(n *onnxpb.NodeProto, x act) (act, error) {
	_, err := nodeAttrs(n)
	return x, err
}

// dropout is the identity at inference; a training_mode input must be a constant false.
func (im *importer) dropout(n *onnxpb.NodeProto, x act) (act, error) {
	if _, err := nodeAttrs(n, "ratio", "seed"); err != nil {
		return act{}, err
	}
	if _, err := im.constInput(n, 1, "ratio"); err != nil {
		return act{}, err
	}
	t, err := im.constInput(n, 2, "training_mode")
	if err != nil || t == nil {
		return x, err
	}
	if train, err := boolScalar(t); err != nil {
		return act{}, err
	} else if train {
		return act{}, refuse("training_mode true: dropout is random in training mode")
	}
	return x, nil
}

// pad is accepted when it pads nothing: PyTorch exports AvgPool2d(ceil_mode=True) with its
// default count_include_pad=True as a zero Pad before the AveragePool.
func (im *importer) pad(n *onnxpb.NodeProto, x act) (act, error) {
	if _, err := nodeAttrs(n, "mode"); err != nil {
		return act{}, err
	}
	t, err := im.constInput(n, 1, "pads")
	if err == nil && t == nil {
		err = fmt.Errorf("no pads")
	}
	if err != nil {
		return act{}, err
	}
	p, err := ints(t)
	if err != nil {
		return act{}, err
	}
	for _, v := range p {
		if v != 0 {
			return act{}, refuse("pads %v: only a Pad that pads nothing is supported (nin pads only inside a Conv)", p)
		}
	}
	for i, what := range []string{"constant_value", "axes"} {
		if _, err := im.constInput(n, i+2, what); err != nil {
			return act{}, err
		}
	}
	return x, nil
}

// axis normalizes an axis of a tensor of rank r.
func axis(ax int64, r int) (int, error) {
	if ax < -int64(r) || ax >= int64(r) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", ax, r)
	}
	if ax < 0 {
		ax += int64(r)
	}
	return int(ax), nil
}

func (im *importer) flatten(n *onnxpb.NodeProto, x act) (act, error) {
	a, err := nodeAttrs(n, "axis")
	if err != nil {
		return act{}, err
	}
	v, err := a.int("axis", 1)
	if err != nil {
		return act{}, err
	}
	ax, err := axis(v, len(x.dims)+1)
	if err != nil {
		return act{}, err
	}
	if ax != 1 {
		return act{}, refuse("axis %d: only flattening to [N, D] is supported", v)
	}
	return act{in: x.in, dims: []int{x.in.Size()}}, nil
}

// reshape accepts only [N, D]: each image's values, flattened, in a row of their own.
func (im *importer) reshape(n *onnxpb.NodeProto, x act) (act, error) {
	a, err := nodeAttrs(n, "allowzero")
	if err != nil {
		return act{}, err
	}
	allowZero, err := a.flag("allowzero")
	if err != nil {
		return act{}, err
	}
	s, err := im.shapeInput(n, 1)
	if err != nil {
		return act{}, err
	}
	d := int64(x.in.Size())
	minus := dim{v: -1}
	ok := !s.scalar && len(s.dims) == 2
	if ok {
		n0, n1 := s.dims[0], s.dims[1]
		ok = (n0 == im.batch || (n0 == dim{} && !allowZero) || (n0 == minus && n1 == dim{v: d})) &&
			(n1 == dim{v: d} || (n1 == minus && n0 != minus))
	}
	if !ok {
		return act{}, refuse("shape %v: only [N, %d] (each image's values in a row, batch %v) is supported", s, d, im.batch)
	}
	return act{in: x.in, dims: []int{int(d)}}, nil
}

func (im *importer) squeeze(n *onnxpb.NodeProto, x act) (act, error) {
	var axes []int64
	if im.opset < 13 {
		a, err := nodeAttrs(n, "axes")
		if err != nil {
			return act{}, err
		}
		if axes, err = a.ints("axes", nil); err != nil {
			return act{}, err
		}
	} else {
		if _, err := nodeAttrs(n); err != nil {
			return act{}, err
		}
		if len(n.GetInput()) > 1 && n.GetInput()[1] != "" {
			s, err := im.shapeInput(n, 1)
			if err != nil {
				return act{}, err
			}
			for _, d := range s.dims {
				axes = append(axes, d.v)
			}
		}
	}
	if len(axes) == 0 {
		return act{}, refuse("no axes: which dimensions it removes would depend on the batch size")
	}
	drop := make([]bool, len(x.dims)+1)
	for _, v := range axes {
		ax, err := axis(v, len(drop))
		if err != nil {
			return act{}, err
		}
		if ax == 0 {
			return act{}, refuse("axes %v: the batch dimension cannot be squeezed", axes)
		}
		if drop[ax] || x.dims[ax-1] != 1 {
			return act{}, fmt.Errorf("axes %v: axis %d is repeated or its size is not 1", axes, v)
		}
		drop[ax] = true
	}
	next := act{in: x.in}
	for i, d := range x.dims {
		if !drop[i+1] {
			next.dims = append(next.dims, d)
		}
	}
	return next, nil
}

// softmax is dropped: nin models output scores and label applies the softmax. A final
// LogSoftmax ranks and normalises the same way, so it is dropped too. Both must end the graph
// and act on the class scores alone.
func (im *importer) softmax(n *onnxpb.NodeProto, x act) (act, error) {
	a, err := nodeAttrs(n, "axis")
	if err != nil {
		return act{}, err
	}
	def := int64(-1)
	if im.opset < 13 { // before 13 the input was flattened to 2-D at axis
		def = 1
	}
	v, err := a.int("axis", def)
	if err != nil {
		return act{}, err
	}
	ax, err := axis(v, len(x.dims)+1)
	if err != nil {
		return act{}, err
	}
	if n.GetOutput()[0] != im.output {
		return act{}, refuse("supported only as the graph's last op (nin models output the scores; softmax is applied when labelling)")
	}
	if ax == 0 || (im.opset >= 13 && x.dims[ax-1] != x.in.Size()) || (im.opset < 13 && ax != 1) {
		return act{}, refuse("axis %d of %v is not the class scores", v, x)
	}
	return x, nil
}
