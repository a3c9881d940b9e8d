package imageio

import (
	"bytes"
	"image"
	"image/color"
	stddraw "image/draw"
	"testing"
)

// toRGBA converts m with the standard library's image/draw, an independent reference for
// the colour conversions of Fit's copy path.
func toRGBA(m image.Image) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.Bounds().Dx(), m.Bounds().Dy()))
	stddraw.Draw(out, out.Rect, m, m.Bounds().Min, stddraw.Src)
	return out
}

// hwc returns the RGB (c = 3) or luma (c = 1) bytes of an RGBA image.
func hwc(m *image.RGBA, c int) []uint8 {
	var out []uint8
	for i := 0; i < len(m.Pix); i += 4 {
		r, g, b := m.Pix[i], m.Pix[i+1], m.Pix[i+2]
		if c == 1 {
			out = append(out, Luma(r, g, b))
		} else {
			out = append(out, r, g, b)
		}
	}
	return out
}

func ycbcr(w, h int, ratio image.YCbCrSubsampleRatio) *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), ratio)
	for i := range m.Y {
		m.Y[i] = uint8(i*31 + i/7)
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i*11+40), uint8(200-i*5)
	}
	return m
}

func fit(t testing.TB, m image.Image, w, h, c int) []uint8 {
	t.Helper()
	f := NewFitter(w, h, c)
	dst := make([]uint8, w*h*c)
	if err := f.Fit(m, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestFitSameSizeIsExact(t *testing.T) {
	rgb := pattern(12, 10)
	nrgba := image.NewNRGBA(rgb.Rect)
	copy(nrgba.Pix, rgb.Pix)
	translucent := image.NewNRGBA(rgb.Rect)
	copy(translucent.Pix, rgb.Pix)
	for i := 3; i < len(translucent.Pix); i += 4 {
		translucent.Pix[i] = uint8(i * 3)
	}
	decoded, _, err := Decode(bytes.NewReader(encodePNG(t, rgb)))
	if err != nil {
		t.Fatal(err)
	}
	images := []struct {
		name string
		img  image.Image
	}{ // YCbCr with c = 1 uses the Y plane instead: TestFitYCbCrGrayIsLumaPlane
		{"RGBA", rgb},
		{"NRGBA opaque", nrgba},
		{"NRGBA translucent", translucent},
		{"Gray", grayPattern(12, 10)},
		{"YCbCr 4:4:4", ycbcr(12, 10, image.YCbCrSubsampleRatio444)},
		{"YCbCr 4:2:0", ycbcr(12, 10, image.YCbCrSubsampleRatio420)},
		{"RGBA sub-image", pattern(20, 20).SubImage(image.Rect(3, 5, 15, 15))},
		{"Paletted (generic path)", image.NewPaletted(rgb.Rect, color.Palette{color.RGBA{1, 2, 3, 255}})},
		{"PNG round trip", decoded},
	}
	for _, tt := range images {
		for _, c := range []int{3, 1} {
			if _, ok := tt.img.(*image.YCbCr); ok && c == 1 {
				continue
			}
			got := fit(t, tt.img, 12, 10, c)
			if want := hwc(toRGBA(tt.img), c); !bytes.Equal(got, want) {
				t.Errorf("%s, c=%d: Fit differs from image/draw's conversion", tt.name, c)
			}
		}
	}
	// Decoding a lossless file and fitting it at its own size gives back the original.
	if got := fit(t, decoded, 12, 10, 3); !bytes.Equal(got, hwc(rgb, 3)) {
		t.Error("PNG round trip is not exact")
	}
}

func TestFitYCbCrGrayIsLumaPlane(t *testing.T) {
	m := ycbcr(16, 8, image.YCbCrSubsampleRatio420)
	if got := fit(t, m, 16, 8, 1); !bytes.Equal(got, m.Y) {
		t.Error("c=1 of a same-size YCbCr image is not its Y plane")
	}
	// Resampled, it equals resampling the Y plane as a gray image.
	y := &image.Gray{Pix: m.Y, Stride: m.YStride, Rect: m.Rect}
	if got, want := fit(t, m, 5, 3, 1), fit(t, y, 5, 3, 1); !bytes.Equal(got, want) {
		t.Error("resampled c=1 of YCbCr differs from resampling its Y plane")
	}
}

// bands returns an image of w×h split into three equal bands of red, green and blue,
// vertical (left to right) when wide, horizontal (top to bottom) otherwise.
func bands(w, h int, wide bool) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	colours := []color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}}
	for y := range h {
		for x := range w {
			band := 3 * y / h
			if wide {
				band = 3 * x / w
			}
			m.SetRGBA(x, y, colours[band])
		}
	}
	return m
}

