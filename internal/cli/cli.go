// Package cli holds what the three commands share: error exits, progress bars, data set and
// model loading by flags.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/safetensors"
)

// ErrUsage marks errors in how a command was called (exit status 2).
var ErrUsage = errors.New("usage")

// Usagef returns a usage error.
func Usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}

// Exit prints err as one line prefixed by the program name and exits non-zero.
func Exit(prog string, err error) {
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", prog, strings.TrimPrefix(err.Error(), "usage: "))
	if errors.Is(err, ErrUsage) || errors.Is(err, pflag.ErrHelp) {
		os.Exit(2)
	}
	os.Exit(1)
}

// Signalled is the cause (context.Cause) of a SignalContext's cancellation.
type Signalled struct{ Signal os.Signal }

func (s *Signalled) Error() string { return s.Signal.String() }

// Status is the exit status of a command the signal stopped: 128 + the signal's number.
func (s *Signalled) Status() int { return 128 + int(s.Signal.(syscall.Signal)) }

// SignalContext returns a context that SIGINT, SIGTERM or SIGHUP (unless ignored, as under
// nohup) cancels with a *Signalled cause, so that a command can stop cleanly, and the
// function that stops listening. A command blocked where no context reaches (opening a
// named pipe that nobody writes) must still stop: a second signal, or grace after the first
// (never, when grace ≤ 0), ends the process at once with the signal's status.
func SignalContext(prog string, grace time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs, done := make(chan os.Signal, 2), make(chan struct{})
	watch := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) { // Notify would undo nohup's ignoring it
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
	return ctx, func() { signal.Stop(sigs); close(done); cancel(nil) }
}

// Progress returns a callback that draws a progress bar on stderr when it is a terminal, and
// does nothing otherwise (logs and pipes stay clean).
func Progress(total int, what string) (update func(done int), finish func()) {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return func(int) {}, func() {}
	}
	bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"),
		progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
	return func(done int) { _ = bar.Set(done) }, func() { _ = bar.Finish() }
}

// DataFlags are the flags that choose a data set.
type DataFlags struct {
	Name, Dir, Split string
	Limit            int
}

// Add registers --dataset, --data, --split and --limit.
func (d *DataFlags) Add(fs *pflag.FlagSet, split string) {
	fs.StringVar(&d.Name, "dataset", "", "data set: "+strings.Join(dataset.Names(), ", "))
	fs.StringVar(&d.Dir, "data", "", "folder holding the data set files")
	fs.StringVar(&d.Split, "split", split, "train or test")
	fs.IntVar(&d.Limit, "limit", 0, "use only the first N images (0: all)")
}

// Load reads the data set, fitted to the given input shape for image folders.
func (d *DataFlags) Load(in nin.Shape) (*dataset.Set, error) {
	if d.Name == "" || d.Dir == "" {
		return nil, Usagef("--dataset and --data are required")
	}
	if d.Limit < 0 {
		return nil, Usagef("--limit %d: want 0 (all) or more", d.Limit)
	}
	set, err := dataset.Load(d.Name, d.Dir, d.Split, dataset.Options{Size: [2]int{in.H, in.W}, Channels: in.C, Limit: d.Limit})
	if err != nil {
		return nil, err
	}
	if set.H != in.H || set.W != in.W || set.C != in.C {
		return nil, fmt.Errorf("data set %s has %dx%dx%d images, the model wants %v", d.Name, set.H, set.W, set.C, in)
	}
	return set, nil
}

// LoadModel reads a model file of either kind: exactly one of the results is non-nil.
func LoadModel(path string) (*nin.Model, *quant.Graph, error) {
	if path == "" {
		return nil, nil, Usagef("--model is required")
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	switch f.Metadata["format"] {
	case quant.FormatInt8:
		g, err := quant.FromFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, g, nil
	default:
		m, err := nin.FromFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, nil, nil
	}
}

// RunFlags choose how a model runs: batch, threads and, for int8 models, the backend.
type RunFlags struct {
	Batch   int
	Threads int
	Backend string
	Device  int
}

// Add registers --batch, --threads, --backend and --device.
func (r *RunFlags) Add(fs *pflag.FlagSet) {
	fs.IntVar(&r.Batch, "batch", 32, "images per batch")
	fs.IntVar(&r.Threads, "threads", 0, "threads (0: all cores)")
	fs.StringVar(&r.Backend, "backend", "cpu", "int8 backend: "+strings.Join(backends.Names(), ", "))
	fs.IntVar(&r.Device, "device", 0, "device index within the backend (see ninedge devices)")
}

// Check refuses a batch outside 1..4096 and a negative thread count.
func (r *RunFlags) Check() error {
	if r.Batch <= 0 || r.Batch > 4096 {
		return Usagef("--batch %d not in 1..4096", r.Batch)
	}
	return CheckThreads(r.Threads)
}

// MaxThreads bounds --threads: each thread has its own buffers, and a typo of a billion
// would otherwise end in an out-of-memory crash rather than a message.
const MaxThreads = 1024

// CheckThreads refuses a --threads value outside 0 (all cores) to MaxThreads.
func CheckThreads(n int) error {
	if n < 0 || n > MaxThreads {
		return Usagef("--threads %d: want 0 (all cores) to %d", n, MaxThreads)
	}
	return nil
}

// CheckOutputs makes sure, before a command starts work that may take hours, that it can
// write each named output (empty names are skipped): the folder exists and takes a new
// file, the name is not a folder, no two outputs are the same file, and no output is one
// of the inputs, which it would replace.
func CheckOutputs(inputs []string, outputs ...string) error {
	var seen []string
	for _, out := range outputs {
		if out == "" {
			continue
		}
		if st, err := os.Stat(out); err == nil {
			if st.IsDir() {
				return Usagef("output %s is a folder", out)
			}
			for _, in := range slices.Concat(inputs, seen) {
				if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
					return Usagef("output %s is the same file as %s", out, in)
				}
			}
		}
		for _, prev := range seen {
			if absPath(prev) == absPath(out) {
				return Usagef("two outputs are %s", out)
			}
		}
		probe, err := os.CreateTemp(filepath.Dir(out), ".ninedge-probe-*")
		if err != nil {
			return fmt.Errorf("cannot write %s: %w", out, err)
		}
		probe.Close()
		os.Remove(probe.Name())
		seen = append(seen, out)
	}
	return nil
}

// absPath is path made absolute, or path itself where the working folder is unknown.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// Scorer loads a model file of either kind and prepares it to run. The returned function
// frees the device's resources.
func (r *RunFlags) Scorer(path string) (infer.Scorer, func(), error) {
	if err := r.Check(); err != nil {
		return nil, nil, err
	}
	m, g, err := LoadModel(path)
	if err != nil {
		return nil, nil, err
	}
	if m != nil {
		return infer.NewFloat(m, r.Batch, r.Threads), func() {}, nil
	}
	dev, err := r.OpenDevice()
	if err != nil {
		return nil, nil, err
	}
	s, err := infer.NewInt8(g, dev, r.Batch, r.Threads)
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = s.Close() }, nil
}

// OpenDevice opens the chosen backend's device.
func (r *RunFlags) OpenDevice() (backends.Device, error) {
	b, err := backends.Get(r.Backend)
	if err != nil {
		return nil, Usagef("%v", err)
	}
	devs, err := b.Devices(backends.Options{Threads: r.Threads})
	if err != nil {
		return nil, err
	}
	if r.Device < 0 || r.Device >= len(devs) {
		return nil, Usagef("--device %d: backend %s has %d device(s)", r.Device, r.Backend, len(devs))
	}
	return devs[r.Device], nil
}
