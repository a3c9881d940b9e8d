package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/ninedge/ninedge/stream"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// TestStreamCameras runs two folders as two named cameras: every frame of each is classified
// as the folder alone would be, and the JSON lines name their camera; a single source's lines
// have no camera field.
func TestStreamCameras(t *testing.T) {
	dir, m, g := model(t)
	pics := streamtest.Pictures(6, 64, 48)
	jpegs := streamtest.JPEGs(t, pics)
	wantTops := want(t, g, 5, jpegs...)
	for i, sub := range []string{"a", "b"} {
		os.Mkdir(filepath.Join(dir, sub), 0o755)
		for k := range 3 {
			streamtest.WriteFile(t, filepath.Join(dir, sub), fmt.Sprintf("%03d.jpg", k), jpegs[3*i+k])
		}
	}
	code, out, errs := cmd(nil, "stream", "--model", m, "--backend", "cpu", "--json", "--every-frame", "--fps", "200",
		"--source", "left="+filepath.Join(dir, "a"), "--source", filepath.Join(dir, "b"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	seen := map[string]int{}
	for _, r := range frameLines(t, out) {
		i := map[string]int{"left": 0, "cam2": 3}[r.Camera]
		if _, ok := map[string]bool{"left": true, "cam2": true}[r.Camera]; !ok || r.Frame != seen[r.Camera] {
			t.Fatalf("line %+v: want cameras left and cam2, frames in order", r)
		}
		if fmt.Sprint(r.Top) != fmt.Sprint(wantTops[i+r.Frame]) {
			t.Errorf("%s frame %d: %v, want %v", r.Camera, r.Frame, r.Top, wantTops[i+r.Frame])
		}
		seen[r.Camera]++
	}
	if seen["left"] != 3 || seen["cam2"] != 3 || !strings.Contains(errs, "stream: left: end of stream: 3 frames") {
		t.Errorf("frames per camera %v; stderr:\n%s", seen, errs)
	}
	code, out, _ = cmd(nil, "stream", "--model", m, "--backend", "cpu", "--json", "--every-frame", "--source", filepath.Join(dir, "a"))
	if code != 0 || strings.Contains(out, `"camera"`) || !strings.HasPrefix(out, `{"frame":0,"time":`) {
		t.Errorf("one source: exit %d, lines %s", code, out)
	}
	for _, bad := range [][]string{
		{"--source", "a=-", "--source", "b=-"},
		{"--source", "x=" + dir, "--source", "x=" + dir},
		{"--source", "x="},
		{"--source", "rtsp://cam/x", "--rtsp-transport", "sctp"},
	} {
		if code, _, errs := cmd(nil, append([]string{"stream", "--model", m}, bad...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage): %s", bad, code, errs)
		}
	}
}

// mqttLog subscribes to every topic of a broker.
type mqttLog struct {
	mu   sync.Mutex
	msgs map[string][]string
}

func subscribeAll(t *testing.T, broker string) *mqttLog {
	l := &mqttLog{msgs: map[string][]string{}}
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID("test-sub").SetAutoReconnect(true).
		SetMaxReconnectInterval(time.Second).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond)
	o.SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) {
			l.mu.Lock()
			l.msgs[m.Topic()] = append(l.msgs[m.Topic()], string(m.Payload()))
			l.mu.Unlock()
		}).Wait()
	})
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return l
}

func (l *mqttLog) count(topic string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs[topic])
}

func (l *mqttLog) last(topic string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.msgs[topic]
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

// eventually waits up to 30 s for cond, failing with what.
func eventually(t *testing.T, what string, cond func() bool, more func() string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s\n%s", what, more())
		}
	}
}

