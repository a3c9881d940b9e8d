package dataset

import (
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/ninedge/ninedge/dataset/datasettest"
	"github.com/ninedge/ninedge/imageio"
)

// Tests on the real data sets in the shared data folder; they skip when it is absent.

func TestCIFAR10Real(t *testing.T) {
	dir := datasettest.Dir(t, "cifar10")
	start := time.Now()
	train, err := Load("cifar10", dir, "train", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded CIFAR-10 train, %d images from 5 gzipped batches, in %v", train.N, time.Since(start))
	test, err := Load("cifar10", dir, "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		s     *Set
		n     int
		first []int32
	}{
		{train, 50000, []int32{6, 9, 9, 4, 1, 1, 2, 7, 8, 3}},
		{test, 10000, []int32{3, 8, 8, 0, 6, 6, 1, 6, 3, 1}},
	} {
		s := tt.s
		if s.N != tt.n || len(s.Labels) != tt.n || len(s.Images) != tt.n*32*32*3 || s.H != 32 || s.W != 32 || s.C != 3 {
			t.Fatalf("%s: N=%d %d×%d×%d, %d labels, %d bytes; want %d 32×32×3", s.Split, s.N, s.H, s.W, s.C, len(s.Labels), len(s.Images), tt.n)
		}
		if !slices.Equal(s.Labels[:10], tt.first) {
			t.Errorf("%s: first labels %v, want %v", s.Split, s.Labels[:10], tt.first)
		}
		if s.Classes[3] != "cat" || len(s.Classes) != 10 {
			t.Errorf("%s: classes %v", s.Split, s.Classes)
		}
		counts := make([]int, 10)
		for _, l := range s.Labels {
			counts[l]++
		}
		for c, n := range counts {
			if n != tt.n/10 {
				t.Errorf("%s: class %d has %d images, want %d", s.Split, c, n, tt.n/10)
			}
		}
	}
	// A limit that ends inside the second batch, with conversion to gray.
	part, err := Load("cifar10", dir, "train", Options{Limit: 12345, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	if part.N != 12345 || part.C != 1 || len(part.Images) != 12345*32*32 || !slices.Equal(part.Labels, train.Labels[:12345]) {
		t.Fatalf("Limit 12345: N=%d C=%d, %d bytes, labels differ: %v", part.N, part.C, len(part.Images), !slices.Equal(part.Labels, train.Labels[:12345]))
	}
	for _, i := range []int{0, 9999, 10000, 12344} {
		p := 17 * 32 // some pixel
		rgb := train.Image(i)[3*p:]
		if got, want := part.Image(i)[p], imageio.Luma(rgb[0], rgb[1], rgb[2]); got != want {
			t.Errorf("Limit 12345, gray image %d pixel %d = %d, want %d", i, p, got, want)
		}
	}
	// The well-known channel means of the test set check the planes → HWC conversion: a
	// transposed or channel-swapped copy has different per-channel means.
	var sum [3]float64
	for i, v := range test.Images {
		sum[i%3] += float64(v)
	}
	for c, want := range []float64{0.4942, 0.4851, 0.4504} {
		if got := sum[c] / float64(test.N*32*32) / 255; math.Abs(got-want) > 0.0005 {
			t.Errorf("test channel %d mean %.4f, want %.4f", c, got, want)
		}
	}
	// Spatial layout: in HWC, pixel (row 0, column 1) of image 0 follows pixel (0, 0).
	// Compare against a direct reading of the planes of the first test record.
	src, err := findSource(dir, "test_batch.bin")
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := make([]byte, 3073)
	if _, err := io.ReadFull(r, rec); err != nil {
		t.Fatal(err)
	}
	img := test.Image(0)
	for _, p := range []int{0, 1, 31, 32, 500, 1023} {
		for c := range 3 {
			if got, want := img[3*p+c], rec[1+c*1024+p]; got != want {
				t.Fatalf("image 0 pixel %d channel %d = %d, want %d", p, c, got, want)
			}
		}
	}
}

func TestMNISTReal(t *testing.T) {
	dir := datasettest.Dir(t, "mnist")
	for _, tt := range []struct {
		split string
		n     int
		first []int32
	}{
		{"train", 60000, []int32{5, 0, 4, 1, 9, 2, 1, 3, 1, 4}},
		{"test", 10000, []int32{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}},
	} {
		start := time.Now()
		s, err := Load("mnist", dir, tt.split, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("loaded MNIST %s in %v", tt.split, time.Since(start))
		if s.N != tt.n || s.H != 28 || s.W != 28 || s.C != 1 || len(s.Images) != tt.n*28*28 || len(s.Labels) != tt.n {
			t.Fatalf("%s: N=%d %d×%d×%d, want %d 28×28×1", tt.split, s.N, s.H, s.W, s.C, tt.n)
		}
		if !slices.Equal(s.Labels[:10], tt.first) {
			t.Errorf("%s: first labels %v, want %v", tt.split, s.Labels[:10], tt.first)
		}
	}
}
