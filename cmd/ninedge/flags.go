package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/internal/cli"
	"github.com/ninedge/ninedge/label"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/stream"
)

// modelFlags choose the model and the device it runs on.
type modelFlags struct {
	model   string
	backend string
	device  int
	threads int
}

func (m *modelFlags) add(fs *flagSet) {
	fs.StringVar(&m.model, "model", "", "int8 model file (written by ninquant convert)")
	// auto by default: it measures instead of guessing (on a Raspberry Pi the GPU is often
	// slower than the CPU, on a Jetson much faster), costs a few runs at start, and any
	// device that fails falls back to the CPU.
	fs.StringVar(&m.backend, "backend", "auto", "cpu, opencl, vulkan, or auto: the fastest device in a short timed trial (built in: "+strings.Join(backends.Names(), ", ")+")")
	fs.IntVar(&m.device, "device", 0, "device index within a named --backend (see ninedge devices)")
	fs.IntVar(&m.threads, "threads", 0, "CPU threads (0: all cores)")
}

// open loads the int8 model and prepares it for batches of up to batch images, saying on
// stderr which device runs it and why. With pictures, a model whose input no picture fits
// is refused before a backend is opened and timed.
func (m *modelFlags) open(e *env, batch int, pictures bool) (*quant.Graph, *backends.Choice, error) {
	if err := cli.CheckThreads(m.threads); err != nil {
		return nil, nil, err
	}
	if m.device < 0 {
		return nil, nil, cli.Usagef("--device cannot be negative")
	}
	// The trial of auto picks the device itself; a device index the run then ignored would
	// leave the user believing they chose it.
	if m.backend == "auto" && m.device != 0 {
		return nil, nil, cli.Usagef("--device %d needs a named --backend (auto times every device and keeps the fastest)", m.device)
	}
	if m.backend != "auto" {
		if _, err := backends.Get(m.backend); err != nil {
			return nil, nil, cli.Usagef("--backend: %v", err)
		}
	}
	_, g, err := cli.LoadModel(m.model)
	if err != nil {
		return nil, nil, err
	}
	if g == nil {
		return nil, nil, fmt.Errorf("%s is a float model: convert it to int8 first (ninquant convert)", m.model)
	}
	if in := g.Spec.Input; pictures {
		if err := imageio.CheckFitterShape(in.W, in.H, in.C); err != nil {
			return nil, nil, fmt.Errorf("%s takes %w", m.model, err)
		}
	}
	c, err := backends.Open(m.backend, m.device, g, batch, backends.Options{Threads: m.threads}, e.stderr)
	if err != nil {
		return nil, nil, err
	}
	d := c.Device
	threads := ""
	if d.Threads > 0 {
		threads = fmt.Sprintf(", %d threads", d.Threads)
	}
	fmt.Fprintf(e.stderr, "ninedge: %s device %d, %s (%s%s): %s\n", d.Backend, d.Index, d.Name, d.Driver, threads, c.Reason)
	return g, c, nil
}

// verifyImages is how many images --verify checks against the reference executor: enough to
// catch a wrong kernel, few enough not to slow a stream's start (the reference is plain Go).
const verifyImages = 3

// labelFlags add what classify, stream and serve share.
type labelFlags struct {
	modelFlags
	top    int
	verify bool
}

func (l *labelFlags) add(fs *flagSet) {
	l.modelFlags.add(fs)
	fs.IntVar(&l.top, "top", 5, "classes per answer, best first")
	fs.BoolVar(&l.verify, "verify", false, fmt.Sprintf("run the CPU reference executor beside the backend on the first %d images and stop at the first layer that differs", verifyImages))
}

// labeler opens the model for one image at a time. done frees the device.
func (l *labelFlags) labeler(e *env) (lab *label.Labeler, c *backends.Choice, done func(), err error) {
	if l.top < 1 {
		return nil, nil, nil, cli.Usagef("--top must be at least 1")
	}
	g, c, err := l.open(e, 1, true)
	if err != nil {
		return nil, nil, nil, err
	}
	s := infer.NewInt8Plan(g, c.Plan, 1, l.threads)
	verify := 0
	if l.verify {
		verify = verifyImages
	}
	lab, err = label.New(s, l.top, verify)
	if err != nil {
		_ = s.Close()
		return nil, nil, nil, err
	}
	return lab, c, func() { _ = s.Close() }, nil
}

