package dataset

import (
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

func loadSVHN(dir, split string, opt Options) (*Set, error) {
	if err := opt.fixedSize(cifarSide, cifarSide, 3); err != nil {
		return nil, err
	}
	src, r, most, err := openFound(dir, split+"_32x32.mat")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	images, labels, err := readSVHN(r, most, opt.Limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.name, err)
	}
	return &Set{N: len(labels), H: cifarSide, W: cifarSide, C: 3, Images: images, Labels: labels, Classes: digitNames}, nil
}

// svhnVars collects the two variables of an SVHN file as they are found, in either order.
type svhnVars struct {
	limit        int // keep the first limit images and labels (all when 0)
	images       []uint8
	labels       []int32
	nX, nY       int64 // counts the variables declare
	haveX, haveY bool
}

// readSVHN reads the X and y variables of an SVHN format-2 MAT-file from r, which can yield
// at most most bytes, and returns the first limit images (HWC) and labels (0–9), all when
// limit is 0. Other variables are skipped.
func readSVHN(r io.Reader, most int64, limit int) ([]uint8, []int32, error) {
	order, err := readMATHeader(r)
	if err != nil {
		return nil, nil, err
	}
	file := &matReader{r: r, order: order}
	v := &svhnVars{limit: limit}
	for {
		e, err := file.tag()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading element tag: %w", noEOF(err))
		}
		if e.small != nil || (e.typ != miMatrix && e.typ != miCompressed) {
			return nil, nil, fmt.Errorf("top-level element of type %d, want a variable (%d or %d)", e.typ, miMatrix, miCompressed)
		}
		if e.n > most {
			return nil, nil, fmt.Errorf("variable of %d bytes, more than the file holds", e.n)
		}
		raw := &io.LimitedReader{R: r, N: e.n}
		if err := v.readVariable(raw, e, order); err != nil {
			return nil, nil, err
		}
		// Skip what was not needed: other variables, images past the limit. Compressed
		// bytes are skipped without being decompressed.
		if _, err := io.Copy(io.Discard, raw); err != nil {
			return nil, nil, err
		}
		if raw.N != 0 {
			return nil, nil, fmt.Errorf("truncated: a variable of %d bytes ends after %d", e.n, e.n-raw.N)
		}
	}
	switch {
	case !v.haveX:
		return nil, nil, errors.New("no variable X")
	case !v.haveY:
		return nil, nil, errors.New("no variable y")
	case v.nX != v.nY:
		return nil, nil, fmt.Errorf("X holds %d images but y holds %d labels", v.nX, v.nY)
	}
	return v.images, v.labels, nil
}

