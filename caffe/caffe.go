// Package caffe reads the learned weights of a Caffe model: a .caffemodel file, which is a
// binary NetParameter protocol buffer. It decodes only what is needed to take the weights
// over (layer names, types, connections and parameter blobs), straight from the wire format,
// so the project needs neither Caffe's .proto file nor generated code.
//
// Both layouts Caffe has written are read: the old V1 one (NetParameter.layers, field 2,
// whose layer type is an enum) and the current one (NetParameter.layer, field 100, whose type
// is a string). V1 type enums are reported under the names Caffe's own upgrade gives them
// ("Convolution", "ReLU", ...), so callers see one vocabulary.
//
// The decoder is strict, since a model file may come from anywhere: every blob must hold
// exactly as many values as its shape says, wire types must match the schema, and malformed
// input gives an error naming the layer, never a panic or an allocation larger than the input.
//
// Import takes the weights over into a float model (nin.Model). It lives here, not in nin,
// so that the edge runtime, which reads only model files, links no protobuf decoding.
package caffe

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ninedge/ninedge/internal/infile"
)

// MaxSize is the largest model accepted, the same limit Caffe puts on a binary proto (2 GiB
// less a byte).
const MaxSize = math.MaxInt32

// Blob is a parameter blob: the weights or the bias of a layer, row-major in Shape.
type Blob struct {
	// Shape is the blob's shape as stored: BlobProto.shape when the file has it, otherwise the
	// legacy 4-D [num, channels, height, width], kept 4-D (a bias of 192 reads [1 1 1 192]).
	Shape []int
	Data  []float32
}

// Layer is one layer of the net.
type Layer struct {
	Name, Type  string
	Bottom, Top []string
	Blobs       []Blob
}

// Net is a decoded NetParameter.
type Net struct {
	Name   string
	Layers []Layer
}

// Layer returns the layer with the given name.
func (n *Net) Layer(name string) (*Layer, error) {
	for i := range n.Layers {
		if n.Layers[i].Name == name {
			return &n.Layers[i], nil
		}
	}
	return nil, fmt.Errorf("caffe: net %q has no layer %q", n.Name, name)
}

// ReadFile reads and decodes a .caffemodel file.
func ReadFile(path string) (*Net, error) {
	f, err := infile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("caffe: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("caffe: %w", err)
	}
	if st.Size() > MaxSize {
		return nil, fmt.Errorf("caffe: %s is %d bytes, over the %d-byte limit", path, st.Size(), MaxSize)
	}
	// Read through a limit in case the file grows after Stat.
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("caffe: %w", err)
	}
	n, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return n, nil
}

// Field numbers, from Caffe's caffe.proto.
const (
	netName     = 1 // NetParameter.name
	netLayersV1 = 2 // NetParameter.layers: V1LayerParameter
	netLayer    = 100

	blobNum        = 1 // BlobProto fields; num, channels, height, width are consecutive
	blobData       = 5
	blobShape      = 7
	blobDoubleData = 8

	shapeDim = 1 // BlobShape.dim
)

// layerFields numbers the fields of a layer message that this package reads.
type layerFields struct{ name, typ, bottom, top, blobs protowire.Number }

var (
	v1Fields = layerFields{name: 4, typ: 5, bottom: 2, top: 3, blobs: 6} // V1LayerParameter
	v2Fields = layerFields{name: 1, typ: 2, bottom: 3, top: 4, blobs: 7} // LayerParameter
)

// v1LayerV0 is V1LayerParameter.layer, where the even older V0 layout keeps a whole layer,
// weights included. It is refused rather than skipped, so that no weights go missing silently.
const v1LayerV0 = 1

// v1Types maps V1LayerParameter.LayerType to the type strings of the current layout, as
// Caffe's UpgradeV1LayerType does. NONE (0) is the empty string there too.
var v1Types = map[int32]string{
	0: "", 35: "AbsVal", 1: "Accuracy", 30: "ArgMax", 2: "BNLL", 3: "Concat",
	37: "ContrastiveLoss", 4: "Convolution", 39: "Deconvolution", 5: "Data", 6: "Dropout",
	32: "DummyData", 7: "EuclideanLoss", 25: "Eltwise", 38: "Exp", 8: "Flatten", 9: "HDF5Data",
	10: "HDF5Output", 28: "HingeLoss", 11: "Im2col", 12: "ImageData", 13: "InfogainLoss",
	14: "InnerProduct", 15: "LRN", 29: "MemoryData", 16: "MultinomialLogisticLoss", 34: "MVN",
	17: "Pooling", 26: "Power", 18: "ReLU", 19: "Sigmoid", 27: "SigmoidCrossEntropyLoss",
	36: "Silence", 20: "Softmax", 21: "SoftmaxWithLoss", 22: "Split", 33: "Slice", 23: "TanH",
	24: "WindowData", 31: "Threshold",
}

