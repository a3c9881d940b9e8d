package main

import (
	"bufio"
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
)

// The tests of what a deployed server does with its memory run the real binary, so that
// what they measure (its peak resident memory) is that of `ninedge serve` alone.
var binary struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// ninedgeBinary builds ./cmd/ninedge once per test run.
func ninedgeBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "ninedge-bin")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "ninedge")
		binary.out, binary.err = exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
	})
	if binary.err != nil {
		t.Fatalf("go build: %v\n%s", binary.err, binary.out)
	}
	return binary.path
}

// serveProc is a running `ninedge serve` process.
type serveProc struct {
	cmd    *exec.Cmd
	url    string // http(s)://127.0.0.1:PORT/
	stderr *syncBuffer
}

// startServe runs `ninedge serve ARGS` and waits for its address; it is stopped (SIGTERM)
// at the end of the test, which fails if it did not exit 0.
func startServe(t *testing.T, env []string, args ...string) *serveProc {
	t.Helper()
	s := &serveProc{stderr: new(syncBuffer)}
	s.cmd = exec.Command(ninedgeBinary(t), append([]string{"serve"}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, s.stderr.String())
			}
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
			t.Errorf("serve did not stop on SIGTERM:\n%s", s.stderr.String())
		}
	})
	listening := regexp.MustCompile(`listening on (https?)://\S*?:(\d+)/`)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := listening.FindStringSubmatch(s.stderr.String()); m != nil {
			s.url = m[1] + "://127.0.0.1:" + m[2] + "/"
			return s
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, s.stderr.String())
		default:
		}
	}
	t.Fatalf("serve did not start:\n%s", s.stderr.String())
	return nil
}

// memory reads a field of the process's /proc status in bytes: VmHWM (peak resident
// memory), VmRSS.
func (s *serveProc) memory(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc status", field)
	return 0
}
