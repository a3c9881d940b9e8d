package onnx

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/onnx/onnxpb"
)

func TestTinyEveryOpset(t *testing.T) {
	var first *nin.Model
	for opset := int64(MinOpset); opset <= MaxOpset; opset++ {
		m, err := importProto(tiny(opset), scale)
		if err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		if !reflect.DeepEqual(m.Spec.Layers, tinyLayers) || m.Spec.Input != (nin.Shape{H: 6, W: 6, C: 2}) || m.Spec.Classes != 3 {
			t.Fatalf("opset %d: spec %+v", opset, m.Spec)
		}
		if first == nil {
			first = m
		} else if !reflect.DeepEqual(m, first) {
			t.Fatalf("opset %d imports differently from opset %d", opset, MinOpset)
		}
	}
	// The weights land in nin's layout: conv1's weight for output 1, input 0, ky 2, kx 1
	// (OIHW index ((1·2+0)·3+2)·3+1) sits at HWIO [2][1][0][1].
	if got, want := first.Weights[0][((2*3+1)*2+0)*4+1], ramp(72, 0.4)[((1*2+0)*3+2)*3+1]; got != want {
		t.Fatalf("conv1 weight %v, want %v", got, want)
	}
}

// TestAccepted: graphs that compute what tiny computes in another way import to tiny's model.
func TestAccepted(t *testing.T) {
	want, err := importProto(tiny(13), scale)
	if err != nil {
		t.Fatal(err)
	}
	flatToReshape := func(m *onnxpb.ModelProto, shape string) {
		replaceNode(m, "flat", node("flat", "Reshape", []string{"g", shape}, "f"))
	}
	for _, c := range []struct {
		name   string
		opset  int64
		mutate func(m *onnxpb.ModelProto)
	}{
		{"Dropout with a ratio attribute", 11, func(m *onnxpb.ModelProto) {
			insertAfter(m, "relu1", "Dropout", nil, aFloat("ratio", 0.5))
		}},
		{"Dropout with ratio and training_mode false", 13, func(m *onnxpb.ModelProto) {
			tm := &onnxpb.TensorProto{Name: proto.String("tm"), DataType: proto.Int32(int32(onnxpb.TensorProto_BOOL)), RawData: []byte{0}}
			m.Graph.Initializer = append(m.Graph.Initializer, f32("ratio", nil, []float32{0.5}), tm)
			insertAfter(m, "relu1", "Dropout", []string{"ratio", "tm"})
		}},
		{"Dropout's mask output unread", 13, func(m *onnxpb.ModelProto) {
			insertAfter(m, "pool1", "Dropout", nil)
			nodeNamed(m, "Dropout").Output = append(nodeNamed(m, "Dropout").Output, "mask")
		}},
		{"Identity between Conv and Relu", 13, func(m *onnxpb.ModelProto) { insertAfter(m, "conv1", "Identity", nil) }},
		{"Identity of a weight", 13, func(m *onnxpb.ModelProto) {
			initNamed(m, "w2").Name = proto.String("w2_orig")
			m.Graph.Node = append([]*onnxpb.NodeProto{node("alias", "Identity", []string{"w2_orig"}, "w2")}, m.Graph.Node...)
		}},
		{"zero Pad", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("zeros", 0, 0, 0, 0, 0, 0, 0, 0))
			insertAfter(m, "relu1", "Pad", []string{"zeros"}, aStr("mode", "constant"))
		}},
		{"weights from a Constant node", 13, func(m *onnxpb.ModelProto) {
			w2 := initNamed(m, "w2")
			m.Graph.Initializer = slicesDelete(m.Graph.Initializer, w2)
			m.Graph.Node = append([]*onnxpb.NodeProto{node("k", "Constant", nil, "w2", aTensor("value", w2))}, m.Graph.Node...)
		}},
		{"IR 3, weights listed among the inputs", 11, func(m *onnxpb.ModelProto) {
			m.IrVersion = proto.Int64(3)
			for _, t := range m.Graph.Initializer {
				var d []*onnxpb.TensorShapeProto_Dimension
				for _, x := range t.Dims {
					d = append(d, dv(int(x)))
				}
				m.Graph.Input = append(m.Graph.Input, tensorInfo(t.GetName(), d...))
			}
		}},
		{"Reshape [0, -1]", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", 0, -1))
			flatToReshape(m, "s")
		}},
		{"Reshape [-1, 3]", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", -1, 3))
			flatToReshape(m, "s")
		}},
		{"Reshape [1, -1] with batch 1", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Input[0].Type.GetTensorType().Shape.Dim[0] = dv(1)
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", 1, -1))
			flatToReshape(m, "s")
		}},
		{"x.view(x.size(0), -1), opset 11", 11, func(m *onnxpb.ModelProto) { viewBatch(m, 11) }},
		{"x.view(x.size(0), -1), opset 13", 13, func(m *onnxpb.ModelProto) { viewBatch(m, 13) }},
		{"Squeeze axes attribute", 11, func(m *onnxpb.ModelProto) {
			replaceNode(m, "flat", node("flat", "Squeeze", []string{"g"}, "f", intsAttr("axes", 3, 2)))
		}},
		{"Squeeze axes input, negative", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("axes", -1, -2))
			replaceNode(m, "flat", node("flat", "Squeeze", []string{"g", "axes"}, "f"))
		}},
		{"AveragePool over the whole map", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "gap", node("gap", "AveragePool", []string{"r2"}, "g", intsAttr("kernel_shape", 3, 3), intAttr("count_include_pad", 1)))
		}},
		{"LogSoftmax, axis -1, opset 13", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "soft", node("soft", "LogSoftmax", []string{"f"}, "y", intAttr("axis", -1)))
		}},
		{"Softmax on [N, C, 1, 1] over axis 1", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "flat")
			nodeNamed(m, "soft").Input[0] = "g"
		}},
		{"no Softmax", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "soft")
			m.Graph.Output[0].Name = proto.String("f")
		}},
		{"MaxPool with ceil_mode and an Indices output unread", 13, func(m *onnxpb.ModelProto) {
			setAttr(m, "pool1", intAttr("ceil_mode", 1))
			setAttr(m, "pool1", intAttr("storage_order", 1))
			nodeNamed(m, "pool1").Output = append(nodeNamed(m, "pool1").Output, "indices")
		}},
		{"explicit defaults", 13, func(m *onnxpb.ModelProto) {
			setAttr(m, "conv1", intAttr("group", 1))
			setAttr(m, "conv1", intsAttr("dilations", 1, 1))
			setAttr(m, "conv1", aStr("auto_pad", "NOTSET"))
			setAttr(m, "conv2", aStr("auto_pad", "VALID"))
			setAttr(m, "pool1", intsAttr("pads", 0, 0, 0, 0))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := tiny(c.opset)
			c.mutate(m)
			got, err := importProto(m, scale)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("imports as %+v, want %+v", got.Spec, want.Spec)
			}
		})
	}
}

