package infer_test

import (
	"math"
	"slices"
	"testing"

	_ "github.com/ninedge/ninedge/backends/cpu"
	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant/quanttest"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// A model file may declare any channel count; a picture has one or three, so a labeler for
// another count is refused with an error, not a panic.
func TestChannelsNoPictureHas(t *testing.T) {
	for _, c := range []int{2, 4} {
		s, err := nin.Expand("odd", nin.Shape{H: 4, W: 4, C: c}, 2, []nin.Block{{Out: []int{2}, Kernel: 1, Pool: "global"}})
		if err != nil {
			t.Fatal(err)
		}
		sc, err := infer.NewInt8(quanttest.Graph(t, s, 1), infer.Options{Backend: "cpu", Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := infer.NewLabeler(sc, 1, 0); err == nil {
			t.Errorf("%d channels accepted", c)
		}
		_ = sc.Close()
	}
}

func TestLabeler(t *testing.T) {
	g := streamtest.Graph(t)
	pic := streamtest.Pictures(1, 64, 48)[0]
	fit := imageio.NewFitter(32, 32, 3)
	px := make([]uint8, fit.Len())
	if err := fit.Fit(pic, px); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ k, verify, want int }{{3, 0, 3}, {0, 0, 1}, {50, 0, 10}, {10, 2, 10}} {
		s, err := infer.NewInt8(g, infer.Options{Backend: "cpu", Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		lab, err := infer.NewLabeler(s, tt.k, tt.verify)
		if err != nil {
			t.Fatal(err)
		}
		fromImage, err := lab.Image(pic)
		if err != nil {
			t.Fatal(err)
		}
		fromImage = slices.Clone(fromImage)
		top, err := lab.Label(px)
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != tt.want || !slices.Equal(top, fromImage) {
			t.Errorf("k=%d: %v from the pixels, %v from the picture; want %d classes", tt.k, top, fromImage, tt.want)
		}
		var sum float64
		for i, c := range top {
			sum += float64(c.Prob)
			if c.Label != g.Classes[c.Class] || i > 0 && c.Prob > top[i-1].Prob {
				t.Errorf("k=%d: %v: wrong name or order", tt.k, top)
			}
		}
		if tt.want == len(g.Classes) && math.Abs(sum-1) > 1e-5 {
			t.Errorf("probabilities of all classes sum to %v", sum)
		}
		s.Close()
	}
}
