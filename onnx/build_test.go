package onnx

import (
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/onnx/onnxpb"
)

// Builders for small ModelProto values made with the generated types, for the tests that
// check what is accepted and what is refused.

func f32(name string, dims []int64, v []float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: v}
}

func i64(name string, v ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: []int64{int64(len(v))},
		DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: v}
}

// ramp is n deterministic weights of both signs.
func ramp(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = scale * float32(math.Sin(float64(i)*0.7+0.3))
	}
	return v
}

func aFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func aStr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func aTensor(name string, t *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t}
}

func node(name, op string, in []string, out string, a ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: a}
}

// tiny is a valid NIN in small: x [N, 2, 6, 6] -> conv 3×3 pad 1 (4) -> Relu -> MaxPool 2/2
// -> conv 1×1 (3) -> Relu -> GlobalAveragePool -> Flatten -> Softmax -> y.
func tiny(opset int64) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("tiny"),
			Node: []*onnxpb.NodeProto{
				node("conv1", "Conv", []string{"x", "w1", "b1"}, "c1", intsAttr("kernel_shape", 3, 3), intsAttr("pads", 1, 1, 1, 1), intsAttr("strides", 1, 1)),
				node("relu1", "Relu", []string{"c1"}, "r1"),
				node("pool1", "MaxPool", []string{"r1"}, "p1", intsAttr("kernel_shape", 2, 2), intsAttr("strides", 2, 2)),
				node("conv2", "Conv", []string{"p1", "w2", "b2"}, "c2", intsAttr("kernel_shape", 1, 1)),
				node("relu2", "Relu", []string{"c2"}, "r2"),
				node("gap", "GlobalAveragePool", []string{"r2"}, "g"),
				node("flat", "Flatten", []string{"g"}, "f", intAttr("axis", 1)),
				node("soft", "Softmax", []string{"f"}, "y", intAttr("axis", 1)),
			},
			Initializer: []*onnxpb.TensorProto{
				floatTensor("w1", []int64{4, 2, 3, 3}, ramp(72, 0.4)),
				f32("b1", []int64{4}, ramp(4, 0.1)),
				floatTensor("w2", []int64{3, 4, 1, 1}, ramp(12, 0.5)),
				f32("b2", []int64{3}, ramp(3, 0.2)),
			},
			Input:  []*onnxpb.ValueInfoProto{tensorInfo("x", dp("batch"), dv(2), dv(6), dv(6))},
			Output: []*onnxpb.ValueInfoProto{tensorInfo("y", dp("batch"), dv(3))},
		},
	}
}

// tinyLayers is the spec tiny imports to.
var tinyLayers = []nin.Layer{
	{Name: "conv1", Kind: nin.Conv, Out: 4, Kernel: 3, Stride: 1, Pad: 1, ReLU: true},
	{Name: "pool1", Kind: nin.MaxPool, Kernel: 2, Stride: 2},
	{Name: "cccp1", Kind: nin.Conv, Out: 3, Kernel: 1, Stride: 1, ReLU: true},
	{Name: "pool2", Kind: nin.GlobalAvg},
}

var scale = Options{Preprocess: nin.Preprocess{Kind: nin.PreScale}}

func importProto(m *onnxpb.ModelProto, opt Options) (*nin.Model, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return ImportBytes(b, opt)
}

func nodeNamed(m *onnxpb.ModelProto, name string) *onnxpb.NodeProto {
	for _, n := range m.Graph.Node {
		if n.GetName() == name {
			return n
		}
	}
	panic("no node " + name)
}

func initNamed(m *onnxpb.ModelProto, name string) *onnxpb.TensorProto {
	for _, t := range m.Graph.Initializer {
		if t.GetName() == name {
			return t
		}
	}
	panic("no initializer " + name)
}

// setAttr replaces or adds an attribute of the named node.
func setAttr(m *onnxpb.ModelProto, name string, a *onnxpb.AttributeProto) {
	n := nodeNamed(m, name)
	for i, old := range n.Attribute {
		if old.GetName() == a.GetName() {
			n.Attribute[i] = a
			return
		}
	}
	n.Attribute = append(n.Attribute, a)
}

// insertAfter puts a node of op after the named one, reading its output (and extra inputs),
// and makes the later nodes read the new node's output instead.
func insertAfter(m *onnxpb.ModelProto, after, op string, extra []string, a ...*onnxpb.AttributeProto) {
	prev := nodeNamed(m, after).Output[0]
	out := prev + "_" + op
	n := node(op, op, append([]string{prev}, extra...), out, a...)
	i := slices.Index(m.Graph.Node, nodeNamed(m, after))
	m.Graph.Node = slices.Insert(m.Graph.Node, i+1, n)
	for _, later := range m.Graph.Node[i+2:] {
		for j, in := range later.Input {
			if in == prev {
				later.Input[j] = out
			}
		}
	}
	if m.Graph.Output[0].GetName() == prev {
		m.Graph.Output[0].Name = proto.String(out)
	}
}

// replaceNode swaps the named node for others that read its input and write its output.
func replaceNode(m *onnxpb.ModelProto, name string, with ...*onnxpb.NodeProto) {
	i := slices.Index(m.Graph.Node, nodeNamed(m, name))
	m.Graph.Node = slices.Replace(m.Graph.Node, i, i+1, with...)
}