func slicesDelete(ts []*onnxpb.TensorProto, t *onnxpb.TensorProto) []*onnxpb.TensorProto {
	var out []*onnxpb.TensorProto
	for _, x := range ts {
		if x != t {
			out = append(out, x)
		}
	}
	return out
}

// viewBatch replaces Flatten by what x.view(x.size(0), -1) exports to with a variable batch.
func viewBatch(m *onnxpb.ModelProto, opset int64) {
	zero := i64("zero", 0)
	zero.Dims = nil // a scalar index: Gather returns a scalar
	m.Graph.Initializer = append(m.Graph.Initializer, zero, i64("minus1", -1), i64("axes0", 0))
	unsq := node("unsq", "Unsqueeze", []string{"n"}, "n1", intsAttr("axes", 0))
	if opset >= 13 {
		unsq = node("unsq", "Unsqueeze", []string{"n", "axes0"}, "n1")
	}
	replaceNode(m, "flat",
		node("shape", "Shape", []string{"g"}, "sh"),
		node("gather", "Gather", []string{"sh", "zero"}, "n", intAttr("axis", 0)),
		unsq,
		node("concat", "Concat", []string{"n1", "minus1"}, "s", intAttr("axis", 0)),
		node("flat", "Reshape", []string{"g", "s"}, "f"))
}

