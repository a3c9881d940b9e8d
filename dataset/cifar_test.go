package dataset

import (
	"bytes"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// pixelValue is the synthetic value of channel c of pixel p of image i.
func pixelValue(i, p, c int) uint8 { return uint8(i*31 + p*7 + c*101) }

// cifarRecords returns records with the given label bytes (one slice per record) followed
// by planes R, G, B filled with pixelValue, image numbers starting at first.
func cifarRecords(first int, heads ...[]byte) []byte {
	var out []byte
	for k, head := range heads {
		out = append(out, head...)
		for c := range 3 {
			for p := range 1024 {
				out = append(out, pixelValue(first+k, p, c))
			}
		}
	}
	return out
}

// checkPixels verifies that image i of s holds pixelValue(want, …) in HWC order.
func checkPixels(t *testing.T, s *Set, i, want int) {
	t.Helper()
	img := s.Image(i)
	for p := range 1024 {
		for c := range 3 {
			if got := img[3*p+c]; got != pixelValue(want, p, c) {
				t.Fatalf("image %d pixel %d channel %d = %d, want %d", i, p, c, got, pixelValue(want, p, c))
			}
		}
	}
}

func TestCIFAR10Synthetic(t *testing.T) {
	dir := t.TempDir()
	// The official archive's subfolder, some batches gzipped and some not.
	for b, name := range []string{"data_batch_1.bin.gz", "data_batch_2.bin", "data_batch_3.bin.gz", "data_batch_4.bin", "data_batch_5.bin.gz"} {
		data := cifarRecords(2*b, []byte{byte(b)}, []byte{9})
		if strings.HasSuffix(name, ".gz") {
			data = gzipped(t, data)
		}
		writeFile(t, dir, "cifar-10-batches-bin/"+name, data)
	}
	writeFile(t, dir, "cifar-10-batches-bin/test_batch.bin", cifarRecords(100, []byte{3}))
	names := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n"
	writeFile(t, dir, "cifar-10-batches-bin/batches.meta.txt", []byte(names))

	s, err := Load("cifar10", dir, "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "cifar10" || s.Split != "train" || s.N != 10 || s.H != 32 || s.W != 32 || s.C != 3 {
		t.Fatalf("got %s %s N=%d %d×%d×%d", s.Name, s.Split, s.N, s.H, s.W, s.C)
	}
	if want := []int32{0, 9, 1, 9, 2, 9, 3, 9, 4, 9}; !slices.Equal(s.Labels, want) {
		t.Errorf("labels %v, want %v", s.Labels, want)
	}
	if want := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}; !slices.Equal(s.Classes, want) {
		t.Errorf("classes %v, want %v", s.Classes, want)
	}
	for i := range s.N {
		checkPixels(t, s, i, i)
	}

	limited, err := Load("cifar10", dir, "train", Options{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if limited.N != 3 || !slices.Equal(limited.Labels, s.Labels[:3]) || !bytes.Equal(limited.Images, s.Images[:3*3072]) {
		t.Errorf("Limit 3: N=%d labels %v", limited.N, limited.Labels)
	}

	test, err := Load("cifar10", dir, "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if test.N != 1 || test.Labels[0] != 3 {
		t.Fatalf("test: N=%d labels %v", test.N, test.Labels)
	}
	checkPixels(t, test, 0, 100)
}

func TestCIFAR100Synthetic(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "train.bin.gz", gzipped(t, cifarRecords(0, []byte{19, 99}, []byte{0, 0}, []byte{4, 42})))
	s, err := Load("cifar100", dir, "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 3 || !slices.Equal(s.Labels, []int32{99, 0, 42}) {
		t.Fatalf("N=%d labels %v, want the fine labels [99 0 42]", s.N, s.Labels)
	}
	if len(s.Classes) != 100 || s.Classes[0] != "apple" || s.Classes[42] != "leopard" || s.Classes[99] != "worm" {
		t.Errorf("standard classes wrong: %d names, %q %q %q", len(s.Classes), s.Classes[0], s.Classes[42], s.Classes[99])
	}
	for i := range 3 {
		checkPixels(t, s, i, i)
	}
	// The names file of the official archive, beside the data.
	dir = t.TempDir()
	writeFile(t, dir, "cifar-100-binary/test.bin", cifarRecords(0, []byte{1, 2}))
	var names bytes.Buffer
	for i := range 100 {
		names.WriteString(string(rune('A'+i%26)) + "x\n")
	}
	writeFile(t, dir, "cifar-100-binary/fine_label_names.txt", names.Bytes())
	s, err = Load("cifar100", dir, "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Classes[2] != "Cx" {
		t.Errorf("class 2 is %q, want the names file's Cx", s.Classes[2])
	}
}

func TestCIFARErrors(t *testing.T) {
	good := cifarRecords(0, []byte{1})
	tests := []struct {
		name  string
		set   string
		files map[string][]byte
		want  []string
	}{
		{"size not a multiple", "cifar10", map[string][]byte{"test_batch.bin": make([]byte, 1000)},
			[]string{"dataset cifar10: test_batch.bin: size 1000 is not a multiple of 3073"}},
		{"trailing partial record, gzipped", "cifar10", map[string][]byte{"test_batch.bin.gz": gzipped(t, append(slices.Clone(good), 1, 2, 3))},
			[]string{"test_batch.bin.gz: size 3076 is not a multiple of 3073"}},
		{"empty file", "cifar10", map[string][]byte{"test_batch.bin": nil}, []string{"test_batch.bin: no records"}},
		{"label 10", "cifar10", map[string][]byte{"test_batch.bin": append(slices.Clone(good), cifarRecords(1, []byte{10})...)},
			[]string{"test_batch.bin: record 1: label byte 0 is 10, want < 10"}},
		{"coarse label 20", "cifar100", map[string][]byte{"test.bin": cifarRecords(0, []byte{20, 5})},
			[]string{"test.bin: record 0: label byte 0 is 20, want < 20"}},
		{"fine label 100", "cifar100", map[string][]byte{"test.bin": cifarRecords(0, []byte{2, 100})},
			[]string{"record 0: label byte 1 is 100, want < 100"}},
		{"cifar10 record in cifar100", "cifar100", map[string][]byte{"test.bin": slices.Repeat(good, 3074)},
			[]string{"test.bin: record 4: label byte 0 is 21, want < 20"}}, // 3073·3074 bytes: only labels tell
		{"missing file", "cifar10", nil, []string{"dataset cifar10: test_batch.bin:", "looked for test_batch.bin, test_batch.bin.gz, cifar-10-batches-bin/test_batch.bin"}},
		{"truncated gzip", "cifar10", map[string][]byte{"test_batch.bin.gz": truncate(gzipped(t, good), 0.5)},
			[]string{"test_batch.bin.gz: compressed data truncated: unexpected EOF"}},
		{"corrupt gzip", "cifar10", map[string][]byte{"test_batch.bin.gz": []byte("\x1f\x8b\x08\x00junk")}, []string{"test_batch.bin.gz:"}},
		{"not gzip", "cifar10", map[string][]byte{"test_batch.bin.gz": good}, []string{"test_batch.bin.gz: gzip: invalid header"}},
		{"wrong number of names", "cifar10", map[string][]byte{"test_batch.bin": good, "batches.meta.txt": []byte("a\nb\n")},
			[]string{"batches.meta.txt: 2 class names, want 10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.files {
				writeFile(t, dir, name, data)
			}
			_, err := Load(tt.set, dir, "test", Options{})
			wantError(t, err, tt.want...)
		})
	}
	t.Run("missing file is fs.ErrNotExist", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "data_batch_1.bin", good)
		_, err := Load("cifar10", dir, "train", Options{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("error %v does not wrap fs.ErrNotExist", err)
		}
		wantError(t, err, "data_batch_2.bin")
	})
}

// truncate returns the first fraction of data.
func truncate(data []byte, fraction float64) []byte { return data[:int(float64(len(data))*fraction)] }

func FuzzCIFARRecords(f *testing.F) {
	f.Add(cifarRecords(0, []byte{3, 7}))
	f.Add(cifarRecords(0, []byte{1, 2}, []byte{19, 99})[:5000])
	f.Add([]byte{})
	for _, cf := range []cifarFormat{cifar10, cifar100} {
		f.Add(make([]byte, cf.recordSize()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, cf := range []cifarFormat{cifar10, cifar100} {
			images, labels, err := cf.readRecords(bytes.NewReader(data), -1, nil, nil)
			if err != nil {
				continue
			}
			n := len(data) / cf.recordSize()
			if len(data)%cf.recordSize() != 0 || len(labels) != n || len(images) != n*3072 {
				t.Fatalf("%d bytes accepted as %d records, %d image bytes", len(data), len(labels), len(images))
			}
			for i, l := range labels {
				if l < 0 || int(l) >= cf.labels[len(cf.labels)-1] {
					t.Fatalf("label %d of record %d out of range", l, i)
				}
			}
		}
	})
}
