package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pattern is a deterministic test image: every channel varies, so swapped or shifted
// channels and rows show up as mismatches.
func pattern(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetRGBA(x, y, color.RGBA{uint8(x*7 + y), uint8(y*13 + x*3), uint8(x ^ y*5), 0xff})
		}
	}
	return m
}

func grayPattern(w, h int) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i*37 + i/w)
	}
	return m
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encodePNM writes m as Netpbm: magic P2, P3, P5 or P6, samples scaled to maxval (two bytes
// big-endian in binary files when maxval > 255), with a comment in the header.
func encodePNM(m image.Image, magic string, maxval int) []byte {
	b := m.Bounds()
	var out bytes.Buffer
	fmt.Fprintf(&out, "%s\n# written by imageio tests\n%d %d\n%d\n", magic, b.Dx(), b.Dy(), maxval)
	gray := magic == "P2" || magic == "P5"
	plain := magic == "P2" || magic == "P3"
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(m.At(x, y)).(color.RGBA)
			samples := []uint8{c.R, c.G, c.B}
			if gray {
				samples = samples[:1]
			}
			for _, s := range samples {
				v := int(s) * maxval / 255
				switch {
				case plain:
					fmt.Fprintf(&out, "%d ", v)
				case maxval > 255:
					out.Write([]byte{byte(v >> 8), byte(v)})
				default:
					out.WriteByte(byte(v))
				}
			}
		}
		if plain {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// rgbOf returns the 8-bit RGB of every pixel of m, row-major.
func rgbOf(m image.Image) []uint8 {
	b := m.Bounds()
	var out []uint8
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(m.At(x, y)).(color.RGBA)
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out
}

func TestDecodeLossless(t *testing.T) {
	rgb, gray := pattern(13, 7), grayPattern(13, 7)
	nrgba := image.NewNRGBA(rgb.Rect)
	copy(nrgba.Pix, rgb.Pix) // opaque, so the same colours
	tests := []struct {
		name   string
		data   []byte
		format string
		want   image.Image
	}{
		{"png rgb", encodePNG(t, rgb), "png", rgb},
		{"png nrgba", encodePNG(t, nrgba), "png", rgb},
		{"png gray", encodePNG(t, gray), "png", gray},
		{"ppm P6", encodePNM(rgb, "P6", 255), "ppm", rgb},
		{"ppm P3", encodePNM(rgb, "P3", 255), "ppm", rgb},
		{"pgm P5", encodePNM(gray, "P5", 255), "pgm", gray},
		{"pgm P2", encodePNM(gray, "P2", 255), "pgm", gray},
		{"pgm P5 16-bit", encodePNM(gray, "P5", 65535), "pgm", gray},
		{"ppm P6 16-bit", encodePNM(rgb, "P6", 65535), "ppm", rgb},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, format, err := Decode(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if format != tt.format {
				t.Errorf("format %q, want %q", format, tt.format)
			}
			if img.Bounds() != tt.want.Bounds() {
				t.Fatalf("bounds %v, want %v", img.Bounds(), tt.want.Bounds())
			}
			if !bytes.Equal(rgbOf(img), rgbOf(tt.want)) {
				t.Error("pixels differ from the encoded image")
			}
		})
	}
}

func TestDecodePNMScaling(t *testing.T) {
	// maxval 15: 0 → 0, 15 → 255, 7 → round(7·255/15) = 119.
	img, _, err := Decode(strings.NewReader("P2 3 1 15 0 15 7"))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.(*image.Gray).Pix; !bytes.Equal(got, []uint8{0, 255, 119}) {
		t.Errorf("pixels %v, want [0 255 119]", got)
	}
}

func TestDecodeJPEG(t *testing.T) {
	src := pattern(32, 24)
	img, format, err := Decode(bytes.NewReader(encodeJPEG(t, src)))
	if err != nil {
		t.Fatal(err)
	}
	if format != "jpeg" || img.Bounds() != src.Bounds() {
		t.Fatalf("got %s %v, want jpeg %v", format, img.Bounds(), src.Bounds())
	}
	if _, ok := img.(*image.YCbCr); !ok {
		t.Errorf("JPEG decoded to %T, want *image.YCbCr", img)
	}
}

func TestDecodeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.png")
	if err := os.WriteFile(path, encodePNG(t, pattern(5, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := DecodeFile(path)
	if err != nil || img.Bounds().Dx() != 5 {
		t.Fatalf("DecodeFile = %v, %v", img, err)
	}
	bad := filepath.Join(dir, "bad.png")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("error %v does not name %s", err, bad)
	}
	if _, err := DecodeFile(filepath.Join(dir, "missing.png")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v does not wrap os.ErrNotExist", err)
	}
}

// pngWithSize rewrites the IHDR of a valid PNG of img to declare w×h (with a valid CRC),
// the way a decompression bomb does.
func pngWithSize(t *testing.T, img image.Image, w, h uint32) []byte {
	data := encodePNG(t, img)
	ihdr := data[8:] // length, "IHDR", 13 bytes of data, CRC
	binary.BigEndian.PutUint32(ihdr[8:], w)
	binary.BigEndian.PutUint32(ihdr[12:], h)
	binary.BigEndian.PutUint32(ihdr[21:], crc32.ChecksumIEEE(ihdr[4:21]))
	return data
}

// jpegWithSize rewrites the SOF0 frame header of a valid JPEG to declare w×h.
func jpegWithSize(t *testing.T, w, h uint16) []byte {
	data := encodeJPEG(t, pattern(8, 8))
	i := bytes.Index(data, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	binary.BigEndian.PutUint16(data[i+5:], h)
	binary.BigEndian.PutUint16(data[i+7:], w)
	return data
}

func TestDecodeRejectsHugeImages(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"png wide", pngWithSize(t, pattern(1, 1), MaxSide+1, 1)},
		{"png 100 megapixels", pngWithSize(t, pattern(1, 1), 10000, 10000)},
		{"16-bit png of 64 megapixels", pngWithSize(t, image.NewNRGBA64(image.Rect(0, 0, 1, 1)), 8192, 8192)},
		{"jpeg tall", jpegWithSize(t, 8, MaxSide+1)},
		{"jpeg 65535²", jpegWithSize(t, 65535, 65535)},
		{"ppm", []byte("P6 100000 100000 255\n")},
		{"pgm 9000²", []byte("P5 9000 9000 255\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode(bytes.NewReader(tt.data))
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v, want ErrTooLarge", err)
			}
		})
	}
	// The largest accepted size is exactly MaxPixels.
	if err := defaultLimits.check(MaxSide, MaxPixels/MaxSide); err != nil {
		t.Errorf("%d×%d rejected: %v", MaxSide, MaxPixels/MaxSide, err)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	files := map[string][]byte{
		"png":    encodePNG(t, pattern(9, 9)),
		"jpeg":   encodeJPEG(t, pattern(9, 9)),
		"ppm P6": encodePNM(pattern(4, 3), "P6", 255),
		"ppm P3": encodePNM(pattern(4, 3), "P3", 255),
		"pgm P5": encodePNM(grayPattern(4, 3), "P5", 1000),
	}
	for name, data := range files {
		t.Run(name+" truncated", func(t *testing.T) {
			detectable := len(data)
			if name == "ppm P3" {
				// A plain file cut inside its last number still parses: "25" is a sample too.
				detectable = bytes.LastIndexByte(bytes.TrimSpace(data), ' ') + 1
			}
			for n := range detectable {
				if _, _, err := Decode(bytes.NewReader(data[:n])); err == nil {
					t.Errorf("no error for the first %d of %d bytes", n, len(data))
				}
			}
		})
	}
	for _, tt := range []struct{ name, data string }{
		{"empty", ""},
		{"unknown", "GIF89a"},
		{"pnm bad magic", "P7 1 1 255\n\x00"},
		{"pnm letters", "P5 a b 255\n"},
		{"pnm zero width", "P5 0 4 255\n"},
		{"pnm maxval 0", "P5 1 1 0\n\x00"},
		{"pnm maxval 70000", "P5 1 1 70000\n\x00"},
		{"pnm sample over maxval", "P2 2 1 10 3 11"},
		{"pnm long number", "P5 0000000001 1 255\n\x00"},
		{"pnm number glued to text", "P5 1x 1 255\n\x00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Decode(strings.NewReader(tt.data)); err == nil {
				t.Error("no error")
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodePNG(f, pattern(5, 3)))
	f.Add(encodePNG(f, grayPattern(4, 4)))
	f.Add(encodeJPEG(f, pattern(9, 5)))
	f.Add(encodePNM(pattern(3, 2), "P6", 255))
	f.Add(encodePNM(pattern(3, 2), "P3", 300))
	f.Add(encodePNM(grayPattern(3, 2), "P5", 65535))
	f.Add([]byte("P2\n#c\n2 2\n3\n0 1\n2 3\n"))
	lim := limits{side: 1024, pixels: 1 << 18} // small, to explore logic rather than allocate
	fit := NewFitter(8, 6, 3)
	dst := make([]uint8, fit.Len())
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := decode(bytes.NewReader(data), lim)
		if err != nil {
			return
		}
		b := img.Bounds()
		if b.Empty() || b.Dx() > lim.side || b.Dy() > lim.side || b.Dx()*b.Dy() > lim.pixels {
			t.Fatalf("decoded %v despite the limits", b)
		}
		// Whatever image type a decoder returns, Fit must handle it.
		if err := fit.Fit(img, dst); err != nil {
			t.Fatalf("Fit(%T %v): %v", img, b, err)
		}
	})
}