// TestGemmForms: a Gemm with transB 0 or 1, alpha and beta, and MatMul + Add with the bias
// first, all describe one fully connected layer, which imports to the same weights.
func TestGemmForms(t *testing.T) {
	b := ramp(27*5, 0.3) // [27, 5] over the 3×3×3 map after pool1 and conv2, in CHW order
	bt := make([]float32, len(b))
	half := make([]float32, len(b))
	for i := range 27 {
		for o := range 5 {
			bt[o*27+i] = b[i*5+o]
			half[i*5+o] = b[i*5+o] / 2
		}
	}
	bias := ramp(5, 0.2)
	head := func(nodes ...*onnxpb.NodeProto) func(m *onnxpb.ModelProto) {
		return func(m *onnxpb.ModelProto) {
			replaceNode(m, "gap")
			nodeNamed(m, "flat").Input[0] = "r2"
			replaceNode(m, "soft", nodes...)
		}
	}
	forms := []struct {
		name   string
		inits  []*onnxpb.TensorProto
		mutate func(m *onnxpb.ModelProto)
	}{
		{"Gemm transB 0", []*onnxpb.TensorProto{f32("B", []int64{27, 5}, b), f32("C", []int64{5}, bias)},
			head(node("fc", "Gemm", []string{"f", "B", "C"}, "y"))},
		{"Gemm transB 1, bias [1, 5]", []*onnxpb.TensorProto{f32("B", []int64{5, 27}, bt), f32("C", []int64{1, 5}, bias)},
			head(node("fc", "Gemm", []string{"f", "B", "C"}, "y", intAttr("transB", 1)))},
		{"Gemm alpha 2 beta 0.5", []*onnxpb.TensorProto{f32("B", []int64{27, 5}, half), f32("C", []int64{5}, scaled(bias, 2))},
			head(node("fc", "Gemm", []string{"f", "B", "C"}, "y", aFloat("alpha", 2), aFloat("beta", 0.5)))},
		{"MatMul + Add(bias, x)", []*onnxpb.TensorProto{f32("B", []int64{27, 5}, b), f32("C", []int64{5}, bias)},
			head(node("mm", "MatMul", []string{"f", "B"}, "mm"), node("add", "Add", []string{"C", "mm"}, "y"))},
	}
	var first *nin.Model
	for _, f := range forms {
		m := tiny(13)
		m.Graph.Initializer = append(m.Graph.Initializer, f.inits...)
		f.mutate(m)
		got, err := importProto(m, scale)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if l := got.Spec.Layers[len(got.Spec.Layers)-1]; l.Kind != nin.FC || l.Out != 5 {
			t.Fatalf("%s: last layer %+v", f.name, l)
		}
		if first == nil {
			first = got
			// Row 0 of HWC position (y 1, x 2, c 0) is ONNX's CHW row (0·3+1)·3+2.
			if w, want := got.Weights[3][((1*3+2)*3+0)*5+0], b[((0*3+1)*3+2)*5+0]; w != want {
				t.Fatalf("fc weight %v, want %v", w, want)
			}
		} else if !reflect.DeepEqual(got, first) {
			t.Fatalf("%s imports differently from %s", f.name, forms[0].name)
		}
	}
}

func scaled(v []float32, s float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * s
	}
	return out
}

