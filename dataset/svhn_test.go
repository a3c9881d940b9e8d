package dataset

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"math"
	"slices"
	"testing"
)

// A MAT-file writer written from the format description ("MAT-File Format", level 5), to
// build SVHN-like fixtures: the real files are 180 MB and not in the shared data.

// byteOrder is what binary.LittleEndian and binary.BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type matWriter struct {
	order    byteOrder
	compress bool // wrap each variable in miCOMPRESSED, as MATLAB -v7 does
	buf      bytes.Buffer
}

func newMATWriter(order byteOrder, compress bool) *matWriter {
	w := &matWriter{order: order, compress: compress}
	var h [128]byte
	copy(h[:116], "MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Fri Nov 27 07:10:00 2026")
	for i := 76; i < 116; i++ {
		h[i] = ' '
	}
	w.order.PutUint16(h[124:], 0x0100)
	w.order.PutUint16(h[126:], 'M'<<8|'I') // reads "IM" in a little-endian file
	w.buf.Write(h[:])
	return w
}

// element returns a data element: the small format for up to 4 bytes when small is set,
// otherwise a tag and the data padded to a multiple of 8 bytes.
func (w *matWriter) element(typ uint32, data []byte, small bool) []byte {
	var out []byte
	if small && len(data) <= 4 {
		out = w.order.AppendUint32(out, uint32(len(data))<<16|typ)
		return append(out, append(slices.Clone(data), make([]byte, 4-len(data))...)...)
	}
	out = w.order.AppendUint32(out, typ)
	out = w.order.AppendUint32(out, uint32(len(data)))
	out = append(out, data...)
	return append(out, make([]byte, pad8(int64(len(data))))...)
}

