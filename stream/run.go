package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/nin"
)

// Classifier labels one image fitted to its Input; *infer.Labeler is one.
type Classifier interface {
	Input() nin.Shape
	Label(pixels []uint8) ([]infer.Class, error)
}

// Result is one classified frame: a line of `ninedge stream --json`.
type Result struct {
	// Camera names the source when a run has several (omitted for one, so that a single
	// camera's lines stay as they always were).
	Camera  string        `json:"camera,omitempty"`
	Frame   int           `json:"frame"`
	Time    time.Time     `json:"time"`
	Top     []infer.Class `json:"top"`
	MS      float64       `json:"ms"`      // from the frame's last byte to its label
	Skipped int64         `json:"skipped"` // frames dropped since the previous result
}

// Counters are a run's totals, safe to read while it runs (for /metrics). Every frame the
// source delivers is counted in Frames and ends as exactly one of Classified, Skipped or Bad
// (it did not decode); Bad also counts damaged data the source skipped. Reconnects counts
// the times a source that reconnects by itself (RTSP) lost its camera.
type Counters struct {
	Frames, Classified, Skipped, Bad, Reconnects atomic.Int64
}

// RunOptions configure Run.
type RunOptions struct {
	// EveryFrame classifies every frame, making the source wait for the network: for
	// recorded streams. Otherwise the newest frame wins and the others are skipped.
	EveryFrame bool
	// Log receives damaged-frame messages, the periodic stats line and the final summary.
	Log io.Writer
	// StatsEvery is the period of the stats line (0: only the final summary).
	StatsEvery time.Duration
	// Counters, when set, are updated as the run goes (Run's one source; RunCameras takes
	// each camera's own).
	Counters *Counters
}

// Camera is one named source of RunCameras.
type Camera struct {
	Name     string // in each Result, and in the log when there are several cameras
	Source   Source
	Counters *Counters // nil: counted for the log only
}

// maxMessages is how many damaged-frame messages are printed in full; after that a broken
// stream is only counted, so that it cannot flood a log at 30 lines a second.
const maxMessages = 20

// frames is the number of frames a camera owns: one being decoded, one waiting, one classified.
const frames = 3

// Run classifies src's frames with c and hands each result to emit, until the source ends or
// ctx is done (both return nil, unless the source ended having sent damaged frames or none
// at all) or something fails, a live source's silence included: no frame that decodes for
// its SourceOptions.Timeout, however many bytes come; a summary goes to Log in every case. A decoder
// goroutine reads, decodes and fits frames into a one-slot mailbox: a frame that arrives
// while the previous one still waits there replaces it and is counted as skipped, so the
// latency stays that of one frame however slow the network is, and memory stays flat.
// emit's Frame and Result are reused for later frames: valid only during the call.
func Run(ctx context.Context, src Source, c Classifier, opt RunOptions, emit func(*Frame, *Result) error) error {
	return RunCameras(ctx, []Camera{{Source: src, Counters: opt.Counters}}, c, opt, emit)
}

// camera is one camera's state during a run.
type camera struct {
	Camera
	m        *mailbox
	lv       *live      // a live source, whose silence ends the run
	done     chan error // the decoder's end
	finished bool
	err      error
	prefix   string // of its log lines
	win, all *latencies
	last     counts
	res      Result
}