// TestRefused: one change to tiny per case; each must be refused with an error naming the
// node and op (where there is one) and the reason.
func TestRefused(t *testing.T) {
	for _, c := range []struct {
		name        string
		opset       int64
		mutate      func(m *onnxpb.ModelProto)
		want        string // in the error
		unsupported bool   // valid ONNX that nin cannot compute: errors.Is(err, ErrUnsupported)
	}{
		// The model.
		{"opset 10", 10, nil, "opset 10", true},
		{"opset 22", 22, nil, "opset 22", true},
		{"IR version 2", 13, func(m *onnxpb.ModelProto) { m.IrVersion = proto.Int64(2) }, "IR version 2", true},
		{"no default opset", 13, func(m *onnxpb.ModelProto) { m.OpsetImport[0].Domain = proto.String("ai.onnx.ml") }, "no opset imported", true},
		{"default opset twice", 13, func(m *onnxpb.ModelProto) { m.OpsetImport = append(m.OpsetImport, m.OpsetImport[0]) }, "imported twice", false},
		{"no graph", 13, func(m *onnxpb.ModelProto) { m.Graph = nil }, "no graph", false},
		{"two inputs", 13, func(m *onnxpb.ModelProto) { m.Graph.Input = append(m.Graph.Input, m.Graph.Input[0]) }, "2 inputs besides its weights", true},
		{"two outputs", 13, func(m *onnxpb.ModelProto) { m.Graph.Output = append(m.Graph.Output, m.Graph.Output[0]) }, "2 outputs", true},
		{"int8 input", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Input[0].Type.GetTensorType().ElemType = proto.Int32(int32(onnxpb.TensorProto_INT8))
		}, `input "x" is INT8, want FLOAT`, true},
		{"variable height", 13, func(m *onnxpb.ModelProto) { m.Graph.Input[0].Type.GetTensorType().Shape.Dim[2] = dp("h") }, "fixed sizes", true},
		{"3-D input", 13, func(m *onnxpb.ModelProto) {
			d := m.Graph.Input[0].Type.GetTensorType().Shape
			d.Dim = d.Dim[1:]
		}, "3 dimensions", true},
		{"sparse initializer", 13, func(m *onnxpb.ModelProto) {
			m.Graph.SparseInitializer = []*onnxpb.SparseTensorProto{{}}
		}, "sparse initializers", true},
		// Ops and domains.
		{"Sigmoid", 13, func(m *onnxpb.ModelProto) { nodeNamed(m, "relu1").OpType = proto.String("Sigmoid") }, `node "relu1" (Sigmoid): op Sigmoid is not supported`, true},
		{"custom domain", 13, func(m *onnxpb.ModelProto) { nodeNamed(m, "relu1").Domain = proto.String("com.example") }, `node "relu1" (Relu): domain "com.example"`, true},
		{"unknown attribute", 13, func(m *onnxpb.ModelProto) { setAttr(m, "relu1", aFloat("alpha", 0.1)) }, `node "relu1" (Relu): attribute "alpha" is not supported`, true},
		{"attribute of the wrong type", 13, func(m *onnxpb.ModelProto) { setAttr(m, "conv1", intAttr("strides", 1)) }, `node "conv1" (Conv): attribute "strides" is INT, want INTS`, false},
		{"Constant with sparse_value", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Node = append([]*onnxpb.NodeProto{node("k", "Constant", nil, "k", &onnxpb.AttributeProto{Name: proto.String("sparse_value"), Type: onnxpb.AttributeProto_SPARSE_TENSOR.Enum()})}, m.Graph.Node...)
		}, `node "k" (Constant): attribute "sparse_value" is not supported`, true},
		// Conv.
		{"group 2", 13, func(m *onnxpb.ModelProto) { setAttr(m, "conv2", intAttr("group", 2)) }, `node "conv2" (Conv): group 2`, true},
		{"dilation", 13, func(m *onnxpb.ModelProto) { setAttr(m, "conv1", intsAttr("dilations", 2, 2)) }, "dilations [2 2]: nin has no dilation", true},
		{"asymmetric pads", 13, func(m *onnxpb.ModelProto) { setAttr(m, "conv1", intsAttr("pads", 1, 1, 0, 0)) }, "pads [1 1 0 0]: nin pads all four sides alike", true},
		{"two strides", 13, func(m *onnxpb.ModelProto) { setAttr(m, "conv1", intsAttr("strides", 1, 2)) }, "strides [1 2]", true},
		{"auto_pad SAME_UPPER", 13, func(m *onnxpb.ModelProto) {
			setAttr(m, "conv1", aStr("auto_pad", "SAME_UPPER"))
			setAttr(m, "conv1", intsAttr("pads"))
		}, "auto_pad SAME_UPPER", true},
		{"kernel_shape differs from weights", 13, func(m *onnxpb.ModelProto) { setAttr(m, "conv1", intsAttr("kernel_shape", 5, 5)) }, "does not fit the weights' kernel 3", false},
		{"non-square kernel", 13, func(m *onnxpb.ModelProto) {
			initNamed(m, "w1").Dims = []int64{4, 2, 9, 1}
			setAttr(m, "conv1", intsAttr("kernel_shape", 9, 1))
		}, "kernel 9x1: nin convolutions are square", true},
		{"1-D conv", 13, func(m *onnxpb.ModelProto) { initNamed(m, "w1").Dims = []int64{4, 2, 9} }, "only 2-D convolutions", true},
		{"weights computed from the input", 13, func(m *onnxpb.ModelProto) { nodeNamed(m, "conv1").Input[1] = "x" }, `weight "x" is not a constant`, true},
		{"conv bias of the wrong size", 13, func(m *onnxpb.ModelProto) { initNamed(m, "b1").FloatData = ramp(3, 1) }, `tensor "b1": 3 values for dims [4]`, false},
		{"conv bias [1, 4]", 13, func(m *onnxpb.ModelProto) { initNamed(m, "b1").Dims = []int64{1, 4} }, "bias dims [1 4] for 4 channels", false},
		{"conv kernel larger than nin allows", 13, func(m *onnxpb.ModelProto) {
			w := initNamed(m, "w1")
			w.Dims, w.RawData = []int64{4, 2, 65, 65}, nil
			w.FloatData = make([]float32, 4*2*65*65)
			setAttr(m, "conv1", intsAttr("kernel_shape", 65, 65))
			m.Graph.Input[0].Type.GetTensorType().Shape.Dim[2] = dv(70)
			m.Graph.Input[0].Type.GetTensorType().Shape.Dim[3] = dv(70)
		}, "as a nin conv layer", true},
		// Weights as data.
		{"external data", 13, func(m *onnxpb.ModelProto) {
			w := initNamed(m, "w1")
			w.RawData = nil
			w.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
			w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("weights.bin")}}
		}, `tensor "w1" keeps its data in an external file ("weights.bin")`, true},
		{"double weights", 13, func(m *onnxpb.ModelProto) {
			initNamed(m, "w1").DataType = proto.Int32(int32(onnxpb.TensorProto_DOUBLE))
		}, `tensor "w1" is DOUBLE, want FLOAT`, true},
		{"raw data too short", 13, func(m *onnxpb.ModelProto) {
			w := initNamed(m, "w1")
			w.RawData = w.RawData[:len(w.RawData)-1]
		}, `tensor "w1": 287 bytes of raw_data for 72 values`, false},
		{"raw and typed data", 13, func(m *onnxpb.ModelProto) { initNamed(m, "w1").FloatData = []float32{1} }, "both raw_data and typed data", false},
		{"huge dims", 13, func(m *onnxpb.ModelProto) { initNamed(m, "w1").Dims = []int64{1 << 40, 2, 3, 3} }, "a size out of range", false},
		{"dims product past the limit", 13, func(m *onnxpb.ModelProto) { initNamed(m, "w1").Dims = []int64{1 << 20, 1 << 20, 3, 3} }, "more than 67108864 values", false},
		{"negative dim", 13, func(m *onnxpb.ModelProto) { initNamed(m, "w1").Dims = []int64{-4, 2, 3, 3} }, "a size out of range", false},
		{"NaN weight", 13, func(m *onnxpb.ModelProto) {
			w := initNamed(m, "w1")
			copy(w.RawData[4:], []byte{0, 0, 0xc0, 0x7f})
		}, `tensor "w1": value 1 is NaN`, false},
		{"repeated initializer", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, initNamed(m, "b1"))
		}, `initializer name "b1" is empty or repeated`, false},
		// Graph structure.
		{"dangling input", 13, func(m *onnxpb.ModelProto) { nodeNamed(m, "conv2").Input[1] = "nowhere" }, `node "conv2" (Conv): input "nowhere" is not defined`, false},
		{"cycle", 13, func(m *onnxpb.ModelProto) { nodeNamed(m, "relu1").Input[0] = "p1" }, `node "relu1" (Relu): input "p1" is not defined by an earlier node`, false},
		{"out of order", 13, func(m *onnxpb.ModelProto) {
			g := m.Graph.Node
			g[0], g[1] = g[1], g[0]
		}, `node "relu1" (Relu): input "c1" is not defined`, false},
		{"output defined twice", 13, func(m *onnxpb.ModelProto) { nodeNamed(m, "relu2").Output[0] = "r1" }, `node "relu2" (Relu): output "r1" is defined twice`, false},
		{"branch", 13, func(m *onnxpb.ModelProto) { nodeNamed(m, "conv2").Input[0] = "r1" }, `node "conv2" (Conv): reads "r1", an earlier activation`, true},
		{"second output read", 13, func(m *onnxpb.ModelProto) {
			insertAfter(m, "pool1", "Dropout", nil)
			nodeNamed(m, "Dropout").Output = append(nodeNamed(m, "Dropout").Output, "mask")
			nodeNamed(m, "conv2").Input[0] = "mask"
		}, `output 1 ("mask") is read`, true},
		{"graph output not the last layer", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "soft")
			m.Graph.Output[0].Name = proto.String("g")
		}, "not the last layer's output", true},
		{"graph output undefined", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "soft")
			m.Graph.Output[0].Name = proto.String("zz")
		}, `graph output "zz" is not computed`, false},
		{"no scores: ends in a map", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "gap")
			replaceNode(m, "flat")
			replaceNode(m, "soft")
			m.Graph.Output[0].Name = proto.String("r2")
		}, "network ends in 3x3x3, want 1x1x3 scores", false},
		// Batch normalization, Relu.
		{"BatchNormalization after Relu", 13, func(m *onnxpb.ModelProto) { insertBN(m, "relu1", 4) }, "must directly follow a Conv", true},
		{"BatchNormalization in training mode", 14, func(m *onnxpb.ModelProto) {
			insertBN(m, "conv1", 4)
			setAttr(m, "BatchNormalization", intAttr("training_mode", 1))
		}, "training_mode 1", true},
		{"BatchNormalization of the wrong width", 13, func(m *onnxpb.ModelProto) { insertBN(m, "conv1", 3) }, "scale dims [3] for 4 channels", false},
		{"Relu after a pool", 13, func(m *onnxpb.ModelProto) { insertAfter(m, "pool1", "Relu", nil) }, `node "Relu" (Relu): Relu must follow a Conv`, true},
		{"Relu twice", 13, func(m *onnxpb.ModelProto) { insertAfter(m, "relu1", "Relu", nil) }, "Relu must follow a Conv", true},
		// Pools.
		{"MaxPool padding", 13, func(m *onnxpb.ModelProto) { setAttr(m, "pool1", intsAttr("pads", 1, 1, 1, 1)) }, "pads 1: nin pools take no padding", true},
		{"MaxPool floor mode that drops a row", 13, func(m *onnxpb.ModelProto) { setAttr(m, "pool1", intsAttr("kernel_shape", 3, 3)) }, "ceil_mode false gives 2x2 from 6x6; nin's pool (Caffe's ceil mode) gives 3x3", true},
		{"MaxPool dilation", 13, func(m *onnxpb.ModelProto) { setAttr(m, "pool1", intsAttr("dilations", 2, 2)) }, "nin has no dilation", true},
		{"MaxPool without kernel_shape", 13, func(m *onnxpb.ModelProto) { nodeNamed(m, "pool1").Attribute = nil }, "no kernel_shape", false},
		{"AveragePool count_include_pad over clipped windows", 13, func(m *onnxpb.ModelProto) {
			n := nodeNamed(m, "pool1")
			n.OpType = proto.String("AveragePool")
			setAttr(m, "pool1", intsAttr("kernel_shape", 3, 3))
			setAttr(m, "pool1", intAttr("ceil_mode", 1))
			setAttr(m, "pool1", intAttr("count_include_pad", 1))
		}, "count_include_pad 1 with windows that overhang the border", true},
		{"AveragePool storage_order", 13, func(m *onnxpb.ModelProto) {
			nodeNamed(m, "pool1").OpType = proto.String("AveragePool")
			setAttr(m, "pool1", intAttr("storage_order", 0))
		}, `attribute "storage_order" is not supported`, true},
		{"GlobalAveragePool of a flattened tensor", 13, func(m *onnxpb.ModelProto) {
			insertAfter(m, "relu2", "Flatten", nil)
		}, `node "gap" (GlobalAveragePool): the input is [N, 27], not an image map`, true},
		// Pass-through ops.
		{"Dropout in training mode", 13, func(m *onnxpb.ModelProto) {
			tm := &onnxpb.TensorProto{Name: proto.String("tm"), DataType: proto.Int32(int32(onnxpb.TensorProto_BOOL)), Int32Data: []int32{1}}
			m.Graph.Initializer = append(m.Graph.Initializer, tm)
			insertAfter(m, "relu1", "Dropout", []string{"", "tm"})
		}, "training_mode true", true},
		{"Pad that pads", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("pads", 0, 0, 1, 1, 0, 0, 1, 1))
			insertAfter(m, "relu1", "Pad", []string{"pads"})
		}, "pads [0 0 1 1 0 0 1 1]: only a Pad that pads nothing", true},
		{"Flatten axis 0", 13, func(m *onnxpb.ModelProto) { setAttr(m, "flat", intAttr("axis", 0)) }, `node "flat" (Flatten): axis 0`, true},
		{"Flatten axis 2", 13, func(m *onnxpb.ModelProto) { setAttr(m, "flat", intAttr("axis", 2)) }, "axis 2: only flattening to [N, D]", true},
		{"Reshape [1, -1] with a variable batch", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", 1, -1))
			replaceNode(m, "flat", node("flat", "Reshape", []string{"g", "s"}, "f"))
		}, "shape [1, -1]: only [N, 3]", true},
		{"Reshape [-1]", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", -1))
			replaceNode(m, "flat", node("flat", "Reshape", []string{"g", "s"}, "f"))
		}, "shape [-1]", true},
		{"Reshape [0, -1] with allowzero", 14, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, i64("s", 0, -1))
			replaceNode(m, "flat", node("flat", "Reshape", []string{"g", "s"}, "f", intAttr("allowzero", 1)))
		}, "shape [0, -1]", true},
		{"Reshape of a computed float", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "flat", node("flat", "Reshape", []string{"g", "b1"}, "f"))
		}, `tensor "b1" is FLOAT, want INT64`, true},
		{"Squeeze without axes", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "flat", node("flat", "Squeeze", []string{"g"}, "f"))
		}, "no axes: which dimensions it removes would depend on the batch size", true},
		{"Squeeze of the batch", 11, func(m *onnxpb.ModelProto) {
			replaceNode(m, "flat", node("flat", "Squeeze", []string{"g"}, "f", intsAttr("axes", 0, 2, 3)))
		}, "the batch dimension cannot be squeezed", true},
		{"Squeeze axes attribute at opset 13", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "flat", node("flat", "Squeeze", []string{"g"}, "f", intsAttr("axes", 2, 3)))
		}, `attribute "axes" is not supported`, true},
		{"Gather on axis 1", 13, func(m *onnxpb.ModelProto) {
			viewBatch(m, 13)
			setAttr(m, "gather", intAttr("axis", 1))
		}, `node "gather" (Gather): axis 1`, true},
		{"Gather of an activation", 13, func(m *onnxpb.ModelProto) {
			viewBatch(m, 13)
			nodeNamed(m, "gather").Input[0] = "g"
		}, `input "g" is an activation`, true},
		// Softmax.
		{"Softmax not last", 13, func(m *onnxpb.ModelProto) { insertAfter(m, "soft", "Identity", nil) }, `node "soft" (Softmax): supported only as the graph's last op`, true},
		{"Softmax over a size-1 axis", 13, func(m *onnxpb.ModelProto) {
			replaceNode(m, "flat")
			nodeNamed(m, "soft").Input[0] = "g"
			setAttr(m, "soft", intAttr("axis", -1))
		}, "axis -1 of [N, 3, 1, 1] is not the class scores", true},
		{"Softmax over the batch", 13, func(m *onnxpb.ModelProto) { setAttr(m, "soft", intAttr("axis", 0)) }, "axis 0", true},
		{"Softmax axis 2 before opset 13", 11, func(m *onnxpb.ModelProto) {
			replaceNode(m, "flat")
			nodeNamed(m, "soft").Input[0] = "g"
			setAttr(m, "soft", intAttr("axis", 2))
		}, "axis 2 of [N, 3, 1, 1] is not the class scores", true},
		// Fully connected.
		{"Gemm on a map", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("B", []int64{3, 3}, ramp(9, 1)))
			replaceNode(m, "flat", node("fc", "Gemm", []string{"g", "B"}, "f"))
		}, `node "fc" (Gemm): the input is [N, 3, 1, 1], not flattened`, true},
		{"Gemm transA", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("B", []int64{3, 3}, ramp(9, 1)))
			insertAfter(m, "flat", "Gemm", []string{"B"}, intAttr("transA", 1))
		}, "transA 1", true},
		{"Gemm bias [3, 3]", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("B", []int64{3, 3}, ramp(9, 1)), f32("C", []int64{3, 3}, ramp(9, 1)))
			insertAfter(m, "flat", "Gemm", []string{"B", "C"})
		}, "bias dims [3 3]: want [3], [1, 3] or one value", true},
		{"Gemm of the wrong width", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("B", []int64{4, 3}, ramp(12, 1)))
			insertAfter(m, "flat", "Gemm", []string{"B"})
		}, "weight dims [4 3] for 3 inputs", false},
		{"Relu after Gemm", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("B", []int64{3, 3}, ramp(9, 1)))
			insertAfter(m, "flat", "MatMul", []string{"B"})
			insertAfter(m, "MatMul", "Relu", nil)
		}, "Relu must follow a Conv", true},
		{"Add not after a MatMul", 13, func(m *onnxpb.ModelProto) {
			insertAfter(m, "conv1", "Add", []string{"b1"})
		}, `node "Add" (Add): Add is supported only as the bias of a MatMul or Gemm`, true},
		{"Add without a bias", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("B", []int64{3, 3}, ramp(9, 1)))
			insertAfter(m, "flat", "MatMul", []string{"B"})
			insertAfter(m, "MatMul", "Add", []string{""})
		}, `node "Add" (Add): no bias`, false},
		{"Add of two activations", 13, func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, f32("B", []int64{3, 3}, ramp(9, 1)))
			insertAfter(m, "flat", "MatMul", []string{"B"})
			insertAfter(m, "MatMul", "Add", []string{"f"})
		}, `reads "f", an earlier activation`, true},
		// Arch.
		{"Arch mismatch", 13, nil, "takes 6x6x2 and gives 3 classes; nin-mnist takes 28x28x1", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := tiny(c.opset)
			if c.mutate != nil {
				c.mutate(m)
			}
			opt := scale
			if c.name == "Arch mismatch" {
				opt.Arch = "nin-mnist"
			}
			_, err := importProto(m, opt)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if errors.Is(err, ErrUnsupported) != c.unsupported {
				t.Fatalf("error %q: errors.Is(ErrUnsupported) = %v", err, !c.unsupported)
			}
		})
	}
}

