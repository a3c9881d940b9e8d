package imageio

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"runtime"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/imageio/imageiotest"
)

// TestDecodeBudget decodes or refuses images by what their decoding costs, not by their
// size in pixels alone: the decompression bombs (half a megabyte of progressive CMYK
// JPEG that image/jpeg turns into 1.5 GiB) are refused under the default budget, with a
// message saying what the image is and what it would take.
func TestDecodeBudget(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		budget int64  // 0: the default
		err    string // "" when it decodes
	}{
		{"8192² progressive CMYK JPEG", imageiotest.ProgressiveJPEG(8192, 8192, 4), 0, "8192×8192 progressive CMYK jpeg takes about 1.5 GiB"},
		{"8192² progressive JPEG", imageiotest.ProgressiveJPEG(8192, 8192, 3), 0, "8192×8192 progressive jpeg takes about 960"},
		{"8192² interlaced PNG", imageiotest.InterlacedPNG(8192, 8192), 0, "8192×8192 interlaced RGBA png takes about 512"},
		{"8192² baseline JPEG header", jpegWithSize(t, 8192, 8192), 0, ""}, // refused by the decoder (no data), not the budget
		{"progressive CMYK within", imageiotest.ProgressiveJPEG(256, 256, 4), 2 << 20, ""},
		{"progressive CMYK over", imageiotest.ProgressiveJPEG(256, 256, 4), 1 << 20, "256×256 progressive CMYK jpeg takes about 1.6 MiB, more than the image memory budget of 1 MiB"},
		{"interlaced PNG within", imageiotest.InterlacedPNG(300, 200), 1 << 20, ""},
		{"interlaced PNG over", imageiotest.InterlacedPNG(300, 200), 512 << 10, "300×200 interlaced RGBA png takes about 697.5 KiB"},
		{"PPM over", encodePNM(pattern(300, 300), "P6", 255), 512 << 10, "300×300 ppm takes about"},
		{"file over", encodePNM(pattern(300, 300), "P6", 255), 64 << 10, "a file larger than the image memory budget of 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, _, err := decode(bytes.NewReader(tt.data), limits{side: MaxSide, pixels: MaxPixels, budget: tt.budget})
			switch {
			case tt.name == "8192² baseline JPEG header":
				if err == nil || errors.Is(err, ErrTooLarge) {
					t.Errorf("error %v, want the decoder's", err)
				}
			case tt.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.err == "" && img.Bounds().Empty():
				t.Errorf("empty picture")
			case tt.err != "" && (!errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want ErrTooLarge and %q", err, tt.err)
			}
		})
	}
}

// TestEstimateBoundsAllocation checks the estimate against what the standard decoders
// allocate for every kind of image the estimate distinguishes.
func TestEstimateBoundsAllocation(t *testing.T) {
	for _, data := range budgetSeeds(t) {
		checkEstimate(t, data)
	}
}

func budgetSeeds(t testing.TB) [][]byte {
	gray := grayPattern(57, 31)
	seeds := [][]byte{
		encodePNG(t, pattern(61, 47)),
		encodePNG(t, gray),
		encodePNG(t, image.NewNRGBA64(image.Rect(0, 0, 19, 23))),
		encodePNG(t, image.NewPaletted(image.Rect(0, 0, 40, 30), []color.Color{color.Black, color.White})),
		encodeJPEG(t, pattern(67, 45)),
		encodeJPEG(t, gray),
		encodePNM(pattern(30, 20), "P6", 255),
		encodePNM(gray, "P5", 65535),
		encodePNM(gray, "P2", 255),
		imageiotest.ProgressiveJPEG(77, 41, 4),
		imageiotest.ProgressiveJPEG(90, 33, 3),
		imageiotest.ProgressiveJPEG(45, 70, 1),
		imageiotest.InterlacedPNG(71, 39),
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewCMYK(image.Rect(0, 0, 40, 24)), nil); err == nil {
		seeds = append(seeds, b.Bytes())
	}
	return seeds
}

// maxOver is how far an estimate may exceed what its successful decode allocated: twice,
// plus the decoders' fixed overhead. Above that the budget would refuse images it could
// decode.
const maxOver = 2

// checkEstimate decodes data if its estimate is small, and fails where the decoder allocated
// more than the estimate, or (decoding successfully) much less.
func checkEstimate(t *testing.T, data []byte) {
	need, err := Estimate(data)
	if err != nil || need.W <= 0 || need.H <= 0 || need.W > 512 || need.H > 512 || need.Bytes > 16<<20 {
		return
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	img, err := decodeAs(need.Format, data)
	runtime.ReadMemStats(&after)
	alloc := int64(after.TotalAlloc - before.TotalAlloc)
	if alloc > need.Bytes {
		t.Fatalf("%v: the decoder allocated %d bytes, the estimate is %d", need, alloc, need.Bytes)
	}
	if err == nil && need.Bytes > maxOver*alloc+pngOverhead {
		t.Fatalf("%v (%T): the estimate %d is more than %d times the %d bytes allocated", need, img, need.Bytes, maxOver, alloc)
	}
}

// FuzzEstimate: the estimate never panics, and never is below what the decoder then
// allocates (above by at most maxOver).
func FuzzEstimate(f *testing.F) {
	for _, s := range budgetSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkEstimate)
}
