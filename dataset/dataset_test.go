package dataset

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFile writes data to dir/name (slash-separated, folders created).
func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipped(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wantError checks that err is non-nil and its message contains every fragment.
func wantError(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

func TestNames(t *testing.T) {
	want := []string{"cifar10", "cifar100", "folder", "mnist", "svhn"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestLoadRejectsBadArguments(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, set, split string
		opt              Options
		want             string
	}{
		{"unknown set", "imagenet", "train", Options{}, `unknown data set "imagenet"`},
		{"unknown split", "cifar10", "val", Options{}, `split "val"`},
		{"channels", "mnist", "train", Options{Channels: 2}, "Options.Channels 2"},
		{"negative limit", "mnist", "train", Options{Limit: -1}, "Options.Limit -1"},
		{"half a size", "folder", "train", Options{Size: [2]int{32, 0}}, "Options.Size [32 0]"},
		{"huge size", "folder", "train", Options{Size: [2]int{1 << 20, 1 << 20}}, "Options.Size"},
		{"resizing a fixed set", "cifar10", "test", Options{Size: [2]int{28, 28}}, "images are 32×32×3 and are not resized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.set == "cifar10" { // the size check must not need the files
				writeFile(t, dir, "test_batch.bin", make([]byte, 3073))
			}
			_, err := Load(tt.set, dir, tt.split, tt.opt)
			wantError(t, err, tt.want)
		})
	}
}

func TestSetImage(t *testing.T) {
	s := &Set{N: 2, H: 1, W: 2, C: 3, Images: []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}
	img := s.Image(1)
	if !slices.Equal(img, []uint8{7, 8, 9, 10, 11, 12}) {
		t.Fatalf("Image(1) = %v", img)
	}
	if cap(img) != len(img) {
		t.Error("Image(1) has spare capacity: an append would overwrite the next image")
	}
}

func TestConvertChannels(t *testing.T) {
	s := &Set{N: 1, H: 1, W: 2, C: 3, Images: []uint8{255, 0, 0, 10, 20, 30}}
	s.convertChannels(1)
	if s.C != 1 || !slices.Equal(s.Images, []uint8{76, 18}) { // 0.299·255, BT.601 of (10, 20, 30)
		t.Fatalf("to gray: C=%d %v", s.C, s.Images)
	}
	s.convertChannels(3)
	if s.C != 3 || !slices.Equal(s.Images, []uint8{76, 76, 76, 18, 18, 18}) {
		t.Fatalf("to RGB: C=%d %v", s.C, s.Images)
	}
}
