package stream

import (
	"bytes"
	"errors"
	"image"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ninedge/ninedge/stream/streamtest"
)

// drain reads a source to its end: the frames' bytes, the FrameError messages and the error
// that ended it (nil for io.EOF).
func drain(t *testing.T, s Source) (frames [][]byte, damaged []string, end error) {
	t.Helper()
	for range 10000 {
		p, err := s.Next()
		var fe *FrameError
		switch {
		case err == io.EOF:
			return frames, damaged, nil
		case errors.As(err, &fe):
			damaged = append(damaged, fe.Msg)
		case err != nil:
			return frames, damaged, err
		default:
			frames = append(frames, bytes.Clone(p.Data))
		}
	}
	t.Fatal("source never ended")
	return
}

// withThumbnail puts an APP1 (EXIF) segment holding a whole JPEG, with its own SOI and EOI,
// in front of jpg's other segments, as cameras do.
func withThumbnail(jpg, thumb []byte) []byte {
	body := append([]byte("Exif\x00\x00"), thumb...)
	n := len(body) + 2
	seg := append([]byte{0xFF, 0xE1, byte(n >> 8), byte(n)}, body...)
	return append(append(append([]byte{}, jpg[:2]...), seg...), jpg[2:]...)
}

func TestMJPEGSplit(t *testing.T) {
	pics := streamtest.Pictures(3, 48, 40)
	a, b, c := streamtest.JPEG(t, pics[0]), streamtest.JPEG(t, pics[1]), streamtest.JPEG(t, pics[2])
	big := streamtest.JPEG(t, noise(300, 300)) // more than the 64 KiB read buffer
	thumb := withThumbnail(a, c)
	// A hand-made frame: fill bytes before markers, stuffed 0xFF00 and a restart marker in
	// the scan data; the splitter keeps the data and drops the fill.
	handmade := []byte{0xFF, 0xD8, 0xFF, 0xFF, 0xE0, 0x00, 0x04, 0x01, 0x02, 0xFF, 0xDA, 0x00, 0x03, 0x01,
		0x11, 0xFF, 0x00, 0x22, 0xFF, 0xD3, 0x33, 0xFF, 0xFF, 0xD9}
	handmadeOut := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x01, 0x02, 0xFF, 0xDA, 0x00, 0x03, 0x01,
		0x11, 0xFF, 0x00, 0x22, 0xFF, 0xD3, 0x33, 0xFF, 0xD9}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		data    []byte
		max     int
		want    [][]byte
		damaged []string // substrings, in order
		end     string   // substring of the error that ends the stream ("" : io.EOF)
	}{
		{name: "concatenated", data: cat(a, b, c), want: [][]byte{a, b, c}},
		{name: "larger than the read buffer", data: cat(big, a, big), want: [][]byte{big, a, big}},
		{name: "EOI inside an EXIF thumbnail", data: cat(thumb, b), want: [][]byte{thumb, b}},
		{name: "fill bytes, stuffing, restart markers", data: cat(handmade, a), want: [][]byte{handmadeOut, a}},
		{name: "garbage before and between frames", data: cat([]byte("junk\xff\x00"), a, []byte("\r\n--boundary\r\n"), b),
			want: [][]byte{a, b}, damaged: []string{"skipped 6 bytes", "skipped 14 bytes"}},
		{name: "truncated frame then a new one", data: cat(a[:3*len(a)/4], b, c), want: [][]byte{b, c},
			damaged: []string{"frame 0 is truncated"}},
		{name: "frame over the size limit", data: cat(a, big, b), max: 20000, want: [][]byte{a, b},
			damaged: []string{"frame 1 is larger than 20000 bytes"}},
		{name: "stream ends inside a frame", data: cat(a, b[:len(b)-10]), want: [][]byte{a},
			damaged: []string{"ended inside frame 1"}},
		{name: "trailing garbage", data: cat(a, []byte("tail")), want: [][]byte{a},
			damaged: []string{"4 bytes after the last frame"}},
		{name: "corrupt marker", data: cat(a[:2], []byte{0x12, 0x34}, a[2:], b), want: [][]byte{b},
			damaged: []string{"frame 0 is corrupt: expected a marker"}},
		{name: "random bytes", data: noiseBytes(100000, 0xD8), max: 50000, end: "no JPEG frame in the first 50000 bytes"},
		{name: "empty", data: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = DefaultMaxFrame
			}
			// One byte per read, to exercise every boundary of the buffered reader.
			s := newMJPEG(io.NopCloser(iotest.OneByteReader(bytes.NewReader(tt.data))), "test", max, false)
			frames, damaged, end := drain(t, s)
			checkEnd(t, end, tt.end)
			if len(frames) != len(tt.want) {
				t.Fatalf("%d frames, want %d (damaged: %q)", len(frames), len(tt.want), damaged)
			}
			for i := range frames {
				if !bytes.Equal(frames[i], tt.want[i]) {
					t.Errorf("frame %d differs (%d bytes, want %d)", i, len(frames[i]), len(tt.want[i]))
				}
			}
			if len(damaged) != len(tt.damaged) {
				t.Fatalf("damaged %q, want %q", damaged, tt.damaged)
			}
			for i, d := range damaged {
				if !strings.Contains(d, tt.damaged[i]) {
					t.Errorf("damaged[%d] = %q, want it to contain %q", i, d, tt.damaged[i])
				}
			}
		})
	}
}