// Decode decodes a binary NetParameter.
func Decode(b []byte) (*Net, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("caffe: model is %d bytes, over the %d-byte limit", len(b), MaxSize)
	}
	n, err := decodeNet(b)
	if err != nil {
		return nil, fmt.Errorf("caffe: %w", err)
	}
	return n, nil
}

func decodeNet(b []byte) (*Net, error) {
	n := &Net{}
	var v1, v2 bool
	err := fields(b, "NetParameter", func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case netName:
			s, m, err := consumeString(typ, b, "NetParameter.name")
			n.Name = s
			return m, err
		case netLayersV1, netLayer:
			v, m, err := consumeBytes(typ, b, "NetParameter layer")
			if err != nil {
				return 0, err
			}
			if num == netLayersV1 {
				v1 = true
			} else {
				v2 = true
			}
			if v1 && v2 {
				return 0, errors.New("net mixes V1 'layers' (field 2) with 'layer' (field 100); Caffe refuses such a file too")
			}
			l, err := decodeLayer(v, num == netLayersV1)
			if err != nil {
				return 0, fmt.Errorf("layer %q (#%d): %w", l.Name, len(n.Layers), err)
			}
			n.Layers = append(n.Layers, l)
			return m, nil
		}
		return skip(num, typ, b)
	})
	return n, err
}

// decodeLayer decodes a LayerParameter, or a V1LayerParameter when v1 is set. The name is
// returned even on error so that the error can name the layer.
func decodeLayer(b []byte, v1 bool) (Layer, error) {
	var l Layer
	var blobs [][]byte // decoded after the loop, once the layer's name is known
	f := v2Fields
	if v1 {
		f = v1Fields
	}
	err := fields(b, "layer", func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if v1 && num == v1LayerV0 {
			return 0, errors.New("layer in the V0 layout, which this package does not read (upgrade the model with Caffe's upgrade_net_proto_binary)")
		}
		switch num {
		case f.name:
			s, m, err := consumeString(typ, b, "name")
			l.Name = s
			return m, err
		case f.bottom:
			s, m, err := consumeString(typ, b, "bottom")
			l.Bottom = append(l.Bottom, s)
			return m, err
		case f.top:
			s, m, err := consumeString(typ, b, "top")
			l.Top = append(l.Top, s)
			return m, err
		case f.blobs:
			v, m, err := consumeBytes(typ, b, "blobs")
			blobs = append(blobs, v)
			return m, err
		case f.typ:
			if !v1 {
				s, m, err := consumeString(typ, b, "type")
				l.Type = s
				return m, err
			}
			if typ != protowire.VarintType {
				return 0, fmt.Errorf("type: wire type %d, want varint", typ)
			}
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, fmt.Errorf("type: %w", protowire.ParseError(m))
			}
			name, ok := v1Types[int32(v)]
			if !ok {
				return 0, fmt.Errorf("unknown V1 layer type %d", int32(v))
			}
			l.Type = name
			return m, nil
		}
		return skip(num, typ, b)
	})
	if err != nil {
		return l, err
	}
	for i, bb := range blobs {
		blob, err := decodeBlob(bb)
		if err != nil {
			return l, fmt.Errorf("blob %d: %w", i, err)
		}
		l.Blobs = append(l.Blobs, blob)
	}
	return l, nil
}

// decodeBlob decodes a BlobProto, reading data (float) or, as Caffe does for a net saved in
// double precision, double_data converted to float32. Gradients (diff) are skipped.
func decodeBlob(b []byte) (Blob, error) {
	var (
		shape    []int
		hasShape bool
		legacy   [4]int64
		data     []float32
		doubles  []float64
	)
	err := fields(b, "BlobProto", func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case blobNum, blobNum + 1, blobNum + 2, blobNum + 3:
			if typ != protowire.VarintType {
				return 0, fmt.Errorf("field %d: wire type %d, want varint", num, typ)
			}
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, fmt.Errorf("field %d: %w", num, protowire.ParseError(m))
			}
			legacy[num-blobNum] = int64(v)
			return m, nil
		case blobShape:
			// A message field seen twice is merged, which for BlobShape appends the dims.
			v, m, err := consumeBytes(typ, b, "shape")
			if err != nil {
				return 0, err
			}
			hasShape = true
			shape, err = appendDims(shape, v)
			return m, err
		case blobData:
			var m int
			var err error
			data, m, err = appendFixed(data, typ, b, 4, "data", func(u uint64) float32 {
				return math.Float32frombits(uint32(u))
			})
			return m, err
		case blobDoubleData:
			var m int
			var err error
			doubles, m, err = appendFixed(doubles, typ, b, 8, "double_data", math.Float64frombits)
			return m, err
		}
		return skip(num, typ, b)
	})
	if err != nil {
		return Blob{}, err
	}
	if !hasShape {
		shape = make([]int, 4)
		for i, d := range legacy {
			if d < 0 || d > math.MaxInt32 {
				return Blob{}, fmt.Errorf("legacy shape %v has a dimension out of range", legacy)
			}
			shape[i] = int(d)
		}
	}
	if len(doubles) > 0 {
		if len(data) > 0 {
			return Blob{}, errors.New("blob has both data and double_data")
		}
		data = make([]float32, len(doubles))
		for i, d := range doubles {
			data[i] = float32(d)
		}
	}
	count := 1
	for _, d := range shape {
		// Caffe's own bound: a blob counts at most 2^31-1 values.
		if d != 0 && count > math.MaxInt32/d {
			return Blob{}, fmt.Errorf("shape %v has more than %d values", shape, math.MaxInt32)
		}
		count *= d
	}
	if count != len(data) {
		return Blob{}, fmt.Errorf("shape %v needs %d values, data has %d", shape, count, len(data))
	}
	return Blob{Shape: shape, Data: data}, nil
}

