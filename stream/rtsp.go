package stream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ninedge/ninedge/imageio"
)

// RTSP cameras are read through an ffmpeg child process: it speaks RTSP (TCP or UDP), decodes
// H.264 or H.265 (in hardware where --hwaccel finds a decoder), scales each frame down to a box
// no larger than the network needs to see, and writes the frames as binary PPM on a pipe.
// PPM rather than bare RGB24 because its header carries the frame's size, which only the
// camera knows. A camera that drops, an ffmpeg that dies or a stream that stalls for Timeout
// is restarted with backoff; the source never ends on its own.

// Defaults of the RTSP source.
const (
	DefaultRTSPWidth  = 320 // the box frames are scaled down into, keeping their aspect ratio
	DefaultRTSPHeight = 240
	// rtspBackoffMax caps the wait between reconnections; the first waits rtspBackoffMin.
	rtspBackoffMin = time.Second
	rtspBackoffMax = 30 * time.Second
	// rtspStopGrace is how long ffmpeg has to end after SIGTERM before it is killed.
	rtspStopGrace = 2 * time.Second
)

// ffmpegPackage names what to install when ffmpeg is missing.
const ffmpegPackage = "Debian, Ubuntu and Raspberry Pi OS: sudo apt install ffmpeg"

// hwaccelName is what --hwaccel may name: an ffmpeg hwaccel (drm, vaapi, cuda...) or a
// decoder (h264_v4l2m2m...), never anything that could be read as another option.
var hwaccelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)

// rtspArgs is ffmpeg's command line for a camera, the URL (with its password) included.
func rtspArgs(u string, opt SourceOptions) ([]string, error) {
	transport := cmpOr(opt.RTSPTransport, "tcp")
	if transport != "tcp" && transport != "udp" {
		return nil, fmt.Errorf("RTSP transport %q: want tcp or udp", transport)
	}
	w, h := opt.W, opt.H
	if w == 0 {
		w, h = DefaultRTSPWidth, DefaultRTSPHeight
	}
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error"}
	switch hw := opt.HWAccel; {
	case hw == "" || hw == "none":
	case !hwaccelName.MatchString(hw):
		return nil, fmt.Errorf("--hwaccel %q: want auto, none, an ffmpeg hwaccel (drm, vaapi, cuda) or a decoder (h264_v4l2m2m)", hw)
	case strings.Contains(hw, "_"): // a decoder: it replaces the software one for the stream
		args = append(args, "-c:v", hw)
	default:
		args = append(args, "-hwaccel", hw)
	}
	// No -timeout: before ffmpeg 5 it meant "listen for a camera" (ffmpeg 4.4 is Ubuntu
	// 22.04's, hence JetPack 6's), since then the socket timeout. The pipe's read deadline
	// bounds every wait on any version.
	args = append(args,
		"-rtsp_transport", transport,
		"-fflags", "+discardcorrupt", "-flags", "low_delay",
		"-i", u,
		"-an", "-sn", "-dn",
		// Scale down into the w×h box, keeping the aspect ratio (imageio's Fitter crops
		// later, as it does for every source), never up; even sizes suit every pixel format.
		"-vf", fmt.Sprintf("scale=w='min(iw,%d)':h='min(ih,%d)':force_original_aspect_ratio=decrease:force_divisible_by=2", w, h),
		// Every decoded frame, as it comes: ninedge drops frames itself (newest wins).
		"-vsync", "0",
		"-pix_fmt", "rgb24", "-f", "image2pipe", "-c:v", "ppm", "pipe:1")
	return args, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// openRTSP checks the URL and ffmpeg; the camera itself is connected by the first Next, so that
// a camera down when the program starts is waited for like one that drops later.
func openRTSP(spec string, opt SourceOptions) (Source, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err) // url's error redacts the password
	}
	name := u.Redacted()
	if u.Host == "" {
		return nil, fmt.Errorf("source %s: no host: want rtsp://[user:pass@]host[:port]/path", name)
	}
	if opt.W > 0 && opt.W*opt.H > imageio.MaxPixels {
		return nil, fmt.Errorf("source %s: a %dx%d frame is more than %d pixels", name, opt.W, opt.H, imageio.MaxPixels)
	}
	args, err := rtspArgs(spec, opt)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, fmt.Errorf("source %s: RTSP cameras are decoded by ffmpeg, which was not found (%s): %w", name, ffmpegPackage, err)
	}
	s := &rtspSource{bin: bin, args: args, name: name, log: opt.Log, cnt: opt.Counters,
		timeout: opt.timeout(), done: make(chan struct{}), redact: redactor(u)}
	s.br = bufio.NewReaderSize(nil, 64<<10)
	return s, nil
}

