package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/internal/atomicfile"
	"github.com/ninedge/ninedge/nin"
)

// RunFlags choose a model and how it runs: the one flag group of every command that runs a
// model, with the same names, defaults and checks everywhere.
type RunFlags struct {
	Model   string
	Backend string
	Device  int
	Threads int
	Batch   int
}

// Add registers --model (described by model; "" leaves it out, for commands that name their
// models otherwise), --backend, --device, --threads, and --batch with its default where batch
// is positive (commands that take one image at a time have none).
func (r *RunFlags) Add(fs *pflag.FlagSet, model string, batch int) {
	if model != "" {
		fs.StringVar(&r.Model, "model", "", model)
	}
	// auto by default: it measures instead of guessing (on a Raspberry Pi the GPU is often
	// slower than the CPU, on a Jetson much faster), costs a few runs at start, and any
	// device that fails is skipped. A named backend that cannot run is an error, so that a
	// user who asked for the GPU hears that it did not happen; a list says what may replace it.
	fs.StringVar(&r.Backend, "backend", "auto", "cpu, opencl, vulkan (an error if it cannot run), a list tried in order (opencl,cpu), or auto: the fastest device in a short timed trial (built in: "+strings.Join(backends.Names(), ", ")+")")
	fs.IntVar(&r.Device, "device", 0, "device index within a named --backend, the first of a list (see ninedge devices)")
	ThreadsFlag(fs, &r.Threads)
	r.Batch = 1
	if batch > 0 {
		fs.IntVar(&r.Batch, "batch", batch, "images per batch")
	}
}

// ThreadsFlag registers --threads.
func ThreadsFlag(fs *pflag.FlagSet, p *int) {
	fs.IntVar(p, "threads", 0, "CPU threads (0: all cores)")
}

// MaxBatch bounds --batch: every buffer of a plan grows with it.
const MaxBatch = 4096

// Check refuses values no backend could use, before anything is loaded.
func (r *RunFlags) Check() error {
	if err := CheckThreads(r.Threads); err != nil {
		return err
	}
	if r.Batch < 1 || r.Batch > MaxBatch {
		return Usagef("--batch %d not in 1..%d", r.Batch, MaxBatch)
	}
	if r.Device < 0 {
		return Usagef("--device cannot be negative")
	}
	// The trial of auto picks the device itself; a device index the run then ignored would
	// leave the user believing they chose it.
	if r.Backend == "auto" && r.Device != 0 {
		return Usagef("--device %d needs a named --backend (auto times every device and keeps the fastest)", r.Device)
	}
	if _, err := backends.ParseChoice(r.Backend); err != nil {
		return Usagef("--backend: %v", err)
	}
	return nil
}

// Options are the flags as infer takes them.
func (r *RunFlags) Options(e *Env) infer.Options {
	return infer.Options{Backend: r.Backend, Device: r.Device, Threads: r.Threads, Batch: r.Batch, Log: e.Stderr}
}

// OpenInt8 opens --model, which must be an int8 model, saying on stderr which device runs it
// and why. With pictures, a model whose input no picture fits is refused before a backend is
// opened and timed.
func (r *RunFlags) OpenInt8(e *Env, prog string, pictures bool) (*infer.Classifier, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	o := r.Options(e)
	o.Pictures = pictures
	c, err := infer.OpenInt8(r.Model, o)
	if err != nil {
		return nil, err
	}
	SayDevice(e, prog, c)
	return c, nil
}

// Open opens --model, float or int8, saying on stderr which device runs an int8 one.
func (r *RunFlags) Open(e *Env, prog string) (*infer.Classifier, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	c, err := infer.Open(r.Model, r.Options(e))
	if err != nil {
		return nil, err
	}
	SayDevice(e, prog, c)
	return c, nil
}

func (r *RunFlags) check() error {
	if r.Model == "" {
		return Usagef("--model is required")
	}
	return r.Check()
}

