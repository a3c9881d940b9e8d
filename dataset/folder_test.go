package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ninedge/ninedge/imageio"
)

func solid(w, h int, c color.RGBA) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return m
}

func pngBytes(t *testing.T, m image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t *testing.T, m image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gradient is a 32×32 image whose every pixel differs, to check exact copies.
func gradient() *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range m.Pix {
		m.Pix[i] = uint8(i*7 + i/128)
		if i%4 == 3 {
			m.Pix[i] = 0xff
		}
	}
	return m
}

func TestFolderWithSplits(t *testing.T) {
	dir := t.TempDir()
	red, blue := color.RGBA{200, 10, 10, 255}, color.RGBA{10, 10, 200, 255}
	grad := gradient()
	writeFile(t, dir, "train/dog/b.jpg", jpegBytes(t, solid(64, 48, blue)))
	writeFile(t, dir, "train/dog/a.PNG", pngBytes(t, grad))
	writeFile(t, dir, "train/cat/x.png", pngBytes(t, solid(100, 30, red)))
	writeFile(t, dir, "train/cat/notes.txt", []byte("not an image"))
	writeFile(t, dir, "train/cat/.hidden.png", []byte("ignored"))
	writeFile(t, dir, "train/.cache/y.png", pngBytes(t, grad))
	writeFile(t, dir, "test/dog/c.png", pngBytes(t, grad)) // no cat in test
	writeFile(t, dir, "test/eel/d.png", pngBytes(t, solid(8, 8, red)))

	s, err := Load("folder", dir, "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cat", "dog", "eel"}; !slices.Equal(s.Classes, want) {
		t.Fatalf("classes %v, want %v (train and test together)", s.Classes, want)
	}
	if s.Name != "folder" || s.N != 3 || s.H != 32 || s.W != 32 || s.C != 3 || !slices.Equal(s.Labels, []int32{0, 1, 1}) {
		t.Fatalf("N=%d %d×%d×%d labels %v", s.N, s.H, s.W, s.C, s.Labels)
	}
	// An image of the right size is copied exactly; others go through imageio.Fitter.
	fit := imageio.NewFitter(32, 32, 3)
	want := make([]uint8, fit.Len())
	if err := fit.Fit(grad, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Image(1), want) {
		t.Error("train/dog/a.PNG differs from its pixels")
	}
	for i, c := range map[int]color.RGBA{0: red, 2: blue} {
		img := s.Image(i)
		for p := 0; p < len(img); p += 3 {
			if d := max(absDiff(img[p], c.R), absDiff(img[p+1], c.G), absDiff(img[p+2], c.B)); d > 3 {
				t.Fatalf("image %d pixel %d = %v, want about %v", i, p/3, img[p:p+3], c)
			}
		}
	}

	test, err := Load("folder", dir, "test", Options{Size: [2]int{8, 16}, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(test.Classes, s.Classes) || !slices.Equal(test.Labels, []int32{1, 2}) {
		t.Fatalf("test classes %v labels %v: numbering differs from train", test.Classes, test.Labels)
	}
	if test.H != 8 || test.W != 16 || test.C != 1 || len(test.Images) != 2*8*16 {
		t.Fatalf("test %d×%d×%d, %d bytes", test.H, test.W, test.C, len(test.Images))
	}
	if v, want := test.Image(1)[0], imageio.Luma(red.R, red.G, red.B); absDiff(v, want) > 1 {
		t.Errorf("gray eel pixel %d, want %d", v, want)
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestFolderWithoutSplits(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "b/1.png", pngBytes(t, gradient()))
	writeFile(t, dir, "a/2.ppm", []byte("P6 1 1 255\n\x01\x02\x03"))
	writeFile(t, dir, "a/1.pgm", []byte("P5 2 2 255\n\x01\x02\x03\x04"))
	for _, split := range []string{"train", "test"} {
		s, err := Load("folder", dir, split, Options{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.Classes, []string{"a", "b"}) || !slices.Equal(s.Labels, []int32{0, 0}) || s.N != 2 {
			t.Fatalf("%s: classes %v labels %v", split, s.Classes, s.Labels)
		}
		if img := s.Image(1); img[0] != 1 || img[1] != 2 || img[2] != 3 {
			t.Errorf("%s: a/2.ppm gives %v, want 1 2 3", split, img[:3])
		}
	}
}

func TestFolderErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string][]byte
		split string
		want  string
	}{
		{"no classes", map[string][]byte{"loose.png": nil}, "train", "dataset folder: no class folders in "},
		{"no images", map[string][]byte{"cat/readme.txt": nil}, "train", "no .png/.jpg/.jpeg/.ppm/.pgm/.pnm images in the class folders of"},
		{"corrupt image", map[string][]byte{"cat/a.png": []byte("\x89PNG\r\n\x1a\nbroken")}, "train", "cat/a.png: imageio: reading header"},
		{"bomb", map[string][]byte{"cat/a.pgm": []byte("P5 16385 1 255\n")}, "train", "cat/a.pgm: imageio: pgm: image too large"},
		{"missing split", map[string][]byte{"train/cat/a.pgm": []byte("P5 1 1 255\n\x00")}, "test", "has a train folder but no test folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.files {
				writeFile(t, dir, name, data)
			}
			_, err := Load("folder", dir, tt.split, Options{})
			wantError(t, err, tt.want)
		})
	}
	t.Run("links", func(t *testing.T) {
		// A set assembled from links is read through them; a dangling one is an error, not
		// a picture silently missing from every number.
		dir := t.TempDir()
		writeFile(t, dir, "cat/a.pgm", []byte("P5 1 1 255\n\x00"))
		if err := os.Symlink("a.pgm", filepath.Join(dir, "cat", "b.pgm")); err != nil {
			t.Fatal(err)
		}
		set, err := Load("folder", dir, "train", Options{})
		if err != nil || set.N != 2 {
			t.Fatalf("%v, %v", set, err)
		}
		gone := filepath.Join(dir, "cat", "c.pgm")
		os.Symlink("gone.pgm", gone)
		_, err = Load("folder", dir, "train", Options{})
		wantError(t, err, "dataset folder: "+gone+", a link to gone.pgm: no such file or directory")
	})
	t.Run("missing folder", func(t *testing.T) {
		_, err := Load("folder", t.TempDir()+"/nothing", "train", Options{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v does not wrap fs.ErrNotExist", err)
		}
	})
}