func TestFitCropKeepsCentre(t *testing.T) {
	tests := []struct {
		name      string
		img       image.Image
		w, h      int
		tolerance int // resampling may round a channel by one
	}{
		{"wide, crop is the size", bands(96, 32, true), 32, 32, 0},
		{"tall, crop is the size", bands(32, 96, false), 32, 32, 0},
		{"wide, resized", bands(300, 100, true), 32, 32, 1},
		{"tall, resized", bands(100, 300, false), 32, 32, 1},
		{"wide to wide", bands(900, 100, true), 16, 8, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fit(t, tt.img, tt.w, tt.h, 3)
			for i := 0; i < len(got); i += 3 {
				r, g, b := int(got[i]), int(got[i+1]), int(got[i+2])
				if r > tt.tolerance || g < 255-tt.tolerance || b > tt.tolerance {
					t.Fatalf("pixel %d = %d,%d,%d, want green: the crop is off centre", i/3, r, g, b)
				}
			}
		})
	}
}

// TestFitAntialiases shrinks single-pixel stripes, the worst case for aliasing: a filter
// that point-samples turns them into black, white or moiré; a low-pass one into gray.
func TestFitAntialiases(t *testing.T) {
	for _, size := range [][2]int{{640, 480}, {100, 100}, {64, 64}} {
		m := image.NewGray(image.Rect(0, 0, size[0], size[1]))
		for i := range m.Pix {
			m.Pix[i] = uint8(255 * (i % 2))
		}
		for i, v := range fit(t, m, 32, 32, 1) {
			if v < 100 || v > 155 { // edges ring a little; point sampling gives 0 or 255
				t.Fatalf("%v stripes: pixel %d is %d, want about 128", size, i, v)
			}
		}
	}
}

func TestCentreCrop(t *testing.T) {
	tests := []struct {
		b    image.Rectangle
		w, h int
		want image.Rectangle
	}{
		{image.Rect(0, 0, 640, 480), 32, 32, image.Rect(80, 0, 560, 480)},
		{image.Rect(0, 0, 480, 640), 32, 32, image.Rect(0, 80, 480, 560)},
		{image.Rect(0, 0, 100, 100), 64, 32, image.Rect(0, 25, 100, 75)},
		{image.Rect(10, 20, 43, 52), 32, 32, image.Rect(10, 20, 42, 52)}, // odd pixel to the right
		{image.Rect(0, 0, 1000, 1), 1, 2, image.Rect(499, 0, 500, 1)},    // never empty
		{image.Rect(0, 0, 0, 5), 3, 3, image.Rectangle{}},
	}
	for _, tt := range tests {
		if got := centreCrop(tt.b, tt.w, tt.h); got != tt.want {
			t.Errorf("centreCrop(%v, %d×%d) = %v, want %v", tt.b, tt.w, tt.h, got, tt.want)
		}
	}
}

