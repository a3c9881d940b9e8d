// Package stream is the camera side of the edge runtime: sources that deliver frames (MJPEG or
// raw RGB24 on a pipe or in a file, MJPEG over HTTP, V4L2 devices, folders of images) and the
// loop that classifies them with "newest frame wins": a decoder goroutine keeps only the latest
// decoded frame, so a network slower than the camera skips frames, counted, instead of queueing
// them and falling ever further behind.
package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Kind says how a packet's bytes encode its picture.
type Kind uint8

const (
	JPEG  Kind = iota // one JPEG image (an MJPEG frame; it may lack Huffman tables)
	Image             // an image file of any format imageio decodes (PNG, JPEG, PPM, PGM)
	RGB24             // W×H pixels, 3 bytes each, rows packed
	YUYV              // W×H pixels as Y0 U Y1 V, Stride bytes per row (V4L2 YUYV)
)

// Packet is one encoded frame as a source read it.
type Packet struct {
	Kind   Kind
	Data   []byte    // valid until the next call of Next
	W, H   int       // RGB24 and YUYV
	Stride int       // YUYV: bytes per row
	Time   time.Time // when its last byte arrived
	Name   string    // the file it came from, for folders
}

// Source delivers frames in order.
type Source interface {
	// Next returns the next frame. At the end of the stream it returns io.EOF. A damaged
	// frame or skipped garbage gives a *FrameError, after which Next may be called again;
	// any other error ends the stream.
	Next() (Packet, error)
	// Close releases the source and makes a Next in progress return, where the operating
	// system allows it (a read of stdin stays blocked until input arrives).
	Close() error
}

// FrameError reports data a source had to skip; the stream goes on after it.
type FrameError struct{ Msg string }

func (e *FrameError) Error() string { return e.Msg }

func frameErrorf(format string, a ...any) error { return &FrameError{Msg: fmt.Sprintf(format, a...)} }

// isFrameError reports whether err is a FrameError. The target errors.As needs escapes to
// the heap, so it is declared only once there is an error: the frame loop allocates nothing.
func isFrameError(err error) bool {
	if err == nil {
		return false
	}
	var fe *FrameError
	return errors.As(err, &fe)
}

// ErrStopped is returned by Open when SourceOptions.Cancel ends a connection in progress.
var ErrStopped = errors.New("stopped while connecting")

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("stream: source closed")

// SourceOptions configure Open.
type SourceOptions struct {
	// W, H: the size of raw RGB24 frames on a pipe or in a file (0: the data is MJPEG), and
	// the capture size asked of a V4L2 device (0: 640×480).
	W, H int
	// FPS paces folders and regular files like a camera (0: folders at DefaultFolderFPS,
	// files as fast as they can be read) and is asked of V4L2 devices; live pipes and HTTP
	// streams are never paced: the camera sets their rate.
	FPS float64
	// MaxFrame caps one encoded frame in bytes (0: DefaultMaxFrame).
	MaxFrame int
	// Timeout bounds connecting to an HTTP stream and each wait for its next bytes, each wait
	// for a V4L2 frame, and, for every live source (stdin, a pipe, HTTP, V4L2), how long Run
	// waits for a complete frame: bytes that trickle in without making one do not count
	// (0: DefaultTimeout).
	Timeout time.Duration
	// Stdin is what "-" reads (nil: os.Stdin).
	Stdin io.Reader
	// Log, when set, receives what a folder's listing skipped (a dangling link, say), and
	// what a source that reconnects by itself (RTSP) has to say.
	Log io.Writer
	// Cancel, when done, abandons connecting to an HTTP stream (a stop asked for while an
	// unreachable camera is being waited for); once open, the source is closed with Close.
	Cancel context.Context
	// RTSPTransport is "tcp" (also "") or "udp"; HWAccel picks ffmpeg's decoder for RTSP:
	// "none" (also ""), "auto", an ffmpeg hwaccel name or a decoder name (h264_v4l2m2m).
	RTSPTransport, HWAccel string
	// Counters, when set, count the reconnections of such a source.
	Counters *Counters
}

// Defaults of SourceOptions.
const (
	DefaultMaxFrame  = 16 << 20
	DefaultTimeout   = 10 * time.Second
	DefaultFolderFPS = 30
)

func (o SourceOptions) maxFrame() int {
	if o.MaxFrame > 0 {
		return o.MaxFrame
	}
	return DefaultMaxFrame
}

