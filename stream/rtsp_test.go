package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// decodedFrames decodes clip with ffmpeg's own command line, the same scaling included, into
// PPM files, and labels each as `ninedge classify` would: the reference for what a camera
// streaming the clip must give. It maps each frame's RGB pixels to its labels.
func decodedFrames(t *testing.T, clip string, lab *infer.Labeler, opt SourceOptions) map[string][]infer.Class {
	t.Helper()
	args, err := rtspArgs("rtsp://unused", opt)
	if err != nil {
		t.Fatal(err)
	}
	vf := args[slices.Index(args, "-vf")+1]
	dir := t.TempDir()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", clip, "-vf", vf, "-vsync", "0", "-pix_fmt", "rgb24",
		filepath.Join(dir, "f%03d.ppm")).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	files, _, err := imageio.ListImages(dir)
	if err != nil || len(files) == 0 {
		t.Fatalf("decoded frames: %v (%d)", err, len(files))
	}
	want := map[string][]infer.Class{}
	for _, f := range files {
		img, err := imageio.DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want[string(rgb(img))] = tops(t, lab, img)
	}
	return want
}

// rgb is a picture's pixels as packed RGB.
func rgb(img image.Image) []byte {
	m := image.NewRGBA(image.Rectangle{Max: img.Bounds().Size()})
	draw.Draw(m, m.Rect, img, img.Bounds().Min, draw.Src)
	return streamtest.RGB24(m)
}

// TestRTSPLabels reads a real RTSP server (gst-rtsp-server) streaming the digits clip in H.264
// and in H.265, over TCP and UDP, with and without a password: every frame read is one of
// the clip's frames as ffmpeg decodes it from the file, with that frame's labels.
func TestRTSPLabels(t *testing.T) {
	lab := streamtest.Labeler(t, streamtest.Graph(t), 3)
	tests := []struct {
		codec, transport, user, pass string
	}{
		{"h264", "tcp", "", ""},
		{"h264", "udp", "", ""},
		{"h265", "tcp", "viewer", "s3cr:et@x"},
	}
	for _, tt := range tests {
		t.Run(tt.codec+"-"+tt.transport, func(t *testing.T) {
			clip := streamtest.Clip(t, tt.codec)
			srv := streamtest.RTSPServer(t, clip, tt.codec, tt.user, tt.pass)
			url := srv.URL
			if tt.user != "" {
				url = strings.Replace(url, "rtsp://", "rtsp://"+tt.user+":"+urlEscape(tt.pass)+"@", 1)
			}
			opt := SourceOptions{RTSPTransport: tt.transport, Timeout: 10 * time.Second}
			want := decodedFrames(t, clip, lab, opt)
			var log streamtest.SyncBuffer
			opt.Log = &log
			src, err := Open(url, opt)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n, matched := 0, 0
			err = Run(ctx, src, lab, RunOptions{EveryFrame: true, Log: &log}, func(f *Frame, r *Result) error {
				n++
				if w, ok := want[string(rgb(f.Image))]; ok {
					matched++
					if !slices.Equal(w, r.Top) {
						t.Errorf("frame %d: labels %v, the same frame from a file %v", r.Frame, r.Top, w)
					}
				}
				if n == 40 {
					cancel()
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// The client may join the looping stream between keyframes: ffmpeg conceals
			// what it cannot decode until the next one (at most 9 frames).
			t.Logf("%d of %d frames read equal a frame decoded from the file", matched, n)
			if matched < n-10 {
				t.Errorf("%d of %d frames read equal a frame of the clip decoded from the file\n%s", matched, n, log.String())
			}
			if tt.pass != "" && strings.Contains(log.String(), tt.pass) {
				t.Errorf("the log shows the password:\n%s", log.String())
			}
		})
	}
}

func urlEscape(s string) string {
	return strings.NewReplacer(":", "%3A", "@", "%40").Replace(s)
}

// TestRTSPReconnect restarts the camera mid-stream: the source counts and reports the drop
// (without the password), reconnects with backoff and delivers frames again.
func TestRTSPReconnect(t *testing.T) {
	clip := streamtest.Clip(t, "h264")
	srv := streamtest.RTSPServer(t, clip, "h264", "admin", "hunter2")
	url := strings.Replace(srv.URL, "rtsp://", "rtsp://admin:hunter2@", 1)
	var log streamtest.SyncBuffer
	var cnt Counters
	src, err := Open(url, SourceOptions{Timeout: 3 * time.Second, Log: &log, Counters: &cnt})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	next := func(what string, n int) {
		t.Helper()
		for range n {
			if _, err := src.Next(); err != nil {
				t.Fatalf("%s: %v\n%s", what, err, log.String())
			}
		}
	}
	next("before the restart", 5)
	srv.Stop()
	restarted := make(chan struct{})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		srv.Restart()
		close(restarted)
	}()
	// Frames already in the pipe come first; then the drop, the wait and new frames.
	for deadline := time.Now().Add(30 * time.Second); cnt.Reconnects.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnection seen in 30 s:\n%s", log.String())
		}
		next("while the camera is away", 1)
	}
	next("after the restart", 5)
	<-restarted
	msgs := log.String()
	if cnt.Reconnects.Load() < 1 || !strings.Contains(msgs, "reconnecting in") || !strings.Contains(msgs, "receiving again") {
		t.Errorf("%d reconnects; log:\n%s", cnt.Reconnects.Load(), msgs)
	}
	if strings.Contains(msgs, "hunter2") || !strings.Contains(msgs, "admin:xxxxx@") {
		t.Errorf("the log must name the camera without its password:\n%s", msgs)
	}
}