// FuzzMJPEG: on any bytes the splitter ends (drain fails a source that never does), and
// every frame it delivers is an SOI…EOI structure within the size limit, built from the input.
func FuzzMJPEG(f *testing.F) {
	a := streamtest.JPEG(f, streamtest.Pictures(1, 16, 8)[0])
	f.Add(bytes.Join([][]byte{a, a}, nil), false)
	f.Add(bytes.Join([][]byte{[]byte("junk\xff"), a[:len(a)/2], a, []byte("tail")}, nil), false)
	f.Add([]byte("--b\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xda\x00\x02\x01\xff\x00\xff\xd9\r\n--b\r\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, quiet bool) {
		if len(data) > 4096 { // drain's bound of 10,000 calls must hold on any input
			return
		}
		const max = 1024
		frames, _, _ := drain(t, newMJPEG(io.NopCloser(bytes.NewReader(data)), "fuzz", max, quiet))
		total := 0
		for i, fr := range frames {
			if len(fr) < 4 || len(fr) > max || !bytes.HasPrefix(fr, []byte{0xFF, markerSOI}) || !bytes.HasSuffix(fr, []byte{0xFF, markerEOI}) {
				t.Fatalf("frame %d: %d bytes: % x", i, len(fr), fr[:min(len(fr), 16)])
			}
			total += len(fr)
		}
		if total > len(data) {
			t.Fatalf("%d bytes of frames from %d bytes of input", total, len(data))
		}
	})
}

func checkEnd(t *testing.T, end error, want string) {
	t.Helper()
	switch {
	case want == "" && end != nil:
		t.Fatalf("stream ended with %v, want io.EOF", end)
	case want != "" && (end == nil || !strings.Contains(end.Error(), want)):
		t.Fatalf("stream ended with %v, want an error containing %q", end, want)
	}
}

func TestMJPEGFromFFmpeg(t *testing.T) {
	mjpeg, files := streamtest.FFmpegMJPEG(t, streamtest.Pictures(5, 64, 48))
	frames, damaged, end := drain(t, newMJPEG(io.NopCloser(bytes.NewReader(mjpeg)), "ffmpeg", DefaultMaxFrame, false))
	if end != nil || len(damaged) > 0 {
		t.Fatalf("end %v, damaged %q", end, damaged)
	}
	if len(frames) != len(files) {
		t.Fatalf("%d frames, want %d", len(frames), len(files))
	}
	for i := range frames {
		if !bytes.Equal(frames[i], files[i]) {
			t.Errorf("frame %d differs from ffmpeg's JPEG file of the same picture", i)
		}
	}
}

func TestRaw(t *testing.T) {
	pics := streamtest.Pictures(2, 6, 4)
	f0, f1 := streamtest.RGB24(pics[0]), streamtest.RGB24(pics[1])
	tests := []struct {
		name    string
		data    []byte
		want    int
		damaged string
		end     string
	}{
		{name: "two frames", data: append(append([]byte{}, f0...), f1...), want: 2},
		{name: "wrong size", data: append(append([]byte{}, f0...), f1[:30]...), want: 1, damaged: "30 of the 72 bytes of a 6x4 RGB24 frame (is --size right?)"},
		{name: "JPEG data", data: streamtest.JPEG(t, pics[0]), end: "the data is JPEG, not raw RGB24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, damaged, end := drain(t, newRaw(io.NopCloser(bytes.NewReader(tt.data)), "raw", 6, 4))
			checkEnd(t, end, tt.end)
			if len(frames) != tt.want {
				t.Errorf("%d frames, want %d", len(frames), tt.want)
			}
			if got := strings.Join(damaged, "|"); !strings.Contains(got, tt.damaged) || (tt.damaged == "") != (got == "") {
				t.Errorf("damaged %q, want %q", got, tt.damaged)
			}
		})
	}
}

// noise returns a w×h picture of random pixels, which JPEG compresses poorly.
func noise(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(3, 4))
	for i := range m.Pix {
		m.Pix[i] = byte(r.UintN(256))
	}
	return m
}

// noiseBytes returns n random bytes without the byte b, so that no SOI marker appears.
func noiseBytes(n int, b byte) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]byte, n)
	for i := range out {
		for out[i] = byte(r.UintN(256)); out[i] == b; out[i] = byte(r.UintN(256)) {
		}
	}
	return out
}
