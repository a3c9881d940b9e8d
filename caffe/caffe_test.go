package caffe

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/dataset/datasettest"
	"google.golang.org/protobuf/encoding/protowire"
)

// The helpers below build protobuf messages by hand, field by field.

func str(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func msg(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func varint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func packedFloats(b []byte, num protowire.Number, v ...float32) []byte {
	var p []byte
	for _, x := range v {
		p = protowire.AppendFixed32(p, math.Float32bits(x))
	}
	return msg(b, num, p)
}

func unpackedFloats(b []byte, num protowire.Number, v ...float32) []byte {
	for _, x := range v {
		b = protowire.AppendTag(b, num, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(x))
	}
	return b
}

func packedDims(dims ...int64) []byte {
	var p []byte
	for _, d := range dims {
		p = protowire.AppendVarint(p, uint64(d))
	}
	return msg(nil, 1, p)
}

// legacyBlob is a BlobProto with num, channels, height, width and packed data, as the V1
// file format stores it.
func legacyBlob(n, c, h, w int64, data ...float32) []byte {
	b := varint(nil, 1, uint64(n))
	b = varint(b, 2, uint64(c))
	b = varint(b, 3, uint64(h))
	b = varint(b, 4, uint64(w))
	return packedFloats(b, 5, data...)
}

// encode writes a Net back in the current layout, with explicit shapes and packed data; the
// fuzz test uses it to check that decoding loses nothing.
func encode(n *Net) []byte {
	b := str(nil, 1, n.Name)
	for _, l := range n.Layers {
		lb := str(nil, 1, l.Name)
		lb = str(lb, 2, l.Type)
		for _, s := range l.Bottom {
			lb = str(lb, 3, s)
		}
		for _, s := range l.Top {
			lb = str(lb, 4, s)
		}
		for _, bl := range l.Blobs {
			dims := make([]int64, len(bl.Shape))
			for i, d := range bl.Shape {
				dims[i] = int64(d)
			}
			lb = msg(lb, 7, msg(packedFloats(nil, 5, bl.Data...), 7, packedDims(dims...)))
		}
		b = msg(b, 100, lb)
	}
	return b
}

// equalNets compares nets value by value, bit for bit (NaNs included), treating nil and empty
// slices alike.
func equalNets(t *testing.T, got, want *Net) {
	t.Helper()
	if got.Name != want.Name || len(got.Layers) != len(want.Layers) {
		t.Fatalf("net %q with %d layers, want %q with %d", got.Name, len(got.Layers), want.Name, len(want.Layers))
	}
	for i, g := range got.Layers {
		w := want.Layers[i]
		if g.Name != w.Name || g.Type != w.Type || !slices.Equal(g.Bottom, w.Bottom) || !slices.Equal(g.Top, w.Top) || len(g.Blobs) != len(w.Blobs) {
			t.Fatalf("layer %d = %q %q %q %q %d blobs, want %q %q %q %q %d blobs", i,
				g.Name, g.Type, g.Bottom, g.Top, len(g.Blobs), w.Name, w.Type, w.Bottom, w.Top, len(w.Blobs))
		}
		for j, gb := range g.Blobs {
			wb := w.Blobs[j]
			same := slices.Equal(gb.Shape, wb.Shape) && len(gb.Data) == len(wb.Data)
			for k := 0; same && k < len(gb.Data); k++ {
				same = math.Float32bits(gb.Data[k]) == math.Float32bits(wb.Data[k])
			}
			if !same {
				t.Fatalf("layer %q blob %d = %v %v, want %v %v", g.Name, j, gb.Shape, gb.Data, wb.Shape, wb.Data)
			}
		}
	}
}

// tinyV2 is a small net in the current layout with the variations a writer may use: packed and
// unpacked data and dims, a scalar blob, and fields (including a group) this package skips.
func tinyV2() ([]byte, *Net) {
	convParam := varint(varint(nil, 1, 2), 4, 3) // num_output 2, kernel_size 3: skipped
	weights := msg(nil, 7, packedDims(2, 1, 3, 3))
	weights = packedFloats(weights, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -2, -3, -4, -5, -6, -7, -8, -9)
	weights = packedFloats(weights, 6, make([]float32, 18)...)         // diff: skipped
	bias := msg(nil, 7, varint(varint(varint(nil, 1, 1), 9, 5), 1, 2)) // unpacked dims [1 2], unknown field 9
	bias = unpackedFloats(bias, 5, 0.5)
	bias = unpackedFloats(bias, 5, -0.25) // a repeated field may come in pieces
	scalar := msg(nil, 7, nil)            // present but empty shape: a 0-d blob of one value
	scalar = unpackedFloats(scalar, 5, 42)

	var input []byte
	input = str(input, 1, "data")
	input = str(input, 2, "Input")
	input = str(input, 4, "data")
	var conv []byte
	conv = str(conv, 1, "conv")
	conv = str(conv, 2, "Convolution")
	conv = str(conv, 3, "data")
	conv = str(conv, 4, "conv")
	conv = msg(conv, 106, convParam)
	conv = msg(conv, 7, weights)
	conv = msg(conv, 7, bias)
	conv = msg(conv, 7, scalar)
	var relu []byte
	relu = str(relu, 2, "ReLU") // type before name: field order is free
	relu = str(relu, 1, "relu")
	relu = str(relu, 3, "conv")
	relu = str(relu, 4, "conv")
	relu = protowire.AppendTag(relu, 50, protowire.StartGroupType)
	relu = varint(relu, 1, 7)
	relu = protowire.AppendTag(relu, 50, protowire.EndGroupType)

	var b []byte
	b = str(b, 1, "tiny")
	b = varint(b, 5, 1) // force_backward: skipped
	b = msg(b, 100, input)
	b = msg(b, 100, conv)
	b = msg(b, 100, relu)
	want := &Net{Name: "tiny", Layers: []Layer{
		{Name: "data", Type: "Input", Top: []string{"data"}},
		{Name: "conv", Type: "Convolution", Bottom: []string{"data"}, Top: []string{"conv"}, Blobs: []Blob{
			{Shape: []int{2, 1, 3, 3}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -2, -3, -4, -5, -6, -7, -8, -9}},
			{Shape: []int{1, 2}, Data: []float32{0.5, -0.25}},
			{Shape: []int{}, Data: []float32{42}},
		}},
		{Name: "relu", Type: "ReLU", Bottom: []string{"conv"}, Top: []string{"conv"}},
	}}
	return b, want
}

// tinyV1 is a small net in the old layout: enum types, legacy 4-D blobs.
func tinyV1() ([]byte, *Net) {
	var ip []byte
	ip = str(ip, 2, "data")
	ip = str(ip, 3, "ip")
	ip = str(ip, 4, "ip")
	ip = varint(ip, 5, 14)
	ip = msg(ip, 6, legacyBlob(1, 1, 2, 3, 1, 2, 3, 4, 5, 6))
	ip = msg(ip, 6, legacyBlob(1, 1, 1, 2, 0.5, 0.25))
	ip = msg(ip, 17, varint(nil, 1, 2)) // inner_product_param: skipped
	var double []byte
	double = str(double, 4, "scale")
	double = varint(double, 5, 26)
	var d []byte
	d = varint(d, 1, 1)
	d = varint(d, 2, 2)
	d = varint(d, 3, 1)
	d = varint(d, 4, 1)
	d = protowire.AppendTag(d, 8, protowire.Fixed64Type)
	d = protowire.AppendFixed64(d, math.Float64bits(1.5))
	d = protowire.AppendTag(d, 8, protowire.Fixed64Type)
	d = protowire.AppendFixed64(d, math.Float64bits(-2))
	double = msg(double, 6, d)
	var sm []byte
	sm = str(sm, 4, "loss")
	sm = varint(sm, 5, 21)
	sm = str(sm, 2, "ip")
	sm = str(sm, 2, "label")

	var b []byte
	b = str(b, 1, "old")
	b = msg(b, 2, ip)
	b = msg(b, 2, double)
	b = msg(b, 2, sm)
	want := &Net{Name: "old", Layers: []Layer{
		{Name: "ip", Type: "InnerProduct", Bottom: []string{"data"}, Top: []string{"ip"}, Blobs: []Blob{
			{Shape: []int{1, 1, 2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
			{Shape: []int{1, 1, 1, 2}, Data: []float32{0.5, 0.25}},
		}},
		{Name: "scale", Type: "Power", Blobs: []Blob{{Shape: []int{1, 2, 1, 1}, Data: []float32{1.5, -2}}}},
		{Name: "loss", Type: "SoftmaxWithLoss", Bottom: []string{"ip", "label"}},
	}}
	return b, want
}

func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		name  string
		build func() ([]byte, *Net)
	}{{"V2", tinyV2}, {"V1", tinyV1}} {
		t.Run(tt.name, func(t *testing.T) {
			b, want := tt.build()
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			equalNets(t, got, want)
			again, err := Decode(encode(got))
			if err != nil {
				t.Fatal(err)
			}
			equalNets(t, again, want)
		})
	}
	empty, err := Decode(nil)
	if err != nil || empty.Name != "" || len(empty.Layers) != 0 {
		t.Fatalf("empty input: %+v, %v", empty, err)
	}
}

func TestV1Types(t *testing.T) {
	for _, tt := range []struct {
		enum uint64
		want string
	}{
		{1, "Accuracy"}, {3, "Concat"}, {4, "Convolution"}, {5, "Data"}, {6, "Dropout"},
		{14, "InnerProduct"}, {15, "LRN"}, {17, "Pooling"}, {18, "ReLU"}, {20, "Softmax"},
		{21, "SoftmaxWithLoss"}, {22, "Split"}, {23, "TanH"}, {39, "Deconvolution"}, {0, ""},
	} {
		layer := varint(str(nil, 4, "l"), 5, tt.enum)
		n, err := Decode(msg(nil, 2, layer))
		if err != nil {
			t.Fatalf("type %d: %v", tt.enum, err)
		}
		if n.Layers[0].Type != tt.want {
			t.Errorf("type %d = %q, want %q", tt.enum, n.Layers[0].Type, tt.want)
		}
	}
	// caffe.proto numbers its V1 layer types 0 to 39.
	if len(v1Types) != 40 {
		t.Errorf("%d V1 types, want 40", len(v1Types))
	}
	for i := range int32(40) {
		if _, ok := v1Types[i]; !ok {
			t.Errorf("V1 type %d missing", i)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	v2 := func(fields ...[]byte) []byte { return msg(nil, 100, slices.Concat(fields...)) }
	blob := func(fields ...[]byte) []byte { return v2(str(nil, 1, "L"), msg(nil, 7, slices.Concat(fields...))) }
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"count mismatch", v2(str(nil, 1, "conv1"), msg(nil, 7, msg(packedFloats(nil, 5, 1, 2, 3), 7, packedDims(2, 2)))),
			`caffe: layer "conv1" (#0): blob 0: shape [2 2] needs 4 values, data has 3`},
		{"legacy count mismatch", msg(nil, 2, slices.Concat(str(nil, 4, "ip"), msg(nil, 6, legacyBlob(1, 1, 1, 3, 1)))),
			`layer "ip" (#0): blob 0: shape [1 1 1 3] needs 3 values, data has 1`},
		{"second layer named", slices.Concat(v2(str(nil, 1, "ok")), v2(str(nil, 1, "bad"), msg(nil, 7, packedFloats(nil, 5, 1)))),
			`layer "bad" (#1): blob 0: shape [0 0 0 0] needs 0 values, data has 1`},
		{"mixed layouts", slices.Concat(msg(nil, 2, nil), v2()), "mixes V1"},
		{"unknown V1 type", msg(nil, 2, varint(str(nil, 4, "x"), 5, 99)), `layer "x" (#0): unknown V1 layer type 99`},
		{"V0 layer", msg(nil, 2, msg(nil, 1, str(nil, 1, "conv1"))), "V0 layout"},
		{"V1 type as string", msg(nil, 2, str(nil, 5, "ReLU")), "type: wire type 2, want varint"},
		{"name not bytes", varint(nil, 1, 3), "NetParameter.name: wire type 0, want length-delimited"},
		{"layer not bytes", varint(nil, 100, 3), "wire type 0"},
		{"truncated layer", msg(nil, 100, str(nil, 1, "abc"))[:4], "NetParameter layer: unexpected EOF"},
		{"bad tag", []byte{0x00}, "invalid field number"},
		{"end group at top", protowire.AppendTag(nil, 9, protowire.EndGroupType), "field 9"},
		{"truncated varint", []byte{0x28, 0xff}, "field 5: unexpected EOF"},
		{"packed data odd length", blob(msg(nil, 5, []byte{1, 2, 3})), `layer "L" (#0): blob 0: packed data is 3 bytes, not a multiple of 4`},
		{"truncated fixed32", blob(protowire.AppendTag(nil, 5, protowire.Fixed32Type), []byte{1, 2}), "data: unexpected EOF"},
		{"data as varint", blob(varint(nil, 5, 1)), "data: wire type 0, want 5 or packed"},
		{"double_data as fixed32", blob(unpackedFloats(nil, 8, 1)), "double_data: wire type 5, want 1 or packed"},
		{"data and double_data", blob(packedFloats(nil, 5, 1), protowire.AppendFixed64(protowire.AppendTag(nil, 8, protowire.Fixed64Type), 0)),
			"both data and double_data"},
		{"legacy dim as bytes", blob(str(nil, 2, "x")), "field 2: wire type 2, want varint"},
		{"negative legacy dim", blob(varint(nil, 1, math.MaxUint64)), "legacy shape [-1 0 0 0] has a dimension out of range"},
		{"negative dim", blob(msg(nil, 7, packedDims(-1))), "shape dimension -1 out of range"},
		{"huge dim", blob(msg(nil, 7, packedDims(1<<40))), "shape dimension 1099511627776 out of range"},
		{"too many values", blob(msg(nil, 7, packedDims(1<<20, 1<<20))), "has more than 2147483647 values"},
		{"dim as fixed32", blob(msg(nil, 7, unpackedFloats(nil, 1, 1))), "shape dim: wire type 5"},
		{"bad packed dim", blob(msg(nil, 7, msg(nil, 1, []byte{0x80}))), "packed shape dim: unexpected EOF"},
		{"shape not bytes", blob(varint(nil, 7, 1)), "shape: wire type 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Decode(tt.in)
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", n)
			}
			if !strings.HasPrefix(err.Error(), "caffe: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestTruncated decodes every prefix of a valid file: each must give a net or an error.
func TestTruncated(t *testing.T) {
	for _, build := range []func() ([]byte, *Net){tinyV1, tinyV2} {
		b, _ := build()
		for i := range len(b) {
			if n, err := Decode(b[:i]); err == nil {
				checkCounts(t, n)
			}
		}
	}
}

// checkCounts checks the decoder's promise that every blob holds as many values as its shape.
func checkCounts(t *testing.T, n *Net) {
	t.Helper()
	for _, l := range n.Layers {
		for i, b := range l.Blobs {
			count := 1
			for _, d := range b.Shape {
				count *= d
			}
			if count != len(b.Data) {
				t.Fatalf("layer %q blob %d: shape %v but %d values", l.Name, i, b.Shape, len(b.Data))
			}
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(filepath.Join(dir, "missing.caffemodel")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	path := filepath.Join(dir, "bad.caffemodel")
	if err := os.WriteFile(path, []byte{0x00}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad file: %v, want an error naming it", err)
	}
	b, want := tinyV2()
	// A file over the limit is refused from its size alone (sparse: nothing is written).
	huge := filepath.Join(dir, "huge.caffemodel")
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, MaxSize+1); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(huge); err == nil || !strings.Contains(err.Error(), "over the 2147483647-byte limit") {
		t.Errorf("huge file: %v", err)
	}
	path = filepath.Join(dir, "tiny.caffemodel")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	equalNets(t, got, want)
	if l, err := got.Layer("conv"); err != nil || len(l.Blobs) != 3 {
		t.Errorf("Layer(conv) = %v, %v", l, err)
	}
	if _, err := got.Layer("conv9"); err == nil || err.Error() != `caffe: net "tiny" has no layer "conv9"` {
		t.Errorf("Layer(conv9): %v", err)
	}
}

// TestNIN reads the Caffe Model Zoo Network-in-Network CIFAR-10 model (see the shared data
// README): V1 layout, 966,986 parameters.
func TestNIN(t *testing.T) {
	n, err := ReadFile(filepath.Join(datasettest.Dir(t, "pretrained"), "cifar10_nin.caffemodel"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "CIFAR10_full" || len(n.Layers) != 25 {
		t.Fatalf("net %q with %d layers, want CIFAR10_full with 25", n.Name, len(n.Layers))
	}
	// Every layer in order, with its connections; the ReLUs work in place.
	type conn struct{ name, typ, bottom, top string }
	wantLayers := []conn{
		{"cifar", "Data", "", "data label"},
		{"conv1", "Convolution", "data", "conv1"}, {"relu1", "ReLU", "conv1", "conv1"},
		{"cccp1", "Convolution", "conv1", "cccp1"}, {"relu_cccp1", "ReLU", "cccp1", "cccp1"},
		{"cccp2", "Convolution", "cccp1", "cccp2"}, {"relu_cccp2", "ReLU", "cccp2", "cccp2"},
		{"pool1", "Pooling", "cccp2", "pool1"}, {"drop3", "Dropout", "pool1", "pool1"},
		{"conv2", "Convolution", "pool1", "conv2"}, {"relu2", "ReLU", "conv2", "conv2"},
		{"cccp3", "Convolution", "conv2", "cccp3"}, {"relu_cccp3", "ReLU", "cccp3", "cccp3"},
		{"cccp4", "Convolution", "cccp3", "cccp4"}, {"relu_cccp4", "ReLU", "cccp4", "cccp4"},
		{"pool2", "Pooling", "cccp4", "pool2"}, {"drop6", "Dropout", "pool2", "pool2"},
		{"conv3", "Convolution", "pool2", "conv3"}, {"relu3", "ReLU", "conv3", "conv3"},
		{"cccp5", "Convolution", "conv3", "cccp5"}, {"relu_cccp5", "ReLU", "cccp5", "cccp5"},
		{"cccp6", "Convolution", "cccp5", "cccp6"}, {"relu_cccp6", "ReLU", "cccp6", "cccp6"},
		{"pool3", "Pooling", "cccp6", "pool3"}, {"loss", "SoftmaxWithLoss", "pool3 label", "loss"},
	}
	for i, w := range wantLayers {
		l := n.Layers[i]
		got := conn{l.Name, l.Type, strings.Join(l.Bottom, " "), strings.Join(l.Top, " ")}
		if got != w {
			t.Errorf("layer %d = %+v, want %+v", i, got, w)
		}
	}
	type weights struct {
		layer string
		shape []int
	}
	wantShapes := []weights{
		{"conv1", []int{192, 3, 5, 5}}, {"cccp1", []int{160, 192, 1, 1}}, {"cccp2", []int{96, 160, 1, 1}},
		{"conv2", []int{192, 96, 5, 5}}, {"cccp3", []int{192, 192, 1, 1}}, {"cccp4", []int{192, 192, 1, 1}},
		{"conv3", []int{192, 192, 3, 3}}, {"cccp5", []int{192, 192, 1, 1}}, {"cccp6", []int{10, 192, 1, 1}},
	}
	total := 0
	for _, w := range wantShapes {
		l, err := n.Layer(w.layer)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Blobs) != 2 {
			t.Fatalf("%s has %d blobs, want weights and bias", w.layer, len(l.Blobs))
		}
		if !slices.Equal(l.Blobs[0].Shape, w.shape) {
			t.Errorf("%s weights %v, want %v", w.layer, l.Blobs[0].Shape, w.shape)
		}
		if want := []int{1, 1, 1, w.shape[0]}; !slices.Equal(l.Blobs[1].Shape, want) {
			t.Errorf("%s bias %v, want %v", w.layer, l.Blobs[1].Shape, want)
		}
		for _, b := range l.Blobs {
			total += len(b.Data)
			for _, v := range b.Data {
				if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 100 {
					t.Fatalf("%s holds an implausible weight %v", w.layer, v)
				}
			}
		}
	}
	if total != 966986 {
		t.Errorf("%d parameters, want 966986", total)
	}
	for _, l := range n.Layers {
		if !slices.ContainsFunc(wantShapes, func(w weights) bool { return w.layer == l.Name }) && len(l.Blobs) != 0 {
			t.Errorf("layer %q has %d blobs, want none", l.Name, len(l.Blobs))
		}
	}
	// A few values pinned from this reader, against regressions (byte order, blob order).
	for _, p := range []struct {
		layer   string
		blob, i int
		want    float32
	}{
		{"conv1", 0, 0, -0.21973649}, {"conv1", 1, 0, -0.62268734}, {"cccp6", 1, 0, 0.5564138},
	} {
		l, _ := n.Layer(p.layer)
		if got := l.Blobs[p.blob].Data[p.i]; got != p.want {
			t.Errorf("%s blob %d [%d] = %v, want %v", p.layer, p.blob, p.i, got, p.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	b1, _ := tinyV1()
	b2, _ := tinyV2()
	f.Add(b1)
	f.Add(b2)
	f.Add(msg(nil, 100, msg(nil, 7, msg(nil, 7, packedDims(1<<20, 1<<20)))))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Decode(b)
		if err != nil {
			return
		}
		checkCounts(t, n)
		again, err := Decode(encode(n))
		if err != nil {
			t.Fatalf("re-encoded net does not decode: %v", err)
		}
		equalNets(t, again, n)
	})
}