// A folder without splits gets a held-out test split: per class, the same images for the
// same seed, disjoint from train, together all of them.
func TestFolderHoldout(t *testing.T) {
	dir := t.TempDir()
	for c, class := range []string{"a", "b"} {
		for i := range 10 {
			writeFile(t, dir, fmt.Sprintf("%s/%02d.pgm", class, i), []byte(fmt.Sprintf("P5 1 1 255\n%c", rune(c*10+i))))
		}
	}
	writeFile(t, dir, "c/only.pgm", []byte("P5 1 1 255\n\x63"))
	load := func(split string, seed uint64) []uint8 {
		s, err := Load("folder", dir, split, Options{Size: [2]int{1, 1}, Channels: 1, Holdout: 0.2, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range s.Labels {
			want := int32(s.Images[i]) / 10
			if s.Images[i] == 99 {
				want = 2
			}
			if l != want {
				t.Fatalf("%s: image %d labelled %d, want %d", split, s.Images[i], l, want)
			}
		}
		return s.Images
	}
	train, test := load("train", 1), load("test", 1)
	if len(test) != 4 || len(train) != 17 {
		t.Fatalf("%d train and %d test images, want 17 (8+8+the single c) and 4", len(train), len(test))
	}
	all := slices.Sorted(slices.Values(slices.Concat(train, test)))
	for i, v := range all[:20] {
		if int(v) != i {
			t.Fatalf("train and test together are %v", all)
		}
	}
	if !slices.Equal(load("test", 1), test) {
		t.Error("the same seed gives another split")
	}
	if slices.Equal(load("test", 2), test) {
		t.Error("another seed gives the same split")
	}
}