// appendDims appends the dims of a BlobShape message, packed or not.
func appendDims(shape []int, b []byte) ([]int, error) {
	err := fields(b, "BlobShape", func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if num != shapeDim {
			return skip(num, typ, b)
		}
		one := func(v uint64) error {
			if d := int64(v); d < 0 || d > math.MaxInt32 {
				return fmt.Errorf("shape dimension %d out of range", d)
			}
			shape = append(shape, int(v))
			return nil
		}
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, fmt.Errorf("shape dim: %w", protowire.ParseError(m))
			}
			return m, one(v)
		case protowire.BytesType:
			packed, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return 0, fmt.Errorf("shape dim: %w", protowire.ParseError(m))
			}
			for len(packed) > 0 {
				v, k := protowire.ConsumeVarint(packed)
				if k < 0 {
					return 0, fmt.Errorf("packed shape dim: %w", protowire.ParseError(k))
				}
				if err := one(v); err != nil {
					return 0, err
				}
				packed = packed[k:]
			}
			return m, nil
		}
		return 0, fmt.Errorf("shape dim: wire type %d, want varint or packed", typ)
	})
	return shape, err
}

// appendFixed appends the values of a repeated fixed-width field (size 4 or 8 bytes), packed
// or not, converting each with conv.
func appendFixed[T any](dst []T, typ protowire.Type, b []byte, size int, what string, conv func(uint64) T) ([]T, int, error) {
	read := func(b []byte) uint64 {
		if size == 4 {
			v, _ := protowire.ConsumeFixed32(b)
			return uint64(v)
		}
		v, _ := protowire.ConsumeFixed64(b)
		return v
	}
	want := protowire.Fixed32Type
	if size == 8 {
		want = protowire.Fixed64Type
	}
	switch typ {
	case want:
		if len(b) < size {
			return dst, 0, fmt.Errorf("%s: %w", what, io.ErrUnexpectedEOF)
		}
		return append(dst, conv(read(b))), size, nil
	case protowire.BytesType:
		packed, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return dst, 0, fmt.Errorf("%s: %w", what, protowire.ParseError(m))
		}
		if len(packed)%size != 0 {
			return dst, 0, fmt.Errorf("packed %s is %d bytes, not a multiple of %d", what, len(packed), size)
		}
		dst = slices.Grow(dst, len(packed)/size)
		for i := 0; i < len(packed); i += size {
			dst = append(dst, conv(read(packed[i:])))
		}
		return dst, m, nil
	}
	return dst, 0, fmt.Errorf("%s: wire type %d, want %d or packed", what, typ, want)
}

// fields walks the fields of a message, handing each field's number, wire type and the bytes
// from its value on to field, which returns how many bytes the value took.
func fields(b []byte, msg string, field func(protowire.Number, protowire.Type, []byte) (int, error)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%s: %w", msg, protowire.ParseError(n))
		}
		m, err := field(num, typ, b[n:])
		if err != nil {
			return err
		}
		b = b[n+m:]
	}
	return nil
}

// skip consumes the value of a field this package does not need.
func skip(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	m := protowire.ConsumeFieldValue(num, typ, b)
	if m < 0 {
		return 0, fmt.Errorf("field %d: %w", num, protowire.ParseError(m))
	}
	return m, nil
}

// consumeBytes reads a length-delimited value.
func consumeBytes(typ protowire.Type, b []byte, what string) ([]byte, int, error) {
	if typ != protowire.BytesType {
		return nil, 0, fmt.Errorf("%s: wire type %d, want length-delimited", what, typ)
	}
	v, m := protowire.ConsumeBytes(b)
	if m < 0 {
		return nil, 0, fmt.Errorf("%s: %w", what, protowire.ParseError(m))
	}
	return v, m, nil
}

// consumeString reads a string value.
func consumeString(typ protowire.Type, b []byte, what string) (string, int, error) {
	v, m, err := consumeBytes(typ, b, what)
	return string(v), m, err
}
