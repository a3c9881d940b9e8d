package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// collected is what a run emitted.
type collected struct {
	frames []int
	tops   [][]infer.Class
	res    []Result
}

// runAll runs src to its end and keeps copies of every result.
func runAll(t *testing.T, src Source, c Classifier, opt RunOptions) (collected, error) {
	t.Helper()
	var got collected
	err := Run(context.Background(), src, c, opt, func(f *Frame, r *Result) error {
		got.frames = append(got.frames, r.Frame)
		got.tops = append(got.tops, slices.Clone(r.Top))
		got.res = append(got.res, *r)
		return nil
	})
	return got, err
}

// expectTops labels each encoded picture one by one, as `ninedge classify` would.
func expectTops(t *testing.T, lab *infer.Labeler, files [][]byte) [][]infer.Class {
	t.Helper()
	var out [][]infer.Class
	for _, f := range files {
		img, _, err := imageio.Decode(bytes.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tops(t, lab, img))
	}
	return out
}

func tops(t *testing.T, lab *infer.Labeler, img image.Image) []infer.Class {
	t.Helper()
	top, err := lab.Image(img)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(top)
}

// multipartServer serves frames as MJPEG over HTTP the way cameras do.
func multipartServer(t *testing.T, frames [][]byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=frame")
		for _, f := range frames {
			fmt.Fprintf(w, "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(f))
			w.Write(f)
			io.WriteString(w, "\r\n")
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func ppm(img *image.RGBA) []byte {
	b := img.Bounds()
	return append([]byte(fmt.Sprintf("P6\n%d %d\n255\n", b.Dx(), b.Dy())), streamtest.RGB24(img)...)
}

// TestSourcesLabelEveryFrame drives every source kind but V4L2 with encoded pictures and
// checks each frame's labels against the same picture classified on its own.
func TestSourcesLabelEveryFrame(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 3)
	pics := streamtest.Pictures(6, 64, 48)
	jpegs := streamtest.JPEGs(t, pics)
	mjpeg := bytes.Join(jpegs, nil)
	var raw []byte
	for _, p := range pics {
		raw = append(raw, streamtest.RGB24(p)...)
	}
	byJPEG, byPicture := expectTops(t, lab, jpegs), make([][]infer.Class, len(pics))
	for i, p := range pics {
		byPicture[i] = tops(t, lab, p)
	}
	dir := t.TempDir()
	mjpegFile := streamtest.WriteFile(t, dir, "rec.mjpeg", mjpeg)
	folder := filepath.Join(dir, "folder")
	os.Mkdir(folder, 0o755)
	folderFiles := [][]byte{streamtest.PNG(t, pics[0]), jpegs[1], ppm(pics[2]), streamtest.PNG(t, pics[3]), jpegs[4], ppm(pics[5])}
	for i, f := range folderFiles {
		streamtest.WriteFile(t, folder, fmt.Sprintf("%02d%s", i, []string{".png", ".jpg", ".ppm"}[i%3]), f)
	}
	streamtest.WriteFile(t, folder, "README.txt", []byte("not a picture"))
	folderWant := expectTops(t, lab, folderFiles)

	tests := []struct {
		name string
		open func(t *testing.T) (Source, error)
		want [][]infer.Class
	}{
		{"MJPEG on stdin", func(*testing.T) (Source, error) { return Open("-", SourceOptions{Stdin: bytes.NewReader(mjpeg)}) }, byJPEG},
		{"MJPEG file", func(*testing.T) (Source, error) { return Open(mjpegFile, SourceOptions{}) }, byJPEG},
		{"MJPEG file paced", func(*testing.T) (Source, error) { return Open(mjpegFile, SourceOptions{FPS: 200}) }, byJPEG},
		{"named pipe", func(t *testing.T) (Source, error) {
			if runtime.GOOS != "linux" {
				t.Skip("mkfifo: Linux only here")
			}
			path := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			go func() { // opening a FIFO blocks until both ends are open
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err == nil {
					f.Write(mjpeg)
					f.Close()
				}
			}()
			return Open(path, SourceOptions{})
		}, byJPEG},
		{"raw RGB24 on stdin", func(*testing.T) (Source, error) {
			return Open("-", SourceOptions{Stdin: bytes.NewReader(raw), W: 64, H: 48})
		}, byPicture},
		{"MJPEG over HTTP", func(t *testing.T) (Source, error) { return Open(multipartServer(t, jpegs).URL, SourceOptions{}) }, byJPEG},
		{"folder", func(*testing.T) (Source, error) { return Open(folder, SourceOptions{FPS: 500}) }, folderWant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := tt.open(t)
			if err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			got, err := runAll(t, src, lab, RunOptions{EveryFrame: true, Log: &log})
			summary := "end of stream: 6 frames"
			if strings.HasPrefix(tt.name, "MJPEG over HTTP") {
				// A live camera that closes its stream is an error, after its frames.
				if err == nil || !strings.Contains(err.Error(), "the camera closed the stream") {
					t.Errorf("camera closed: %v", err)
				}
				err, summary = nil, "stopped by an error: 6 frames"
			}
			if err != nil {
				t.Fatal(err)
			}
			checkTops(t, got, tt.want)
			if !strings.Contains(log.String(), summary) {
				t.Errorf("summary: %q", log.String())
			}
		})
	}
	t.Run("MJPEG from ffmpeg", func(t *testing.T) {
		mjpeg, files := streamtest.FFmpegMJPEG(t, pics)
		src, err := Open("-", SourceOptions{Stdin: bytes.NewReader(mjpeg)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := runAll(t, src, lab, RunOptions{EveryFrame: true})
		if err != nil {
			t.Fatal(err)
		}
		checkTops(t, got, expectTops(t, lab, files))
	})
}

// checkTops checks that frame i was classified as want[i], for the frames that were.
func checkTops(t *testing.T, got collected, want [][]infer.Class) {
	t.Helper()
	if len(got.frames) == 0 {
		t.Fatal("no frame classified")
	}
	for i, f := range got.frames {
		if f >= len(want) {
			t.Fatalf("frame %d of %d", f, len(want))
		}
		if !slices.Equal(got.tops[i], want[f]) {
			t.Errorf("frame %d: %v, want %v (classified on its own)", f, got.tops[i], want[f])
		}
	}
}

// slow makes a classifier slower than the source.
type slow struct {
	*infer.Labeler
	d time.Duration
}

func (s slow) Label(p []uint8) ([]infer.Class, error) {
	time.Sleep(s.d)
	return s.Labeler.Label(p)
}

// TestNewestFrameWins feeds frames much faster than they are classified: frames are skipped,
// each one counted once, the last frame is classified, and every label belongs to its frame.
func TestNewestFrameWins(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 3)
	pics := streamtest.Pictures(40, 64, 48)
	jpegs := streamtest.JPEGs(t, pics)
	want := expectTops(t, lab, jpegs)
	var cnt Counters
	src, _ := Open("-", SourceOptions{Stdin: bytes.NewReader(bytes.Join(jpegs, nil))})
	got, err := runAll(t, src, slow{lab, 15 * time.Millisecond}, RunOptions{Counters: &cnt})
	if err != nil {
		t.Fatal(err)
	}
	checkTops(t, got, want)
	var skipped int64
	for i, r := range got.res {
		skipped += r.Skipped
		if i > 0 && r.Frame <= got.res[i-1].Frame {
			t.Errorf("frame %d after frame %d", r.Frame, got.res[i-1].Frame)
		}
		if r.MS <= 0 || r.Time.IsZero() {
			t.Errorf("result %+v: no latency or time", r)
		}
	}
	n := cnt.Classified.Load()
	switch {
	case cnt.Frames.Load() != 40 || n+cnt.Skipped.Load() != 40 || cnt.Bad.Load() != 0:
		t.Errorf("counters: %d frames, %d classified, %d skipped, %d bad", cnt.Frames.Load(), n, cnt.Skipped.Load(), cnt.Bad.Load())
	case skipped != cnt.Skipped.Load():
		t.Errorf("results report %d skipped, counters %d", skipped, cnt.Skipped.Load())
	case n == 40:
		t.Error("nothing skipped although the classifier is slower than the source")
	case got.frames[len(got.frames)-1] != 39:
		t.Errorf("last classified frame %d, want 39 (the newest)", got.frames[len(got.frames)-1])
	}
}

// TestDamagedFramesGoOn mixes random bytes, a frame that does not decode and good frames:
// every good frame is classified, and the run then ends with an error that counts the damage.
func TestDamagedFramesGoOn(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 3)
	pics := streamtest.Pictures(4, 64, 48)
	jpegs := streamtest.JPEGs(t, pics)
	broken := withoutSegment(t, jpegs[2], 0xC0) // no frame header
	data := bytes.Join([][]byte{jpegs[0], noiseBytes(5000, 0xD8), jpegs[1], broken, jpegs[3]}, nil)
	src, _ := Open("-", SourceOptions{Stdin: bytes.NewReader(data)})
	var log bytes.Buffer
	var cnt Counters
	got, err := runAll(t, src, lab, RunOptions{EveryFrame: true, Log: &log, Counters: &cnt})
	if err == nil || err.Error() != "stream: damaged frames in the source: 2" {
		t.Errorf("run ended with %v, want the count of damaged frames", err)
	}
	want := expectTops(t, lab, jpegs)
	want[2] = nil
	checkTops(t, got, want)
	if !slices.Equal(got.frames, []int{0, 1, 3}) {
		t.Errorf("classified frames %v, want [0 1 3]", got.frames)
	}
	for _, msg := range []string{"skipped 5000 bytes that are not JPEG", "frame 2: imageio", "4 frames", "3 classified", "2 bad"} {
		if !strings.Contains(log.String(), msg) {
			t.Errorf("log lacks %q:\n%s", msg, log.String())
		}
	}
}

// A source that ends without a single frame (text piped in by mistake) is an error.
func TestNoFrameIsAnError(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 3)
	src, _ := Open("-", SourceOptions{Stdin: strings.NewReader("hello, this is not a camera\n")})
	if _, err := runAll(t, src, lab, RunOptions{Log: io.Discard}); err == nil {
		t.Error("a stream of text ended without an error")
	}
}