// TestServeRTSPCamerasMQTT is the whole deployment: `ninedge serve` as its own process with two
// RTSP cameras (gst-rtsp-server, H.264 and H.265, one with a password) and a Mosquitto broker.
// Both cameras are labelled on the page's API and on MQTT (with Home Assistant discovery); a
// camera restart is reconnected and counted; a broker restart is survived; SIGHUP reloads the
// model; SIGTERM ends it cleanly: exit 0, no ffmpeg left, both cameras marked offline.
func TestServeRTSPCamerasMQTT(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts RTSP servers, a broker and ffmpeg")
	}
	_, m, _ := model(t)
	front := streamtest.RTSPServer(t, streamtest.Clip(t, "h264"), "h264", "admin", "p4ss")
	back := streamtest.RTSPServer(t, streamtest.Clip(t, "h265"), "h265", "", "")
	broker := streamtest.Mosquitto(t)
	sub := subscribeAll(t, broker.URL)
	frontURL := strings.Replace(front.URL, "rtsp://", "rtsp://admin:p4ss@", 1)
	const token = "0123456789abcdef0123456789abcdef"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "serve", "--model", m, "--backend", "cpu", "--listen", "127.0.0.1:0", "--timeout", "3s", "--token-file", tokenFile,
		"--source", "front="+frontURL, "--source", "back="+back.URL,
		"--mqtt", broker.URL, "--mqtt-client-id", "edge", "--mqtt-every", "200ms")
	cmd.Env = append(os.Environ(), "NINEDGE_RUN_MAIN=1")
	var stderr syncBuffer
	cmd.Stderr, cmd.Stdout = &stderr, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	var addr string
	eventually(t, "the server to listen", func() bool {
		a := regexp.MustCompile(`listening on http://(\S+)/`).FindStringSubmatch(stderr.String())
		if a != nil {
			addr = a[1]
		}
		return a != nil
	}, stderr.String)
	call := func(method, path string, auth bool) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	latest := func(cam string) (l struct {
		Result     *stream.Result `json:"result"`
		Classified int64          `json:"classified"`
		Reconnects int64          `json:"reconnects"`
		Source     string         `json:"source"`
	}) {
		_, b := call("GET", "/api/latest?camera="+cam, true)
		json.Unmarshal([]byte(b), &l)
		return l
	}
	metrics := func() string {
		_, b := call("GET", "/metrics", true)
		return b
	}
	classified := func(cam string, more int64) func() bool {
		base := latest(cam).Classified
		return func() bool { return latest(cam).Classified > base+more }
	}
	for _, cam := range []string{"front", "back"} {
		eventually(t, cam+" frames", classified(cam, 10), stderr.String)
		eventually(t, cam+" on MQTT", func() bool { return sub.count("ninedge/"+cam+"/result") > 0 }, stderr.String)
		if sub.last("ninedge/"+cam+"/status") != "online" || !strings.Contains(sub.last("homeassistant/sensor/edge/"+cam+"/config"), `"state_topic":"ninedge/`+cam+`/result"`) {
			t.Errorf("%s: status %q, discovery %q", cam, sub.last("ninedge/"+cam+"/status"), sub.last("homeassistant/sensor/edge/"+cam+"/config"))
		}
	}
	var r struct {
		Camera string `json:"camera"`
		Frame  int    `json:"frame"`
		Top    []struct {
			Label string  `json:"label"`
			Prob  float64 `json:"prob"`
		} `json:"top"`
	}
	if err := json.Unmarshal([]byte(sub.last("ninedge/back/result")), &r); err != nil || r.Camera != "back" || len(r.Top) != 5 {
		t.Errorf("result on MQTT: %+v %v", r, err)
	}
	if l := latest("front"); l.Source != strings.Replace(frontURL, "p4ss", "xxxxx", 1) {
		t.Errorf("front's source shown as %q", l.Source)
	}

	// The front camera restarts: reconnected, counted, frames again; the back one never stops.
	reconnects := latest("front").Reconnects
	front.Stop()
	eventually(t, "front's reconnection counted", func() bool { return latest("front").Reconnects > reconnects }, stderr.String)
	back1 := classified("back", 5)
	front.Restart()
	eventually(t, "front's frames after its restart", classified("front", 5), stderr.String)
	if !back1() {
		t.Error("the back camera stalled while the front one was away")
	}
	if !strings.Contains(metrics(), `ninedge_source_reconnects_total{camera="front"}`) {
		t.Error("/metrics lacks front's reconnections")
	}

	// The broker restarts: results flow again.
	broker.Restart()
	n := sub.count("ninedge/front/result")
	eventually(t, "results after the broker's restart", func() bool { return sub.count("ninedge/front/result") > n+3 }, stderr.String)

	// SIGHUP reloads the model, and so does POST /api/reload, with the token only.
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "the reload", func() bool { return strings.Contains(stderr.String(), "model reloaded") }, stderr.String)
	if code, _ := call("POST", "/api/reload", false); code != http.StatusUnauthorized {
		t.Errorf("POST /api/reload without the token: %d, want 401", code)
	}
	if code, body := call("POST", "/api/reload", true); code != 200 || !strings.Contains(body, `"sha256":"`) {
		t.Errorf("POST /api/reload: %d %s", code, body)
	}
	if !strings.Contains(metrics(), `ninedge_model_reloads_total{result="ok"} 2`) {
		t.Error("/metrics does not count the reloads")
	}

	// SIGTERM: exit 0, no ffmpeg left behind, both cameras offline.
	children := ffmpegChildren(cmd.Process.Pid)
	if len(children) != 2 {
		t.Errorf("%d ffmpeg children, want 2", len(children))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after SIGTERM:\n%s", stderr.String())
	}
	for _, pid := range children {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("ffmpeg %d still there after ninedge ended", pid)
		}
	}
	for _, cam := range []string{"front", "back"} {
		eventually(t, cam+" offline", func() bool { return sub.last("ninedge/"+cam+"/status") == "offline" }, stderr.String)
	}
	if strings.Contains(stderr.String(), "p4ss") {
		t.Errorf("stderr shows the camera's password:\n%s", stderr.String())
	}
}

