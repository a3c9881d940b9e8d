package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/internal/qgemm"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/stream"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// syncBuffer is a bytes.Buffer that a command and the test may use at once.
type syncBuffer = streamtest.SyncBuffer

// ninedge runs a command line in-process; stderr may be read while it runs.
func ninedge(ctx context.Context, stdin io.Reader, stderr *syncBuffer, args ...string) (code int, stdout string) {
	var out syncBuffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code = program.Exec(&cli.Env{Ctx: ctx, Stdin: stdin, Stdout: &out, Stderr: stderr}, args)
	return code, out.String()
}

// cmd runs a command line to its end.
func cmd(stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	var errs syncBuffer
	code, stdout = ninedge(context.Background(), stdin, &errs, args...)
	return code, stdout, errs.String()
}

func lines(s string) []string {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// model saves the small test graph in a temporary folder.
func model(t *testing.T) (dir, path string, g *quant.Graph) {
	t.Helper()
	dir = t.TempDir()
	g = streamtest.Graph(t)
	path = filepath.Join(dir, "tiny-int8.safetensors")
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	return dir, path, g
}

// want labels encoded images one by one with k classes each.
func want(t *testing.T, g *quant.Graph, k int, files ...[]byte) [][]infer.Class {
	t.Helper()
	lab := streamtest.Labeler(t, g, k)
	var out [][]infer.Class
	for _, f := range files {
		img, _, err := imageio.Decode(bytes.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		top, err := lab.Image(img)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(top))
	}
	return out
}

func ppm(t *testing.T, i int) []byte {
	p := streamtest.Pictures(i+1, 64, 48)[i]
	return append([]byte("P6\n64 48\n255\n"), streamtest.RGB24(p)...)
}

func TestClassify(t *testing.T) {
	dir, m, g := model(t)
	pics := streamtest.Pictures(3, 64, 48)
	imgs := filepath.Join(dir, "imgs")
	os.Mkdir(imgs, 0o755)
	files := [][]byte{streamtest.PNG(t, pics[0]), streamtest.JPEG(t, pics[1]), ppm(t, 2)}
	names := []string{"a.png", "b.jpg", "c.ppm"}
	for i, f := range files {
		streamtest.WriteFile(t, imgs, names[i], f)
	}
	streamtest.WriteFile(t, imgs, "notes.txt", []byte("skipped: not an image name"))
	broken := streamtest.WriteFile(t, dir, "broken.png", []byte("\x89PNG\r\n\x1a\nrubbish"))
	missing := filepath.Join(dir, "missing.png")

	code, out, errs := cmd(nil, "classify", "--model", m, "--json", "--top", "3", imgs, broken, missing)
	if code != 1 {
		t.Errorf("exit %d, want 1 (two inputs failed)", code)
	}
	wantTops := want(t, g, 3, files...)
	got := lines(out)
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3:\n%s\nstderr:\n%s", len(got), out, errs)
	}
	for i, l := range got {
		var r infer.Result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Input != filepath.Join(imgs, names[i]) || !slices.Equal(r.Top, wantTops[i]) || r.MS <= 0 {
			t.Errorf("line %d: %+v, want input %s, top %v", i, r, names[i], wantTops[i])
		}
		for j := 1; j < len(r.Top); j++ {
			if r.Top[j].Prob > r.Top[j-1].Prob {
				t.Errorf("line %d: top not best first: %v", i, r.Top)
			}
		}
	}
	for _, w := range []string{"ninedge: cpu device 0", "broken.png: imageio", "missing.png", "no such file", "2 of 5 inputs could not be classified"} {
		if !strings.Contains(errs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errs)
		}
	}

	code, out, errs = cmd(nil, "classify", "--model", m, "--backend", "cpu", filepath.Join(imgs, "a.png"))
	if code != 0 || !strings.HasPrefix(out, filepath.Join(imgs, "a.png")+": ") || !strings.Contains(errs, "chosen with --backend cpu") {
		t.Errorf("text mode: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A full disk ends the listing with an error, not a short file and status 0.
	if full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0); err == nil {
		defer full.Close()
		var errs syncBuffer
		code := program.Exec(&cli.Env{Ctx: context.Background(), Stdout: full, Stderr: &errs}, []string{"classify", "--model", m, "--backend", "cpu", imgs})
		if code != 1 || !strings.Contains(errs.String(), "no space left") {
			t.Errorf("stdout on a full disk: exit %d, stderr %q", code, errs.String())
		}
	}
}

