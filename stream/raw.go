package stream

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// raw reads frames of W×H RGB24 pixels, packed back to back with no header (what
// `ffmpeg -f rawvideo -pix_fmt rgb24 -` writes). Nothing in the data marks a frame, so a wrong
// size cannot be seen in the bytes; what can be seen is said: JPEG data where raw frames were
// promised, and a stream that ends inside a frame.
type raw struct {
	r      io.ReadCloser
	name   string
	w, h   int
	buf    []byte
	frames int
}

func newRaw(r io.ReadCloser, name string, w, h int) *raw {
	return &raw{r: r, name: name, w: w, h: h, buf: make([]byte, w*h*3)}
}

func (s *raw) Close() error { return s.r.Close() }

func (s *raw) Next() (Packet, error) {
	n, err := io.ReadFull(s.r, s.buf)
	switch {
	case err == io.EOF:
		return Packet{}, io.EOF
	case err == io.ErrUnexpectedEOF:
		return Packet{}, frameErrorf("%s: the stream ended inside frame %d: %d of the %d bytes of a %dx%d RGB24 frame (is --size right?)",
			s.name, s.frames, n, len(s.buf), s.w, s.h)
	case err != nil:
		return Packet{}, fmt.Errorf("%s: %w", s.name, err)
	case s.frames == 0 && bytes.HasPrefix(s.buf, []byte{0xFF, markerSOI, 0xFF}):
		return Packet{}, fmt.Errorf("%s: the data is JPEG, not raw RGB24: drop --size to read it as MJPEG", s.name)
	}
	s.frames++
	return Packet{Kind: RGB24, Data: s.buf, W: s.w, H: s.h, Time: time.Now()}, nil
}
