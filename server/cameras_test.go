package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/stream"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// TestCameras serves two cameras: each has its latest result, picture, counters and metrics,
// an unknown camera is a 404, and /healthz names the camera that went quiet.
func TestCameras(t *testing.T) {
	var log strings.Builder
	s, lab, _, ts := serveCameras(t, Config{Cameras: []Camera{{Name: "front", Source: "rtsp://u:xxxxx@cam1/s"}, {Name: "back", Source: "/dev/video0"}}, Log: &log})
	pics := streamtest.Pictures(4, 64, 48)
	liveCamera(t, s, ts, "front", stream.SourceOptions{}, append(streamtest.JPEG(t, pics[0]), streamtest.JPEG(t, pics[1])...), 1)
	liveCamera(t, s, ts, "back", stream.SourceOptions{}, append(streamtest.JPEG(t, pics[2]), streamtest.JPEG(t, pics[3])...), 1)
	for cam, pic := range map[string][]byte{"front": streamtest.JPEG(t, pics[1]), "back": streamtest.JPEG(t, pics[3])} {
		l := getLatestOf(t, ts, cam)
		img, _, err := imageio.Decode(bytes.NewReader(pic))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := lab.Image(img)
		if l.Camera != cam || !slices.Equal(l.Cameras, []string{"front", "back"}) || l.Result.Camera != cam || !slices.Equal(l.Result.Top, want) || l.Classified != 2 {
			t.Errorf("camera %s: %+v, want top %v", cam, l, want)
		}
		get(t, ts.URL+"/frame.jpg?camera="+cam, 200, func(b []byte) {
			if !bytes.Equal(b, pic) {
				t.Errorf("/frame.jpg?camera=%s is not its last frame", cam)
			}
		})
	}
	if l := getLatest(t, ts); l.Camera != "front" || l.Source != "rtsp://u:xxxxx@cam1/s" {
		t.Errorf("/api/latest without a camera: %+v, want the first camera", l)
	}
	get(t, ts.URL+"/api/latest?camera=side", 404, func(b []byte) {
		if !strings.Contains(string(b), `no camera \"side\" (the cameras: front, back)`) {
			t.Errorf("unknown camera: %s", b)
		}
	})
	get(t, ts.URL+"/frame.jpg?camera=side", 404, nil)
	get(t, ts.URL+"/metrics", 200, func(b []byte) {
		for _, w := range []string{`ninedge_frames_classified_total{camera="front"} 2`, `ninedge_frames_classified_total{camera="back"} 2`,
			`ninedge_latency_seconds_count{camera="back",path="stream"} 2`} {
			if !strings.Contains(string(b), w) {
				t.Errorf("/metrics lacks %q", w)
			}
		}
	})
	get(t, ts.URL+"/healthz", 200, nil)
	s.cfg.StaleAfter = time.Nanosecond
	get(t, ts.URL+"/healthz", 503, func(b []byte) {
		if !strings.Contains(string(b), "no frame from front (rtsp://u:xxxxx@cam1/s) for") || !strings.Contains(string(b), "no frame from back (/dev/video0)") {
			t.Errorf("healthz: %s", b)
		}
	})
}