// insertBN puts a BatchNormalization of width c after the named node.
func insertBN(m *onnxpb.ModelProto, after string, c int) {
	m.Graph.Initializer = append(m.Graph.Initializer,
		f32("gamma", []int64{int64(c)}, ramp(c, 1)), f32("beta", []int64{int64(c)}, ramp(c, 0.1)),
		f32("mean", []int64{int64(c)}, ramp(c, 0.05)), f32("var", []int64{int64(c)}, scaled(ramp(c, 0), 0)))
	for i := range c {
		initNamed(m, "var").FloatData[i] = 1 + float32(i)/4
	}
	insertAfter(m, after, "BatchNormalization", []string{"gamma", "beta", "mean", "var"}, aFloat("epsilon", 1e-5))
}

// TestSharedWeights: folding batch norm into one convolution leaves another that reads the
// same weight tensor as it was.
func TestSharedWeights(t *testing.T) {
	m := tiny(13)
	insertBN(m, "conv1", 4)
	m.Graph.Initializer = append(m.Graph.Initializer, f32("w1b", []int64{4, 4, 1, 1}, ramp(16, 0.5)))
	insertAfter(m, "relu1", "Conv", []string{"w1b", "b1"}, intsAttr("kernel_shape", 1, 1))
	nodeNamed(m, "conv1").Input[2] = "b1"
	got, err := importProto(m, scale)
	if err != nil {
		t.Fatal(err)
	}
	// The second convolution (cccp1) reads b1 unfolded.
	if b, want := got.Biases[1], ramp(4, 0.1); !reflect.DeepEqual(b, want) {
		t.Fatalf("shared bias %v, want %v", b, want)
	}
	if got.Biases[0][0] == ramp(4, 0.1)[0] {
		t.Fatal("batch norm not folded into conv1")
	}
}

