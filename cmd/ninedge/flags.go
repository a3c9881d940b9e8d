package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/stream"
)

// verifyImages is how many images --verify checks against the reference executor: enough to
// catch a wrong kernel, few enough not to slow a stream's start (the reference is plain Go).
const verifyImages = 3

// modelHelp describes --model for every ninedge command.
const modelHelp = "int8 model file (written by ninquant convert)"

// labelFlags add what classify, stream and serve share.
type labelFlags struct {
	cli.RunFlags
	top         int
	verify      bool
	imageMemory byteSize
}

func (l *labelFlags) add(fs *cli.FlagSet) {
	l.RunFlags.Add(fs.FlagSet, modelHelp, 0)
	fs.IntVar(&l.top, "top", 5, "classes per answer, best first")
	fs.BoolVar(&l.verify, "verify", false, fmt.Sprintf("run the CPU reference executor beside the backend on the first %d images, say on stderr what each comparison covered, and stop at the first layer that differs", verifyImages))
	l.imageMemory = imageio.DefaultMemoryBudget
	fs.Var(&l.imageMemory, "image-memory", "most memory decoding one image may take (the decoder's working memory and the file included); larger images are refused")
}

// labeler opens the model for one image at a time, and applies --image-memory. done frees
// the device.
func (l *labelFlags) labeler(e *cli.Env) (lab *infer.Labeler, c *infer.Classifier, done func(), err error) {
	if l.top < 1 {
		return nil, nil, nil, cli.Usagef("--top must be at least 1")
	}
	lab, c, err = l.open(e, l.RunFlags)
	if err != nil {
		return nil, nil, nil, err
	}
	applyImageMemory(int64(l.imageMemory))
	return lab, c, func() { _ = c.Close() }, nil
}

// open opens the model on rf's device with the labeler's --top and --verify.
func (l *labelFlags) open(e *cli.Env, rf cli.RunFlags) (*infer.Labeler, *infer.Classifier, error) {
	c, err := rf.OpenInt8(e, "ninedge", true)
	if err != nil {
		return nil, nil, err
	}
	verify := 0
	if l.verify {
		verify = verifyImages
	}
	lab, err := infer.NewLabeler(c, l.top, verify)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	return lab, c, nil
}

// sourceFlags choose cameras or recordings, for stream and serve.
type sourceFlags struct {
	specs      []string
	transport  string
	hwaccel    string
	fps        float64
	size       string
	maxFrame   int
	timeout    time.Duration
	everyFrame bool
	stats      time.Duration
}

func (s *sourceFlags) add(fs *cli.FlagSet, stats time.Duration) {
	fs.StringArrayVar(&s.specs, "source", nil, "[NAME=]SOURCE, once per camera: - (stdin), a pipe or file (MJPEG, or raw RGB24 with --size), http://… (MJPEG), rtsp://[user:pass@]host[:port]/path (H.264/H.265 through ffmpeg), /dev/videoN (V4L2), or a folder of images; unnamed sources are cam1, cam2…")
	fs.StringVar(&s.transport, "rtsp-transport", "tcp", "tcp or udp: how RTSP cameras send their video")
	fs.StringVar(&s.hwaccel, "hwaccel", "none", "RTSP decoding: none, auto, an ffmpeg hwaccel (drm, vaapi, cuda) or decoder (h264_v4l2m2m); see docs/deploy.md per board")
	fs.Float64Var(&s.fps, "fps", 0, "play folders and files at this rate (folders default to 30) and ask it of V4L2 cameras; pipes and HTTP streams run at the camera's rate")
	fs.StringVar(&s.size, "size", "", "WxH: the frames are raw RGB24 of this size (pipes, files); the capture size asked of a V4L2 camera (default 640x480); the box RTSP frames are scaled down into (default 320x240)")
	fs.IntVar(&s.maxFrame, "max-frame", stream.DefaultMaxFrame, "largest encoded frame in bytes; larger ones are dropped")
	fs.DurationVar(&s.timeout, "timeout", stream.DefaultTimeout, "end with an error when a live source (HTTP, V4L2, a pipe, stdin) delivers no complete frame for this long, whatever bytes trickle in; an RTSP camera is reconnected instead")
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
	if s.transport != "tcp" && s.transport != "udp" {
		return cli.Usagef("--rtsp-transport %q: want tcp or udp", s.transport)
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

// open opens one source, whose reconnections (RTSP) are counted in cnt.
func (s *sourceFlags) open(e *cli.Env, spec string, cnt *stream.Counters) (stream.Source, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	opt := stream.SourceOptions{FPS: s.fps, MaxFrame: s.maxFrame, Timeout: s.timeout, Stdin: e.Stdin, Cancel: e.Ctx, Log: e.Stderr,
		RTSPTransport: s.transport, HWAccel: s.hwaccel, Counters: cnt}
	if s.size != "" {
		opt.W, opt.H, _ = parseSize(s.size)
	}
	return stream.Open(spec, opt)
}

// stoppedConnecting reports err to be a stop asked for while the source was being opened: not
// a failure, so the command says so and ends with status 0, as a stop once streaming does.
func stoppedConnecting(e *cli.Env, prog string, err error) bool {
	if !errors.Is(err, stream.ErrStopped) {
		return false
	}
	fmt.Fprintf(e.Stderr, "%s: %v\n", prog, err)
	return true
}

func (s *sourceFlags) runOptions(e *cli.Env) stream.RunOptions {
	return stream.RunOptions{EveryFrame: s.everyFrame, Log: e.Stderr, StatsEvery: s.stats}
}

// parseSize reads "WxH".
func parseSize(s string) (w, h int, ok bool) {
	a, b, found := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	return w, h, found && err1 == nil && err2 == nil && w > 0 && h > 0 && w <= 16384 && h <= 16384
}
