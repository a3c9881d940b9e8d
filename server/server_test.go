package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ninedge/ninedge/backends/cpu"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/stream"
	"github.com/ninedge/ninedge/stream/streamtest"
)

var cifarClasses = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// newServer serves the small test model, with CIFAR-10's class names so that labels can be
// found in a page.
func newServer(t *testing.T, source string, maxUpload int64) (*Server, *infer.Labeler, *httptest.Server) {
	t.Helper()
	var cams []Camera
	if source != "" {
		cams = []Camera{{Name: "cam1", Source: source}}
	}
	s, lab, _, ts := serveCameras(t, Config{Cameras: cams, MaxUpload: maxUpload})
	return s, lab, ts
}

// serveCameras serves the small test model, with CIFAR-10's class names so that labels can be
// found in a page, as cfg says; it returns a labeler of the same model for expectations and
// the model file's path.
func serveCameras(t *testing.T, cfg Config) (*Server, *infer.Labeler, string, *httptest.Server) {
	t.Helper()
	g := streamtest.Graph(t)
	g.Classes = cifarClasses
	live, path := streamtest.Live(t, g, 3)
	cfg.Live, cfg.Device, cfg.Reason, cfg.Model = live, cpu.NewDevice(1).Info(), "test", "tiny.safetensors"
	s := New(cfg)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, streamtest.Labeler(t, g, 3), path, ts
}

func multipartBody(t *testing.T, field, file string, data []byte) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("note", "a text field first")
	if field != "" {
		w, err := mw.CreateFormFile(field, file)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func TestPredict(t *testing.T) {
	pic := streamtest.Pictures(1, 64, 48)[0]
	png := streamtest.PNG(t, pic)
	_, lab, ts := newServer(t, "", 50000)
	want, err := lab.Image(pic)
	if err != nil {
		t.Fatal(err)
	}
	want = slices.Clone(want)
	formType, form := multipartBody(t, "file", "cat.png", png)
	otherType, other := multipartBody(t, "upload", "dog.png", png)
	noFileType, noFile := multipartBody(t, "", "", nil)
	tests := []struct {
		name        string
		method      string
		contentType string
		body        []byte
		code        int
		input       string // for 200
		err         string // for errors
	}{
		{"raw body", "POST", "image/png", png, 200, "body", ""},
		{"multipart file field", "POST", formType, form, 200, "cat.png", ""},
		{"multipart, other field name", "POST", otherType, other, 200, "dog.png", ""},
		{"jpeg", "POST", "", streamtest.JPEG(t, pic), 200, "body", ""},
		{"wrong method", "GET", "", nil, 405, "", "use POST"},
		{"oversized", "POST", "image/png", make([]byte, 60000), 413, "", "larger than 50000 bytes"},
		{"not an image", "POST", "text/plain", []byte("hello, world"), 415, "", "not an image"},
		{"decompression bomb", "POST", "", []byte("P6 100000 100000 255\n"), 413, "", "too large"},
		{"empty", "POST", "image/png", nil, 400, "", "empty upload"},
		{"form without a file", "POST", noFileType, noFile, 400, "", "no file field"},
		{"multipart without boundary", "POST", "multipart/form-data", png, 400, "", "without a boundary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+"/predict", bytes.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.code, body)
			}
			if tt.code != 200 {
				var e errorJSON
				if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tt.err) {
					t.Errorf("error %s, want %q", body, tt.err)
				}
				return
			}
			var res infer.Result
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			if res.Input != tt.input || res.MS <= 0 {
				t.Errorf("input %q, ms %v", res.Input, res.MS)
			}
			if tt.name != "jpeg" && !slices.Equal(res.Top, want) {
				t.Errorf("top %v, want %v (the labeler on the picture itself)", res.Top, want)
			}
		})
	}
	if resp, _ := http.Get(ts.URL + "/predict"); resp.Header.Get("Allow") != "POST" {
		t.Errorf("405 without Allow: POST")
	}
}

