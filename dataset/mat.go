package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// A minimal reader of MATLAB level-5 MAT-files, following "MAT-File Format" (MathWorks,
// the version 5 chapter): a 128-byte header, then data elements, each an 8-byte tag (type,
// byte count) and its data padded to 8 bytes. A variable is an miMATRIX element whose
// sub-elements are array flags, dimensions, name and real part; MATLAB -v7 wraps each in
// an miCOMPRESSED element holding a zlib stream. Only what SVHN needs is understood:
// numeric, real, non-sparse arrays.

// Data types of elements.
const (
	miInt8       = 1
	miUint8      = 2
	miInt16      = 3
	miUint16     = 4
	miInt32      = 5
	miUint32     = 6
	miSingle     = 7
	miDouble     = 9
	miInt64      = 12
	miUint64     = 13
	miMatrix     = 14
	miCompressed = 15
)

// Array classes (the low byte of the array flags): the numeric ones run from mxDouble to
// mxUint64.
const (
	mxDouble = 6
	mxUint8  = 9
	mxUint64 = 15
)

const (
	matFlagComplex = 0x0800
	matMaxDims     = 32 // MATLAB's own limit
	matMaxName     = 64 // namelengthmax is 63
)

// readMATHeader reads the 128-byte header and returns the byte order of the file.
func readMATHeader(r io.Reader) (binary.ByteOrder, error) {
	var h [128]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("reading MAT-file header: %w", noEOF(err))
	}
	text := string(h[:116])
	switch {
	case strings.HasPrefix(text, "MATLAB 7.3 MAT-file"):
		return nil, errors.New("MATLAB 7.3 MAT-files are HDF5 and not supported: save with -v7")
	case !strings.HasPrefix(text, "MATLAB 5.0 MAT-file"):
		return nil, errors.New("not a MATLAB level-5 MAT-file")
	}
	var order binary.ByteOrder
	switch string(h[126:128]) {
	case "IM":
		order = binary.LittleEndian
	case "MI":
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("MAT-file endian indicator %q, want \"IM\" or \"MI\"", h[126:128])
	}
	if v := order.Uint16(h[124:]); v != 0x0100 {
		return nil, fmt.Errorf("MAT-file version 0x%04x, want 0x0100", v)
	}
	return order, nil
}

// matReader reads data elements from r.
type matReader struct {
	r     io.Reader
	order binary.ByteOrder
}

// matElement is a data element whose tag has been read.
type matElement struct {
	typ   uint32
	n     int64  // byte count of the data
	small []byte // the data of a small element (at most 4 bytes, packed into the tag)
}

// tag reads the next element tag. At a clean end of the input it returns io.EOF.
func (m *matReader) tag() (matElement, error) {
	var t [8]byte
	if _, err := io.ReadFull(m.r, t[:]); err != nil {
		return matElement{}, err
	}
	w := m.order.Uint32(t[:])
	if w>>16 == 0 {
		return matElement{typ: w, n: int64(m.order.Uint32(t[4:]))}, nil
	}
	// Small element: the upper half of the first word is the byte count.
	n := w >> 16
	if n > 4 {
		return matElement{}, fmt.Errorf("small data element of %d bytes", n)
	}
	return matElement{typ: w & 0xffff, n: int64(n), small: t[4 : 4+n]}, nil
}

// next reads the next tag, which must be of type typ with at most most bytes of data.
func (m *matReader) next(what string, typ uint32, most int64) (matElement, error) {
	e, err := m.tag()
	if err != nil {
		return e, fmt.Errorf("%s: %w", what, noEOF(err))
	}
	if e.typ != typ {
		return e, fmt.Errorf("%s: element type %d, want %d", what, e.typ, typ)
	}
	if e.n > most {
		return e, fmt.Errorf("%s: %d bytes, want at most %d", what, e.n, most)
	}
	return e, nil
}

// data returns the data of e and skips its padding. The caller has bounded e.n.
func (m *matReader) data(e matElement) ([]byte, error) {
	if e.small != nil {
		return e.small, nil
	}
	b := make([]byte, e.n+pad8(e.n))
	if _, err := io.ReadFull(m.r, b); err != nil {
		return nil, noEOF(err)
	}
	return b[:e.n], nil
}

func pad8(n int64) int64 { return (8 - n%8) % 8 }

// matArray is the header of a variable: everything before its real part.
type matArray struct {
	class   byte
	complex bool
	dims    []int64
	name    string
}

// readArrayHeader reads the sub-elements of an miMATRIX element up to its real part.
func (m *matReader) readArrayHeader() (matArray, error) {
	var a matArray
	e, err := m.next("array flags", miUint32, 8)
	if err != nil {
		return a, err
	}
	flags, err := m.data(e)
	if err != nil || len(flags) != 8 {
		return a, fmt.Errorf("array flags: %d bytes, %v", len(flags), err)
	}
	f := m.order.Uint32(flags)
	a.class, a.complex = byte(f), f&matFlagComplex != 0
	if e, err = m.next("dimensions", miInt32, 4*matMaxDims); err != nil {
		return a, err
	}
	raw, err := m.data(e)
	if err != nil {
		return a, fmt.Errorf("dimensions: %w", err)
	}
	if len(raw) < 8 || len(raw)%4 != 0 {
		return a, fmt.Errorf("dimensions: %d bytes", len(raw))
	}
	for i := 0; i < len(raw); i += 4 {
		d := int32(m.order.Uint32(raw[i:]))
		if d < 0 {
			return a, fmt.Errorf("dimension %d is negative", d)
		}
		a.dims = append(a.dims, int64(d))
	}
	if e, err = m.next("array name", miInt8, matMaxName); err != nil {
		return a, err
	}
	name, err := m.data(e)
	if err != nil {
		return a, fmt.Errorf("array name: %w", err)
	}
	a.name = string(name)
	return a, nil
}

// numberSize is the size in bytes of the numeric element types.
var numberSize = map[uint32]int{
	miInt8: 1, miUint8: 1, miInt16: 2, miUint16: 2, miInt32: 4, miUint32: 4,
	miSingle: 4, miDouble: 8, miInt64: 8, miUint64: 8,
}

// number decodes the i-th value of data of numeric type typ. MATLAB may store an array in
// a smaller type than its class when the values fit (a double array of small integers as
// miUINT8), so the storage type, not the class, says how to read it.
func (m *matReader) number(typ uint32, data []byte, i int) float64 {
	o := m.order
	switch typ {
	case miInt8:
		return float64(int8(data[i]))
	case miUint8:
		return float64(data[i])
	case miInt16:
		return float64(int16(o.Uint16(data[2*i:])))
	case miUint16:
		return float64(o.Uint16(data[2*i:]))
	case miInt32:
		return float64(int32(o.Uint32(data[4*i:])))
	case miUint32:
		return float64(o.Uint32(data[4*i:]))
	case miSingle:
		return float64(math.Float32frombits(o.Uint32(data[4*i:])))
	case miDouble:
		return math.Float64frombits(o.Uint64(data[8*i:]))
	case miInt64:
		return float64(int64(o.Uint64(data[8*i:])))
	default: // miUint64
		return float64(o.Uint64(data[8*i:]))
	}
}
