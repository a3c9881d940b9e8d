package stream

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/stream/streamtest"
)

func TestYUYVToRGBA(t *testing.T) {
	// BT.601 limited range: black, white and the three primaries.
	tests := []struct {
		name    string
		y, u, v byte
		want    [3]int
	}{
		{"black", 16, 128, 128, [3]int{0, 0, 0}},
		{"white", 235, 128, 128, [3]int{255, 255, 255}},
		{"red", 81, 90, 240, [3]int{255, 0, 0}},
		{"green", 145, 54, 34, [3]int{0, 255, 0}},
		{"blue", 41, 240, 110, [3]int{0, 0, 255}},
		{"below black clamps", 0, 128, 128, [3]int{0, 0, 0}},
		{"above white clamps", 255, 128, 128, [3]int{255, 255, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := image.NewRGBA(image.Rect(0, 0, 2, 1))
			yuyvToRGBA(dst, []byte{tt.y, tt.u, tt.y, tt.v}, 4)
			for x := range 2 {
				p := dst.RGBAAt(x, 0)
				got := [3]int{int(p.R), int(p.G), int(p.B)}
				for c := range 3 {
					if math.Abs(float64(got[c]-tt.want[c])) > 2 {
						t.Errorf("pixel %d: %v, want %v (±2)", x, got, tt.want)
					}
				}
				if p.A != 255 {
					t.Errorf("alpha %d", p.A)
				}
			}
		})
	}
}

// TestYUYVMatchesFormula compares random frames, with padded rows, with the BT.601 formula in
// float64: every channel within one step.
func TestYUYVMatchesFormula(t *testing.T) {
	const w, h, stride = 6, 3, 16
	r := rand.New(rand.NewPCG(5, 6))
	src := make([]byte, h*stride)
	for i := range src {
		src[i] = byte(r.UintN(256))
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	yuyvToRGBA(dst, src, stride)
	clamp := func(v float64) float64 { return math.Min(255, math.Max(0, v)) }
	for y := range h {
		for x := range w {
			q := src[y*stride+x/2*4:]
			yy, u, v := float64(q[x%2*2])-16, float64(q[1])-128, float64(q[3])-128
			want := [3]float64{clamp(1.164*yy + 1.596*v), clamp(1.164*yy - 0.392*u - 0.813*v), clamp(1.164*yy + 2.017*u)}
			p := dst.RGBAAt(x, y)
			for c, got := range []uint8{p.R, p.G, p.B} {
				if math.Abs(float64(got)-want[c]) > 1.01 {
					t.Fatalf("(%d,%d) channel %d: %d, want %.2f", x, y, c, got, want[c])
				}
			}
		}
	}
}

// withoutSegment removes the first marker segment m from a JPEG, as a UVC camera leaves out DHT.
func withoutSegment(t *testing.T, jpg []byte, m byte) []byte {
	seg, ok := findSegment(jpg, m)
	if !ok {
		t.Fatalf("no segment 0x%02X", m)
	}
	i := bytes.Index(jpg, seg)
	return append(append([]byte{}, jpg[:i]...), jpg[i+len(seg):]...)
}

func TestFrameLoad(t *testing.T) {
	pic := streamtest.Pictures(1, 40, 30)[0]
	jpg := streamtest.JPEG(t, pic)
	noDHT := withoutSegment(t, jpg, markerDHT)
	if _, _, err := imageio.Decode(bytes.NewReader(noDHT)); err == nil {
		t.Fatal("a JPEG without Huffman tables decoded: the test proves nothing")
	}
	want := func(img image.Image) []uint8 {
		fit := imageio.NewFitter(8, 8, 3)
		px := make([]uint8, fit.Len())
		if err := fit.Fit(img, px); err != nil {
			t.Fatal(err)
		}
		return px
	}
	decoded, _, err := imageio.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		p        Packet
		want     []uint8
		wantJPEG []byte // nil: the frame must have no JPEG
	}{
		{"jpeg", Packet{Kind: JPEG, Data: jpg}, want(decoded), jpg},
		{"jpeg without DHT", Packet{Kind: JPEG, Data: noDHT}, want(decoded), nil},
		{"png file", Packet{Kind: Image, Data: streamtest.PNG(t, pic)}, want(pic), nil},
		{"rgb24", Packet{Kind: RGB24, Data: streamtest.RGB24(pic), W: 40, H: 30}, want(pic), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Frame{Pixels: make([]uint8, 8*8*3)}
			if err := f.load(tt.p, imageio.NewFitter(8, 8, 3)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.Pixels, tt.want) {
				t.Error("fitted pixels differ from decoding and fitting the picture directly")
			}
			if tt.wantJPEG != nil && !bytes.Equal(f.JPEG, tt.wantJPEG) {
				t.Error("the frame's JPEG differs from the one received")
			}
			if tt.p.Kind == JPEG {
				if _, _, err := imageio.Decode(bytes.NewReader(f.JPEG)); err != nil {
					t.Errorf("the frame's JPEG does not decode: %v", err)
				}
			} else if f.JPEG != nil {
				t.Error("a frame that did not come as JPEG has JPEG bytes")
			}
		})
	}
	for _, bad := range []Packet{
		{Kind: RGB24, Data: make([]byte, 10), W: 4, H: 4},
		{Kind: YUYV, Data: make([]byte, 10), W: 4, H: 4, Stride: 8},
		{Kind: YUYV, Data: make([]byte, 100), W: 3, H: 2, Stride: 6},
		{Kind: JPEG, Data: jpg[:len(jpg)/2]},
	} {
		f := &Frame{Pixels: make([]uint8, 8*8*3)}
		if err := f.load(bad, imageio.NewFitter(8, 8, 3)); err == nil {
			t.Errorf("%+v: no error", bad.Kind)
		}
	}
}

// BenchmarkFrameLoad is the decoder goroutine's work per camera frame: decoding and fitting
// to a 32×32 input, for the sizes and formats cameras send.
func BenchmarkFrameLoad(b *testing.B) {
	for _, size := range [][2]int{{320, 240}, {640, 480}, {1280, 720}} {
		pic := streamtest.Pictures(1, size[0], size[1])[0]
		yuyv := make([]byte, size[0]*size[1]*2)
		for i := range yuyv {
			yuyv[i] = byte(i * 7)
		}
		for _, p := range []Packet{
			{Kind: JPEG, Data: streamtest.JPEG(b, pic)},
			{Kind: YUYV, Data: yuyv, W: size[0], H: size[1], Stride: 2 * size[0]},
		} {
			b.Run(fmt.Sprintf("%dx%d/%s", size[0], size[1], []string{"jpeg", "", "", "yuyv"}[p.Kind]), func(b *testing.B) {
				f := &Frame{Pixels: make([]uint8, 32*32*3)}
				fit := imageio.NewFitter(32, 32, 3)
				for b.Loop() {
					if err := f.load(p, fit); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
