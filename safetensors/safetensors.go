// Package safetensors reads and writes the safetensors format: an 8-byte little-endian header
// length N, N bytes of JSON header describing each tensor, then the raw little-endian tensor data.
//
// The reader is strict because its input may come from anywhere: every size in the header is
// checked against the bytes actually present before anything large is allocated, and a file is
// accepted only if its tensors tile the data region exactly (no overlaps, no holes, no trailing
// bytes), as the reference implementation requires. The writer is deterministic so that the same
// weights always produce the same file, which makes files comparable by hash.
package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ninedge/ninedge/internal/atomicfile"
	"github.com/ninedge/ninedge/internal/infile"
)

// MaxHeaderSize is the largest JSON header accepted, the same bound the reference
// implementation uses; it stops a corrupt length from causing a huge allocation.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding free-form string metadata.
const metadataKey = "__metadata__"

// DType names the element type of a tensor as the header spells it.
type DType string

// The element types this package knows. The names mirror reflect.Kind so that they do not
// clash with the F32, I8, ... constructors.
const (
	Bool     DType = "BOOL"
	Uint8    DType = "U8"
	Int8     DType = "I8"
	Int16    DType = "I16"
	Uint16   DType = "U16"
	Float16  DType = "F16"
	BFloat16 DType = "BF16"
	Int32    DType = "I32"
	Uint32   DType = "U32"
	Float32  DType = "F32"
	Float64  DType = "F64"
	Int64    DType = "I64"
	Uint64   DType = "U64"
)

// dtypeInfo gives each known dtype its element size and its position in the reference
// implementation's Dtype enum, which orders the tensors of a written file.
var dtypeInfo = map[DType]struct{ size, rank int }{
	Bool: {1, 0}, Uint8: {1, 1}, Int8: {1, 2}, Int16: {2, 3}, Uint16: {2, 4}, Float16: {2, 5},
	BFloat16: {2, 6}, Int32: {4, 7}, Uint32: {4, 8}, Float32: {4, 9}, Float64: {8, 10},
	Int64: {8, 11}, Uint64: {8, 12},
}

// Size returns the size in bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeInfo[d].size }

// Tensor is one named tensor. Data holds the elements in little-endian, row-major order.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is the content of a safetensors file. A nil Metadata is left out of the header; a
// non-nil empty one is written as an empty object, so both survive a round trip.
type File struct {
	Metadata map[string]string
	Tensors  []Tensor
}

// Tensor returns the tensor with the given name.
func (f *File) Tensor(name string) (*Tensor, error) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], nil
		}
	}
	return nil, fmt.Errorf("safetensors: no tensor %q among the %d in the file", name, len(f.Tensors))
}

// numElements multiplies out a shape, failing on negative dimensions and on products that
// do not fit in an int.
func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n = int(lo)
	}
	return n, nil
}

// byteSize returns how many data bytes a tensor of this dtype and shape must have.
func byteSize(dt DType, shape []int) (int, error) {
	size := dt.Size()
	if size == 0 {
		return 0, fmt.Errorf("unknown dtype %q", string(dt))
	}
	n, err := numElements(shape)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt/size {
		return 0, fmt.Errorf("shape %v of %s is too large", shape, dt)
	}
	return n * size, nil
}

// check reports whether the tensor is internally consistent: a known dtype, and exactly the
// number of data bytes its shape calls for.
func (t *Tensor) check() error {
	want, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return err
	}
	if len(t.Data) != want {
		return fmt.Errorf("shape %v of %s needs %d bytes, data has %d", t.Shape, t.DType, want, len(t.Data))
	}
	return nil
}

// CheckShape returns an error unless the tensor's shape is exactly want.
func (t *Tensor) CheckShape(want ...int) error {
	if !slices.Equal(t.Shape, want) {
		return fmt.Errorf("safetensors: tensor %q has shape %v, want %v", t.Name, t.Shape, want)
	}
	return nil
}

// elements checks that the tensor holds dtype want and returns its data.
func (t *Tensor) elements(want DType) ([]byte, error) {
	if t.DType != want {
		return nil, fmt.Errorf("safetensors: tensor %q is %s, not %s", t.Name, t.DType, want)
	}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	return t.Data, nil
}