func TestOptions(t *testing.T) {
	b, err := proto.Marshal(tiny(13))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{}, "Options.Preprocess is not set"},
		{Options{Preprocess: nin.Preprocess{Kind: nin.PreMeanStd, Mean: []float32{0.5}, Std: []float32{0.2}}}, "1 means and 1 stds for 2 channels"},
		{Options{Preprocess: scale.Preprocess, Classes: []string{"a", "b"}}, "2 class names for 3 classes"},
		{Options{Preprocess: scale.Preprocess, Arch: "resnet"}, `unknown architecture "resnet"`},
	} {
		if _, err := ImportBytes(b, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opt, err, c.want)
		}
	}
	m, err := Import(bytes.NewReader(b), Options{Preprocess: scale.Preprocess, Classes: []string{"a", "b", "c"}, Name: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.Name != "mine" || !reflect.DeepEqual(m.Classes, []string{"a", "b", "c"}) {
		t.Fatalf("name %q classes %v", m.Spec.Name, m.Classes)
	}
}

// TestMalformed: truncated and garbled files give errors, never panics.
func TestMalformed(t *testing.T) {
	b, err := proto.Marshal(tiny(13))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(b); n += 7 {
		if _, err := ImportBytes(b[:n], scale); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", n, len(b))
		}
	}
	if _, err := ImportBytes([]byte("not a protobuf \xff\xff\xff"), scale); err == nil || !strings.Contains(err.Error(), "not an ONNX model") {
		t.Fatalf("garbage: %v", err)
	}
}