// TestReloadUnderLoad: POST /api/reload, repeated while /predict requests and a camera loop
// run, swaps the model without one request failing; the answers change to the new model's; a
// damaged file answers 422, keeps the old model and is counted in /metrics.
func TestReloadUnderLoad(t *testing.T) {
	var log streamtest.SyncBuffer
	s, _, path, ts := serveCameras(t, Config{Cameras: []Camera{{Name: "cam1", Source: "-"}}, Log: &log})
	pic := streamtest.Pictures(1, 64, 48)[0]
	png := streamtest.PNG(t, pic)
	a := streamtest.Graph(t)
	a.Classes = cifarClasses
	b := streamtest.GraphSeed(t, 8)
	b.Classes = cifarClasses
	wantA, _ := streamtest.Labeler(t, a, 3).Image(pic)
	wantA = slices.Clone(wantA)
	wantB, _ := streamtest.Labeler(t, b, 3).Image(pic)
	wantB = slices.Clone(wantB)
	if slices.Equal(wantA, wantB) {
		t.Fatal("both models give the same answer: the test could not see the swap")
	}
	predict := func() ([]infer.Class, error) {
		resp, err := http.Post(ts.URL+"/predict", "image/png", bytes.NewReader(png))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("/predict: %d %s", resp.StatusCode, body)
		}
		var r infer.Result
		return r.Top, json.Unmarshal(body, &r)
	}
	reload := func() (int, string) {
		resp, err := http.Post(ts.URL+"/api/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	// A camera loop labels all along, from a raw stream that never ends.
	pr, pw := io.Pipe()
	src, _ := stream.Open("-", stream.SourceOptions{Stdin: pr, W: 64, H: 48})
	ctx, cancel := context.WithCancel(context.Background())
	streamed := make(chan error, 1)
	go func() {
		streamed <- stream.RunCameras(ctx, []stream.Camera{{Name: "cam1", Source: src, Counters: s.Counters("cam1")}}, s, stream.RunOptions{}, s.Frame)
	}()
	go func() {
		frame := streamtest.RGB24(pic)
		for ctx.Err() == nil {
			if _, err := pw.Write(frame); err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var calls atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				top, err := predict()
				if err == nil && !slices.Equal(top, wantA) && !slices.Equal(top, wantB) {
					err = fmt.Errorf("an answer neither model gives: %v", top)
				}
				if err != nil {
					errs <- err
					return
				}
				calls.Add(1)
			}
		})
	}
	for i := range 10 {
		g := b
		if i%2 == 1 {
			g = a
		}
		if err := g.Save(path); err != nil {
			t.Fatal(err)
		}
		if code, body := reload(); code != 200 || !strings.Contains(body, `"sha256":"`) {
			t.Fatalf("reload %d: %d %s", i, code, body)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The last reload loaded a (i = 9): b now, and the page's camera follows it.
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	if code, body := reload(); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if top, err := predict(); err != nil || !slices.Equal(top, wantB) {
		t.Errorf("after reloading b: %v %v, want %v", top, err, wantB)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l := getLatest(t, ts); l.Result != nil && slices.Equal(l.Result.Top, wantB) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the camera never showed the new model's answer: %+v", getLatest(t, ts))
		}
	}
	if err := os.WriteFile(path, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := reload(); code != 422 || !strings.Contains(body, "the old model keeps serving") {
		t.Errorf("damaged file: %d %s", code, body)
	}
	if top, err := predict(); err != nil || !slices.Equal(top, wantB) {
		t.Errorf("after a failed reload: %v %v, want the old model's %v", top, err, wantB)
	}
	cancel()
	pw.Close()
	if err := <-streamed; err != nil {
		t.Errorf("the camera loop: %v", err)
	}
	get(t, ts.URL+"/metrics", 200, func(m []byte) {
		for _, w := range []string{`ninedge_model_reloads_total{result="ok"} 11`, `ninedge_model_reloads_total{result="error"} 1`} {
			if !strings.Contains(string(m), w) {
				t.Errorf("/metrics lacks %q", w)
			}
		}
	})
	if !strings.Contains(log.String(), "reloading the model failed, the old one keeps serving") || calls.Load() < 10 {
		t.Errorf("%d predictions; log:\n%s", calls.Load(), log.String())
	}
}

// TestCamerasPageInChromium: the page shows a panel per camera, each with its own label and
// picture.
func TestCamerasPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	s, _, _, ts := serveCameras(t, Config{Cameras: []Camera{{Name: "front", Source: "rtsp://cam1/s"}, {Name: "back", Source: "rtsp://cam2/s"}}})
	pics := streamtest.Pictures(4, 64, 48)
	liveCamera(t, s, ts, "front", stream.SourceOptions{}, streamtest.JPEG(t, pics[0]), 0)
	liveCamera(t, s, ts, "back", stream.SourceOptions{}, append(streamtest.JPEG(t, pics[2]), streamtest.JPEG(t, pics[3])...), 1)
	dom := dumpDOM(t, chromium, ts.URL+"/", 5000)
	for _, cam := range []string{"front", "back"} {
		res := getLatestOf(t, ts, cam).Result
		i := strings.Index(dom, `data-camera="`+cam+`"`)
		if i < 0 {
			t.Fatalf("no panel for %s", cam)
		}
		panel := dom[i:]
		if j := strings.Index(panel[1:], "data-camera="); j > 0 {
			panel = panel[:j]
		}
		for _, w := range []string{cam + " · rtsp://", fmt.Sprintf(`<div class="label">%s</div>`, res.Top[0].Label), fmt.Sprintf(`data-shown="%d"`, res.Frame)} {
			if !strings.Contains(panel, w) {
				t.Errorf("%s's panel lacks %s:\n%s", cam, w, panel)
			}
		}
	}
	if !strings.Contains(dom, "2 cameras") {
		t.Errorf("the page does not say it has 2 cameras")
	}
}
