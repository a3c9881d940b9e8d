package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite testdata/tiny.safetensors from sampleFile")

const goldenPath = "testdata/tiny.safetensors"

// sampleFile exercises every writer feature: several dtypes (so the layout order matters), a
// scalar, an empty tensor, metadata, and names and values that need JSON escaping.
func sampleFile() *File {
	return &File{
		Metadata: map[string]string{
			"format": "pt",
			"note":   "tiny <golden> & \"quoted\"\n\x01\b\f\r\x1f\x7f",
		},
		Tensors: []Tensor{
			F32("conv.weight", []int{2, 1, 1, 2}, []float32{1, -2, 3.5, float32(math.Copysign(0, -1))}),
			F32("conv.bias", []int{2}, []float32{0.25, -0.125}),
			F64("scale", []int{}, []float64{0.5}),
			I32("acc", []int{3}, []int32{-1, math.MaxInt32, math.MinInt32}),
			I8("q", []int{2, 2}, []int8{-128, 127, 0, -1}),
			U8("é\tu", []int{3}, []uint8{0, 128, 255}),
			F32("empty", []int{0, 3}, nil),
		},
	}
}

// equalFiles compares two files as sets of tensors: Decode returns tensors in data order,
// which need not be the order they were built in.
func equalFiles(t *testing.T, got, want *File) {
	t.Helper()
	if (got.Metadata == nil) != (want.Metadata == nil) || len(got.Metadata) != len(want.Metadata) {
		t.Fatalf("metadata %q, want %q", got.Metadata, want.Metadata)
	}
	for k, v := range want.Metadata {
		if g, ok := got.Metadata[k]; !ok || g != v {
			t.Fatalf("metadata %q = %q, want %q", k, g, v)
		}
	}
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for _, w := range want.Tensors {
		g, err := got.Tensor(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("tensor %q = %s %v % x, want %s %v % x", w.Name, g.DType, g.Shape, g.Data, w.DType, w.Shape, w.Data)
		}
	}
}