// A stop asked for while an HTTP camera does not answer ends stream and serve at once and
// with status 0, as a stop while streaming does.
func TestStopWhileConnecting(t *testing.T) {
	_, m, _ := model(t)
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer silent.Close()
	for _, command := range []string{"stream", "serve"} {
		t.Run(command, func(t *testing.T) {
			ctx, stop := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, stop)
			var errs syncBuffer
			start := time.Now()
			args := []string{command, "--model", m, "--backend", "cpu", "--source", silent.URL, "--timeout", "1m"}
			if command == "serve" {
				args = append(args, "--listen", "127.0.0.1:0")
			}
			code, _ := ninedge(ctx, nil, &errs, args...)
			if code != 0 || !strings.Contains(errs.String(), "stopped while connecting") || time.Since(start) > 10*time.Second {
				t.Errorf("exit %d after %v, stderr %q", code, time.Since(start), errs.String())
			}
		})
	}
}

// A camera that hangs mid-frame while its connection stays up ends stream with status 1 after
// --timeout, so that a supervisor restarts it.
func TestStreamTrickle(t *testing.T) {
	_, m, _ := model(t)
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=b")
		io.WriteString(w, "--b\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0\x00\x10")
		for {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			w.Write([]byte{0x42})
		}
	}))
	defer trickle.Close()
	start := time.Now()
	code, _, errs := cmd(nil, "stream", "--model", m, "--backend", "cpu", "--source", trickle.URL, "--timeout", "500ms")
	if want := "ninedge stream: stream: " + trickle.URL + ": no complete frame for 500ms\n"; code != 1 || !strings.HasSuffix(errs, want) || time.Since(start) > 5*time.Second {
		t.Errorf("exit %d after %v, stderr %q; want 1 and %q", code, time.Since(start), errs, want)
	}
}

func TestUsageErrors(t *testing.T) {
	dir, m, _ := model(t)
	float := filepath.Join(dir, "float.safetensors")
	fm, err := nin.NewModel(streamtest.Graph(t).Spec, nin.NumberedClasses(10), nin.Preprocess{Kind: nin.PreScale})
	if err != nil {
		t.Fatal(err)
	}
	if err := fm.Save(float); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{nil, 2, "usage: ninedge COMMAND"},
		{[]string{"fly"}, 2, `unknown command "fly"`},
		{[]string{"classify", "x.png"}, 2, "--model is required"},
		{[]string{"classify", "--model", m}, 2, "no images given"},
		{[]string{"classify", "--model", m, "--top", "0", "x.png"}, 2, "--top must be at least 1"},
		{[]string{"classify", "--model", m, "--backend", "tpu", "x.png"}, 2, `backend "tpu" is not available`},
		{[]string{"classify", "--model", m, "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"classify", "--model", m, "--device", "1", "x.png"}, 2, "--device 1 needs a named --backend"},
		{[]string{"classify", "--model", m, "--threads", "2000000000", "x.png"}, 2, "--threads 2000000000: want 0 (all cores) to 1024"},
		{[]string{"stream", "--model", m, "--source", "-", "--size", "16384x16384"}, 2, "--size 16384x16384: more than"},
		{[]string{"devices", "--threads", "-1"}, 2, "--threads -1"},
		{[]string{"classify", "--model", float, "x.png"}, 1, "is a float model: convert it to int8 first"},
		{[]string{"classify", "--model", filepath.Join(dir, "none.safetensors"), "x.png"}, 1, "no such file"},
		{[]string{"stream", "--model", m}, 2, "--source is required"},
		{[]string{"stream", "--model", m, "--source", "-", "--size", "640"}, 2, `--size "640": want WxH`},
		{[]string{"stream", "--model", m, "--source", "-", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"stream", "--model", m, "--source", filepath.Join(dir, "nothing")}, 1, "source: stat"},
		{[]string{"stream", "--model", m, "--source", "/dev/video77"}, 1, "/dev/video77"},
		{[]string{"bench", "--model", m, "--runs", "0"}, 2, "--runs at least 1"},
		{[]string{"serve", "--model", m, "--max-upload", "0"}, 2, "--max-upload and --upload-timeout must be positive"},
		{[]string{"serve", "--model", m, "--upload-timeout", "-1s"}, 2, "--max-upload and --upload-timeout must be positive"},
		{[]string{"serve", "--model", m, "--stats", "-1s"}, 2, "--stats 0 or more"},
		{[]string{"stream", "--model", m, "--source", "-", "--fps", "NaN"}, 2, "--fps NaN"},
		{[]string{"stream", "--model", m, "--source", "-", "--fps", "+Inf"}, 2, "--fps +Inf"},
		{[]string{"devices", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errs := cmd(nil, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.err) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.err)
			}
			if tt.code == 2 && len(tt.args) > 0 && len(lines(errs)) != 1 {
				t.Errorf("%d lines on stderr, want one:\n%s", len(lines(errs)), errs)
			}
		})
	}
	if code, _, errs := cmd(nil, "stream", "--help"); code != 0 || !strings.Contains(errs, "--every-frame") {
		t.Errorf("--help: exit %d, %q", code, errs)
	}
}

