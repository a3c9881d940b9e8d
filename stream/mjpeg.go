package stream

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// JPEG markers the splitter acts on.
const (
	markerSOI = 0xD8
	markerEOI = 0xD9
	markerSOS = 0xDA
	markerDHT = 0xC4
	markerTEM = 0x01
	markerRST = 0xD0 // RST0..RST7: 0xD0..0xD7
)

// standalone reports markers that carry no length field.
func standalone(m byte) bool { return m == markerTEM || m >= markerRST && m <= markerRST+7 }

// mjpeg splits concatenated JPEG images (what `ffmpeg -f mjpeg -`, `rpicam-vid --codec mjpeg
// -o -` and MJPEG-over-HTTP cameras send) into frames. It walks each frame's marker segments
// by their lengths and scans only the entropy-coded data for the next marker, so an EOI inside
// an embedded EXIF thumbnail does not end the frame early, and a frame cut short by a new SOI
// is reported and the new frame kept. Frames over max bytes are dropped, never buffered.
type mjpeg struct {
	r      io.ReadCloser
	br     *bufio.Reader
	name   string
	max    int
	quiet  bool // bytes between frames are expected (the multipart headers of an HTTP stream)
	buf    []byte
	frames int  // frames delivered
	soi    bool // the next frame's SOI has already been read
	resync bool // the data up to the next SOI belongs to a frame already reported
}

func newMJPEG(r io.ReadCloser, name string, max int, quiet bool) *mjpeg {
	return &mjpeg{r: r, br: bufio.NewReaderSize(r, 64<<10), name: name, max: max, quiet: quiet}
}

func (s *mjpeg) Close() error { return s.r.Close() }

func (s *mjpeg) Next() (Packet, error) {
	if !s.soi {
		skipped, found, err := s.seekSOI()
		for s.resync && !found && err == nil { // the rest of a frame already reported
			_, found, err = s.seekSOI()
		}
		quiet := s.quiet || s.resync
		s.resync = false
		switch {
		case err != nil && (err != io.EOF || skipped == 0 || quiet):
			return Packet{}, s.fatal(err)
		case err != nil:
			return Packet{}, frameErrorf("%s: %d bytes after the last frame are not JPEG", s.name, skipped)
		case !found && s.frames == 0 && s.quiet:
			return Packet{}, fmt.Errorf("%s: no JPEG frame in the first %d bytes: not an MJPEG stream", s.name, s.max)
		case !found && s.frames == 0:
			return Packet{}, fmt.Errorf("%s: no JPEG frame in the first %d bytes: not an MJPEG stream (raw RGB24 frames need --size WxH)", s.name, s.max)
		case !found:
			return Packet{}, frameErrorf("%s: skipped %d bytes with no JPEG frame in them", s.name, skipped)
		case skipped > 0 && !quiet:
			s.soi = true
			return Packet{}, frameErrorf("%s: skipped %d bytes that are not JPEG before the next frame", s.name, skipped)
		}
	}
	s.soi = false
	if err := s.readFrame(); err != nil {
		return Packet{}, err
	}
	s.frames++
	return Packet{Kind: JPEG, Data: s.buf, Time: time.Now()}, nil
}

// fatal maps a read error that ends the stream.
func (s *mjpeg) fatal(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	return fmt.Errorf("%s: %w", s.name, err)
}

// seekSOI reads up to and including the next SOI marker, or at most max bytes. skipped counts
// the bytes before the marker.
func (s *mjpeg) seekSOI() (skipped int, found bool, err error) {
	for skipped < s.max {
		chunk, err := s.br.ReadSlice(0xFF)
		skipped += len(chunk)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return skipped, false, err
		}
		b, err := s.br.ReadByte()
		switch {
		case err != nil:
			return skipped, false, err
		case b == markerSOI:
			return skipped - 1, true, nil
		case b == 0xFF:
			_ = s.br.UnreadByte() // it may begin the marker
		default:
			skipped++
		}
	}
	return skipped, false, nil
}

// errFrameTooLarge is how readFrame's appends fail.
var errFrameTooLarge = errors.New("frame too large")

// corrupt is a frame's structure being wrong, as opposed to the reader failing.
type corrupt struct{ msg string }

func (c *corrupt) Error() string { return c.msg }

func corruptf(format string, a ...any) error { return &corrupt{fmt.Sprintf(format, a...)} }