// ffmpegPID is the running ffmpeg child of an RTSP source.
func ffmpegPID(t *testing.T, src Source) int {
	t.Helper()
	s := src.(*rtspSource)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		t.Fatal("no ffmpeg running")
	}
	return s.cmd.Process.Pid
}

// gone waits until no process pid exists, zombies included.
func gone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still there after %v: %s", pid, within, st)
		}
	}
}

// TestRTSPCloseReapsFFmpeg: Close ends ffmpeg and reaps it (no zombie is left), also while a
// read is waiting for the camera.
func TestRTSPCloseReapsFFmpeg(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	srv := streamtest.RTSPServer(t, streamtest.Clip(t, "h264"), "h264", "", "")
	src, err := Open(srv.URL, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(); err != nil {
		t.Fatal(err)
	}
	pid := ffmpegPID(t, src)
	read := make(chan error, 1)
	go func() {
		for {
			if _, err := src.Next(); err != nil {
				read <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	gone(t, pid, 0) // Close returns once ffmpeg is reaped
	if err := <-read; !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
}

// TestRTSPNoOrphan kills the process that started ffmpeg with SIGKILL, which it cannot catch:
// ffmpeg must still end (the kernel's parent-death signal).
func TestRTSPNoOrphan(t *testing.T) {
	if os.Getenv("NINEDGE_RTSP_CHILD") != "" {
		src, err := Open(os.Getenv("NINEDGE_RTSP_CHILD"), SourceOptions{})
		if err == nil {
			_, err = src.Next()
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("ffmpeg", ffmpegPID(t, src))
		select {}
	}
	srv := streamtest.RTSPServer(t, streamtest.Clip(t, "h264"), "h264", "", "")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRTSPNoOrphan$")
	cmd.Env = append(os.Environ(), "NINEDGE_RTSP_CHILD="+srv.URL)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var word string
	var pid int
	if _, err := fmt.Fscan(out, &word, &pid); err != nil || word != "ffmpeg" {
		cmd.Process.Kill()
		t.Fatalf("child said %q %d: %v", word, pid, err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	gone(t, pid, 5*time.Second)
}

// TestRTSPErrors: what is wrong with a command line is said before anything runs.
func TestRTSPErrors(t *testing.T) {
	tests := []struct {
		spec string
		opt  SourceOptions
		want string
	}{
		{"rtsp:///path", SourceOptions{}, "no host"},
		{"rtsp://cam/x", SourceOptions{RTSPTransport: "http"}, `transport "http"`},
		{"rtsp://u:pw@cam/x", SourceOptions{HWAccel: "-vf evil"}, `--hwaccel "-vf evil"`},
		{"rtsp://cam/x", SourceOptions{W: 20000, H: 20000}, "more than"},
	}
	for _, tt := range tests {
		_, err := Open(tt.spec, tt.opt)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "pw") {
			t.Errorf("Open(%q, %+v): %v, want %q without the password", tt.spec, tt.opt, err, tt.want)
		}
	}
	t.Setenv("PATH", t.TempDir())
	_, err := Open("rtsp://user:pw@cam/x", SourceOptions{})
	if err == nil || !strings.Contains(err.Error(), "apt install ffmpeg") || strings.Contains(err.Error(), "pw") {
		t.Errorf("without ffmpeg: %v, want the package to install", err)
	}
}

// TestRTSPArgs: transport, hardware decoding and scaling as ffmpeg is asked for them.
func TestRTSPArgs(t *testing.T) {
	tests := []struct {
		opt  SourceOptions
		want []string
		not  []string
	}{
		{SourceOptions{}, []string{"-rtsp_transport tcp", "min(iw,320)", "min(ih,240)", "-vsync 0 -pix_fmt rgb24 -f image2pipe -c:v ppm pipe:1"}, []string{"-hwaccel", "-timeout"}},
		{SourceOptions{RTSPTransport: "udp", HWAccel: "none"}, []string{"-rtsp_transport udp"}, []string{"-hwaccel", "-c:v h"}},
		{SourceOptions{HWAccel: "auto", W: 640, H: 360}, []string{"-hwaccel auto -rtsp_transport", "min(iw,640)", "min(ih,360)"}, nil},
		{SourceOptions{HWAccel: "drm"}, []string{"-hwaccel drm"}, nil},
		{SourceOptions{HWAccel: "h264_v4l2m2m"}, []string{"-c:v h264_v4l2m2m -rtsp_transport"}, []string{"-hwaccel"}},
	}
	for _, tt := range tests {
		args, err := rtspArgs("rtsp://cam/x", tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		line := strings.Join(args, " ")
		for _, w := range tt.want {
			if !strings.Contains(line, w) {
				t.Errorf("%+v: %q lacks %q", tt.opt, line, w)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(line, w) {
				t.Errorf("%+v: %q has %q", tt.opt, line, w)
			}
		}
	}
}

// TestRTSPSilentCamera: a camera that takes the connection and then says nothing is dropped
// after the timeout and tried again, with backoff, until Close, which returns at once.
func TestRTSPSilentCamera(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (scripts/setup.sh installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent
		}
	}()
	var log streamtest.SyncBuffer
	var cnt Counters
	src, err := Open("rtsp://"+ln.Addr().String()+"/silent", SourceOptions{Timeout: 500 * time.Millisecond, Log: &log, Counters: &cnt})
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := src.Next()
		read <- err
	}()
	for deadline := time.Now().Add(20 * time.Second); cnt.Reconnects.Load() < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d reconnections in 20 s:\n%s", cnt.Reconnects.Load(), log.String())
		}
	}
	if !strings.Contains(log.String(), "reconnecting in 1s") || !strings.Contains(log.String(), "reconnecting in 2s") {
		t.Errorf("no backoff in the log:\n%s", log.String())
	}
	start := time.Now()
	src.Close()
	if err := <-read; !errors.Is(err, ErrClosed) || time.Since(start) > 3*time.Second {
		t.Errorf("Next after Close: %v after %v", err, time.Since(start))
	}
}

// TestRTSPFrameAllocations: reading a frame from ffmpeg's pipe allocates nothing.
func TestRTSPFrameAllocations(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	frame := ppm(streamtest.Pictures(1, 64, 48)[0])
	go func() {
		defer w.Close()
		for range 200 {
			if _, err := w.Write(frame); err != nil {
				return
			}
		}
	}()
	s := &rtspSource{timeout: 5 * time.Second, br: bufio.NewReaderSize(r, 64<<10)}
	if _, err := s.frame(r); err != nil { // sizes the buffer
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		p, err := s.frame(r)
		if err != nil || p.W != 64 || p.H != 48 {
			t.Fatalf("%v %dx%d", err, p.W, p.H)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}

// TestRTSPDamagedFrames: what ffmpeg could write that is not a frame ends the connection with
// a message, rather than a misread picture.
func TestRTSPDamagedFrames(t *testing.T) {
	tests := []struct{ data, want string }{
		{"P5\n2 2\n255\n....", `"P5" where a PPM frame should start`},
		{"P6\n0 2\n255\n", "PPM frame of 0x2"},
		{"P6\n2 2\n65535\n", "maximum 65535"},
		{"P6\n2 x", "damaged PPM header"},
		{"P6\n99999 99999\n255\n", "PPM frame of 99999x99999"},
		{"P6\n2 2\n255\n12345", "unexpected EOF"},
	}
	for _, tt := range tests {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { w.Write([]byte(tt.data)); w.Close() }()
		s := &rtspSource{timeout: 5 * time.Second, br: bufio.NewReaderSize(r, 64<<10)}
		if _, err := s.frame(r); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.data, err, tt.want)
		}
		r.Close()
	}
}
