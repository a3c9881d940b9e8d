package stream

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ninedge/ninedge/stream/streamtest"
)

// stalled is a camera that never sends a frame: Next blocks until Close.
type stalled struct {
	once sync.Once
	done chan struct{}
}

func newStalled() *stalled { return &stalled{done: make(chan struct{})} }

func (s *stalled) Next() (Packet, error) {
	<-s.done
	return Packet{}, ErrClosed
}

func (s *stalled) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

// endless sends the same RGB24 frame as fast as it is asked for.
type endless struct {
	p    Packet
	stop chan struct{}
	once sync.Once
}

func newEndless(img []byte, w, h int) *endless {
	return &endless{p: Packet{Kind: RGB24, Data: img, W: w, H: h}, stop: make(chan struct{})}
}

func (e *endless) Next() (Packet, error) {
	select {
	case <-e.stop:
		return Packet{}, ErrClosed
	default:
	}
	e.p.Time = time.Now()
	return e.p, nil
}

func (e *endless) Close() error {
	e.once.Do(func() { close(e.stop) })
	return nil
}

// TestStalledCameraStallsNobody runs a camera that never sends beside one that sends every
// frame of a recording: each of the second's frames is classified, with its labels, while
// the first waits; a stop then ends both.
func TestStalledCameraStallsNobody(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 3)
	pics := streamtest.Pictures(20, 64, 48)
	jpegs := streamtest.JPEGs(t, pics)
	want := expectTops(t, lab, jpegs)
	live, _ := Open("-", SourceOptions{Stdin: bytes.NewReader(bytes.Join(jpegs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got collected
	var cntA, cntB Counters
	var log streamtest.SyncBuffer
	err := RunCameras(ctx, []Camera{{Name: "stalled", Source: newStalled(), Counters: &cntA}, {Name: "live", Source: live, Counters: &cntB}},
		lab, RunOptions{EveryFrame: true, Log: &log}, func(f *Frame, r *Result) error {
			if r.Camera != "live" {
				t.Errorf("a result from camera %q", r.Camera)
			}
			got.frames = append(got.frames, r.Frame)
			got.tops = append(got.tops, append(r.Top[:0:0], r.Top...))
			got.res = append(got.res, *r)
			if len(got.frames) == len(jpegs) {
				cancel()
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	checkTops(t, got, want)
	if cntA.Frames.Load() != 0 || cntB.Classified.Load() != int64(len(jpegs)) {
		t.Errorf("stalled camera %d frames, live camera %d classified, want 0 and %d", cntA.Frames.Load(), cntB.Classified.Load(), len(jpegs))
	}
	for _, w := range []string{"stream: stalled: interrupted: 0 frames", "stream: live: interrupted: 20 frames"} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, log.String())
		}
	}
}

// TestCamerasTakeTurns gives the classifier three cameras that always have a frame ready: they
// share the classifier evenly (a loop that served the first camera with a frame waiting would
// give it every turn).
func TestCamerasTakeTurns(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 1)
	pic := streamtest.Pictures(1, 64, 48)[0]
	names := []string{"a", "b", "c"}
	var cams []Camera
	for _, n := range names {
		cams = append(cams, Camera{Name: n, Source: newEndless(streamtest.RGB24(pic), 64, 48)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var order []string
	err := RunCameras(ctx, cams, slow{lab, 2 * time.Millisecond}, RunOptions{}, func(f *Frame, r *Result) error {
		order = append(order, r.Camera)
		if len(order) == 60 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A camera whose decoder is a little late loses that turn (the next camera with a
	// frame takes it), so the order is not strict on a loaded machine; the shares are.
	count := map[string]int{}
	for _, c := range order {
		count[c]++
	}
	for _, n := range names {
		if count[n] < 15 {
			t.Errorf("camera %s classified %d times of %d: %v (order %v)", n, count[n], len(order), count, order)
		}
	}
}

// TestCameraErrorEndsRun: a camera that fails (an HTTP camera closing its stream) ends the
// run, whose error names it, though another camera is still waiting.
func TestCameraErrorEndsRun(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 1)
	srv := multipartServer(t, streamtest.JPEGs(t, streamtest.Pictures(2, 64, 48)))
	broken, err := Open(srv.URL, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = RunCameras(context.Background(), []Camera{{Name: "idle", Source: newStalled()}, {Name: "broken", Source: broken}}, lab, RunOptions{}, func(*Frame, *Result) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "camera broken: ") || !strings.Contains(err.Error(), "closed the stream") {
		t.Fatalf("error %v, want camera broken's end", err)
	}
}

// TestSilentLiveCameraEndsRun: among several cameras, a live one that stops giving frames
// for its timeout ends the run, named, while another still sends.
func TestSilentLiveCameraEndsRun(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 1)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(streamtest.JPEG(t, streamtest.Pictures(1, 32, 32)[0])) // one frame, then silence
	quiet, err := Open("-", SourceOptions{Stdin: pr, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pic := streamtest.Pictures(1, 64, 48)[0]
	start := time.Now()
	err = RunCameras(context.Background(), []Camera{{Name: "busy", Source: newEndless(streamtest.RGB24(pic), 64, 48)}, {Name: "quiet", Source: quiet}},
		slow{lab, time.Millisecond}, RunOptions{}, func(*Frame, *Result) error { return nil })
	if err == nil || err.Error() != "camera quiet: stream: stdin: no complete frame for 300ms" {
		t.Fatalf("ended with %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("ended after %v, want about 300ms", d)
	}
}