// fixture builds a file by hand: the little-endian header length, the header, the data.
func fixture(header string, data ...byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func f32bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func TestGolden(t *testing.T) {
	f := sampleFile()
	enc := f.Encode()
	if *update {
		if err := os.WriteFile(goldenPath, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, golden) {
		t.Fatalf("Encode differs from %s:\n got %q\nwant %q", goldenPath, enc, golden)
	}
	dec, err := Decode(golden)
	if err != nil {
		t.Fatal(err)
	}
	equalFiles(t, dec, f)
	if re := dec.Encode(); !bytes.Equal(re, golden) {
		t.Fatalf("Encode(Decode(golden)) differs:\n got %q\nwant %q", re, golden)
	}
	// The header spells out the layout: dtypes in the reference enum's order, widest first
	// (F32 before I32), then by name; data back to back.
	wantHeader := `{"__metadata__":{"format":"pt","note":"tiny <golden> & \"quoted\"\n\u0001\b\f\r\u001f` + "\x7f" + `"},` +
		`"scale":{"dtype":"F64","shape":[],"data_offsets":[0,8]},` +
		`"conv.bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},` +
		`"conv.weight":{"dtype":"F32","shape":[2,1,1,2],"data_offsets":[16,32]},` +
		`"empty":{"dtype":"F32","shape":[0,3],"data_offsets":[32,32]},` +
		`"acc":{"dtype":"I32","shape":[3],"data_offsets":[32,44]},` +
		`"q":{"dtype":"I8","shape":[2,2],"data_offsets":[44,48]},` +
		`"é\tu":{"dtype":"U8","shape":[3],"data_offsets":[48,51]}}`
	n := binary.LittleEndian.Uint64(golden)
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	if h := string(golden[8 : 8+n]); strings.TrimRight(h, " ") != wantHeader || len(h)-len(wantHeader) >= 8 {
		t.Errorf("header\n %q\nwant\n %q padded to a multiple of 8", h, wantHeader)
	}
}

// TestInterop checks files written by hand from the format description, including the exact
// bytes the reference implementation documents for its serializer.
func TestInterop(t *testing.T) {
	attn := fixture(`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`, f32bytes(0, 1, 2, 3, 4, 5)...)
	if attn[0] != 64 {
		t.Fatalf("attn fixture header length %d, want 64", attn[0])
	}
	i32 := func(v ...int32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, uint32(x))
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want *File
		out  []byte // what Encode writes; nil if the same as in
	}{
		{"reference F32 example", attn,
			&File{Tensors: []Tensor{F32("attn.0", []int{1, 2, 3}, []float32{0, 1, 2, 3, 4, 5})}}, nil},
		{"empty", fixture("{}      "), &File{}, nil},
		{"metadata only", fixture(`{"__metadata__":{"framework":"pt"}}     `),
			&File{Metadata: map[string]string{"framework": "pt"}}, nil},
		{"empty metadata", fixture(`{"__metadata__":{}}     `), &File{Metadata: map[string]string{}}, nil},
		{"unpadded header", fixture(`{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}`, i32(1, -2, 3, -4)...),
			&File{Tensors: []Tensor{I32("test", []int{2, 2}, []int32{1, -2, 3, -4})}},
			fixture(`{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}    `, i32(1, -2, 3, -4)...)},
		{"dtype order", fixture(`{"c":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},`+
			`"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},`+
			`"a":{"dtype":"I8","shape":[2],"data_offsets":[12,14]}}      `,
			append(append(binary.LittleEndian.AppendUint64(nil, math.Float64bits(-1.5)), f32bytes(2)...), 0xff, 7)...),
			&File{Tensors: []Tensor{I8("a", []int{2}, []int8{-1, 7}), F32("b", []int{1}, []float32{2}), F64("c", []int{1}, []float64{-1.5})}},
			nil},
		{"free-form header", fixture("{\n  \"b\": {\"data_offsets\": [2, 6], \"shape\": [ 2 ], \"dtype\": \"I16\"},\r\n"+
			"  \"a\": {\"shape\": [], \"dtype\": \"BOOL\", \"data_offsets\": [0, 1]},\t\"z\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}, "+
			"\"__metadata__\": {\"k\": \"\\u00e9\\/\\ud83d\\ude00\"}\n}\n\n", 1, 9, 0xfe, 0xff, 2, 0),
			&File{Metadata: map[string]string{"k": "é/😀"}, Tensors: []Tensor{
				{Name: "a", DType: Bool, Shape: []int{}, Data: []byte{1}},
				{Name: "z", DType: Uint8, Shape: []int{1}, Data: []byte{9}},
				{Name: "b", DType: Int16, Shape: []int{2}, Data: []byte{0xfe, 0xff, 2, 0}},
			}},
			fixture(`{"__metadata__":{"k":"é/😀"},"b":{"dtype":"I16","shape":[2],"data_offsets":[0,4]},`+
				`"z":{"dtype":"U8","shape":[1],"data_offsets":[4,5]},"a":{"dtype":"BOOL","shape":[],"data_offsets":[5,6]}}  `,
				0xfe, 0xff, 2, 0, 9, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			equalFiles(t, got, tt.want)
			want := tt.out
			if want == nil {
				want = tt.in
			}
			if enc := tt.want.Encode(); !bytes.Equal(enc, want) {
				t.Errorf("Encode:\n got %q\nwant %q", enc, want)
			}
			if enc := got.Encode(); !bytes.Equal(enc, want) {
				t.Errorf("Encode(Decode):\n got %q\nwant %q", enc, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	long := binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty input", nil, "header length needs 8 bytes at offset 0, only 0 left"},
		{"header too long", long, "header length 100000001 is over the maximum"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "header needs 100 bytes at offset 8, only 2 left"},
		{"empty header", fixture(""), "does not start with '{'"},
		{"leading space", fixture(" {}"), "does not start with '{'"},
		{"not utf-8", fixture("{\"\xff\":1}"), "not valid UTF-8"},
		{"not json", fixture("{nope}"), "header JSON"},
		{"unterminated", fixture(`{"a":{"dtype":"U8"`), "header JSON"},
		{"junk after object", fixture("{} x"), `junk after the JSON object: "x"`},
		{"second object", fixture("{}{}"), "junk"},
		{"tensor not an object", fixture(`{"a":[1]}`), `tensor "a": expected '{', found '['`},
		{"duplicate tensor", fixture(`{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[],"data_offsets":[1,2]}}`, 1, 2),
			`header has key "a" twice`},
		{"duplicate metadata", fixture(`{"__metadata__":{},"__metadata__":{}}`), `key "__metadata__" twice`},
		{"metadata not object", fixture(`{"__metadata__":null}`), `__metadata__: expected '{', found null`},
		{"metadata value not string", fixture(`{"__metadata__":{"n":1}}`), `__metadata__ "n": expected a string, found 1`},
		{"metadata duplicate key", fixture(`{"__metadata__":{"n":"1","n":"2"}}`), `__metadata__ has key "n" twice`},
		{"unknown dtype", fixture(`{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, 0), `tensor "a": unknown dtype "F8_E4M3"`},
		{"dtype not string", fixture(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`), `tensor "a" dtype: expected a string, found 4`},
		{"negative dim", fixture(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`), `tensor "a" shape: -1 is not a non-negative`},
		{"fractional dim", fixture(`{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}`, 0), `1.0 is not a non-negative`},
		{"exponent dim", fixture(`{"a":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}}`, 0), `1e0 is not`},
		{"huge dim", fixture(`{"a":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}}`, 0), `is not a non-negative 64-bit integer`},
		{"dim over int", fixture(`{"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}}`, 0), `dimension 18446744073709551615 is too large`},
		{"shape overflow", fixture(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,1]}}`, 0), `has too many elements`},
		{"bytes overflow", fixture(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,1]}}`, 0), `is too large`},
		{"shape not array", fixture(`{"a":{"dtype":"U8","shape":3,"data_offsets":[0,3]}}`, 0, 0, 0), `tensor "a" shape: expected '['`},
		{"dim not number", fixture(`{"a":{"dtype":"U8","shape":["3"],"data_offsets":[0,3]}}`, 0, 0, 0), `expected a number, found "3"`},
		{"three offsets", fixture(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, 0), `data_offsets has 3 numbers`},
		{"missing dtype", fixture(`{"a":{"shape":[1],"data_offsets":[0,1]}}`, 0), `tensor "a" has no dtype`},
		{"missing shape", fixture(`{"a":{"dtype":"U8","data_offsets":[0,1]}}`, 0), `tensor "a" has no shape`},
		{"missing offsets", fixture(`{"a":{"dtype":"U8","shape":[1]}}`, 0), `tensor "a" has no data_offsets`},
		{"repeated field", fixture(`{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 0), `tensor "a" has dtype twice`},
		{"repeated shape", fixture(`{"a":{"dtype":"U8","shape":[1],"shape":[1],"data_offsets":[0,1]}}`, 0), `tensor "a" has shape twice`},
		{"repeated offsets", fixture(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"data_offsets":[0,1]}}`, 0), `tensor "a" has data_offsets twice`},
		{"offsets not array", fixture(`{"a":{"dtype":"U8","shape":[1],"data_offsets":{}}}`, 0), `tensor "a" data_offsets: expected '['`},
		{"unknown field", fixture(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":1}}`, 0), `tensor "a": unknown field "extra"`},
		{"size mismatch", fixture(`{"conv1.weight":{"dtype":"F32","shape":[192,3,5,5],"data_offsets":[0,100]}}`, make([]byte, 100)...),
			`safetensors: tensor "conv1.weight": shape [192 3 5 5] of F32 needs 57600 bytes, data_offsets [0 100] give 100`},
		{"end before begin", fixture(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}`, 0, 0), `data_offsets [2 1] end before they begin`},
		{"offsets past end", fixture(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, 1, 2), `tensor "a": data_offsets [0 4] run past the end of the 2-byte data region`},
		{"hole at start", fixture(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 0, 0), `tensor "a": data starts at 1, leaving a 1-byte hole after the start`},
		{"hole between", fixture(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}}`, 0, 0, 0, 0),
			`tensor "b": data starts at 3, leaving a 2-byte hole after tensor "a"`},
		{"overlap", fixture(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, 0, 0, 0),
			`tensor "b": data_offsets [1 3] overlap tensor "a" [0 2]`},
		{"same offsets", fixture(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 0, 0),
			`tensor "b": data_offsets [0 2] overlap tensor "a" [0 2]`},
		{"trailing data", fixture(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 0, 0), `trailing data (1 bytes) after the 1-byte data region`},
		{"trailing data, no tensors", fixture(`{}`, 0), `trailing data (1 bytes) after the 0-byte data region`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.in)
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", f)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
			// Read from a stream with a generous limit must also fail.
			if _, err := Read(bytes.NewReader(tt.in), 1<<40); err == nil {
				t.Fatal("Read succeeded")
			}
		})
	}
}

// TestTruncated cuts a valid file at every byte: each prefix must be rejected, not panic.
func TestTruncated(t *testing.T) {
	golden := sampleFile().Encode()
	for i := range len(golden) {
		if _, err := Decode(golden[:i]); err == nil {
			t.Fatalf("Decode accepted the first %d of %d bytes", i, len(golden))
		}
		if _, err := Read(bytes.NewReader(golden[:i]), int64(len(golden))); err == nil {
			t.Fatalf("Read accepted the first %d of %d bytes", i, len(golden))
		}
	}
	if _, err := Decode(append(slices.Clone(golden), 0)); err == nil {
		t.Fatal("Decode accepted a trailing byte")
	}
}

func TestRead(t *testing.T) {
	golden := sampleFile().Encode()
	n := int64(len(golden))
	tests := []struct {
		name  string
		r     func() *bytes.Reader
		limit int64
		want  string // "" for success
	}{
		{"exact limit", func() *bytes.Reader { return bytes.NewReader(golden) }, n, ""},
		{"generous limit", func() *bytes.Reader { return bytes.NewReader(golden) }, 1 << 40, ""},
		{"limit one short", func() *bytes.Reader { return bytes.NewReader(golden) }, n - 1, `tensor "é\tu": data_offsets [48 51] run past the 50 bytes the read limit leaves`},
		{"limit inside header", func() *bytes.Reader { return bytes.NewReader(golden) }, 20, "header needs"},
		{"negative limit", func() *bytes.Reader { return bytes.NewReader(golden) }, -1, "negative read limit"},
		{"stream continues", func() *bytes.Reader { return bytes.NewReader(append(slices.Clone(golden), 1, 2)) }, 1 << 40, "trailing data"},
		{"stream continues past limit", func() *bytes.Reader { return bytes.NewReader(append(slices.Clone(golden), 1)) }, n, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r()
			f, err := Read(r, tt.limit)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				equalFiles(t, f, sampleFile())
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	// A reader that hands out one byte at a time, and one that fails.
	if _, err := Read(iotest.OneByteReader(bytes.NewReader(golden)), n); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(iotest.TimeoutReader(bytes.NewReader(golden)), n); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("error %v, want the reader's error", err)
	}
	boom := errors.New("boom")
	if _, err := Read(io.MultiReader(bytes.NewReader(golden), iotest.ErrReader(boom)), n); !errors.Is(err, boom) {
		t.Fatalf("error %v after the file, want %v", err, boom)
	}
}

func TestReadFile(t *testing.T) {
	f, err := ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	equalFiles(t, f, sampleFile())
	dir := t.TempDir()
	if _, err := ReadFile(filepath.Join(dir, "missing.safetensors")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v, want a not-exist error", err)
	}
	if _, err := ReadFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: error %v", err)
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, fixture(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `tensor "a"`) {
		t.Errorf("truncated file: error %v, want it to name the file and the tensor", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		f    *File
		want string
	}{
		{"short data", &File{Tensors: []Tensor{F32("w", []int{2, 2}, []float32{1, 2, 3})}}, `tensor "w": shape [2 2] of F32 needs 16 bytes, data has 12`},
		{"unknown dtype", &File{Tensors: []Tensor{{Name: "w", DType: "F8", Shape: []int{1}, Data: []byte{0}}}}, `tensor "w": unknown dtype "F8"`},
		{"negative dim", &File{Tensors: []Tensor{{Name: "w", DType: Uint8, Shape: []int{-1}}}}, `shape [-1] has a negative dimension`},
		{"overflow", &File{Tensors: []Tensor{{Name: "w", DType: Uint8, Shape: []int{1 << 40, 1 << 40}}}}, `too many elements`},
		{"duplicate", &File{Tensors: []Tensor{U8("w", []int{1}, []uint8{1}), U8("w", []int{1}, []uint8{2})}}, `two tensors are named "w"`},
		{"reserved", &File{Tensors: []Tensor{U8("__metadata__", []int{1}, []uint8{1})}}, `reserved`},
		{"bad name", &File{Tensors: []Tensor{U8("\xff", []int{1}, []uint8{1})}}, `not valid UTF-8`},
		{"bad metadata", &File{Metadata: map[string]string{"k": "\xff"}}, `metadata "k"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want %q", err, tt.want)
			}
			path := filepath.Join(t.TempDir(), "x.safetensors")
			if err := WriteFile(path, tt.f); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteFile: %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("WriteFile left %s behind: %v", path, err)
			}
			defer func() {
				if recover() == nil {
					t.Fatal("Encode did not panic")
				}
			}()
			tt.f.Encode()
		})
	}
}

// TestDeterministic checks that neither the order of f.Tensors nor map iteration order can
// change the bytes, and that every tensor's data is aligned to its element size in the file.
func TestDeterministic(t *testing.T) {
	want := sampleFile().Encode()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		f := sampleFile()
		rng.Shuffle(len(f.Tensors), func(i, j int) { f.Tensors[i], f.Tensors[j] = f.Tensors[j], f.Tensors[i] })
		if got := f.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("shuffled tensors encode differently:\n got %q\nwant %q", got, want)
		}
	}
	n := binary.LittleEndian.Uint64(want)
	f, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	start := 8 + int(n)
	for _, tn := range f.Tensors {
		off := start + bytes.Index(want[start:], tn.Data)
		if len(tn.Data) > 0 && off%tn.DType.Size() != 0 {
			t.Errorf("tensor %q starts at byte %d, not aligned to %d", tn.Name, off, tn.DType.Size())
		}
	}
}

func TestAccessors(t *testing.T) {
	f := sampleFile()
	get := func(name string) *Tensor {
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		return tn
	}
	if v, err := get("conv.weight").Float32s(); err != nil || !slices.Equal(v, []float32{1, -2, 3.5, 0}) || !math.Signbit(float64(v[3])) {
		t.Errorf("Float32s = %v, %v", v, err)
	}
	if v, err := get("scale").Float64s(); err != nil || !slices.Equal(v, []float64{0.5}) {
		t.Errorf("Float64s = %v, %v", v, err)
	}
	if v, err := get("acc").Int32s(); err != nil || !slices.Equal(v, []int32{-1, math.MaxInt32, math.MinInt32}) {
		t.Errorf("Int32s = %v, %v", v, err)
	}
	if v, err := get("q").Int8s(); err != nil || !slices.Equal(v, []int8{-128, 127, 0, -1}) {
		t.Errorf("Int8s = %v, %v", v, err)
	}
	if v, err := get("é\tu").Uint8s(); err != nil || !slices.Equal(v, []uint8{0, 128, 255}) {
		t.Errorf("Uint8s = %v, %v", v, err)
	}
	if v, err := get("empty").Float32s(); err != nil || len(v) != 0 {
		t.Errorf("empty Float32s = %v, %v", v, err)
	}
	wrong := map[string]func(*Tensor) error{
		"F32": func(t *Tensor) error { _, err := t.Float32s(); return err },
		"F64": func(t *Tensor) error { _, err := t.Float64s(); return err },
		"I32": func(t *Tensor) error { _, err := t.Int32s(); return err },
		"I8":  func(t *Tensor) error { _, err := t.Int8s(); return err },
		"U8":  func(t *Tensor) error { _, err := t.Uint8s(); return err },
	}
	for dt, call := range wrong {
		if err := call(&Tensor{Name: "x", DType: Bool, Shape: []int{1}, Data: []byte{1}}); err == nil ||
			err.Error() != `safetensors: tensor "x" is BOOL, not `+dt {
			t.Errorf("%s accessor on a BOOL tensor: %v", dt, err)
		}
	}
	broken := Tensor{Name: "b", DType: Float32, Shape: []int{3}, Data: make([]byte, 8)}
	if _, err := broken.Float32s(); err == nil || !strings.Contains(err.Error(), `tensor "b": shape [3] of F32 needs 12 bytes, data has 8`) {
		t.Errorf("short data: %v", err)
	}
	if err := get("conv.weight").CheckShape(2, 1, 1, 2); err != nil {
		t.Error(err)
	}
	if err := get("conv.weight").CheckShape(2, 2); err == nil || err.Error() != `safetensors: tensor "conv.weight" has shape [2 1 1 2], want [2 2]` {
		t.Errorf("CheckShape: %v", err)
	}
	if err := get("scale").CheckShape(); err != nil {
		t.Errorf("scalar CheckShape: %v", err)
	}
	if _, err := f.Tensor("conv9.weight"); err == nil || !strings.Contains(err.Error(), `"conv9.weight"`) {
		t.Errorf("missing tensor: %v", err)
	}
	// Decoded tensors must not share memory with the input or with each other.
	enc := f.Encode()
	d, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	clear(enc)
	w, _ := d.Tensor("acc")
	w.Data = append(w.Data, 0xAA) // must not spill into the next tensor
	equalFiles(t, &File{Metadata: d.Metadata, Tensors: slices.DeleteFunc(slices.Clone(d.Tensors), func(x Tensor) bool { return x.Name == "acc" })},
		&File{Metadata: f.Metadata, Tensors: slices.DeleteFunc(slices.Clone(f.Tensors), func(x Tensor) bool { return x.Name == "acc" })})
}

// listDir returns the names in dir, to catch temporary files left behind.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	f := sampleFile()
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, f.Encode()) {
		t.Fatal("WriteFile wrote something other than Encode")
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v; want 0644", st.Mode(), err)
	}
	// Replacing an existing file.
	small := &File{Tensors: []Tensor{U8("x", []int{1}, []uint8{7})}}
	if err := WriteFile(path, small); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	equalFiles(t, back, small)
	if names := listDir(t, dir); !slices.Equal(names, []string{"model.safetensors"}) {
		t.Fatalf("directory holds %q, want only model.safetensors", names)
	}
}

func TestWriteFileFailures(t *testing.T) {
	f := sampleFile()
	t.Run("directory missing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "no", "model.safetensors")
		if err := WriteFile(path, f); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("error %v, want one naming %s", err, path)
		}
		if names := listDir(t, dir); len(names) != 0 {
			t.Fatalf("left %q behind", names)
		}
	})
	t.Run("parent is a file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(filepath.Join(dir, "file", "model.safetensors"), f); err == nil {
			t.Fatal("WriteFile succeeded")
		}
		if names := listDir(t, dir); !slices.Equal(names, []string{"file"}) {
			t.Fatalf("directory holds %q", names)
		}
	})
	t.Run("rename fails", func(t *testing.T) {
		// A non-empty directory where the file should go: the temporary file is written
		// completely, then the rename fails, and it must be removed.
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		if err := os.MkdirAll(filepath.Join(path, "inside"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(path, f); err == nil {
			t.Fatal("WriteFile succeeded")
		}
		if names := listDir(t, dir); !slices.Equal(names, []string{"model.safetensors"}) {
			t.Fatalf("directory holds %q, want only the original directory", names)
		}
		if st, err := os.Stat(path); err != nil || !st.IsDir() {
			t.Fatalf("the directory in the way was changed: %v %v", st, err)
		}
	})
	t.Run("directory not writable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root can write to any directory")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o755)
		if err := WriteFile(path, f); err == nil {
			t.Fatal("WriteFile succeeded")
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
			t.Fatalf("old file changed: %q %v", got, err)
		}
		if names := listDir(t, dir); !slices.Equal(names, []string{"model.safetensors"}) {
			t.Fatalf("directory holds %q", names)
		}
	})
}

// roundTrip checks the fuzzing property: whatever decodes re-encodes to a file that decodes
// to the same content and encodes to the same bytes again.
func roundTrip(t *testing.T, b []byte) {
	f1, err := Decode(b)
	if err != nil {
		return
	}
	if err := f1.Validate(); err != nil {
		t.Fatalf("decoded file does not validate: %v", err)
	}
	enc := f1.Encode()
	f2, err := Decode(enc)
	if err != nil {
		t.Fatalf("re-encoded file does not decode: %v\n%q", err, enc)
	}
	equalFiles(t, f2, f1)
	if enc2 := f2.Encode(); !bytes.Equal(enc2, enc) {
		t.Fatalf("encoding is not stable:\n%q\n%q", enc, enc2)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sampleFile().Encode())
	f.Add(fixture(`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`, f32bytes(0, 1, 2, 3, 4, 5)...))
	f.Add(fixture(`{"__metadata__":{"a":"b"},"x":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"y":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`))
	f.Add(fixture(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, 0, 0, 0))
	f.Add(fixture("{}"))
	f.Fuzz(roundTrip)
}

// FuzzDecodeHeader fuzzes the header and the data separately, with a correct length prefix,
// so that the fuzzer explores the JSON instead of mostly producing bad lengths.
func FuzzDecodeHeader(f *testing.F) {
	f.Add(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"I16","shape":[1],"data_offsets":[2,4]}}`, []byte{1, 2, 3, 4})
	f.Add(`{"__metadata__":{"k":"v\u00e9"},"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, make([]byte, 8))
	f.Add(`{"x":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]}}   `, []byte(nil))
	f.Fuzz(func(t *testing.T, header string, data []byte) {
		roundTrip(t, fixture(header, data...))
	})
}