// repeater is an endless-looking MJPEG stream: the same JPEG n times, made as it is read.
type repeater struct {
	frame []byte
	n     int
	off   int
}

func (r *repeater) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := copy(p, r.frame[r.off:])
	if r.off += k; r.off == len(r.frame) {
		r.off, r.n = 0, r.n-1
	}
	return k, nil
}

// TestMemoryFlat runs 10,000 frames through both modes and checks that the live heap after
// them is what it was after the first few hundred: nothing grows per frame.
func TestMemoryFlat(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	lab := streamtest.Labeler(t, streamtest.Graph(t), 5)
	frame := streamtest.JPEG(t, streamtest.Pictures(1, 48, 36)[0])
	for _, every := range []bool{true, false} {
		t.Run(fmt.Sprintf("every-frame=%v", every), func(t *testing.T) {
			goroutines := runtime.NumGoroutine()
			var base, end runtime.MemStats
			heap := func(m *runtime.MemStats) {
				runtime.GC()
				runtime.ReadMemStats(m)
			}
			src, _ := Open("-", SourceOptions{Stdin: &repeater{frame: frame, n: n}})
			var cnt Counters
			classified := 0
			err := Run(context.Background(), src, lab, RunOptions{EveryFrame: every, Counters: &cnt}, func(f *Frame, r *Result) error {
				if classified++; classified == 300 {
					heap(&base)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			heap(&end)
			if cnt.Frames.Load() != int64(n) || cnt.Classified.Load()+cnt.Skipped.Load() != int64(n) {
				t.Fatalf("%d frames, %d classified, %d skipped, want %d frames", cnt.Frames.Load(), cnt.Classified.Load(), cnt.Skipped.Load(), n)
			}
			if classified < 300 {
				t.Skipf("only %d frames classified: no baseline", classified)
			}
			growth := int64(end.HeapAlloc) - int64(base.HeapAlloc)
			t.Logf("%d frames, %d classified: live heap %d KiB after 300, %d KiB at the end", n, classified, base.HeapAlloc>>10, end.HeapAlloc>>10)
			if growth > 512<<10 {
				t.Errorf("live heap grew by %d KiB over the run", growth>>10)
			}
			time.Sleep(10 * time.Millisecond)
			if g := runtime.NumGoroutine(); g > goroutines {
				t.Errorf("%d goroutines after the run, %d before", g, goroutines)
			}
		})
	}
}

// TestNoAllocationsPerFrame: on raw frames the loop (read, fit, classify, emit) allocates
// nothing per frame. JPEG frames allocate in the standard library's decoder (its state and
// the decoded picture, whose 4:2:0 planes alone are 460,800 bytes at 640×480): logged, not checked.
func TestNoAllocationsPerFrame(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 5)
	pic := streamtest.Pictures(1, 48, 36)[0]
	const n = 3000
	for _, tc := range []struct {
		name   string
		data   []byte
		opt    SourceOptions
		every  bool
		checks bool
	}{
		{"raw, every frame", bytes.Repeat(streamtest.RGB24(pic), n), SourceOptions{W: 48, H: 36}, true, true},
		{"raw, newest wins", bytes.Repeat(streamtest.RGB24(pic), n), SourceOptions{W: 48, H: 36}, false, true},
		{"jpeg, every frame", bytes.Repeat(streamtest.JPEG(t, pic), n), SourceOptions{}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Stdin = bytes.NewReader(tc.data)
			src, err := Open("-", tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			// The whole run: its set-up (buffers, goroutine, fitter) is a few dozen
			// allocations, 0.02 a frame over 3,000; one a frame would be 1.
			var a, b runtime.MemStats
			var cnt Counters
			runtime.ReadMemStats(&a)
			err = Run(context.Background(), src, lab, RunOptions{EveryFrame: tc.every, Counters: &cnt}, func(*Frame, *Result) error { return nil })
			runtime.ReadMemStats(&b)
			if err != nil || cnt.Frames.Load() != n {
				t.Fatalf("%v after %d frames", err, cnt.Frames.Load())
			}
			perFrame := float64(b.Mallocs-a.Mallocs) / n
			t.Logf("%.2f allocations, %.0f bytes a frame (%d classified)", perFrame, float64(b.TotalAlloc-a.TotalAlloc)/n, cnt.Classified.Load())
			if tc.checks && perFrame > 0.1 {
				t.Errorf("%.2f allocations a frame, want none", perFrame)
			}
		})
	}
}

// TestCancel stops a run whose source never sends anything more.
func TestCancel(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 3)
	pr, pw := io.Pipe()
	go pw.Write(streamtest.JPEG(t, streamtest.Pictures(1, 32, 32)[0])) // one frame, then silence
	src, _ := Open("-", SourceOptions{Stdin: pr})
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	var once sync.Once
	start := time.Now()
	err := Run(ctx, src, lab, RunOptions{Log: &log}, func(*Frame, *Result) error {
		once.Do(func() { time.AfterFunc(50*time.Millisecond, cancel) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("took %v to stop", d)
	}
	if !strings.Contains(log.String(), "interrupted: 1 frames") {
		t.Errorf("summary %q", log.String())
	}
}

func TestEmitErrorStops(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 3)
	jpg := streamtest.JPEG(t, streamtest.Pictures(1, 32, 32)[0])
	src, _ := Open("-", SourceOptions{Stdin: &repeater{frame: jpg, n: 100}})
	boom := errors.New("stdout closed")
	err := Run(context.Background(), src, lab, RunOptions{EveryFrame: true}, func(*Frame, *Result) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("Run = %v, want the emit error", err)
	}
}

func TestHTTPErrors(t *testing.T) {
	jpg := streamtest.JPEG(t, streamtest.Pictures(1, 32, 32)[0])
	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html></html>")
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=b")
		fmt.Fprintf(w, "--b\r\nContent-Type: image/jpeg\r\n\r\n%s\r\n", jpg)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/silent", func(w http.ResponseWriter, r *http.Request) {
		select { // no headers at all
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(nil)
	closed.Close()
	opt := SourceOptions{Timeout: 300 * time.Millisecond}
	for _, tt := range []struct{ url, err string }{
		{closed.URL, "connection refused"},
		{srv.URL + "/missing", "HTTP status 404"},
		{srv.URL + "/html", `Content-Type "text/html" is not an MJPEG stream`},
		// A camera's password never appears in a message.
		{strings.Replace(srv.URL, "http://", "http://admin:secret@", 1) + "/html", "admin:xxxxx@"},
		{strings.Replace(srv.URL, "http://", "http://admin:secret@", 1) + "/missing", "HTTP status 404"},
	} {
		if _, err := Open(tt.url, opt); err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v, want %q", tt.url, err, tt.err)
		}
	}
	// A stop asked for while the camera has not answered ends the wait at once.
	stopped, stop := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, stop)
	start := time.Now()
	if _, err := Open(srv.URL+"/silent", SourceOptions{Timeout: time.Minute, Cancel: stopped}); !errors.Is(err, ErrStopped) {
		t.Errorf("stopped while connecting: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop connecting", d)
	}
	src, err := Open(srv.URL+"/stall", opt)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	frames, _, end := drain(t, src)
	if len(frames) != 1 || end == nil || !strings.Contains(end.Error(), "no data for 300ms") {
		t.Errorf("stalled stream: %d frames, end %v", len(frames), end)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	for _, tt := range []struct {
		spec string
		opt  SourceOptions
		err  string
	}{
		{"", SourceOptions{}, "no source"},
		{filepath.Join(dir, "missing.mjpeg"), SourceOptions{}, "no such file"},
		{empty, SourceOptions{}, "no image files"},
		{"-", SourceOptions{W: 10}, "give both sides"},
		{empty, SourceOptions{W: 10, H: 10}, "a folder holds image files"},
		{"http://127.0.0.1:1/", SourceOptions{W: 10, H: 10}, "an HTTP stream is MJPEG"},
	} {
		if _, err := Open(tt.spec, tt.opt); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Open(%q): %v, want %q", tt.spec, err, tt.err)
		}
	}
}

func TestFolderPace(t *testing.T) {
	dir := t.TempDir()
	for i, p := range streamtest.Pictures(5, 8, 8) {
		streamtest.WriteFile(t, dir, fmt.Sprintf("%d.png", i), streamtest.PNG(t, p))
	}
	src, err := Open(dir, SourceOptions{FPS: 50})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	frames, _, end := drain(t, src)
	if d := time.Since(start); len(frames) != 5 || end != nil || d < 75*time.Millisecond {
		t.Errorf("%d frames in %v (end %v), want 5 frames at 50 fps (≥ 80 ms)", len(frames), d, end)
	}
}

func TestPercentile(t *testing.T) {
	l := newLatencies(4)
	if l.percentile(0.5) != 0 {
		t.Error("empty: not 0")
	}
	for _, ms := range []int{9, 1, 5, 3, 7} { // the ring keeps the last 4: 1, 5, 3, 7
		l.add(time.Duration(ms) * time.Millisecond)
	}
	if p50, p95 := l.percentile(0.5), l.percentile(0.95); p50 != 3*time.Millisecond || p95 != 7*time.Millisecond {
		t.Errorf("p50 %v, p95 %v; want 3ms, 7ms", p50, p95)
	}
}

// A folder's links to pictures are frames; a dangling link is said on Log and skipped.
func TestFolderLinks(t *testing.T) {
	dir := t.TempDir()
	streamtest.WriteFile(t, dir, "0001.png", streamtest.PNG(t, streamtest.Pictures(1, 8, 8)[0]))
	os.Symlink("0001.png", filepath.Join(dir, "latest.png"))
	os.Symlink("0000.png", filepath.Join(dir, "gone.png"))
	var log bytes.Buffer
	src, err := Open(dir, SourceOptions{FPS: 500, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	frames, _, end := drain(t, src)
	gone := filepath.Join(dir, "gone.png")
	if len(frames) != 2 || end != nil || log.String() != "source: skipping "+gone+", a link to 0000.png: no such file or directory\n" {
		t.Errorf("%d frames, end %v, log %q; want the file and its link, and the dangling link said", len(frames), end, log.String())
	}
}

// trickle writes a good frame, then the start of one that never completes, a byte at a time,
// until stop: a camera that hangs mid-frame while its connection stays up.
func trickle(w io.Writer, flush func(), good []byte, stop <-chan struct{}) {
	w.Write(good)
	w.Write([]byte{0xFF, markerSOI, 0xFF, 0xE0, 0x00, 0x10})
	flush()
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := w.Write([]byte{0x42}); err != nil {
			return
		}
		flush()
	}
}

// A live source that sends no complete frame for its timeout ends the run with an error,
// whatever trickles in (a frame that never ends, damaged frames, garbage), on every kind of
// live source; a slow classifier does not count against the camera, and a recording has no
// such limit.
func TestLiveSilence(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 3)
	jpegs := streamtest.JPEGs(t, streamtest.Pictures(3, 32, 32))
	broken := withoutSegment(t, jpegs[1], 0xC0)
	const timeout = 400 * time.Millisecond
	stop := make(chan struct{})
	defer close(stop)
	mux := http.NewServeMux()
	mux.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=b")
		fmt.Fprint(w, "--b\r\nContent-Type: image/jpeg\r\n\r\n")
		trickle(w, w.(http.Flusher).Flush, jpegs[0], stop)
	})
	mux.HandleFunc("/damaged", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=b")
		for {
			fmt.Fprintf(w, "--b\r\nContent-Type: image/jpeg\r\n\r\n%s\r\n", broken)
			w.(http.Flusher).Flush()
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(30 * time.Millisecond):
			}
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	pipe := func(t *testing.T) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { trickle(w, func() {}, jpegs[0], stop); w.Close() }()
		t.Cleanup(func() { r.Close() })
		return r
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	opt := SourceOptions{Timeout: timeout}
	for _, tt := range []struct {
		name   string
		open   func(t *testing.T) (Source, error)
		frames int    // classified before the silence
		err    string // "" for a run that ends well
		slow   time.Duration
	}{
		{"HTTP, a frame that never ends", func(*testing.T) (Source, error) { return Open(srv.URL+"/trickle", opt) }, 1,
			"stream: " + srv.URL + "/trickle: no complete frame for 400ms", 0},
		{"HTTP, damaged frames only", func(*testing.T) (Source, error) { return Open(srv.URL+"/damaged", opt) }, 0,
			"stream: " + srv.URL + "/damaged: no complete frame for 400ms", 0},
		{"stdin pipe", func(t *testing.T) (Source, error) { return Open("-", SourceOptions{Timeout: timeout, Stdin: pipe(t)}) }, 1,
			"stream: stdin: no complete frame for 400ms", 0},
		{"stdin that Close cannot interrupt", func(t *testing.T) (Source, error) {
			return Open("-", SourceOptions{Timeout: timeout, Stdin: struct{ io.Reader }{pipe(t)}})
		}, 1, "stream: stdin: no complete frame for 400ms", 0},
		{"named pipe", func(t *testing.T) (Source, error) {
			go func() {
				if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
					trickle(f, func() {}, jpegs[0], stop)
					f.Close()
				}
			}()
			return Open(fifo, opt)
		}, 1, "stream: " + fifo + ": no complete frame for 400ms", 0},
		{"a classifier slower than the timeout", func(*testing.T) (Source, error) {
			return Open("-", SourceOptions{Timeout: timeout, Stdin: bytes.NewReader(bytes.Join(jpegs, nil))})
		}, 3, "", 2 * timeout},
		{"a recording that is slower than the timeout", func(t *testing.T) (Source, error) {
			return Open(streamtest.WriteFile(t, t.TempDir(), "rec.mjpeg", bytes.Join(jpegs[:2], nil)), SourceOptions{Timeout: timeout, FPS: 2})
		}, 2, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, err := tt.open(t)
			if err != nil {
				t.Fatal(err)
			}
			var c Classifier = lab
			if tt.slow > 0 {
				c = slow{lab, tt.slow}
			}
			start := time.Now()
			got, err := runAll(t, src, c, RunOptions{EveryFrame: true, Log: io.Discard})
			d := time.Since(start)
			if len(got.frames) != tt.frames {
				t.Errorf("%d frames classified, want %d", len(got.frames), tt.frames)
			}
			if tt.err == "" {
				if err != nil {
					t.Errorf("ended with %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.err {
				t.Errorf("ended with %v, want %q", err, tt.err)
			}
			if d < timeout || d > timeout+2*time.Second {
				t.Errorf("ended after %v, want about %v", d, timeout)
			}
		})
	}
}
