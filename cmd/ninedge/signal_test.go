package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ninedge/ninedge/stream/streamtest"
)

// TestMain lets tests run the command as a process: the test binary runs main when
// NINEDGE_RUN_MAIN is set, so that real signals can be sent to it.
func TestMain(m *testing.M) {
	if os.Getenv("NINEDGE_RUN_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestSignals stops a stream and a server with SIGINT and SIGTERM: both end cleanly, with
// exit status 0, and the stream prints its summary.
func TestSignals(t *testing.T) {
	_, m, _ := model(t)
	jpg := streamtest.JPEG(t, streamtest.Pictures(1, 64, 48)[0])
	tests := []struct {
		name  string
		sig   syscall.Signal
		args  []string
		ready string // on stderr once it runs
		final string // on stderr after the signal
		// stall sends a POST /predict whose body never completes before the signal: the
		// server must still stop, within its grace, and with status 0.
		stall bool
	}{
		{"stream SIGINT", syscall.SIGINT, []string{"stream", "--source", "-"}, "end of stream", "interrupted: 1 frames", false},
		{"stream SIGTERM", syscall.SIGTERM, []string{"stream", "--source", "-"}, "end of stream", "interrupted: 1 frames", false},
		{"serve SIGTERM", syscall.SIGTERM, []string{"serve", "--source", "-", "--listen", "127.0.0.1:0"}, "listening on", "interrupted: 1 frames", false},
		// The stalled upload ends at the shutdown grace ("closing their connections") or, as
		// near that time, at the upload's minimum-rate deadline (408): either way the command
		// ends with status 0 within the grace.
		{"serve SIGTERM, upload stalled", syscall.SIGTERM, []string{"serve", "--source", "-", "--listen", "127.0.0.1:0"}, "listening on", "listening on", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append(tt.args, "--model", m, "--backend", "cpu")...)
			cmd.Env = append(os.Environ(), "NINEDGE_RUN_MAIN=1")
			var stderr syncBuffer
			cmd.Stderr, cmd.Stdout = &stderr, &bytes.Buffer{}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			stdin.Write(jpg) // one frame, and the camera stays open
			wait := func(s string) bool {
				for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if strings.Contains(stderr.String(), s) {
						return true
					}
				}
				return false
			}
			// "end of stream" is not printed before the signal: wait for the classified frame.
			ready := tt.ready
			if ready == "end of stream" {
				ready = "ninedge: cpu device 0"
			}
			if !wait(ready) {
				cmd.Process.Kill()
				t.Fatalf("did not start:\n%s", stderr.String())
			}
			time.Sleep(300 * time.Millisecond) // let it classify the frame
			if tt.stall {
				addr := regexp.MustCompile(`listening on http://(\S+)/`).FindStringSubmatch(stderr.String())
				if addr == nil {
					t.Fatalf("no address:\n%s", stderr.String())
				}
				conn, err := net.Dial("tcp", addr[1])
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n\x89PNG")
				time.Sleep(200 * time.Millisecond) // let the handler start reading
			}
			cmd.Process.Signal(tt.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil || !strings.Contains(stderr.String(), tt.final) {
					t.Errorf("exit %v; stderr:\n%s", err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 10 s after %v:\n%s", tt.sig, stderr.String())
			}
		})
	}
}

// TestSignalWhileBlocked opens a named pipe that nobody writes as a stream source (where a
// pipe is wanted: classify refuses one at once), blocked where no context reaches: a second
// signal ends the command at once, and a single one after stopGrace, each with status 128 +
// the signal.
func TestSignalWhileBlocked(t *testing.T) {
	_, m, _ := model(t)
	fifo := filepath.Join(t.TempDir(), "camera.jpg")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes here:", err)
	}
	for _, tt := range []struct {
		name    string
		args    []string
		signals []syscall.Signal
		within  time.Duration
	}{
		{"stream, SIGINT twice", []string{"stream", "--source", fifo}, []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, stopGrace / 2},
		{"stream, SIGTERM once", []string{"stream", "--source", fifo}, []syscall.Signal{syscall.SIGTERM}, stopGrace + 5*time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append(tt.args, "--model", m, "--backend", "cpu")...)
			cmd.Env = append(os.Environ(), "NINEDGE_RUN_MAIN=1")
			var stderr syncBuffer
			cmd.Stderr, cmd.Stdout = &stderr, &bytes.Buffer{}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			time.Sleep(time.Second) // into the blocking open
			start := time.Now()
			for _, sig := range tt.signals {
				cmd.Process.Signal(sig)
				time.Sleep(100 * time.Millisecond)
			}
			select {
			case err := <-done:
				var exit *exec.ExitError
				want := 128 + int(tt.signals[0])
				if !errors.As(err, &exit) || exit.ExitCode() != want || !strings.Contains(stderr.String(), "stopping now") {
					t.Errorf("after %v: %v, want exit status %d; stderr:\n%s", time.Since(start), err, want, stderr.String())
				}
			case <-time.After(tt.within):
				cmd.Process.Kill()
				t.Fatalf("still running %v after %v:\n%s", tt.within, tt.signals, stderr.String())
			}
		})
	}
}

// Commands that run in a loop stop at the next image or run once their context is done,
// rather than finishing the work and being killed by the grace timer.
func TestInterruptedLoops(t *testing.T) {
	dir, m, _ := model(t)
	img := filepath.Join(dir, "cat.jpg")
	if err := os.WriteFile(img, streamtest.JPEG(t, streamtest.Pictures(1, 64, 48)[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"classify", "--model", m, "--backend", "cpu", img, img},
		{"bench", "--model", m, "--backend", "cpu", "--runs", "1000000"},
	} {
		var errs syncBuffer
		code, out := ninedge(ctx, nil, &errs, args...)
		if code != 1 || out != "" || !strings.Contains(errs.String(), "interrupted") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", args[0], code, out, errs.String())
		}
	}
}
