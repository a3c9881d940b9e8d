package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestSignalContextHangup: SIGHUP stops a command, unless it reloads, where it arrives on the
// reload channel and stops nothing.
func TestSignalContextHangup(t *testing.T) {
	if signal.Ignored(syscall.SIGHUP) {
		t.Skip("SIGHUP is ignored (nohup): SignalContext leaves it so")
	}
	for _, reloads := range []bool{false, true} {
		ctx, reload, stop := SignalContext("test", 0, reloads)
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if reloads {
			select {
			case <-reload:
			case <-time.After(5 * time.Second):
				t.Fatal("SIGHUP did not ask for a reload")
			}
			if ctx.Err() != nil {
				t.Error("SIGHUP stopped a command that reloads")
			}
		} else {
			select {
			case <-ctx.Done():
				var s *Signalled
				if !errors.As(context.Cause(ctx), &s) || s.Signal != syscall.SIGHUP || s.Status() != 129 {
					t.Errorf("cause %v", context.Cause(ctx))
				}
			case <-time.After(5 * time.Second):
				t.Fatal("SIGHUP did not stop the command")
			}
			if reload != nil {
				t.Error("a reload channel for a command that does not reload")
			}
		}
		stop()
	}
}
