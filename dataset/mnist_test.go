package dataset

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// idxFile returns an idx file of unsigned bytes with the given dimensions and data.
func idxFile(data []byte, dims ...uint32) []byte {
	out := []byte{0, 0, 0x08, byte(len(dims))}
	for _, d := range dims {
		out = binary.BigEndian.AppendUint32(out, d)
	}
	return append(out, data...)
}

func digits(n, rows, cols int) (images, labels []byte) {
	for i := range n {
		labels = append(labels, byte(i*3%10))
		for p := range rows * cols {
			images = append(images, byte(i*17+p))
		}
	}
	return images, labels
}

func TestMNISTSynthetic(t *testing.T) {
	dir := t.TempDir()
	images, labels := digits(5, 28, 28)
	writeFile(t, dir, "train-images-idx3-ubyte.gz", gzipped(t, idxFile(images, 5, 28, 28)))
	writeFile(t, dir, "train-labels-idx1-ubyte", idxFile(labels, 5))
	s, err := Load("mnist", dir, "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 5 || s.H != 28 || s.W != 28 || s.C != 1 || !bytes.Equal(s.Images, images) {
		t.Fatalf("N=%d %d×%d×%d, images equal: %v", s.N, s.H, s.W, s.C, bytes.Equal(s.Images, images))
	}
	if !slices.Equal(s.Labels, []int32{0, 3, 6, 9, 2}) || len(s.Classes) != 10 || s.Classes[7] != "7" {
		t.Errorf("labels %v classes %v", s.Labels, s.Classes)
	}
	rgb, err := Load("mnist", dir, "train", Options{Limit: 2, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rgb.N != 2 || rgb.C != 3 || len(rgb.Images) != 2*28*28*3 || rgb.Images[3*30+2] != images[30] {
		t.Errorf("Limit 2, Channels 3: N=%d C=%d, %d bytes", rgb.N, rgb.C, len(rgb.Images))
	}
}

func TestMNISTErrors(t *testing.T) {
	images, labels := digits(3, 28, 28)
	goodImages, goodLabels := idxFile(images, 3, 28, 28), idxFile(labels, 3)
	tests := []struct {
		name           string
		images, labels []byte
		want           []string
	}{
		{"bad magic", append([]byte{1}, goodImages[1:]...), goodLabels, []string{"train-images-idx3-ubyte: bad magic 01 00 08 03"}},
		{"float elements", append([]byte{0, 0, 0x0d}, goodImages[3:]...), goodLabels, []string{"element type 0x0d"}},
		{"labels as images", goodLabels, goodLabels, []string{"train-images-idx3-ubyte: 1 dimensions, want 3"}},
		{"count mismatch", goodImages, idxFile(labels[:2], 2), []string{"train-images-idx3-ubyte holds 3 images but train-labels-idx1-ubyte holds 2 labels"}},
		{"label 10", goodImages, idxFile([]byte{1, 10, 2}, 3), []string{"train-labels-idx1-ubyte: label 10 of item 1 out of range"}},
		{"truncated images", goodImages[:len(goodImages)-1], goodLabels, []string{"more than the file holds"}},
		{"trailing data", append(slices.Clone(goodImages), 0), goodLabels, []string{"data continues after the 3 items"}},
		{"a billion images", idxFile(nil, 1e9, 28, 28), goodLabels, []string{"header declares 1000000000 items of 784 bytes, more than the file holds"}},
		{"zero rows", idxFile(nil, 3, 0, 28), goodLabels, []string{"dimension 1 is 0"}},
		{"no items", idxFile(nil, 0, 28, 28), goodLabels, []string{"header declares no items"}},
		{"short header", goodImages[:10], goodLabels, []string{"reading dimensions: unexpected EOF"}},
		{"empty", nil, goodLabels, []string{"reading magic: unexpected EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "train-images-idx3-ubyte", tt.images)
			writeFile(t, dir, "train-labels-idx1-ubyte", tt.labels)
			_, err := Load("mnist", dir, "train", Options{})
			wantError(t, err, append([]string{"dataset mnist: "}, tt.want...)...)
		})
	}
	t.Run("truncated gzip", func(t *testing.T) {
		// The size check can only bound a gzipped file, so reading finds the truncation.
		dir := t.TempDir()
		writeFile(t, dir, "t10k-images-idx3-ubyte.gz", gzipped(t, goodImages[:1000]))
		writeFile(t, dir, "t10k-labels-idx1-ubyte.gz", gzipped(t, goodLabels))
		_, err := Load("mnist", dir, "test", Options{})
		wantError(t, err, "t10k-images-idx3-ubyte.gz: truncated: header declares 3 items of 784 bytes, data ends after 984")
	})
	t.Run("a FIFO for the images", func(t *testing.T) {
		// Refused by name and at once: opening it would wait for a writer forever.
		dir := t.TempDir()
		if err := syscall.Mkfifo(filepath.Join(dir, "t10k-images-idx3-ubyte"), 0o644); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "t10k-labels-idx1-ubyte", goodLabels)
		_, err := Load("mnist", dir, "test", Options{})
		wantError(t, err, "t10k-images-idx3-ubyte: open "+filepath.Join(dir, "t10k-images-idx3-ubyte")+": a named pipe (FIFO), not a regular file")
	})
	t.Run("missing labels", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "t10k-images-idx3-ubyte", goodImages)
		_, err := Load("mnist", dir, "test", Options{})
		wantError(t, err, "t10k-labels-idx1-ubyte: file does not exist")
	})
}

func FuzzIdx(f *testing.F) {
	images, labels := digits(2, 3, 2)
	f.Add(idxFile(images, 2, 3, 2), uint8(3), uint8(0))
	f.Add(idxFile(labels, 2), uint8(1), uint8(1))
	f.Add(idxFile(nil, 1e9, 28, 28), uint8(3), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, ndims, limit uint8) {
		dims, out, err := readIdx(bytes.NewReader(data), int64(len(data)), int(ndims%3)+1, int(limit))
		if err != nil {
			return
		}
		item := 1
		for _, d := range dims[1:] {
			item *= d
		}
		header := 4 + 4*len(dims)
		if len(out)%item != 0 || len(out)/item > dims[0] || header+len(out) > len(data) {
			t.Fatalf("%d bytes, dims %v: returned %d bytes", len(data), dims, len(out))
		}
		if limit == 0 && header+len(out) != len(data) {
			t.Fatalf("%d bytes, dims %v: accepted with %d bytes of data", len(data), dims, len(out))
		}
	})
}