func (o SourceOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// Redacted is a spec fit to print or serve: an HTTP or RTSP source's password is replaced by
// "xxxxx".
func Redacted(spec string) string {
	if u, err := url.Parse(spec); err == nil && isURL(u.Scheme) {
		return u.Redacted()
	}
	return spec
}

func isURL(scheme string) bool {
	switch scheme {
	case "http", "https", "rtsp", "rtsps":
		return true
	}
	return false
}

// Open opens a source from its spec: "-" (stdin), a path to a pipe or file (MJPEG, or raw
// RGB24 with W and H), "http://…" or "https://…" (MJPEG over HTTP), "rtsp://…" or
// "rtsps://…" (H.264 or H.265 through ffmpeg, scaled into a W×H box), "/dev/videoN" (V4L2)
// or a folder of images, played in name order.
func Open(spec string, opt SourceOptions) (Source, error) {
	if (opt.W == 0) != (opt.H == 0) || opt.W < 0 || opt.H < 0 {
		return nil, fmt.Errorf("frame size %dx%d: give both sides", opt.W, opt.H)
	}
	switch {
	case spec == "":
		return nil, errors.New("no source given")
	case spec == "-":
		var in io.Reader = os.Stdin
		if opt.Stdin != nil {
			in = opt.Stdin
		}
		rc, ok := in.(io.ReadCloser)
		if !ok {
			rc = io.NopCloser(in)
		}
		return &live{Source: newReaderSource(rc, "stdin", opt), name: "stdin", timeout: opt.timeout()}, nil
	case strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://"):
		if opt.W > 0 {
			return nil, errors.New("a frame size is for raw RGB24 frames on a pipe or in a file, and for V4L2: an HTTP stream is MJPEG")
		}
		return openHTTP(spec, opt)
	case strings.HasPrefix(spec, "rtsp://") || strings.HasPrefix(spec, "rtsps://"):
		return openRTSP(spec, opt)
	case strings.HasPrefix(spec, "/dev/video"):
		return openLiveV4L2(spec, opt)
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	switch {
	case st.IsDir() && opt.W > 0:
		return nil, fmt.Errorf("source %s: a frame size is for raw RGB24 frames and V4L2; a folder holds image files", spec)
	case st.IsDir():
		return openFolder(spec, opt)
	case st.Mode()&os.ModeCharDevice != 0:
		return openLiveV4L2(spec, opt)
	}
	f, err := os.Open(spec)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	src := newReaderSource(f, spec, opt)
	switch {
	case !st.Mode().IsRegular(): // a FIFO: a camera's pipe
		return &live{Source: src, name: spec, timeout: opt.timeout()}, nil
	case opt.FPS > 0:
		return pace(src, opt.FPS), nil
	}
	return src, nil
}

func openLiveV4L2(path string, opt SourceOptions) (Source, error) {
	src, err := openV4L2(path, opt)
	if err != nil {
		return nil, err
	}
	return &live{Source: src, name: path, timeout: opt.timeout()}, nil
}

// live marks a source fed by a camera as it films (stdin, a pipe, HTTP, V4L2), unlike a
// recording or a folder: Run ends it with an error when no complete frame comes for timeout,
// however many bytes trickle in, so that a supervisor restarts a capture whose camera is gone.
type live struct {
	Source
	name    string
	timeout time.Duration
	// camera: the end of the stream is an error too. A camera never ends one on purpose (it
	// rebooted, or dropped the client), and an exit status of 0 would keep a supervisor
	// from starting the capture again; a pipe ends when its writer is done.
	camera bool
}

func (l *live) Next() (Packet, error) {
	p, err := l.Source.Next()
	if err == io.EOF && l.camera {
		err = fmt.Errorf("%s: the camera closed the stream", l.name)
	}
	return p, err
}

// newReaderSource reads MJPEG, or raw RGB24 frames when the options give their size.
func newReaderSource(r io.ReadCloser, name string, opt SourceOptions) Source {
	if opt.W > 0 {
		return newRaw(r, name, opt.W, opt.H)
	}
	return newMJPEG(r, name, opt.maxFrame(), false)
}

// paced delivers frames no faster than a camera at fps would, so that a recording or a folder
// plays in real time and newest-frame-wins behaves as it would live.
type paced struct {
	Source
	every time.Duration
	next  time.Time
	timer *time.Timer
	done  chan struct{}
	once  sync.Once
}

func pace(s Source, fps float64) *paced {
	return &paced{Source: s, every: time.Duration(float64(time.Second) / fps), timer: time.NewTimer(0), done: make(chan struct{})}
}

func (p *paced) Next() (Packet, error) {
	if wait := time.Until(p.next); wait > 0 {
		p.timer.Reset(wait)
		select {
		case <-p.timer.C:
		case <-p.done:
			return Packet{}, ErrClosed
		}
	}
	now := time.Now()
	if p.next.Before(now) {
		p.next = now // late (a slow decoder): no burst to catch up
	}
	p.next = p.next.Add(p.every)
	return p.Source.Next()
}

func (p *paced) Close() error {
	p.once.Do(func() { close(p.done) })
	return p.Source.Close()
}