// After Close, which serve calls before it releases the model's device, nothing labels:
// uploads get 503 and the camera loop an error.
func TestClose(t *testing.T) {
	s, _, ts := newServer(t, "", 0)
	s.Close()
	resp, err := http.Post(ts.URL+"/predict", "image/png", bytes.NewReader(streamtest.PNG(t, streamtest.Pictures(1, 64, 48)[0])))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "stopping") {
		t.Errorf("after Close: %d %s", resp.StatusCode, body)
	}
	if _, err := s.Label(make([]uint8, s.Input().Size())); err == nil {
		t.Error("the camera loop labeled after Close")
	}
}

// A client that sends its body slowly, or never, gets 408 once UploadTimeout has passed,
// rather than holding its connection and buffer for as long as it likes.
func TestSlowUpload(t *testing.T) {
	_, _, _, ts := serveCameras(t, Config{UploadTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	fmt.Fprint(conn, "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n\x89PNG")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer after %v: %v", time.Since(start), err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "did not arrive within 300ms") {
		t.Errorf("%d %s, want 408", resp.StatusCode, body)
	}
}

// live runs a camera loop into s from a pipe that sends frames and stays open, and waits
// until the last frame has been classified.
func live(t *testing.T, s *Server, ts *httptest.Server, opt stream.SourceOptions, data []byte, last int) {
	t.Helper()
	liveCamera(t, s, ts, "cam1", opt, data, last)
}

// liveCamera is live for the camera named camera.
func liveCamera(t *testing.T, s *Server, ts *httptest.Server, camera string, opt stream.SourceOptions, data []byte, last int) {
	t.Helper()
	pr, pw := io.Pipe()
	opt.Stdin = pr
	src, err := stream.Open("-", opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- stream.RunCameras(ctx, []stream.Camera{{Name: camera, Source: src, Counters: s.Counters(camera)}}, s, stream.RunOptions{EveryFrame: true}, s.Frame)
	}()
	go pw.Write(data)
	t.Cleanup(func() {
		cancel()
		pw.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		l := getLatestOf(t, ts, camera)
		if l.Result != nil && l.Result.Frame == last {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("frame %d never classified: %+v", last, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getLatest(t *testing.T, ts *httptest.Server) latestJSON {
	t.Helper()
	return getLatestOf(t, ts, "")
}

func getLatestOf(t *testing.T, ts *httptest.Server, camera string) latestJSON {
	t.Helper()
	var l latestJSON
	get(t, ts.URL+"/api/latest?camera="+camera, 200, func(b []byte) {
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
	})
	return l
}

func get(t *testing.T, url string, code int, check func([]byte)) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, code, b)
	}
	if check != nil {
		check(b)
	}
}

func TestLiveFrame(t *testing.T) {
	pics := streamtest.Pictures(3, 64, 48)
	t.Run("jpeg source", func(t *testing.T) {
		s, lab, ts := newServer(t, "-", 0)
		get(t, ts.URL+"/frame.jpg", 404, nil)
		var mjpeg []byte
		for _, p := range pics {
			mjpeg = append(mjpeg, streamtest.JPEG(t, p)...)
		}
		live(t, s, ts, stream.SourceOptions{}, mjpeg, 2)
		last := streamtest.JPEG(t, pics[2])
		get(t, ts.URL+"/frame.jpg", 200, func(b []byte) {
			if !bytes.Equal(b, last) {
				t.Error("/frame.jpg is not the camera's last JPEG")
			}
		})
		img, _ := jpeg.Decode(bytes.NewReader(last))
		want, _ := lab.Image(img)
		if l := getLatest(t, ts); !slices.Equal(l.Result.Top, want) || l.Classified != 3 || l.Backend != "cpu" {
			t.Errorf("latest %+v, want top %v", l, want)
		}
	})
	t.Run("raw source", func(t *testing.T) {
		s, _, ts := newServer(t, "-", 0)
		var raw []byte
		for _, p := range pics {
			raw = append(raw, streamtest.RGB24(p)...)
		}
		live(t, s, ts, stream.SourceOptions{W: 64, H: 48}, raw, 2)
		get(t, ts.URL+"/frame.jpg", 200, func(b []byte) {
			img, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil || img.Bounds() != image.Rect(0, 0, 64, 48) {
				t.Errorf("/frame.jpg: %v, %v", img.Bounds(), err)
			}
		})
	})
}

func TestMetricsAndHealth(t *testing.T) {
	s, _, ts := newServer(t, "-", 0)
	s.cfg.StaleAfter = 100 * time.Millisecond
	time.Sleep(150 * time.Millisecond)
	get(t, ts.URL+"/healthz", 503, func(b []byte) {
		if !strings.Contains(string(b), "no frame from -") {
			t.Errorf("healthz: %s", b)
		}
	})
	s.cfg.StaleAfter = time.Minute
	live(t, s, ts, stream.SourceOptions{}, streamtest.JPEG(t, streamtest.Pictures(1, 32, 32)[0]), 0)
	get(t, ts.URL+"/healthz", 200, nil)
	http.Post(ts.URL+"/predict", "text/plain", strings.NewReader("nope"))
	get(t, ts.URL+"/metrics", 200, func(b []byte) {
		for _, want := range []string{
			`ninedge_frames_total{camera="cam1"} 1`, `ninedge_frames_classified_total{camera="cam1"} 1`, `ninedge_frames_skipped_total{camera="cam1"} 0`,
			`ninedge_frames_bad_total{camera="cam1"} 0`, `ninedge_source_reconnects_total{camera="cam1"} 0`, `ninedge_backend_info{backend="cpu"`,
			`ninedge_latency_seconds_count{camera="cam1",path="stream"} 1`, `ninedge_predict_requests_total{code="415"} 1`,
			`ninedge_model_reloads_total{result="error"} 0`, `ninedge_model_info{file="model-int8.safetensors",sha256="`,
			"ninedge_model_loaded_timestamp_seconds 1", "go_goroutines",
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
	_, _, plain := newServer(t, "", 0) // no source: healthy without frames
	get(t, plain.URL+"/healthz", 200, nil)
	get(t, plain.URL+"/nothing-here", 404, nil)
}

// chromiumPath finds headless Chromium, or skips the test.
func chromiumPath(t *testing.T) string {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed: the page is not tested in a browser")
	}
	return chromium
}

// dumpDOM loads url in headless Chromium and returns the DOM once the page's fetches and
// timers have had budgetMS of virtual time.
func dumpDOM(t *testing.T, chromium, url string, budgetMS int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+profile,
		fmt.Sprintf("--virtual-time-budget=%d", budgetMS), "--dump-dom", url)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// TestPageInChromium loads the page in headless Chromium and checks that the label, the top-k
// bars and the picture of the live frame were rendered by the page's script.
func TestPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	s, _, ts := newServer(t, "-", 0)
	pics := streamtest.Pictures(2, 64, 48)
	live(t, s, ts, stream.SourceOptions{}, append(streamtest.JPEG(t, pics[0]), streamtest.JPEG(t, pics[1])...), 1)
	res := getLatest(t, ts).Result

	dom := dumpDOM(t, chromium, ts.URL+"/", 5000)
	want := []string{
		fmt.Sprintf(`<div class="label">%s</div>`, res.Top[0].Label),
		fmt.Sprintf(`data-shown="%d"`, res.Frame), // the picture loaded from /frame.jpg
		fmt.Sprintf("frame %d · ", res.Frame),
		"tiny.safetensors on cpu",
	}
	for _, c := range res.Top {
		p := fmt.Sprintf("%.1f%%", c.Prob*100)
		want = append(want, fmt.Sprintf(`<span class="name">%s</span><span class="bar"><span class="fill" style="width: %s;"></span></span><span class="prob">%s</span>`, c.Label, p, p))
	}
	for _, w := range want {
		if !strings.Contains(dom, w) {
			t.Errorf("the page lacks %s", w)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", regexp.MustCompile(`(?s)<style>.*</style>|<script>.*</script>`).ReplaceAllString(dom, ""))
	}
}
