package onnx

import (
	"fmt"
	"strings"

	"github.com/ninedge/ninedge/onnx/onnxpb"
)

// The shape arithmetic PyTorch writes for x.view(x.size(0), -1) with a variable batch:
// Shape, Gather, Unsqueeze and Concat over small integer vectors. It is evaluated here, with
// the batch size kept as a symbol, so that the Reshape it feeds can be checked like one with a
// constant shape.

func (d dim) String() string {
	if d.batch {
		return "N"
	}
	return fmt.Sprint(d.v)
}

func (s shapeVal) String() string {
	var b strings.Builder
	for i, d := range s.dims {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.String())
	}
	return "[" + b.String() + "]"
}

// shapeInput returns input i as a shape: a computed one, or an INT64 constant.
func (im *importer) shapeInput(n *onnxpb.NodeProto, i int) (shapeVal, error) {
	if i >= len(n.GetInput()) || n.GetInput()[i] == "" {
		return shapeVal{}, fmt.Errorf("input %d is missing", i)
	}
	name := n.GetInput()[i]
	if s, ok := im.shapes[name]; ok {
		return s, nil
	}
	t := im.consts[name]
	if t == nil {
		return shapeVal{}, refuse("input %q is an activation: %s is supported only on shapes", name, n.GetOpType())
	}
	v, err := ints(t)
	if err != nil {
		return shapeVal{}, err
	}
	s := shapeVal{scalar: len(t.GetDims()) == 0}
	for _, x := range v {
		s.dims = append(s.dims, dim{v: x})
	}
	return s, nil
}

func (im *importer) shapeOp(n *onnxpb.NodeProto) (shapeVal, error) {
	switch n.GetOpType() {
	case "Shape":
		return im.shapeOfAct(n)
	case "Gather":
		return im.gather(n)
	case "Unsqueeze":
		return im.unsqueeze(n)
	}
	return im.concat(n)
}

// shapeOfAct is Shape of an activation: [N, dims...], sliced by start and end (opset 15).
func (im *importer) shapeOfAct(n *onnxpb.NodeProto) (shapeVal, error) {
	a, err := nodeAttrs(n, "start", "end")
	if err != nil {
		return shapeVal{}, err
	}
	if len(n.GetInput()) != 1 {
		return shapeVal{}, fmt.Errorf("%d inputs, want 1", len(n.GetInput()))
	}
	x, ok := im.acts[n.GetInput()[0]]
	if !ok {
		return shapeVal{}, refuse("input %q is not an activation", n.GetInput()[0])
	}
	full := []dim{im.batch}
	for _, d := range x.dims {
		full = append(full, dim{v: int64(d)})
	}
	r := int64(len(full))
	start, err := a.int("start", 0)
	if err != nil {
		return shapeVal{}, err
	}
	end, err := a.int("end", r)
	if err != nil {
		return shapeVal{}, err
	}
	clamp := func(i int64) int64 {
		if i < 0 {
			i += r
		}
		return min(max(i, 0), r)
	}
	start, end = clamp(start), clamp(end)
	if start > end {
		start = end
	}
	return shapeVal{dims: full[start:end]}, nil
}

func (im *importer) gather(n *onnxpb.NodeProto) (shapeVal, error) {
	a, err := nodeAttrs(n, "axis")
	if err != nil {
		return shapeVal{}, err
	}
	axis, err := a.int("axis", 0)
	if err != nil {
		return shapeVal{}, err
	}
	if axis != 0 {
		return shapeVal{}, refuse("axis %d: only gathering from a shape vector (axis 0) is supported", axis)
	}
	data, err := im.shapeInput(n, 0)
	if err != nil {
		return shapeVal{}, err
	}
	idx, err := im.shapeInput(n, 1)
	if err != nil {
		return shapeVal{}, err
	}
	if data.scalar {
		return shapeVal{}, fmt.Errorf("gathers from a scalar")
	}
	out := shapeVal{scalar: idx.scalar}
	for _, i := range idx.dims {
		j := i.v
		if j < 0 {
			j += int64(len(data.dims))
		}
		if i.batch || j < 0 || j >= int64(len(data.dims)) {
			return shapeVal{}, fmt.Errorf("index %v out of range for %v", i, data)
		}
		out.dims = append(out.dims, data.dims[j])
	}
	return out, nil
}

// unsqueeze turns a scalar into a one-element vector, the one use shape arithmetic has for it.
func (im *importer) unsqueeze(n *onnxpb.NodeProto) (shapeVal, error) {
	var axes []int64
	if im.opset < 13 {
		a, err := nodeAttrs(n, "axes")
		if err != nil {
			return shapeVal{}, err
		}
		if axes, err = a.ints("axes", nil); err != nil {
			return shapeVal{}, err
		}
	} else {
		if _, err := nodeAttrs(n); err != nil {
			return shapeVal{}, err
		}
		s, err := im.shapeInput(n, 1)
		if err != nil {
			return shapeVal{}, err
		}
		for _, d := range s.dims {
			axes = append(axes, d.v)
		}
	}
	s, err := im.shapeInput(n, 0)
	if err != nil {
		return shapeVal{}, err
	}
	if !s.scalar || len(axes) != 1 || (axes[0] != 0 && axes[0] != -1) {
		return shapeVal{}, refuse("unsqueeze of %v at axes %v: only a scalar to a vector is supported", s, axes)
	}
	s.scalar = false
	return s, nil
}

func (im *importer) concat(n *onnxpb.NodeProto) (shapeVal, error) {
	a, err := nodeAttrs(n, "axis")
	if err != nil {
		return shapeVal{}, err
	}
	axis, err := a.int("axis", 1) // required by the schema; 1 refuses its absence
	if err != nil {
		return shapeVal{}, err
	}
	if axis != 0 && axis != -1 {
		return shapeVal{}, refuse("axis %d: only joining shape vectors (axis 0) is supported", axis)
	}
	var out shapeVal
	for i := range n.GetInput() {
		s, err := im.shapeInput(n, i)
		if err != nil {
			return shapeVal{}, err
		}
		if s.scalar {
			return shapeVal{}, fmt.Errorf("input %d is a scalar", i)
		}
		if out.dims = append(out.dims, s.dims...); len(out.dims) > maxInts {
			return shapeVal{}, fmt.Errorf("more than %d values", maxInts)
		}
	}
	return out, nil
}