// ffmpegChildren lists the ffmpeg processes whose parent is pid.
func ffmpegChildren(pid int) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && bytes.Contains(stat[:i], []byte("(ffmpeg")) {
			out = append(out, child)
		}
	}
	return out
}

// TestStreamReloadOnSIGHUP: SIGHUP makes `ninedge stream` load its model again without
// stopping; a damaged file is refused and the old model goes on; SIGTERM still stops it.
func TestStreamReloadOnSIGHUP(t *testing.T) {
	_, m, g := model(t)
	cmd := exec.Command(os.Args[0], "stream", "--model", m, "--backend", "cpu", "--source", "-", "--json")
	cmd.Env = append(os.Environ(), "NINEDGE_RUN_MAIN=1")
	var stderr, stdout syncBuffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	defer stdin.Close()
	jpg := streamtest.JPEG(t, streamtest.Pictures(1, 64, 48)[0])
	frames := func(n int) {
		t.Helper()
		want := len(lines(stdout.String())) + n
		for range n {
			stdin.Write(jpg)
			time.Sleep(20 * time.Millisecond)
		}
		eventually(t, fmt.Sprintf("%d lines", want), func() bool { return len(lines(stdout.String())) >= want }, stderr.String)
	}
	frames(2)
	good, _ := os.ReadFile(m)
	if err := os.WriteFile(m, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "the refused reload", func() bool {
		return strings.Contains(stderr.String(), "reloading the model failed, the old one keeps serving")
	}, stderr.String)
	frames(2)
	if err := g.Save(m); err != nil || !bytes.Equal(mustRead(t, m), good) {
		t.Fatalf("saving the model again: %v", err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "the reload", func() bool { return strings.Contains(stderr.String(), "ninedge stream: model reloaded") }, stderr.String)
	frames(2)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil || !strings.Contains(stderr.String(), "interrupted: 6 frames") {
		t.Errorf("exit %v:\n%s", err, stderr.String())
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