// SayDevice prints which device runs an int8 model and why it was chosen.
func SayDevice(e *Env, prog string, c *infer.Classifier) {
	if c.Choice == nil {
		return
	}
	d := c.Choice.Device
	threads := ""
	if d.Threads > 0 {
		threads = fmt.Sprintf(", %d threads", d.Threads)
	}
	fmt.Fprintf(e.Stderr, "%s: %s device %d, %s (%s%s): %s\n", prog, d.Backend, d.Index, d.Name, d.Driver, threads, c.Choice.Reason)
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

// DataFlags are the flags that choose a data set.
type DataFlags struct {
	Name, Dir, Split string
	Limit            int
	Holdout          float64
	Seed             uint64
}

// Add registers --dataset, --data, --split, --limit, and --holdout and --seed, which
// reproduce the split nintrain held out of a folder without train and test subfolders.
func (d *DataFlags) Add(fs *pflag.FlagSet, split string) {
	fs.StringVar(&d.Name, "dataset", "", "data set: "+strings.Join(dataset.Names(), ", "))
	fs.StringVar(&d.Dir, "data", "", "folder holding the data set files")
	fs.StringVar(&d.Split, "split", split, "train or test")
	fs.IntVar(&d.Limit, "limit", 0, "use only the first N images (0: all)")
	fs.Float64Var(&d.Holdout, "holdout", 0, "--dataset folder without train/test subfolders: the --holdout of the nintrain run, whose held-out images are then the test split and the rest the train split (0: both are the whole folder)")
	fs.Uint64Var(&d.Seed, "seed", 1, "with --holdout: the --seed of the nintrain run")
}

// Load reads the data set, fitted to the given input shape for image folders.
func (d *DataFlags) Load(in nin.Shape) (*dataset.Set, error) {
	if d.Name == "" || d.Dir == "" {
		return nil, Usagef("--dataset and --data are required")
	}
	if d.Limit < 0 {
		return nil, Usagef("--limit %d: want 0 (all) or more", d.Limit)
	}
	set, err := dataset.Load(d.Name, d.Dir, d.Split, dataset.Options{Size: [2]int{in.H, in.W}, Channels: in.C, Limit: d.Limit,
		Holdout: d.Holdout, Seed: d.Seed})
	var size *dataset.SizeError
	if errors.As(err, &size) {
		return nil, fmt.Errorf("the model's input is %d×%d×%d and data set %s has %d×%d×%d images, which it does not resize: evaluate the model on a data set of its own size, or use --dataset folder, which fits any pictures to the model",
			in.H, in.W, in.C, d.Name, size.H, size.W, size.C)
	}
	if err != nil {
		return nil, err
	}
	if set.H != in.H || set.W != in.W || set.C != in.C {
		return nil, fmt.Errorf("the model's input is %d×%d×%d and data set %s has %d×%d×%d images", in.H, in.W, in.C, d.Name, set.H, set.W, set.C)
	}
	return set, nil
}

// CheckOutputs makes sure, before a command starts work that may take hours, that it can
// write each named output (empty names are skipped), as atomicfile.Check says (a regular
// file or a new one in a folder that takes it, links followed; the standard output or error
// and /dev/null written in place; a folder, FIFO, device or read-only file refused), that no
// two outputs are the same file, and that no output is one of the inputs, which it would
// replace. A folder is a usage error; the other refusals are errors of their own.
func CheckOutputs(inputs []string, outputs ...string) error {
	var seen []string // the files outputs replace
	for _, out := range outputs {
		if out == "" {
			continue
		}
		if st, err := os.Stat(out); err == nil && st.IsDir() {
			return Usagef("output %s is a folder", out)
		}
		target, err := atomicfile.Check(out)
		if err != nil {
			return fmt.Errorf("cannot write %s: %w", out, err)
		}
		if target == "" {
			continue
		}
		if st, err := os.Stat(target); err == nil {
			for _, in := range inputs {
				if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
					return Usagef("output %s is the same file as %s", out, in)
				}
			}
		}
		if slices.Contains(seen, absPath(target)) {
			return Usagef("two outputs are %s", out)
		}
		seen = append(seen, absPath(target))
	}
	return nil
}

// absPath is path made absolute with its folder's links resolved, so that two names of one
// file that may not exist yet compare equal; path itself where that cannot be known.
func absPath(path string) string {
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		return path
	}
	return filepath.Join(dir, filepath.Base(path))
}
