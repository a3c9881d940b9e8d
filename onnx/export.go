package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/onnx/onnxpb"
)

// The exported model's versions: opset 13 and its IR, which every current runtime reads.
const (
	exportOpset = 13
	exportIR    = 7
)

// Export writes a float model as ONNX: input "input" [N, C, H, W] float32 (the preprocessed
// image), output "scores" [N, classes] (no softmax). Import reads it back to the same spec
// and weights. The preprocessing and class names are not part of an ONNX graph: whoever runs
// the file applies the model's own (Model.Pre) before it. Dropout layers are left out.
func Export(m *nin.Model) ([]byte, error) {
	if err := m.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("onnx export: %w", err)
	}
	in := m.Spec.Input
	e := &exporter{g: &onnxpb.GraphProto{Name: proto.String(m.Spec.Name)}, cur: "input"}
	e.g.Input = []*onnxpb.ValueInfoProto{tensorInfo("input", dp("N"), dv(in.C), dv(in.H), dv(in.W))}
	shapes := m.Spec.Shapes()
	for i, l := range m.Spec.Layers {
		if err := e.layer(m, i, l, shapes[i], shapes[i+1]); err != nil {
			return nil, fmt.Errorf("onnx export: layer %s: %w", l.Name, err)
		}
	}
	if !e.flat {
		e.node("Flatten", "scores", nil, intAttr("axis", 1))
	}
	e.g.Output = []*onnxpb.ValueInfoProto{tensorInfo(e.cur, dp("N"), dv(m.Spec.Classes))}
	return proto.MarshalOptions{Deterministic: true}.Marshal(&onnxpb.ModelProto{
		IrVersion:    proto.Int64(exportIR),
		ProducerName: proto.String("ninedge"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(exportOpset)}},
		Graph:        e.g,
	})
}

type exporter struct {
	g    *onnxpb.GraphProto
	cur  string // the newest value
	flat bool   // cur is [N, D], not [N, C, H, W]
}

// node appends a node reading cur and the extra inputs; its output, named after it, becomes cur.
func (e *exporter) node(op, name string, extra []string, a ...*onnxpb.AttributeProto) {
	e.g.Node = append(e.g.Node, &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op),
		Input: append([]string{e.cur}, extra...), Output: []string{name}, Attribute: a})
	e.cur = name
}

// weight adds an initializer.
func (e *exporter) weight(name string, v []float32, dims ...int) string {
	d := make([]int64, len(dims))
	for i, x := range dims {
		d[i] = int64(x)
	}
	e.g.Initializer = append(e.g.Initializer, floatTensor(name, d, v))
	return name
}

// floatTensor is a FLOAT tensor with its values little-endian in raw_data, as PyTorch writes them.
func floatTensor(name string, dims []int64, v []float32) *onnxpb.TensorProto {
	t := &onnxpb.TensorProto{Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: make([]byte, 0, 4*len(v))}
	for _, x := range v {
		t.RawData = binary.LittleEndian.AppendUint32(t.RawData, math.Float32bits(x))
	}
	return t
}

func (e *exporter) layer(m *nin.Model, i int, l nin.Layer, in, out nin.Shape) error {
	if e.flat && l.Kind != nin.FC && l.Kind != nin.Dropout {
		return fmt.Errorf("a %s layer after a fully connected one has no ONNX form here", l.Kind)
	}
	switch l.Kind {
	case nin.Conv:
		e.node("Conv", l.Name, []string{
			e.weight(l.Name+".weight", m.WeightsOIHW(i), m.Spec.FileWeightShape(i)...),
			e.weight(l.Name+".bias", m.Biases[i], l.Out)},
			intsAttr("kernel_shape", l.Kernel, l.Kernel), intsAttr("pads", l.Pad, l.Pad, l.Pad, l.Pad),
			intsAttr("strides", l.Stride, l.Stride))
		if l.ReLU {
			e.node("Relu", l.Name+"_relu", nil)
		}
	case nin.MaxPool, nin.AvgPool:
		a := []*onnxpb.AttributeProto{intsAttr("kernel_shape", l.Kernel, l.Kernel), intsAttr("strides", l.Stride, l.Stride), intAttr("ceil_mode", 1)}
		op := "MaxPool"
		if l.Kind == nin.AvgPool {
			op = "AveragePool"
			a = append(a, intAttr("count_include_pad", 0))
		}
		e.node(op, l.Name, nil, a...)
	case nin.GlobalAvg:
		e.node("GlobalAveragePool", l.Name, nil)
	case nin.FC:
		if !e.flat {
			e.node("Flatten", l.Name+"_flatten", nil, intAttr("axis", 1))
			e.flat = true
		}
		w := m.WeightsOIHW(i) // [out][HWC]
		d := in.Size()
		b := make([]float32, len(w)) // [out][CHW]
		for j, h := range hwcIndex(in) {
			for o := range l.Out {
				b[o*d+j] = w[o*d+h]
			}
		}
		e.node("Gemm", l.Name, []string{e.weight(l.Name+".weight", b, l.Out, d), e.weight(l.Name+".bias", m.Biases[i], l.Out)},
			intAttr("transB", 1))
	}
	return nil
}

func intAttr(name string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(v))}
}

func intsAttr(name string, v ...int) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum()}
	for _, x := range v {
		a.Ints = append(a.Ints, int64(x))
	}
	return a
}

func tensorInfo(name string, dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
}

func dv(v int) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}}
}

func dp(p string) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: p}}
}
