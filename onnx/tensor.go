package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/ninedge/ninedge/onnx/onnxpb"
)

// maxValues bounds one tensor's element count, checked from its dims before anything is
// allocated. It is nin's bound on one layer's weights (64 M), which no accepted tensor exceeds.
const maxValues = 1 << 26

// count returns the element count of dims, refusing negative and oversized shapes before the
// product can overflow.
func count(dims []int64) (int, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 || d > maxValues {
			return 0, fmt.Errorf("dims %v: a size out of range", dims)
		}
		if n *= d; n > maxValues {
			return 0, fmt.Errorf("dims %v: more than %d values", dims, maxValues)
		}
	}
	return int(n), nil
}

// checkStored refuses data this package cannot or will not read: weights in another file
// (a model with external data is several files, and Import reads one) and segmented tensors.
func checkStored(t *onnxpb.TensorProto) error {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0 {
		loc := ""
		for _, kv := range t.GetExternalData() {
			if kv.GetKey() == "location" {
				loc = fmt.Sprintf(" (%q)", kv.GetValue())
			}
		}
		return refuse("tensor %q keeps its data in an external file%s: save the model with its weights inside (onnx.save_model(..., save_as_external_data=False))", t.GetName(), loc)
	}
	if t.GetSegment() != nil {
		return refuse("tensor %q is a segment of a larger tensor", t.GetName())
	}
	return nil
}

// rawOrTyped checks that exactly one of the raw bytes and the typed field holds the tensor's n
// values of size bytes each, and says which.
func rawOrTyped(t *onnxpb.TensorProto, n, size, typed int) (raw bool, err error) {
	r := len(t.GetRawData())
	switch {
	case r > 0 && typed > 0:
		return false, fmt.Errorf("tensor %q has both raw_data and typed data", t.GetName())
	case r > 0 || (n > 0 && typed == 0):
		if r != n*size {
			return false, fmt.Errorf("tensor %q: %d bytes of raw_data for %d values of %d bytes (dims %v)", t.GetName(), r, n, size, t.GetDims())
		}
		return true, nil
	case typed != n:
		return false, fmt.Errorf("tensor %q: %d values for dims %v", t.GetName(), typed, t.GetDims())
	}
	return false, nil
}

// floats decodes a float32 tensor, checking its type, its size against its dims and that
// every value is finite (no trained weight or statistic is NaN or infinite).
func floats(t *onnxpb.TensorProto) ([]float32, error) {
	if err := checkStored(t); err != nil {
		return nil, err
	}
	if dt := t.GetDataType(); dt != int32(onnxpb.TensorProto_FLOAT) {
		return nil, refuse("tensor %q is %s, want FLOAT (float32)", t.GetName(), dtypeName(dt))
	}
	n, err := count(t.GetDims())
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	raw, err := rawOrTyped(t, n, 4, len(t.GetFloatData()))
	if err != nil {
		return nil, err
	}
	// A copy: folding batch norm scales it in place, and a tensor may feed several nodes.
	v := slices.Clone(t.GetFloatData())
	if raw {
		v = make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.GetRawData()[4*i:]))
		}
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("tensor %q: value %d is %v", t.GetName(), i, x)
		}
	}
	return v, nil
}

// maxInts bounds the integer tensors read (shapes, axes, pads): none has more than a few values.
const maxInts = 64

// ints decodes a small int64 tensor (a shape, axes or pads) of rank 0 or 1.
func ints(t *onnxpb.TensorProto) ([]int64, error) {
	if err := checkStored(t); err != nil {
		return nil, err
	}
	if dt := t.GetDataType(); dt != int32(onnxpb.TensorProto_INT64) {
		return nil, refuse("tensor %q is %s, want INT64", t.GetName(), dtypeName(dt))
	}
	if len(t.GetDims()) > 1 {
		return nil, refuse("tensor %q has dims %v, want a scalar or a list", t.GetName(), t.GetDims())
	}
	n, err := count(t.GetDims())
	if err != nil || n > maxInts {
		return nil, fmt.Errorf("tensor %q: dims %v: more than %d values", t.GetName(), t.GetDims(), maxInts)
	}
	raw, err := rawOrTyped(t, n, 8, len(t.GetInt64Data()))
	if err != nil {
		return nil, err
	}
	if !raw {
		return t.GetInt64Data(), nil
	}
	v := make([]int64, n)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.GetRawData()[8*i:]))
	}
	return v, nil
}

// boolScalar decodes a BOOL scalar (Dropout's training_mode).
func boolScalar(t *onnxpb.TensorProto) (bool, error) {
	if err := checkStored(t); err != nil {
		return false, err
	}
	if dt := t.GetDataType(); dt != int32(onnxpb.TensorProto_BOOL) {
		return false, refuse("tensor %q is %s, want BOOL", t.GetName(), dtypeName(dt))
	}
	if n, err := count(t.GetDims()); err != nil || n != 1 {
		return false, fmt.Errorf("tensor %q: dims %v, want one value", t.GetName(), t.GetDims())
	}
	raw, err := rawOrTyped(t, 1, 1, len(t.GetInt32Data()))
	if err != nil {
		return false, err
	}
	if raw {
		return t.GetRawData()[0] != 0, nil
	}
	return t.GetInt32Data()[0] != 0, nil
}

func dtypeName(dt int32) string {
	if s, ok := onnxpb.TensorProto_DataType_name[dt]; ok {
		return s
	}
	return fmt.Sprintf("data type %d", dt)
}