// RunCameras is Run for several cameras sharing one classifier: each has its own decoder
// goroutine and mailbox, and the classifier takes the cameras' newest frames in turn, so a
// camera that sends 30 frames a second gets no more turns than one that sends 5, and one
// that stalls (its decoder blocked in Next) holds up nobody. The run ends when ctx is done,
// when every source has ended, or at the first error (a source's, the classifier's or emit's).
func RunCameras(ctx context.Context, cams []Camera, c Classifier, opt RunOptions, emit func(*Frame, *Result) error) error {
	in := c.Input()
	if err := imageio.CheckFitterShape(in.W, in.H, in.C); err != nil {
		return fmt.Errorf("stream: the classifier takes %w", err)
	}
	if len(cams) == 0 {
		return errors.New("stream: no camera")
	}
	log := &logger{w: opt.Log}
	stop := make(chan struct{})
	ready := make(chan struct{}, 1) // a decoder posted a frame or ended
	runs := make([]*camera, len(cams))
	for i, cam := range cams {
		if cam.Counters == nil {
			cam.Counters = new(Counters)
		}
		r := &camera{Camera: cam, done: make(chan error, 1), prefix: "stream: ", win: newLatencies(1024), all: newLatencies(4096),
			m: &mailbox{slot: make(chan *Frame, 1), free: make(chan *Frame, frames), ready: ready, every: opt.EveryFrame, cnt: cam.Counters, start: time.Now()}}
		r.lv, _ = cam.Source.(*live)
		if len(cams) > 1 {
			r.prefix = "stream: " + cam.Name + ": "
		}
		for range frames {
			r.m.free <- &Frame{Pixels: make([]uint8, in.Size())}
		}
		runs[i] = r
		go func() {
			r.done <- decode(r.Source, imageio.NewFitter(in.W, in.H, in.C), r.m, stop, log, r.prefix)
			close(r.m.slot)
			r.m.wake()
		}()
	}

	start := time.Now()
	// A live camera may be gone while bytes still trickle in: its silence is measured by its
	// decoder's wait for a frame that decodes. One timer serves every live camera: it fires
	// when the first of them could have been silent for its timeout.
	var silence <-chan time.Time
	var silenceTimer *time.Timer
	untilSilent := func() (time.Duration, bool) {
		var first time.Duration
		any := false
		for _, r := range runs {
			if r.lv != nil && !r.finished {
				if left := r.lv.timeout - r.m.waited(); !any || left < first {
					first, any = left, true
				}
			}
		}
		return max(first, time.Millisecond), any
	}
	if d, ok := untilSilent(); ok {
		silenceTimer = time.NewTimer(d)
		defer silenceTimer.Stop()
		silence = silenceTimer.C
	}
	var tick <-chan time.Time
	if opt.StatsEvery > 0 {
		t := time.NewTicker(opt.StatsEvery)
		defer t.Stop()
		tick = t.C
	}
	for _, r := range runs {
		r.last = snapshot(r.Counters)
	}
	lastAt := start
	stats := func(now time.Time) {
		for _, r := range runs {
			cur := snapshot(r.Counters)
			log.printf("%s%s\n", r.prefix, cur.minus(r.last).line(now.Sub(lastAt), r.win))
			r.last = cur
			r.win.reset()
		}
		lastAt = now
	}
	// busy stands for "a frame was just served, look again at once": a closed channel, so
	// that the select below still notices a stop or the stats tick between frames.
	busy := make(chan struct{})
	close(busy)
	reason, err, left, next := "end of stream", error(nil), len(runs), 0
loop:
	for left > 0 {
		// The first camera from next on with a frame waiting, or with its decoder ended.
		var r *camera
		var f *Frame
		ok := false
		for i := range runs {
			k := (next + i) % len(runs)
			if runs[k].finished {
				continue
			}
			select {
			case f, ok = <-runs[k].m.slot:
				r = runs[k]
			default:
				continue
			}
			next = k + 1
			break
		}
		wait := ready
		switch {
		case r != nil && !ok:
			r.finished, r.err = true, <-r.done
			left--
			err, wait = r.err, busy
		case r != nil:
			err, wait = classify(c, f, r, emit), busy
			r.m.free <- f
		}
		if err != nil {
			if len(runs) > 1 {
				err = fmt.Errorf("camera %s: %w", r.Name, err)
			}
			break
		}
		select {
		case <-ctx.Done():
			reason = "interrupted"
			break loop
		case <-silence:
			for _, r = range runs {
				if r.lv != nil && !r.finished && r.m.waited() >= r.lv.timeout {
					err = fmt.Errorf("stream: %s: no complete frame for %v", r.lv.name, r.lv.timeout)
					break
				}
			}
			if err != nil {
				if len(runs) > 1 {
					err = fmt.Errorf("camera %s: %w", r.Name, err)
				}
				break loop
			}
			d, _ := untilSilent()
			silenceTimer.Reset(d)
		case now := <-tick:
			stats(now)
		case <-wait:
		}
	}
	close(stop)
	for _, r := range runs {
		_ = r.Source.Close()
	}
	// The decoder stays stuck in Next only when closing cannot interrupt a read: stdin,
	// which Go reads with plain blocking reads. The program is ending then, so the decoder
	// is left behind after a second.
	grace := time.After(time.Second)
	for _, r := range runs {
		if r.finished {
			continue
		}
		select {
		case <-r.done:
		case <-grace:
		}
	}
	if err != nil {
		reason = "stopped by an error"
	}
	var errs []error
	for _, r := range runs {
		log.printf("%s%s: %s\n", r.prefix, reason, snapshot(r.Counters).line(time.Since(start), r.all))
		if r.finished && r.err == nil && err == nil && ctx.Err() == nil {
			// A source that ended on its own was a recording or a pipe: damage in it, or
			// no frame at all, is the caller's to know from the exit status, not only from
			// the log.
			if bad := r.Counters.Bad.Load(); bad > 0 {
				errs = append(errs, fmt.Errorf("%sdamaged frames in the source: %d", r.prefix, bad))
			} else if r.Counters.Classified.Load() == 0 {
				errs = append(errs, fmt.Errorf("%sthe source ended without a frame", r.prefix))
			}
		}
	}
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

func classify(c Classifier, f *Frame, r *camera, emit func(*Frame, *Result) error) error {
	skipped := r.m.skipped.Swap(0)
	top, err := c.Label(f.Pixels)
	if err != nil {
		return fmt.Errorf("frame %d: %w", f.Index, err)
	}
	lat := time.Since(f.Time)
	r.Counters.Classified.Add(1)
	r.win.add(lat)
	r.all.add(lat)
	r.res = Result{Camera: r.Name, Frame: f.Index, Time: f.Time, Top: top, MS: math.Round(float64(lat.Microseconds())) / 1000, Skipped: skipped}
	return emit(f, &r.res)
}

// decode is the decoder goroutine: it reads the source, decodes and fits each frame, and
// posts it to the mailbox. It returns nil at the end of the stream or when told to stop.
func decode(src Source, fit *imageio.Fitter, m *mailbox, stop <-chan struct{}, log *logger, prefix string) error {
	m.waiting()
	defer m.waitFrom.Store(0) // the source has ended: its frames may still be classified
	for index := 0; ; {
		p, err := src.Next()
		select {
		case <-stop:
			return nil // errors now come from closing the source
		default:
		}
		switch {
		case err == io.EOF:
			return nil
		case isFrameError(err):
			m.cnt.Bad.Add(1)
			log.damaged("%s%v\n", prefix, err)
			continue
		case err != nil:
			return err
		}
		var f *Frame
		select {
		case f = <-m.free:
		case <-stop:
			return nil
		}
		f.Index = index
		index++
		m.cnt.Frames.Add(1)
		if err := f.load(p, fit); err != nil {
			m.cnt.Bad.Add(1)
			log.damaged("%sframe %d: %v\n", prefix, f.Index, err)
			m.free <- f
			continue
		}
		m.waitFrom.Store(0) // the wait for the classifier is not the camera's silence
		if !m.put(f, stop) {
			return nil
		}
		m.waiting()
	}
}

// mailbox holds a camera's newest decoded frame.
type mailbox struct {
	slot    chan *Frame // capacity 1
	free    chan *Frame
	ready   chan struct{} // shared by a run's cameras: wakes the classifier
	every   bool
	skipped atomic.Int64 // since the classifier last took a frame
	cnt     *Counters
	start   time.Time
	// waitFrom is when the decoder began waiting for a frame that decodes, as 1 + the time
	// since start (0: it is not waiting on the source but posting a frame).
	waitFrom atomic.Int64
}

// waiting records that the decoder now waits on the source for a good frame.
func (m *mailbox) waiting() { m.waitFrom.Store(int64(time.Since(m.start)) + 1) }

// waited is how long the decoder has waited on the source for a good frame (0 while it posts).
func (m *mailbox) waited() time.Duration {
	w := m.waitFrom.Load()
	if w == 0 {
		return 0
	}
	return time.Since(m.start) - time.Duration(w-1)
}

// put posts f, replacing (and counting) a frame still waiting, or in every-frame mode waiting
// for the slot. It reports false when told to stop.
func (m *mailbox) put(f *Frame, stop <-chan struct{}) bool {
	defer m.wake()
	if m.every {
		select {
		case m.slot <- f:
			return true
		case <-stop:
			return false
		}
	}
	for {
		select {
		case m.slot <- f:
			return true
		default:
		}
		select {
		case old := <-m.slot:
			m.skipped.Add(1)
			m.cnt.Skipped.Add(1)
			m.free <- old
		default: // the classifier took it meanwhile
		}
	}
}

// wake tells the classifier that a frame is waiting, or that the decoder ended.
func (m *mailbox) wake() {
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// logger serialises the two goroutines' messages and stops printing damaged-frame messages
// after maxMessages.
type logger struct {
	mu      sync.Mutex
	w       io.Writer
	damages int
}

func (l *logger) printf(format string, a ...any) {
	if l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, a...)
}

func (l *logger) damaged(format string, a ...any) {
	l.mu.Lock()
	l.damages++
	n := l.damages
	l.mu.Unlock()
	switch {
	case n < maxMessages:
		l.printf(format, a...)
	case n == maxMessages:
		l.printf(format, a...)
		l.printf("stream: %d damaged frames so far; further ones are only counted (\"bad\" in the stats)\n", n)
	}
}

// counts is a snapshot of Counters.
type counts struct{ frames, classified, skipped, bad int64 }

func snapshot(c *Counters) counts {
	return counts{c.Frames.Load(), c.Classified.Load(), c.Skipped.Load(), c.Bad.Load()}
}

func (c counts) minus(o counts) counts {
	return counts{c.frames - o.frames, c.classified - o.classified, c.skipped - o.skipped, c.bad - o.bad}
}

// line describes counts gathered over d.
func (c counts) line(d time.Duration, lat *latencies) string {
	s := d.Seconds()
	p50, p95 := lat.percentile(0.50), lat.percentile(0.95)
	return fmt.Sprintf("%d frames in %.1f s: %.1f fps in, %d classified (%.1f fps), %d skipped, %d bad; latency p50 %.1f ms, p95 %.1f ms",
		c.frames, s, float64(c.frames)/s, c.classified, float64(c.classified)/s, c.skipped, c.bad, ms(p50), ms(p95))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// latencies keeps the last len(ring) latencies, for percentiles without allocating per frame.
type latencies struct {
	ring   []time.Duration
	n      int
	sorted []time.Duration
}

func newLatencies(n int) *latencies {
	return &latencies{ring: make([]time.Duration, n), sorted: make([]time.Duration, 0, n)}
}

func (l *latencies) add(d time.Duration) {
	l.ring[l.n%len(l.ring)] = d
	l.n++
}

func (l *latencies) reset() { l.n = 0 }

// percentile returns the nearest-rank q-quantile (0 when empty).
func (l *latencies) percentile(q float64) time.Duration {
	n := min(l.n, len(l.ring))
	if n == 0 {
		return 0
	}
	l.sorted = append(l.sorted[:0], l.ring[:n]...)
	slices.Sort(l.sorted)
	return l.sorted[int(math.Ceil(q*float64(n)))-1]
}
