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
	Frame   int           `json:"frame"`
	Time    time.Time     `json:"time"`
	Top     []infer.Class `json:"top"`
	MS      float64       `json:"ms"`      // from the frame's last byte to its label
	Skipped int64         `json:"skipped"` // frames dropped since the previous result
}

// Counters are a run's totals, safe to read while it runs (for /metrics). Every frame the
// source delivers is counted in Frames and ends as exactly one of Classified, Skipped or Bad
// (it did not decode); Bad also counts damaged data the source skipped.
type Counters struct {
	Frames, Classified, Skipped, Bad atomic.Int64
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
	// Counters, when set, are updated as the run goes.
	Counters *Counters
}

// maxMessages is how many damaged-frame messages are printed in full; after that a broken
// stream is only counted, so that it cannot flood a log at 30 lines a second.
const maxMessages = 20

// frames is the number of frames a run owns: one being decoded, one waiting, one classified.
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
	in := c.Input()
	if err := imageio.CheckFitterShape(in.W, in.H, in.C); err != nil {
		return fmt.Errorf("stream: the classifier takes %w", err)
	}
	log := &logger{w: opt.Log}
	cnt := opt.Counters
	if cnt == nil {
		cnt = new(Counters)
	}
	m := &mailbox{slot: make(chan *Frame, 1), free: make(chan *Frame, frames), every: opt.EveryFrame, cnt: cnt, start: time.Now()}
	for range frames {
		m.free <- &Frame{Pixels: make([]uint8, in.Size())}
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- decode(src, imageio.NewFitter(in.W, in.H, in.C), m, stop, log)
		close(m.slot)
	}()

	start := m.start
	// A live source's camera may be gone while bytes still trickle in: its silence is
	// measured by the decoder's wait for a frame that decodes.
	var silence <-chan time.Time
	var silenceTimer *time.Timer
	lv, isLive := src.(*live)
	if isLive {
		silenceTimer = time.NewTimer(lv.timeout)
		defer silenceTimer.Stop()
		silence = silenceTimer.C
	}
	win, all := newLatencies(1024), newLatencies(4096)
	var tick <-chan time.Time
	if opt.StatsEvery > 0 {
		t := time.NewTicker(opt.StatsEvery)
		defer t.Stop()
		tick = t.C
	}
	last, lastAt := snapshot(cnt), start
	var res Result
	reason, err, finished := "end of stream", error(nil), false
loop:
	for {
		select {
		case <-ctx.Done():
			reason = "interrupted"
			break loop
		case <-silence:
			waited := m.waited()
			if waited >= lv.timeout {
				err = fmt.Errorf("stream: %s: no complete frame for %v", lv.name, lv.timeout)
				break loop
			}
			silenceTimer.Reset(lv.timeout - waited)
		case now := <-tick:
			cur := snapshot(cnt)
			log.printf("stream: %s\n", cur.minus(last).line(now.Sub(lastAt), win))
			last, lastAt = cur, now
			win.reset()
		case f, ok := <-m.slot:
			if !ok {
				err, finished = <-done, true
				break loop
			}
			err = classify(c, f, m, cnt, emit, &res, win, all)
			m.free <- f
			if err != nil {
				break loop
			}
		}
	}
	close(stop)
	_ = src.Close()
	if !finished {
		// The decoder stays stuck in Next only when closing cannot interrupt a read: stdin,
		// which Go reads with plain blocking reads. The program is ending then, so the
		// decoder is left behind after a second.
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		reason = "stopped by an error"
	}
	log.printf("stream: %s: %s\n", reason, snapshot(cnt).line(time.Since(start), all))
	if finished && err == nil && ctx.Err() == nil {
		// A source that ended on its own was a recording or a pipe: damage in it, or no
		// frame at all, is the caller's to know from the exit status, not only from the log.
		if bad := cnt.Bad.Load(); bad > 0 {
			err = fmt.Errorf("stream: damaged frames in the source: %d", bad)
		} else if cnt.Classified.Load() == 0 {
			err = errors.New("stream: the source ended without a frame")
		}
	}
	return err
}

func classify(c Classifier, f *Frame, m *mailbox, cnt *Counters, emit func(*Frame, *Result) error, res *Result, lats ...*latencies) error {
	skipped := m.skipped.Swap(0)
	top, err := c.Label(f.Pixels)
	if err != nil {
		return fmt.Errorf("frame %d: %w", f.Index, err)
	}
	lat := time.Since(f.Time)
	cnt.Classified.Add(1)
	for _, l := range lats {
		l.add(lat)
	}
	*res = Result{Frame: f.Index, Time: f.Time, Top: top, MS: math.Round(float64(lat.Microseconds())) / 1000, Skipped: skipped}
	return emit(f, res)
}

// decode is the decoder goroutine: it reads the source, decodes and fits each frame, and
// posts it to the mailbox. It returns nil at the end of the stream or when told to stop.
func decode(src Source, fit *imageio.Fitter, m *mailbox, stop <-chan struct{}, log *logger) error {
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
			log.damaged("stream: %v\n", err)
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
			log.damaged("stream: frame %d: %v\n", f.Index, err)
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

// mailbox holds the newest decoded frame.
type mailbox struct {
	slot    chan *Frame // capacity 1
	free    chan *Frame
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