// redactor removes a URL's password from ffmpeg's messages, which quote the URL as given.
func redactor(u *url.URL) *strings.Replacer {
	pass, ok := u.User.Password()
	if !ok || pass == "" {
		return strings.NewReplacer()
	}
	pairs := []string{u.String(), u.Redacted(), ":" + pass + "@", ":xxxxx@"}
	if esc := url.PathEscape(pass); esc != pass { // as typed in the URL
		pairs = append(pairs, ":"+esc+"@", ":xxxxx@")
	}
	return strings.NewReplacer(append(pairs, pass, "xxxxx")...)
}

type rtspSource struct {
	bin     string
	args    []string
	name    string // the URL without its password
	log     io.Writer
	cnt     *Counters
	timeout time.Duration
	redact  *strings.Replacer

	mu      sync.Mutex // guards the child and closed
	cmd     *exec.Cmd
	out     *os.File      // the read end of ffmpeg's stdout
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error
	stderr  *tailWriter
	closed  bool
	done    chan struct{} // closed by Close: ends a backoff wait

	// Used by Next only.
	br       *bufio.Reader
	buf      []byte
	failures int  // consecutive failed connections, for the backoff
	framed   bool // the current connection delivered a frame
	failed   bool // a connection failed since the last frame: say when it is back
}

// Next returns the next frame, (re)starting ffmpeg as needed; it fails only with ErrClosed or
// when ffmpeg cannot be run at all.
func (s *rtspSource) Next() (Packet, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Packet{}, ErrClosed
		}
		if s.cmd == nil {
			if err := s.startLocked(); err != nil {
				s.mu.Unlock()
				return Packet{}, err
			}
		}
		out := s.out
		s.mu.Unlock()

		p, err := s.frame(out)
		if err == nil {
			if s.failed {
				s.failed = false
				s.logf("stream: %s: receiving again (%dx%d frames)\n", s.name, p.W, p.H)
			}
			s.framed, s.failures = true, 0
			return p, nil
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Packet{}, ErrClosed
		}
		why := s.stopLocked(err)
		s.mu.Unlock()
		if s.framed {
			s.failures = 0
		}
		s.framed, s.failed = false, true
		wait := min(rtspBackoffMin<<min(s.failures, 5), rtspBackoffMax)
		s.failures++
		if s.cnt != nil {
			s.cnt.Reconnects.Add(1)
		}
		s.logf("stream: %s: %s; reconnecting in %v\n", s.name, why, wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return Packet{}, ErrClosed
		}
	}
}

func (s *rtspSource) logf(format string, a ...any) {
	if s.log != nil {
		fmt.Fprintf(s.log, format, a...)
	}
}

// startLocked starts ffmpeg with its stdout on a pipe of our own: exec's StdoutPipe would be
// closed by Wait while a frame is still being read.
func (s *rtspSource) startLocked() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("source %s: %w", s.name, err)
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout = w
	s.stderr = &tailWriter{}
	cmd.Stderr = s.stderr
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("source %s: starting ffmpeg: %w", s.name, err)
	}
	w.Close()
	s.cmd, s.out, s.exited = cmd, r, make(chan struct{})
	s.br.Reset(r)
	go func(exited chan struct{}) {
		s.waitErr = cmd.Wait()
		close(exited)
	}(s.exited)
	return nil
}