// variable appends a real numeric array: class, dimensions, name, and its data stored as
// element type typ.
func (w *matWriter) variable(name string, class byte, dims []int32, typ uint32, data []byte) *matWriter {
	var flags, dimBytes []byte
	flags = w.order.AppendUint32(flags, uint32(class))
	flags = w.order.AppendUint32(flags, 0)
	for _, d := range dims {
		dimBytes = w.order.AppendUint32(dimBytes, uint32(d))
	}
	var body []byte
	body = append(body, w.element(miUint32, flags, false)...)
	body = append(body, w.element(miInt32, dimBytes, false)...)
	body = append(body, w.element(miInt8, []byte(name), true)...)
	body = append(body, w.element(typ, data, true)...)
	matrix := w.element(miMatrix, body, false)
	if !w.compress {
		w.buf.Write(matrix)
		return w
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(matrix)
	zw.Close()
	w.buf.Write(w.order.AppendUint32(nil, miCompressed))
	w.buf.Write(w.order.AppendUint32(nil, uint32(z.Len())))
	w.buf.Write(z.Bytes()) // compressed elements are not padded
	return w
}

// svhnX returns n images of 32×32×3 in MATLAB's column-major order, pixel values from
// pixelValue so that checkPixels can verify the conversion to HWC.
func svhnX(n int) []byte {
	out := make([]byte, n*3072)
	for i := range n {
		for k := range 3 {
			for c := range 32 {
				for r := range 32 {
					out[r+32*c+1024*k+3072*i] = pixelValue(i, r*32+c, k)
				}
			}
		}
	}
	return out
}

func doubles(order byteOrder, v ...float64) []byte {
	var out []byte
	for _, x := range v {
		out = order.AppendUint64(out, math.Float64bits(x))
	}
	return out
}

func (w *matWriter) x(n int) *matWriter {
	return w.variable("X", mxUint8, []int32{32, 32, 3, int32(n)}, miUint8, svhnX(n))
}

func (w *matWriter) y(v ...float64) *matWriter {
	return w.variable("y", mxDouble, []int32{int32(len(v)), 1}, miDouble, doubles(w.order, v...))
}

func (w *matWriter) bytes() []byte { return w.buf.Bytes() }

func TestSVHNSynthetic(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	tests := []struct {
		name  string
		file  []byte
		limit int
		want  []int32
	}{
		{"uncompressed", newMATWriter(le, false).x(3).y(10, 1, 5).bytes(), 0, []int32{0, 1, 5}},
		{"compressed, y first", newMATWriter(le, true).y(9, 10, 2).x(3).bytes(), 0, []int32{9, 0, 2}},
		{"big-endian", newMATWriter(be, false).x(2).y(3, 4).bytes(), 0, []int32{3, 4}},
		{"y stored as uint8, other variables",
			newMATWriter(le, true).
				variable("junk", mxDouble, []int32{1, 2}, miDouble, doubles(le, 1, 2)).
				x(2).
				variable("y", mxDouble, []int32{2, 1}, miUint8, []byte{10, 7}).
				variable("tail", mxUint8, []int32{1, 1}, miUint8, []byte{1}).bytes(),
			0, []int32{0, 7}},
		{"limit, compressed", newMATWriter(le, true).x(4).y(1, 2, 3, 4).bytes(), 2, []int32{1, 2}},
		{"limit, uncompressed", newMATWriter(le, false).x(4).y(1, 2, 3, 4).bytes(), 3, []int32{1, 2, 3}},
		{"one image (MATLAB drops the trailing 1)",
			newMATWriter(le, false).variable("X", mxUint8, []int32{32, 32, 3}, miUint8, svhnX(1)).y(6).bytes(),
			0, []int32{6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "test_32x32.mat", tt.file)
			s, err := Load("svhn", dir, "test", Options{Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Labels, tt.want) || s.N != len(tt.want) || s.H != 32 || s.W != 32 || s.C != 3 || len(s.Images) != s.N*3072 {
				t.Fatalf("N=%d %d×%d×%d labels %v, want %v", s.N, s.H, s.W, s.C, s.Labels, tt.want)
			}
			if len(s.Classes) != 10 || s.Classes[0] != "0" {
				t.Errorf("classes %v", s.Classes)
			}
			for i := range s.N {
				checkPixels(t, s, i, i)
			}
		})
	}
}

func TestSVHNErrors(t *testing.T) {
	le := binary.LittleEndian
	valid := newMATWriter(le, true).x(1).y(1).bytes()
	corrupt := slices.Clone(valid)
	corrupt[len(corrupt)-6] ^= 0xff // inside the zlib stream (or its checksum) of y
	v73 := slices.Clone(valid)
	copy(v73, "MATLAB 7.3 MAT-file")
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"no y", newMATWriter(le, false).x(2).bytes(), "test_32x32.mat: no variable y"},
		{"no X", newMATWriter(le, true).y(1).bytes(), "no variable X"},
		{"counts differ", newMATWriter(le, false).x(3).y(1, 2).bytes(), "X holds 3 images but y holds 2 labels"},
		{"label 11", newMATWriter(le, false).x(2).y(1, 11).bytes(), "y: label 1 is 11, want 1 to 10"},
		{"label 0", newMATWriter(le, true).x(1).y(0).bytes(), "y: label 0 is 0"},
		{"fractional label", newMATWriter(le, false).x(1).y(2.5).bytes(), "label 0 is 2.5"},
		{"grayscale X", newMATWriter(le, false).variable("X", mxUint8, []int32{32, 32, 2}, miUint8, make([]byte, 2048)).bytes(),
			"X: want a real uint8 array of 32×32×3×N, got class 9, complex false, dimensions [32 32 2]"},
		{"double X", newMATWriter(le, false).variable("X", mxDouble, []int32{32, 32, 3, 1}, miUint8, make([]byte, 3072)).bytes(),
			"X: want a real uint8 array"},
		{"short X data", newMATWriter(le, false).variable("X", mxUint8, []int32{32, 32, 3, 2}, miUint8, make([]byte, 3072)).bytes(),
			"X: 2 images, more than the file holds"},
		{"two X", newMATWriter(le, false).x(1).x(1).y(1).bytes(), "X: second variable of that name"},
		{"y of the wrong length", newMATWriter(le, false).x(1).variable("y", mxDouble, []int32{1, 1}, miDouble, make([]byte, 16)).bytes(),
			"y: real part: element type 9 of 16 bytes for 1 numbers"},
		{"v7.3", v73, "MATLAB 7.3 MAT-files are HDF5 and not supported"},
		{"not a MAT-file", bytes.Repeat([]byte("x"), 200), "not a MATLAB level-5 MAT-file"},
		{"corrupt compressed data", corrupt, "test_32x32.mat: y: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "test_32x32.mat", tt.file)
			_, err := Load("svhn", dir, "test", Options{})
			wantError(t, err, "dataset svhn: test_32x32.mat: ", tt.want)
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		withTail := newMATWriter(le, true).x(1).y(1).variable("z", mxDouble, []int32{1, 1}, miDouble, doubles(le, 1)).bytes()
		for _, file := range [][]byte{valid, newMATWriter(le, false).x(1).y(1).bytes(), withTail} {
			for n := range len(file) {
				if bytes.Equal(file[:n], valid) {
					continue // cut between variables: a complete file without z
				}
				if _, _, err := readSVHN(bytes.NewReader(file[:n]), int64(n), 0); err == nil {
					t.Fatalf("no error for the first %d of %d bytes", n, len(file))
				}
			}
		}
	})
}

func FuzzSVHN(f *testing.F) {
	le := binary.LittleEndian
	f.Add(newMATWriter(le, true).x(1).y(1).bytes(), uint8(0))
	f.Add(newMATWriter(le, false).x(2).y(3, 10).bytes(), uint8(1))
	f.Add(newMATWriter(binary.BigEndian, false).y(3).x(1).bytes(), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, limit uint8) {
		images, labels, err := readSVHN(bytes.NewReader(data), int64(len(data)), int(limit))
		if err != nil {
			return
		}
		if len(images) != len(labels)*3072 || (limit > 0 && len(labels) > int(limit)) {
			t.Fatalf("%d image bytes for %d labels (limit %d)", len(images), len(labels), limit)
		}
		for i, l := range labels {
			if l < 0 || l > 9 {
				t.Fatalf("label %d is %d", i, l)
			}
		}
	})
}