// sourceFlags choose a camera or a recording, for stream and serve.
type sourceFlags struct {
	spec       string
	fps        float64
	size       string
	maxFrame   int
	timeout    time.Duration
	everyFrame bool
	stats      time.Duration
}

func (s *sourceFlags) add(fs *flagSet, stats time.Duration) {
	fs.StringVar(&s.spec, "source", "", "- (stdin), a pipe or file (MJPEG, or raw RGB24 with --size), http://… (MJPEG), /dev/videoN (V4L2), or a folder of images")
	fs.Float64Var(&s.fps, "fps", 0, "play folders and files at this rate (folders default to 30) and ask it of V4L2 cameras; pipes and HTTP streams run at the camera's rate")
	fs.StringVar(&s.size, "size", "", "WxH: the frames are raw RGB24 of this size (pipes, files); the capture size asked of a V4L2 camera (default 640x480)")
	fs.IntVar(&s.maxFrame, "max-frame", stream.DefaultMaxFrame, "largest encoded frame in bytes; larger ones are dropped")
	fs.DurationVar(&s.timeout, "timeout", stream.DefaultTimeout, "give up on an HTTP or V4L2 source that sends nothing for this long")
	fs.BoolVar(&s.everyFrame, "every-frame", false, "classify every frame, making the source wait (recordings); live, the newest frame wins and the others are skipped")
	fs.DurationVar(&s.stats, "stats", stats, "print a stats line on stderr this often (0: only at the end)")
}

// check refuses flag values no source could use; serve checks them even without --source.
func (s *sourceFlags) check() error {
	if !(s.fps >= 0 && s.fps <= 1000) {
		return cli.Usagef("--fps %v: want 0 (the source's rate) to 1000", s.fps)
	}
	if s.maxFrame <= 0 || s.timeout <= 0 || s.stats < 0 {
		return cli.Usagef("--max-frame and --timeout must be positive, --stats 0 or more")
	}
	w, h, ok := parseSize(s.size)
	switch {
	case s.size != "" && !ok:
		return cli.Usagef("--size %q: want WxH, for example 640x480", s.size)
	case w*h > imageio.MaxPixels:
		// The frame buffers are allocated when the source opens: refuse what no decoded
		// image may be either, rather than be killed for memory on a small board.
		return cli.Usagef("--size %s: more than %d pixels", s.size, imageio.MaxPixels)
	}
	return nil
}

func (s *sourceFlags) open(e *env) (stream.Source, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	opt := stream.SourceOptions{FPS: s.fps, MaxFrame: s.maxFrame, Timeout: s.timeout, Stdin: e.stdin, Cancel: e.ctx}
	if s.size != "" {
		opt.W, opt.H, _ = parseSize(s.size)
	}
	return stream.Open(s.spec, opt)
}

// stoppedConnecting reports err to be a stop asked for while the source was being opened: not
// a failure, so the command says so and ends with status 0, as a stop once streaming does.
func stoppedConnecting(e *env, prog string, err error) bool {
	if !errors.Is(err, stream.ErrStopped) {
		return false
	}
	fmt.Fprintf(e.stderr, "%s: %v\n", prog, err)
	return true
}

func (s *sourceFlags) runOptions(e *env, c *stream.Counters) stream.RunOptions {
	return stream.RunOptions{EveryFrame: s.everyFrame, Log: e.stderr, StatsEvery: s.stats, Counters: c}
}

// parseSize reads "WxH".
func parseSize(s string) (w, h int, ok bool) {
	a, b, found := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	return w, h, found && err1 == nil && err2 == nil && w > 0 && h > 0 && w <= 16384 && h <= 16384
}