// Float32s returns the elements of an F32 tensor.
func (t *Tensor) Float32s() ([]float32, error) {
	b, err := t.elements(Float32)
	if err != nil {
		return nil, err
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// Float64s returns the elements of an F64 tensor.
func (t *Tensor) Float64s() ([]float64, error) {
	b, err := t.elements(Float64)
	if err != nil {
		return nil, err
	}
	v := make([]float64, len(b)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v, nil
}

// Int32s returns the elements of an I32 tensor.
func (t *Tensor) Int32s() ([]int32, error) {
	b, err := t.elements(Int32)
	if err != nil {
		return nil, err
	}
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// Int8s returns the elements of an I8 tensor.
func (t *Tensor) Int8s() ([]int8, error) {
	b, err := t.elements(Int8)
	if err != nil {
		return nil, err
	}
	v := make([]int8, len(b))
	for i, x := range b {
		v[i] = int8(x)
	}
	return v, nil
}

// Uint8s returns the elements of a U8 tensor.
func (t *Tensor) Uint8s() ([]uint8, error) {
	b, err := t.elements(Uint8)
	if err != nil {
		return nil, err
	}
	return slices.Clone(b), nil
}

// F32 builds an F32 tensor from values in row-major order. A length that does not match the
// shape is reported by Validate (and WriteFile), naming the tensor.
func F32(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return Tensor{Name: name, DType: Float32, Shape: slices.Clone(shape), Data: b}
}

// F64 builds an F64 tensor; see F32.
func F64(name string, shape []int, v []float64) Tensor {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return Tensor{Name: name, DType: Float64, Shape: slices.Clone(shape), Data: b}
}

// I32 builds an I32 tensor; see F32.
func I32(name string, shape []int, v []int32) Tensor {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	return Tensor{Name: name, DType: Int32, Shape: slices.Clone(shape), Data: b}
}

// I8 builds an I8 tensor; see F32.
func I8(name string, shape []int, v []int8) Tensor {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return Tensor{Name: name, DType: Int8, Shape: slices.Clone(shape), Data: b}
}

// U8 builds a U8 tensor; see F32.
func U8(name string, shape []int, v []uint8) Tensor {
	return Tensor{Name: name, DType: Uint8, Shape: slices.Clone(shape), Data: slices.Clone(v)}
}

// Validate reports the first reason the file cannot be written: a tensor with an unknown
// dtype, a bad shape or the wrong amount of data, a duplicate or reserved name, or a string
// that is not valid UTF-8 (a reader could not read it back).
func (f *File) Validate() error {
	for k, v := range f.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("safetensors: metadata %q: %q is not valid UTF-8", k, v)
		}
	}
	seen := make(map[string]bool, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		switch {
		case t.Name == metadataKey:
			return fmt.Errorf("safetensors: tensor name %q is reserved for metadata", t.Name)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", t.Name)
		case seen[t.Name]:
			return fmt.Errorf("safetensors: two tensors are named %q", t.Name)
		}
		seen[t.Name] = true
		if err := t.check(); err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// layout returns the tensors in the order they are written: by dtype in the reference
// implementation's order, widest alignment first, then by name. Any file the Python library
// writes comes out in this order, so re-encoding one of its files (with at most one metadata
// entry, whose key order it leaves to a hash map) reproduces it byte for byte, and every
// tensor's data starts aligned to its element size.
func (f *File) layout() []*Tensor {
	ts := make([]*Tensor, len(f.Tensors))
	for i := range f.Tensors {
		ts[i] = &f.Tensors[i]
	}
	slices.SortFunc(ts, func(a, b *Tensor) int {
		if ra, rb := dtypeInfo[a.DType].rank, dtypeInfo[b.DType].rank; ra != rb {
			return rb - ra
		}
		return strings.Compare(a.Name, b.Name)
	})
	return ts
}

// header builds the JSON header exactly as the reference implementation prints it: compact,
// metadata first (keys sorted, so the output is deterministic), then the tensors in layout
// order with the fields dtype, shape, data_offsets; padded with spaces to a multiple of 8.
func (f *File) header(ts []*Tensor) []byte {
	h := []byte{'{'}
	if f.Metadata != nil {
		h = appendString(h, metadataKey)
		h = append(h, ':', '{')
		for i, k := range slices.Sorted(maps.Keys(f.Metadata)) {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendString(h, k)
			h = append(h, ':')
			h = appendString(h, f.Metadata[k])
		}
		h = append(h, '}')
	}
	off := 0
	for _, t := range ts {
		if len(h) > 1 {
			h = append(h, ',')
		}
		h = appendString(h, t.Name)
		h = append(h, `:{"dtype":`...)
		h = appendString(h, string(t.DType))
		h = append(h, `,"shape":[`...)
		for i, d := range t.Shape {
			if i > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		h = fmt.Appendf(h, `],"data_offsets":[%d,%d]}`, off, off+len(t.Data))
		off += len(t.Data)
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	return h
}

// appendString appends s as a JSON string escaped the way serde_json (used by the reference
// implementation) escapes it: only quote, backslash and control characters, the common ones
// in short form and the rest as lowercase \u00xx. encoding/json would also escape <, > and &,
// which would make our bytes differ from the Python library's.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// encodeTo writes f, which must be valid, to w. It ignores write errors, so w must be a
// writer that keeps its first error for later (bytes.Buffer never fails; bufio.Writer reports
// it from Flush).
func (f *File) encodeTo(w io.Writer) {
	ts := f.layout()
	h := f.header(ts)
	w.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(h))))
	w.Write(h)
	for _, t := range ts {
		w.Write(t.Data)
	}
}

// Encode returns the file in safetensors format. The bytes depend only on the content of f,
// not on the order of f.Tensors or of the metadata map: tensors are laid out as the Python
// safetensors library lays them out (by dtype, widest first, then by name), and metadata keys
// are sorted. Encode panics if f is invalid (see Validate), as a File is built by the program
// itself; WriteFile returns the error instead.
func (f *File) Encode() []byte {
	if err := f.Validate(); err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	f.encodeTo(&buf)
	return buf.Bytes()
}

// Decode parses a complete safetensors file held in memory. The tensors come back in the order
// of their data in the file, and their Data does not alias b.
func Decode(b []byte) (*File, error) {
	f, err := read(bytes.NewReader(b), int64(len(b)), true)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// Read parses a safetensors file from r, which must end where the file ends. It reads at most
// limit bytes of file, failing before it allocates anything the limit would not allow, plus
// one byte to make sure nothing follows the file.
func Read(r io.Reader, limit int64) (*File, error) {
	f, err := read(r, limit, false)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// ReadFile reads a safetensors file from disk; its size, taken first, bounds every allocation.
func ReadFile(path string) (*File, error) {
	fd, err := infile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := read(fd, st.Size(), true)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return f, nil
}

// reader reads the file in pieces, never past the limit.
type reader struct {
	r     io.Reader
	limit int64 // bytes the file may have
	pos   int64 // bytes read so far
	sized bool  // the limit is the exact size of the input, not just a bound
}

// room checks, before anything is allocated for it, that the named part of the file, n bytes
// long, fits within the limit.
func (rd *reader) room(n uint64, what string) error {
	left := uint64(rd.limit - rd.pos)
	switch {
	case n <= left:
		return nil
	case rd.sized:
		return fmt.Errorf("file truncated: %s needs %d bytes at offset %d, only %d left", what, n, rd.pos, left)
	default:
		return fmt.Errorf("%s needs %d bytes at offset %d, past the read limit of %d bytes", what, n, rd.pos, rd.limit)
	}
}

// full reads len(p) bytes of the named part of the file.
func (rd *reader) full(p []byte, what string) error {
	if err := rd.room(uint64(len(p)), what); err != nil {
		return err
	}
	n, err := io.ReadFull(rd.r, p)
	rd.pos += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("file truncated: %s needs %d bytes at offset %d, got %d", what, len(p), rd.pos-int64(n), n)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
}

func read(r io.Reader, limit int64, sized bool) (*File, error) {
	if limit < 0 {
		return nil, fmt.Errorf("negative read limit %d", limit)
	}
	rd := &reader{r: r, limit: limit, sized: sized}
	var lenBuf [8]byte
	if err := rd.full(lenBuf[:], "header length"); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("header length %d is over the maximum of %d", n, MaxHeaderSize)
	}
	if err := rd.room(n, "header"); err != nil {
		return nil, err
	}
	h := make([]byte, n)
	if err := rd.full(h, "header"); err != nil {
		return nil, err
	}
	f, entries, err := parseHeader(h)
	if err != nil {
		return nil, err
	}
	size, err := checkLayout(entries)
	if err != nil {
		return nil, err
	}
	if sized && size < uint64(limit-rd.pos) {
		return nil, fmt.Errorf("trailing data (%d bytes) after the %d-byte data region", uint64(limit-rd.pos)-size, size)
	}
	if left := uint64(limit - rd.pos); size > left {
		for _, e := range entries {
			if e.end <= left {
				continue
			}
			if sized {
				return nil, fmt.Errorf("file truncated: tensor %q: data_offsets [%d %d] run past the end of the %d-byte data region",
					e.name, e.begin, e.end, left)
			}
			return nil, fmt.Errorf("tensor %q: data_offsets [%d %d] run past the %d bytes the read limit leaves for data",
				e.name, e.begin, e.end, left)
		}
	}
	if size > math.MaxInt { // only possible where int has 32 bits
		return nil, fmt.Errorf("data region of %d bytes does not fit in memory", size)
	}
	data := make([]byte, size)
	if err := rd.full(data, "data region"); err != nil {
		return nil, err
	}
	var probe [1]byte
	switch k, err := io.ReadFull(r, probe[:]); {
	case k > 0:
		return nil, fmt.Errorf("trailing data after the %d-byte data region", size)
	case err != io.EOF:
		return nil, fmt.Errorf("checking for the end of the file: %w", err)
	}
	f.Tensors = make([]Tensor, len(entries))
	for i, e := range entries {
		f.Tensors[i] = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape, Data: data[e.begin:e.end:e.end]}
	}
	return f, nil
}

// WriteFile writes f to path atomically: it writes a temporary file in the same directory,
// syncs it, renames it over path and syncs the directory, so that a crash or an error at any
// point leaves either the old file or the complete new one, never a partial file, and no
// temporary file behind. The file gets mode 0644.
func WriteFile(path string, f *File) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%w (not writing %s)", err, path)
	}
	err := atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		f.encodeTo(bw)
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}