func TestFitGrayAndRGBAgree(t *testing.T) {
	rgb := pattern(50, 40)
	for _, size := range [][2]int{{50, 40}, {20, 16}, {7, 9}} {
		w, h := size[0], size[1]
		colour, gray := fit(t, rgb, w, h, 3), fit(t, rgb, w, h, 1)
		for i := range gray {
			if want := Luma(colour[3*i], colour[3*i+1], colour[3*i+2]); gray[i] != want {
				t.Fatalf("%d×%d pixel %d: gray %d, luma of RGB %d", w, h, i, gray[i], want)
			}
		}
	}
	g := grayPattern(30, 30)
	for _, n := range []int{30, 11} {
		colour, gray := fit(t, g, n, n, 3), fit(t, g, n, n, 1)
		for i := range gray {
			if colour[3*i] != gray[i] || colour[3*i+1] != gray[i] || colour[3*i+2] != gray[i] {
				t.Fatalf("%d×%d: gray source pixel %d gives RGB %v and gray %d", n, n, i, colour[3*i:3*i+3], gray[i])
			}
		}
	}
}

func TestLumaMatchesGrayModel(t *testing.T) {
	for r := 0; r < 256; r += 3 {
		for g := 0; g < 256; g += 5 {
			for b := range 256 {
				want := color.GrayModel.Convert(color.RGBA{uint8(r), uint8(g), uint8(b), 255}).(color.Gray).Y
				if got := Luma(uint8(r), uint8(g), uint8(b)); got != want {
					t.Fatalf("Luma(%d, %d, %d) = %d, want %d", r, g, b, got, want)
				}
			}
		}
	}
}

func TestFitErrors(t *testing.T) {
	f := NewFitter(4, 4, 3)
	if err := f.Fit(pattern(8, 8), make([]uint8, 4*4)); err == nil {
		t.Error("short dst accepted")
	}
	if err := f.Fit(image.NewRGBA(image.Rect(3, 3, 3, 9)), make([]uint8, f.Len())); err == nil {
		t.Error("empty image accepted")
	}
	for _, args := range [][3]int{{0, 4, 3}, {4, 4, 2}, {MaxSide + 1, 1, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewFitter%v did not panic", args)
				}
			}()
			NewFitter(args[0], args[1], args[2])
		}()
	}
}

func TestFitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	camera := ycbcr(640, 480, image.YCbCrSubsampleRatio420)
	nrgba := image.NewNRGBA(image.Rect(0, 0, 100, 60))
	tests := []struct {
		name string
		img  image.Image
	}{
		{"YCbCr same size", ycbcr(32, 32, image.YCbCrSubsampleRatio420)},
		{"YCbCr 640×480", camera},
		{"YCbCr 4:2:2 resized", ycbcr(90, 50, image.YCbCrSubsampleRatio422)},
		{"RGBA resized", pattern(100, 60)},
		{"NRGBA resized", nrgba},
		{"Gray resized", grayPattern(100, 60)},
		{"Gray same size", grayPattern(32, 32)},
	}
	for _, tt := range tests {
		for _, c := range []int{3, 1} {
			f := NewFitter(32, 32, c)
			dst := make([]uint8, f.Len())
			allocs := testing.AllocsPerRun(50, func() {
				if err := f.Fit(tt.img, dst); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s, c=%d: %.1f allocations per Fit", tt.name, c, allocs)
			}
		}
	}
}

func BenchmarkFit(b *testing.B) {
	for _, bm := range []struct {
		name string
		img  image.Image
		c    int
	}{
		{"YCbCr420-640x480-to-32x32x3", ycbcr(640, 480, image.YCbCrSubsampleRatio420), 3},
		{"YCbCr420-640x480-to-32x32x1", ycbcr(640, 480, image.YCbCrSubsampleRatio420), 1},
		{"YCbCr420-1280x720-to-32x32x3", ycbcr(1280, 720, image.YCbCrSubsampleRatio420), 3},
		{"RGBA-32x32-copy", pattern(32, 32), 3},
	} {
		b.Run(bm.name, func(b *testing.B) {
			f := NewFitter(32, 32, bm.c)
			dst := make([]uint8, f.Len())
			b.ReportAllocs()
			for b.Loop() {
				if err := f.Fit(bm.img, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