// readVariable reads the top-level element e, whose data raw yields, if it is X or y.
func (v *svhnVars) readVariable(raw io.Reader, e matElement, order binary.ByteOrder) error {
	body, most := raw, e.n
	var zr io.ReadCloser
	if e.typ == miCompressed {
		var err error
		if zr, err = zlib.NewReader(raw); err != nil {
			return fmt.Errorf("compressed variable: %w", err)
		}
		defer zr.Close()
		inner, err := (&matReader{r: zr, order: order}).next("compressed variable", miMatrix, e.n*maxDeflateRatio)
		if err != nil {
			return err
		}
		body, most = io.LimitReader(zr, inner.n), inner.n
	}
	m := &matReader{r: body, order: order}
	a, err := m.readArrayHeader()
	if err != nil {
		return fmt.Errorf("variable: %w", err)
	}
	var complete bool // the variable was read to its end
	switch {
	case a.name == "X" && !v.haveX:
		complete, err = v.readX(m, a, most)
	case a.name == "y" && !v.haveY:
		complete, err = v.readY(m, a)
	case a.name == "X" || a.name == "y":
		err = errors.New("second variable of that name")
	default:
		return nil
	}
	if err == nil && zr != nil && complete {
		// Reading the zlib stream to its end verifies its checksum.
		_, err = io.Copy(io.Discard, zr)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	return nil
}

// readX reads the images of X, a uint8 array of 32×32×3×N stored column-major: the byte
// of row r, column c, channel k of image i is at r + 32c + 1024k + 3072i. It keeps the
// first v.limit images, converted to HWC.
func (v *svhnVars) readX(m *matReader, a matArray, most int64) (complete bool, err error) {
	dims := a.dims
	if len(dims) == 3 {
		dims = append(dims, 1) // MATLAB drops trailing singleton dimensions
	}
	if a.class != mxUint8 || a.complex || len(dims) != 4 || dims[0] != cifarSide || dims[1] != cifarSide || dims[2] != 3 {
		return false, fmt.Errorf("want a real uint8 array of 32×32×3×N, got class %d, complex %v, dimensions %v", a.class, a.complex, a.dims)
	}
	n := dims[3]
	if n == 0 {
		return false, errors.New("no images")
	}
	if size := n * cifarPixels; size > most || size > maxSetBytes {
		return false, fmt.Errorf("%d images, more than the file holds", n)
	}
	e, err := m.next("real part", miUint8, n*cifarPixels)
	if err != nil {
		return false, err
	}
	if e.n != n*cifarPixels {
		return false, fmt.Errorf("real part of %d bytes, want %d", e.n, n*cifarPixels)
	}
	keep := n
	if v.limit > 0 {
		keep = min(n, int64(v.limit))
	}
	images := make([]uint8, keep*cifarPixels)
	src := make([]byte, cifarPixels)
	const plane = cifarSide * cifarSide
	for i := range keep {
		if _, err := io.ReadFull(m.r, src); err != nil {
			return false, fmt.Errorf("image %d: %w", i, noEOF(err))
		}
		dst := images[i*cifarPixels : (i+1)*cifarPixels]
		for k := range 3 {
			for c := range cifarSide {
				col := src[k*plane+c*cifarSide : k*plane+(c+1)*cifarSide]
				for r, b := range col {
					dst[(r*cifarSide+c)*3+k] = b
				}
			}
		}
	}
	v.images, v.nX, v.haveX = images, n, true
	return keep == n, nil
}

// readY reads the labels of y, a real N×1 (or 1×N) numeric array of digits 1–10 where 10
// stands for 0, and keeps the first v.limit of them as 0–9.
func (v *svhnVars) readY(m *matReader, a matArray) (complete bool, err error) {
	if a.class < mxDouble || a.class > mxUint64 || a.complex || len(a.dims) != 2 || min(a.dims[0], a.dims[1]) != 1 {
		return false, fmt.Errorf("want a real numeric N×1 array, got class %d, complex %v, dimensions %v", a.class, a.complex, a.dims)
	}
	n := a.dims[0] * a.dims[1]
	if n > maxSetBytes/cifarPixels {
		return false, fmt.Errorf("%d labels, more than any image array can hold", n)
	}
	e, err := m.tag()
	if err != nil {
		return false, fmt.Errorf("real part: %w", noEOF(err))
	}
	size, ok := numberSize[e.typ]
	if !ok || e.n != n*int64(size) {
		return false, fmt.Errorf("real part: element type %d of %d bytes for %d numbers", e.typ, e.n, n)
	}
	data, err := m.data(e)
	if err != nil {
		return false, fmt.Errorf("real part: %w", err)
	}
	labels := make([]int32, n)
	for i := range labels {
		x := m.number(e.typ, data, i)
		if x != math.Trunc(x) || x < 1 || x > 10 {
			return false, fmt.Errorf("label %d is %v, want 1 to 10", i, x)
		}
		labels[i] = int32(x) % 10
	}
	if v.limit > 0 && len(labels) > v.limit {
		labels = slices.Clip(labels[:v.limit])
	}
	v.labels, v.nY, v.haveY = labels, n, true
	return true, nil
}
