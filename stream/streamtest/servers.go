package streamtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Root is the repository's root folder.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Clip encodes samples/digits.mjpeg (60 frames of 112×112 handwritten digits at 25 fps) five
// times over as a 12 s MP4 clip, codec "h264" or "h265", a keyframe every 10 frames as cameras
// send them. The RTSP server loops it, but its loop now and then ends the stream for its
// clients: a clip longer than a test keeps that from passing for a camera's restart. It skips
// the test without ffmpeg.
func Clip(t testing.TB, codec string) string {
	t.Helper()
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed (scripts/setup.sh installs it)")
	}
	enc := map[string][]string{
		"h264": {"-c:v", "libx264", "-g", "10"},
		"h265": {"-c:v", "libx265", "-x265-params", "log-level=error:keyint=10"},
	}[codec]
	if enc == nil {
		t.Fatalf("clip codec %q: want h264 or h265", codec)
	}
	out := filepath.Join(t.TempDir(), "digits-"+codec+".mp4")
	args := append([]string{"-hide_banner", "-loglevel", "error", "-stream_loop", "4", "-f", "mjpeg", "-i", filepath.Join(Root(), "samples", "digits.mjpeg"), "-pix_fmt", "yuv420p"}, enc...)
	if b, err := exec.Command(ff, append(args, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// Server is a server process the test started on a port of 127.0.0.1, which it can stop and
// start again on the same port, as a camera or a broker that restarts.
type Server struct {
	t    testing.TB
	Port int
	URL  string // rtsp://127.0.0.1:PORT/stream, or tcp://127.0.0.1:PORT
	argv []string
	cmd  *exec.Cmd
	out  *SyncBuffer
}

// SyncBuffer is a bytes.Buffer that goroutines (a command's, a server's) and the test may use
// at once: logs that tests read while they are written.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RTSPServer starts scripts/rtsp-server.py (gst-rtsp-server) playing clip in a loop; user and
// password, when set, are required of clients. It skips the test where the Debian packages it
// needs are missing.
func RTSPServer(t testing.TB, clip, codec, user, password string) *Server {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3: the RTSP server needs Debian's python3-gi")
	}
	argv := []string{"/usr/bin/python3", filepath.Join(Root(), "scripts", "rtsp-server.py"), "--clip", clip, "--codec", codec}
	if user != "" {
		argv = append(argv, "--user", user, "--password", password)
	}
	s := &Server{t: t, argv: argv}
	s.start(true)
	t.Cleanup(s.Stop)
	return s
}

// Mosquitto starts a Mosquitto broker that takes anonymous clients. It skips the test without
// the Debian package mosquitto.
func Mosquitto(t testing.TB) *Server {
	t.Helper()
	return MosquittoWith(t, "allow_anonymous true\n")
}

// MosquittoWith starts a Mosquitto broker whose listener on 127.0.0.1 has conf's settings
// (mosquitto.conf lines: allow_anonymous, password_file, certfile…). Its URL is tcp://; a
// TLS listener is reached as ssl:// on the same port.
func MosquittoWith(t testing.TB, conf string) *Server {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
			t.Skip("mosquitto not installed (scripts/setup.sh installs it)")
		}
		bin = "/usr/sbin/mosquitto"
	}
	port := freePort(t)
	file := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(file, fmt.Appendf(nil, "persistence false\nlistener %d 127.0.0.1\n%s", port, conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Port: port, URL: fmt.Sprintf("tcp://127.0.0.1:%d", port), argv: []string{bin, "-c", file}}
	s.start(false)
	t.Cleanup(s.Stop)
	return s
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs the server and waits until it takes connections. The RTSP script says its URL
// on stdout (its port is chosen on the first start, kept after).
func (s *Server) start(rtsp bool) {
	s.t.Helper()
	argv := s.argv
	if rtsp {
		argv = append(argv[:len(argv):len(argv)], "--port", strconv.Itoa(s.Port))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	s.out = &SyncBuffer{}
	cmd.Stderr = s.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	if rtsp {
		line := make(chan string, 1)
		go func() {
			l, _ := bufio.NewReader(stdout).ReadString('\n')
			line <- l
		}()
		select {
		case l := <-line:
			url, ok := strings.CutPrefix(strings.TrimSpace(l), "ready ")
			if !ok {
				_ = cmd.Wait()
				msg := s.out.String()
				if strings.Contains(msg, "No module named 'gi'") || strings.Contains(msg, "Namespace Gst") {
					s.t.Skipf("the RTSP server's GStreamer parts are missing (scripts/setup.sh installs them): %s", msg)
				}
				s.t.Fatalf("RTSP server did not start: %s", msg)
			}
			s.URL = url
			i := strings.LastIndexByte(url, ':')
			s.Port, _ = strconv.Atoi(strings.Split(url[i+1:], "/")[0])
		case <-time.After(20 * time.Second):
			s.Stop()
			s.t.Fatalf("RTSP server silent for 20 s: %s", s.out.String())
		}
		return
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("%s not listening after 10 s: %s", argv[0], s.out.String())
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Restart starts the stopped server again on its port.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start(strings.HasSuffix(s.argv[1], ".py"))
}