// readFrame reads the rest of a frame whose SOI has been read into s.buf. Damage gives a
// FrameError and leaves the splitter ready to look for the next frame.
func (s *mjpeg) readFrame() error {
	s.buf = append(s.buf[:0], 0xFF, markerSOI)
	pending := -1 // a marker already read by the entropy-data scan
	for {
		m := byte(pending)
		if pending < 0 {
			var err error
			if m, err = s.marker(); err != nil {
				return s.damaged(err)
			}
		}
		pending = -1
		switch {
		case m == markerEOI:
			return s.damaged(s.append(0xFF, m))
		case m == markerSOI:
			s.soi = true
			return frameErrorf("%s: frame %d is truncated: a new frame began after %d bytes", s.name, s.frames, len(s.buf))
		case standalone(m):
			if err := s.append(0xFF, m); err != nil {
				return s.damaged(err)
			}
		default:
			if err := s.segment(m); err != nil {
				return s.damaged(err)
			}
			if m != markerSOS {
				continue
			}
			c, err := s.entropyData()
			if err != nil {
				return s.damaged(err)
			}
			pending = int(c)
		}
	}
}

// marker reads a marker: 0xFF, any fill bytes, then the marker byte.
func (s *mjpeg) marker() (byte, error) {
	b, err := s.br.ReadByte()
	if err != nil {
		return 0, err
	}
	if b != 0xFF {
		return 0, corruptf("expected a marker at byte %d, found 0x%02x", len(s.buf), b)
	}
	for b == 0xFF {
		if b, err = s.br.ReadByte(); err != nil {
			return 0, err
		}
	}
	if b == 0 {
		return 0, corruptf("invalid marker 0xFF00 at byte %d", len(s.buf))
	}
	return b, nil
}

// segment copies a marker segment with a length field.
func (s *mjpeg) segment(m byte) error {
	var l [2]byte
	if _, err := io.ReadFull(s.br, l[:]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n < 2 {
		return corruptf("marker 0x%02X has length %d", m, n)
	}
	if err := s.append(0xFF, m, l[0], l[1]); err != nil {
		return err
	}
	at := len(s.buf)
	if err := s.grow(n - 2); err != nil {
		return err
	}
	_, err := io.ReadFull(s.br, s.buf[at:])
	return err
}

// entropyData copies scan data up to the marker that ends it, which it returns (RSTn markers
// and stuffed 0xFF00 bytes are data).
func (s *mjpeg) entropyData() (byte, error) {
	for {
		chunk, err := s.br.ReadSlice(0xFF)
		if aerr := s.append(chunk...); aerr != nil {
			return 0, aerr
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return 0, err
		}
		c, err := s.br.ReadByte()
		switch {
		case err != nil:
			return 0, err
		case c == 0 || c >= markerRST && c <= markerRST+7:
			if err := s.append(c); err != nil {
				return 0, err
			}
		case c == 0xFF: // fill byte before a marker
			s.buf = s.buf[:len(s.buf)-1]
			_ = s.br.UnreadByte()
		default:
			s.buf = s.buf[:len(s.buf)-1] // the loop in readFrame writes the marker back
			return c, nil
		}
	}
}

func (s *mjpeg) append(b ...byte) error {
	if len(s.buf)+len(b) > s.max {
		return errFrameTooLarge
	}
	s.buf = append(s.buf, b...)
	return nil
}

func (s *mjpeg) grow(n int) error {
	if len(s.buf)+n > s.max {
		return errFrameTooLarge
	}
	s.buf = append(s.buf, make([]byte, n)...)
	return nil
}

// damaged turns an error met inside a frame into a FrameError, after which the stream goes
// on, or, when the reader itself failed, a fatal one.
func (s *mjpeg) damaged(err error) error {
	if err == nil { // every whole frame: errors.As's target below would be an allocation
		return nil
	}
	var c *corrupt
	switch {
	case errors.Is(err, errFrameTooLarge):
		s.resync = true
		return frameErrorf("%s: frame %d is larger than %d bytes: dropped", s.name, s.frames, s.max)
	case errors.As(err, &c):
		s.resync = true
		return frameErrorf("%s: frame %d is corrupt: %v", s.name, s.frames, err)
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return frameErrorf("%s: the stream ended inside frame %d (%d bytes read)", s.name, s.frames, len(s.buf))
	}
	return s.fatal(err)
}