// frameLines parses stream --json output.
func frameLines(t *testing.T, out string) []stream.Result {
	t.Helper()
	var rs []stream.Result
	for _, l := range lines(out) {
		var r stream.Result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestStream(t *testing.T) {
	dir, m, g := model(t)
	pics := streamtest.Pictures(5, 64, 48)
	jpegs := streamtest.JPEGs(t, pics)
	var raw []byte
	folder := filepath.Join(dir, "frames")
	os.Mkdir(folder, 0o755)
	for i, p := range pics {
		raw = append(raw, streamtest.RGB24(p)...)
		streamtest.WriteFile(t, folder, fmt.Sprintf("%03d.jpg", i), jpegs[i])
	}
	byJPEG := want(t, g, 5, jpegs...)
	var pngs [][]byte
	for _, p := range pics {
		pngs = append(pngs, streamtest.PNG(t, p))
	}
	byPicture := want(t, g, 5, pngs...)
	mjpeg := bytes.Join(jpegs, nil)
	ffmpegMJPEG := func(t *testing.T) (io.Reader, [][]infer.Class) {
		s, frames := streamtest.FFmpegMJPEG(t, pics)
		return bytes.NewReader(s), want(t, g, 5, frames...)
	}
	tests := []struct {
		name  string
		stdin func(t *testing.T) (io.Reader, [][]infer.Class)
		args  []string
	}{
		{"MJPEG on stdin", func(*testing.T) (io.Reader, [][]infer.Class) { return bytes.NewReader(mjpeg), byJPEG }, []string{"--source", "-"}},
		{"ffmpeg MJPEG on stdin", ffmpegMJPEG, []string{"--source", "-"}},
		{"raw RGB24 on stdin", func(*testing.T) (io.Reader, [][]infer.Class) { return bytes.NewReader(raw), byPicture }, []string{"--source", "-", "--size", "64x48"}},
		{"folder", func(*testing.T) (io.Reader, [][]infer.Class) { return nil, byJPEG }, []string{"--source", folder, "--fps", "100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin, wantTops := tt.stdin(t)
			code, out, errs := cmd(stdin, append([]string{"stream", "--model", m, "--backend", "cpu", "--json", "--every-frame"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			rs := frameLines(t, out)
			if len(rs) != len(wantTops) {
				t.Fatalf("%d results, want %d", len(rs), len(wantTops))
			}
			for i, r := range rs {
				if r.Frame != i || !slices.Equal(r.Top, wantTops[i]) || r.Skipped != 0 || r.Time.IsZero() {
					t.Errorf("line %d: %+v, want frame %d, top %v", i, r, i, wantTops[i])
				}
			}
			if !strings.Contains(errs, "end of stream: 5 frames") {
				t.Errorf("no summary on stderr:\n%s", errs)
			}
		})
	}
	t.Run("text", func(t *testing.T) {
		code, out, _ := cmd(bytes.NewReader(mjpeg), "stream", "--model", m, "--source", "-", "--every-frame")
		if code != 0 || !strings.HasPrefix(out, "frame 0: ") || len(lines(out)) != 5 {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		code, out, errs := cmd(strings.NewReader(strings.Repeat("not a picture ", 5000)), "stream", "--model", m, "--source", "-", "--max-frame", "20000")
		if code != 1 || out != "" || !strings.Contains(errs, "no JPEG frame in the first 20000 bytes") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
	})
	t.Run("wrong size", func(t *testing.T) {
		code, out, errs := cmd(bytes.NewReader(raw), "stream", "--model", m, "--source", "-", "--size", "50x50", "--every-frame", "--json")
		// 5 frames of 64×48 are 6 frames of 50×50 and 1,080 bytes: the last is reported, and
		// the exit status says the input was damaged.
		if code != 1 || len(lines(out)) != 6 || !strings.Contains(errs, "1080 of the 7500 bytes of a 50x50 RGB24 frame (is --size right?)") ||
			!strings.Contains(errs, "damaged frames in the source: 1") {
			t.Errorf("exit %d, %d lines, stderr %q", code, len(lines(out)), errs)
		}
	})
}

// TestServe runs the server with no camera, classifies an upload, and stops it with the
// context, as SIGINT would; then with a camera that ends, which makes it exit non-zero.
func TestServe(t *testing.T) {
	_, m, g := model(t)
	png := streamtest.PNG(t, streamtest.Pictures(1, 64, 48)[0])
	ctx, cancel := context.WithCancel(context.Background())
	var errs syncBuffer
	done := make(chan int)
	go func() {
		code, _ := ninedge(ctx, nil, &errs, "serve", "--model", m, "--backend", "cpu", "--listen", "127.0.0.1:0", "--top", "3")
		done <- code
	}()
	addr := ""
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(errs.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("the server did not start:\n%s", errs.String())
	}
	resp, err := http.Post(addr+"predict", "image/png", bytes.NewReader(png))
	if err != nil {
		t.Fatal(err)
	}
	var r infer.Result
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if w := want(t, g, 3, png)[0]; resp.StatusCode != 200 || !slices.Equal(r.Top, w) {
		t.Errorf("POST /predict: %d %+v, want %v", resp.StatusCode, r, w)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after cancel: %s", code, errs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}

	jpg := streamtest.JPEG(t, streamtest.Pictures(1, 64, 48)[0])
	code, _, stderr := cmd(bytes.NewReader(jpg), "serve", "--model", m, "--listen", "127.0.0.1:0", "--source", "-")
	if code != 1 || !strings.Contains(stderr, "source - ended") || !strings.Contains(stderr, "end of stream: 1 frames") {
		t.Errorf("camera ended: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestBench(t *testing.T) {
	_, m, g := model(t)
	code, out, errs := cmd(nil, "bench", "--model", m, "--backend", "cpu", "--threads", "1", "--batch", "2", "--runs", "3", "--warmup", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r benchJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.MSMin <= 0 || r.MSMedian < r.MSMin || r.ImagesPerS <= 0 || r.GOPS <= 0 || r.PreprocessMS <= 0 ||
		r.MACs != g.Spec.TotalMACs() || r.Batch != 2 || r.Threads != 1 {
		t.Errorf("%+v", r)
	}
	var convs, share float64
	for _, l := range r.Layers {
		share += l.Share
		if l.Op == quant.OpConv {
			convs++
		}
	}
	if convs != 4 || share < 0.99 || share > 1.01 {
		t.Errorf("layers: %d convs, shares sum to %.3f: %+v", int(convs), share, r.Layers)
	}
	if qgemm.Kernel() != "go" && (r.Peak == nil || r.Peak.Threads != 1 || r.Peak.GMACs[r.Kernel] <= 0 || r.PeakShare > 1 || r.MedianShare <= 0) {
		// A share at the min is left out (0) rather than printed above 100 %.
		t.Errorf("kernel %q, peak %+v, share %v at the min, %v at the median", r.Kernel, r.Peak, r.PeakShare, r.MedianShare)
	}
	code, out, _ = cmd(nil, "bench", "--model", m, "--runs", "2")
	for _, w := range []string{"network: min", "images/s", "GOPS", "preprocess (meanstd", "per layer", "conv1", "kernel"} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("text output lacks %q:\n%s", w, out)
		}
	}
}

func TestDevices(t *testing.T) {
	code, out, errs := cmd(nil, "devices", "--json", "--threads", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var d devicesJSON
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(d.Devices, func(i backends.DeviceInfo) bool { return i.Backend == "cpu" })
	if i < 0 || d.Devices[i].Threads != 3 || d.Devices[i].Name == "" || d.Devices[i].Driver == "" {
		t.Errorf("%+v", d)
	}
	code, out, _ = cmd(nil, "devices")
	if code != 0 || !strings.Contains(out, "BACKEND") || !strings.Contains(out, "\ncpu ") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	// A backend left out of this build is listed with the command that builds it in.
	for _, name := range []string{"opencl", "vulkan"} {
		if slices.Contains(backends.Names(), name) {
			continue
		}
		i := slices.IndexFunc(d.Unavailable, func(u unavailable) bool { return u.Backend == name })
		if i < 0 || !strings.Contains(d.Unavailable[i].Build, "make build-gpu") {
			t.Errorf("%s is not built in, and devices --json says %+v", name, d.Unavailable)
		}
		if !strings.Contains(out, name+"  ") || !strings.Contains(out, "not built into this binary: build it in with make build-gpu") {
			t.Errorf("%s is not built in, and devices says:\n%s", name, out)
		}
	}
}

// Files as a careful tool takes them: a link in a folder is a picture (the capture folder's
// latest.jpg), a dangling one is said and skipped without failing the run, and a FIFO, as
// an input or as the model, is refused at once instead of blocking.
func TestClassifyFiles(t *testing.T) {
	dir, m, g := model(t)
	imgs := filepath.Join(dir, "capture")
	os.Mkdir(imgs, 0o755)
	jpeg := streamtest.JPEG(t, streamtest.Pictures(1, 64, 48)[0])
	streamtest.WriteFile(t, imgs, "0001.jpg", jpeg)
	os.Symlink("0001.jpg", filepath.Join(imgs, "latest.jpg"))
	os.Symlink("0000.jpg", filepath.Join(imgs, "gone.jpg"))
	fifo := filepath.Join(dir, "fifo.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cmd(nil, "classify", "--model", m, "--backend", "cpu", "--json", imgs)
	top := want(t, g, 5, jpeg)[0]
	got := lines(out)
	if code != 0 || len(got) != 2 {
		t.Fatalf("exit %d, %d lines, want 0 and 2:\n%s%s", code, len(got), out, errs)
	}
	for i, name := range []string{"0001.jpg", "latest.jpg"} {
		var r infer.Result
		if err := json.Unmarshal([]byte(got[i]), &r); err != nil || r.Input != filepath.Join(imgs, name) || !slices.Equal(r.Top, top) {
			t.Errorf("line %d: %+v, %v; want %s, %v", i, r, err, name, top)
		}
	}
	gone := filepath.Join(imgs, "gone.jpg")
	if w := "ninedge classify: skipping " + gone + ", a link to 0000.jpg: no such file or directory\n"; !strings.Contains(errs, w) {
		t.Errorf("stderr lacks %q:\n%s", w, errs)
	}
	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--model", m, "--backend", "cpu", fifo}, 1, "ninedge classify: imageio: open " + fifo + ": a named pipe (FIFO), not a regular file\n"},
		{[]string{"--model", fifo, "--backend", "cpu", imgs}, 1, "ninedge classify: safetensors: open " + fifo + ": a named pipe (FIFO), not a regular file\n"},
		{[]string{"--model", dir, "--backend", "cpu", imgs}, 1, "ninedge classify: safetensors: open " + dir + ": a folder, not a regular file\n"},
	} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			code, _, errs := cmd(nil, append([]string{"classify"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errs, tt.err) {
				t.Errorf("%q: exit %d, stderr %q; want %d, %q", tt.args, code, errs, tt.code, tt.err)
			}
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("%q hangs", tt.args)
		}
	}
}
