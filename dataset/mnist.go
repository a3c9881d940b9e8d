package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

var digitNames = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

func loadMNIST(dir, split string, opt Options) (*Set, error) {
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	images, err := readIdxFile(dir, prefix+"-images-idx3-ubyte", 3, opt.Limit)
	if err != nil {
		return nil, err
	}
	labels, err := readIdxFile(dir, prefix+"-labels-idx1-ubyte", 1, opt.Limit)
	if err != nil {
		return nil, err
	}
	if images.dims[0] != labels.dims[0] {
		return nil, fmt.Errorf("%s holds %d images but %s holds %d labels", images.name, images.dims[0], labels.name, labels.dims[0])
	}
	h, w := images.dims[1], images.dims[2]
	if err := opt.fixedSize(h, w, 1); err != nil {
		return nil, err
	}
	s := &Set{N: len(labels.data), H: h, W: w, C: 1, Images: images.data, Labels: make([]int32, len(labels.data)), Classes: digitNames}
	for i, l := range labels.data {
		if int(l) >= len(digitNames) {
			return nil, fmt.Errorf("%s: label %d of item %d out of range [0, %d)", labels.name, l, i, len(digitNames))
		}
		s.Labels[i] = int32(l)
	}
	return s, nil
}

// idx is the content of an idx file: dims[0] items of dims[1]×dims[2]… unsigned bytes.
type idx struct {
	name string
	dims []int
	data []byte // the first limit items (all when limit is 0)
}

func readIdxFile(dir, base string, ndims, limit int) (*idx, error) {
	src, r, most, err := openFound(dir, base)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	dims, data, err := readIdx(r, most, ndims, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.name, err)
	}
	return &idx{name: src.name, dims: dims, data: data}, nil
}

// maxIdxSide bounds every dimension of an idx item: MNIST-like items are a few dozen
// bytes across, and the bound keeps the size arithmetic far from overflowing.
const maxIdxSide = 1 << 12

// readIdx parses an idx file of unsigned bytes with ndims dimensions from r, which can
// yield at most most bytes. It returns the dimensions and the first limit items (all
// when limit is 0). The sizes the header declares are checked against most and
// maxSetBytes before the data is allocated; an intact file ends right after its data.
func readIdx(r io.Reader, most int64, ndims, limit int) ([]int, []byte, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, nil, fmt.Errorf("reading magic: %w", noEOF(err))
	}
	switch {
	case magic[0] != 0 || magic[1] != 0:
		return nil, nil, fmt.Errorf("bad magic % x: not an idx file", magic)
	case magic[2] != 0x08:
		return nil, nil, fmt.Errorf("element type 0x%02x, want 0x08 (unsigned byte)", magic[2])
	case int(magic[3]) != ndims:
		return nil, nil, fmt.Errorf("%d dimensions, want %d", magic[3], ndims)
	}
	raw := make([]byte, 4*ndims)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, fmt.Errorf("reading dimensions: %w", noEOF(err))
	}
	count := int64(binary.BigEndian.Uint32(raw))
	item := int64(1) // bytes per item
	for i := 1; i < ndims; i++ {
		d := int64(binary.BigEndian.Uint32(raw[4*i:]))
		if d == 0 || d > maxIdxSide {
			return nil, nil, fmt.Errorf("dimension %d is %d, want 1 to %d", i, d, maxIdxSide)
		}
		item *= d
	}
	if count == 0 {
		return nil, nil, errors.New("header declares no items")
	}
	header := int64(len(magic) + len(raw))
	// count < 2³², item ≤ 2³⁶: no overflow.
	if total := count * item; total > most-header || total > maxSetBytes {
		return nil, nil, fmt.Errorf("header declares %d items of %d bytes, more than the file holds", count, item)
	}
	dims := []int{int(count)}
	for i := 1; i < ndims; i++ {
		dims = append(dims, int(binary.BigEndian.Uint32(raw[4*i:])))
	}
	n := count
	if limit > 0 {
		n = min(n, int64(limit))
	}
	data := make([]byte, n*item)
	if k, err := io.ReadFull(r, data); err != nil {
		return nil, nil, fmt.Errorf("truncated: header declares %d items of %d bytes, data ends after %d: %w", count, item, k, noEOF(err))
	}
	if n == count {
		// Read to the end, which also makes gzip verify its checksum.
		k, err := io.ReadFull(r, make([]byte, 1))
		if k != 0 {
			return nil, nil, fmt.Errorf("data continues after the %d items the header declares", count)
		}
		if err != nil && err != io.EOF {
			return nil, nil, err
		}
	}
	return dims, data, nil
}

// noEOF turns a clean end of file where more data is required into the error it is.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