// stopLocked ends ffmpeg (SIGTERM, then SIGKILL after rtspStopGrace), reaps it and says why
// the connection ended, given the error that ended reading.
func (s *rtspSource) stopLocked(readErr error) string {
	if s.cmd == nil {
		return ""
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	s.out.Close() // a read in progress returns; ffmpeg gets EPIPE if it writes
	select {
	case <-s.exited:
	case <-time.After(rtspStopGrace):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	why := "the camera ended the stream"
	var ee *exec.ExitError
	switch {
	case errors.Is(readErr, os.ErrDeadlineExceeded):
		why = fmt.Sprintf("no frame for %v", s.timeout)
	case errors.As(s.waitErr, &ee) && ee.Exited():
		why = fmt.Sprintf("ffmpeg exited with status %d", ee.ExitCode())
	case readErr != nil && !errors.Is(readErr, io.EOF) && !errors.Is(readErr, io.ErrUnexpectedEOF):
		why = readErr.Error()
	}
	if msg := s.stderr.last(); msg != "" {
		why += ": " + s.redact.Replace(msg)
	}
	s.cmd, s.out = nil, nil
	return why
}

// Close stops ffmpeg and waits until it has been reaped.
func (s *rtspSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
		s.stopLocked(nil)
	}
	return nil
}

// frame reads one PPM frame ("P6\nW H\n255\n" and W·H·3 bytes, as ffmpeg's ppm encoder
// writes it) within the timeout.
func (s *rtspSource) frame(out *os.File) (Packet, error) {
	if err := out.SetReadDeadline(time.Now().Add(s.timeout)); err != nil {
		return Packet{}, err
	}
	var hdr [4]int
	magic, err := s.br.Peek(2)
	if err != nil {
		return Packet{}, err
	}
	if magic[0] != 'P' || magic[1] != '6' {
		return Packet{}, fmt.Errorf("ffmpeg wrote %q where a PPM frame should start", magic)
	}
	s.br.Discard(2)
	for i := 1; i < 4; i++ {
		if hdr[i], err = ppmNumber(s.br); err != nil {
			return Packet{}, err
		}
	}
	w, h, maxval := hdr[1], hdr[2], hdr[3]
	if w <= 0 || h <= 0 || w*h > imageio.MaxPixels || maxval != 255 {
		return Packet{}, fmt.Errorf("ffmpeg wrote a PPM frame of %dx%d, maximum %d", w, h, maxval)
	}
	if n := w * h * 3; cap(s.buf) < n {
		s.buf = make([]byte, n)
	} else {
		s.buf = s.buf[:n]
	}
	if _, err := io.ReadFull(s.br, s.buf); err != nil {
		return Packet{}, err
	}
	return Packet{Kind: RGB24, Data: s.buf, W: w, H: h, Time: time.Now()}, nil
}

// ppmNumber reads a decimal after whitespace and the one whitespace byte that ends it.
func ppmNumber(br *bufio.Reader) (int, error) {
	n, digits := 0, 0
	for {
		c, err := br.ReadByte()
		switch {
		case err != nil:
			return 0, err
		case c >= '0' && c <= '9' && digits < 9:
			n, digits = n*10+int(c-'0'), digits+1
		case (c == ' ' || c == '\n' || c == '\t' || c == '\r') && digits == 0:
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			return n, nil
		default:
			return 0, fmt.Errorf("ffmpeg wrote a damaged PPM header (byte %q)", c)
		}
	}
}

// tailWriter keeps the end of ffmpeg's stderr, for the message that says why it stopped.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 2048

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

// last is the last line written that is not empty.
func (t *tailWriter) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := bytes.TrimSpace(t.buf)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}
