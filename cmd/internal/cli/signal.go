package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Signalled is the cause (context.Cause) of a SignalContext's cancellation.
type Signalled struct{ Signal os.Signal }

func (s *Signalled) Error() string { return s.Signal.String() }

// Status is the exit status of a command the signal stopped: 128 + the signal's number.
func (s *Signalled) Status() int { return 128 + int(s.Signal.(syscall.Signal)) }

// SignalContext returns a context that SIGINT, SIGTERM or SIGHUP (unless ignored, as under
// nohup) cancels with a *Signalled cause, so that a command can stop cleanly, and the
// function that stops listening. With hupReloads, SIGHUP stops nothing: it is sent on the
// returned channel instead (a daemon's "load your files again"). A command blocked where no
// context reaches (opening a named pipe that nobody writes) must still stop: a second signal,
// or grace after the first (never, when grace ≤ 0), ends the process at once with the
// signal's status.
func SignalContext(prog string, grace time.Duration, hupReloads bool) (context.Context, <-chan struct{}, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs, done := make(chan os.Signal, 2), make(chan struct{})
	watch := []os.Signal{os.Interrupt, syscall.SIGTERM}
	var reload chan struct{}
	hups := make(chan os.Signal, 1)
	switch {
	case hupReloads:
		reload = make(chan struct{}, 1)
		signal.Notify(hups, syscall.SIGHUP)
		go func() {
			for {
				select {
				case <-hups:
					select {
					case reload <- struct{}{}: // one pending reload is enough
					default:
					}
				case <-done:
					return
				}
			}
		}()
	case !signal.Ignored(syscall.SIGHUP): // Notify would undo nohup's ignoring it
		watch = append(watch, syscall.SIGHUP)
	}
	signal.Notify(sigs, watch...)
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		cancel(&Signalled{sig})
		var timeout <-chan time.Time
		if grace > 0 {
			timeout = time.After(grace)
		}
		select {
		case sig = <-sigs:
			fmt.Fprintf(os.Stderr, "%s: %v again: stopping now\n", prog, sig)
		case <-timeout:
			fmt.Fprintf(os.Stderr, "%s: %v: still running %v later (blocked on a pipe nobody writes?): stopping now\n", prog, sig, grace)
		case <-done:
			return
		}
		os.Exit((&Signalled{sig}).Status())
	}()
	return ctx, reload, func() { signal.Stop(sigs); signal.Stop(hups); close(done); cancel(nil) }
}
