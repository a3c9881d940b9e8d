// Command nintrain trains a NIN in float32 and writes a model file that ninquant and the edge
// runtime read.
//
//	nintrain --arch SPEC --dataset D --data DIR [--epochs N] [recipe flags] -o OUT
//	nintrain --init MODEL --dataset folder --data DIR [--freeze N] [recipe flags] -o OUT
//	nintrain --resume CKPT [--epochs N] [--threads T] [--data DIR]
//
// The defaults are the "fast" recipe (nin/train.DefaultTrainOptions); --init fine-tunes a
// trained model on a folder of one's own classes. It checkpoints after every epoch and on
// SIGINT/SIGTERM/SIGHUP with every setting of the run, writes a metrics log (JSON lines) and
// a PNG of the curves, and is deterministic for a seed: see docs/training.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/internal/infile"
	"github.com/ninedge/ninedge/nin"
	nintrain "github.com/ninedge/ninedge/nin/train"
)

const prog = "nintrain"

// program has no grace timer: a step on a small board may take long, and the checkpoint is
// written after it; a second signal still ends the run at once.
var program = &cli.Program{Name: prog, Run: run}

func main() { program.Main() }

// config is everything the flags say.
type config struct {
	arch, resume, init               string
	augment, preprocess, head, steps string
	headDropout                      float64
	opt                              nintrain.TrainOptions
	run                              runInfo
}

// runInfo is what nintrain keeps in a checkpoint beside the trainer's options: everything
// else a run needs, so that --resume CKPT alone continues it. Paths are as given, relative
// to the folder the run was started in.
type runInfo struct {
	Dataset    string  `json:"dataset"`
	Data       string  `json:"data"`
	Limit      int     `json:"limit,omitempty"`
	TestLimit  int     `json:"test_limit,omitempty"`
	Holdout    float64 `json:"holdout,omitempty"`
	Out        string  `json:"out"`
	Checkpoint string  `json:"checkpoint"`
	Metrics    string  `json:"metrics"`
	Plot       string  `json:"plot"`
	Threads    int     `json:"threads,omitempty"`
}

// runFlags are the flags that a resumed run takes from its checkpoint's options instead.
var runFlags = []string{"arch", "init", "batch", "lr", "momentum", "nesterov", "wd", "schedule", "steps", "gamma",
	"warmup", "end-lr", "label-smoothing", "ema", "freeze", "bias-lr-mult", "last-lr-mult", "bn", "augment",
	"preprocess", "head", "head-dropout", "seed"}

func flags(e *cli.Env, c *config) *cli.FlagSet {
	d := nintrain.DefaultTrainOptions()
	fs := cli.NewFlags(e, prog, prog+" --arch SPEC --dataset D --data DIR [flags] -o OUT\n"+
		"       "+prog+" --init MODEL --dataset folder --data DIR [flags] -o OUT\n"+
		"       "+prog+" --resume CKPT")
	fs.StringVar(&c.arch, "arch", "", "architecture: "+strings.Join(nin.Builtins(), ", ")+", or a .json spec")
	fs.StringVar(&c.init, "init", "", "fine-tune this float model: its layers and preprocessing, a new classifier layer for the data set's classes (defaults then: no --bn, --lr 0.01, --batch 32)")
	fs.StringVar(&c.run.Dataset, "dataset", "", "data set: "+strings.Join(dataset.Names(), ", "))
	fs.StringVar(&c.run.Data, "data", "", "folder holding the data set files")
	fs.IntVar(&c.run.Limit, "limit", 0, "train on the first N training images only (0: all)")
	fs.IntVar(&c.run.TestLimit, "test-limit", 0, "test on the first N test images only (0: all)")
	fs.Float64Var(&c.run.Holdout, "holdout", 0.2, "--dataset folder without train/test subfolders: the fraction of each class held out for testing, chosen by --seed")
	fs.IntVar(&c.opt.Epochs, "epochs", d.Epochs, "epochs to train in all (a resumed run may raise it)")
	fs.IntVar(&c.opt.Batch, "batch", d.Batch, "images per step")
	fs.Float64Var(&c.opt.LR, "lr", d.LR, "peak learning rate")
	fs.Float64Var(&c.opt.Momentum, "momentum", d.Momentum, "SGD momentum")
	fs.BoolVar(&c.opt.Nesterov, "nesterov", d.Nesterov, "Nesterov momentum")
	fs.Float64Var(&c.opt.WeightDecay, "wd", d.WeightDecay, "weight decay (L2) on conv and fc weights")
	fs.StringVar(&c.opt.Schedule, "schedule", d.Schedule, "learning-rate schedule after the warm-up: linear, cosine or step")
	fs.StringVar(&c.steps, "steps", "", "step schedule: epochs at which the rate is multiplied by --gamma (default: half and three quarters of --epochs)")
	fs.Float64Var(&c.opt.Gamma, "gamma", d.Gamma, "step schedule: factor at each step")
	fs.Float64Var(&c.opt.Warmup, "warmup", d.Warmup, "epochs of linear warm-up from 0 (default: a fifth of --epochs)")
	fs.Float64Var(&c.opt.EndLR, "end-lr", d.EndLR, "linear and cosine: the last step's rate, as a fraction of --lr (> 0)")
	fs.Float64Var(&c.opt.LabelSmoothing, "label-smoothing", d.LabelSmoothing, "share of each target spread over all classes")
	fs.Float64Var(&c.opt.EMA, "ema", d.EMA, "per-step decay of the average of the weights that is tested and saved (0: the weights themselves)")
	fs.IntVar(&c.opt.Freeze, "freeze", 0, "keep the first N layers with weights as they are (with --init)")
	fs.Float64Var(&c.opt.BiasLRMult, "bias-lr-mult", d.BiasLRMult, "learning-rate multiplier of biases (the authors' Caffe files: 2)")
	fs.Float64Var(&c.opt.LastLRMult, "last-lr-mult", d.LastLRMult, "learning-rate multiplier of the last layer (the authors' Caffe files: 0.1)")
	fs.BoolVar(&c.opt.BN, "bn", d.BN, "batch normalisation after each conv, folded into it when saved (--bn=false: none)")
	fs.StringVar(&c.augment, "augment", "auto", "auto (crop-flip for cifar10, cifar100 and folder; none for digits), none or crop-flip")
	fs.StringVar(&c.preprocess, "preprocess", nin.PreMeanStd, "input preprocessing fitted on the training split: meanstd, gcn-zca or scale")
	fs.StringVar(&c.head, "head", "gap", "classifier: gap (global average pooling) or fc (the paper's Table 5 comparison)")
	fs.Float64Var(&c.headDropout, "head-dropout", 0.5, "--head fc: dropout before the fc layer")
	fs.Uint64Var(&c.opt.Seed, "seed", d.Seed, "random seed: initialisation, order, augmentation, dropout, --holdout")
	cli.ThreadsFlag(fs.FlagSet, &c.run.Threads)
	fs.StringVar(&c.resume, "resume", "", "continue the run saved in this checkpoint, with its settings")
	fs.StringVar(&c.run.Checkpoint, "checkpoint", "", "checkpoint written every epoch and on SIGINT/SIGTERM/SIGHUP (default: OUT with .ckpt.safetensors; with --resume, CKPT)")
	fs.StringVar(&c.run.Metrics, "metrics", "", "metrics log, JSON lines (default: OUT with .metrics.jsonl)")
	fs.StringVar(&c.run.Plot, "plot", "", "training curves, PNG (default: OUT with .png)")
	fs.StringVarP(&c.run.Out, "output", "o", "", "model file to write (safetensors)")
	return fs
}

// fineTune is what --init changes in the defaults: the model's BN is folded into its convs,
// so it trains without, at a tenth of the rate, on the small batches a few hundred photos
// make.
func fineTune(fs *pflag.FlagSet, o *nintrain.TrainOptions) {
	for name, set := range map[string]func(){
		"bn":    func() { o.BN = false },
		"lr":    func() { o.LR = 0.01 },
		"batch": func() { o.Batch = 32 },
	} {
		if !fs.Changed(name) {
			set()
		}
	}
}

func run(e *cli.Env, args []string) error {
	var c config
	fs := flags(e, &c)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := fs.NoArgs(); err != nil {
		return err
	}
	if err := cli.CheckThreads(c.run.Threads); err != nil {
		return err
	}
	var t *nintrain.Trainer
	var train, test nintrain.Data
	var err error
	if c.resume != "" {
		t, err = resume(&c, fs.FlagSet)
	} else {
		err = checkNew(&c, fs.FlagSet)
	}
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(c.run.Out, filepath.Ext(c.run.Out))
	c.run.Checkpoint = or(c.run.Checkpoint, base+".ckpt.safetensors")
	c.run.Metrics = or(c.run.Metrics, base+".metrics.jsonl")
	c.run.Plot = or(c.run.Plot, base+".png")
	// Found now, not after hours of training.
	if err := cli.CheckOutputs(nil, c.run.Out, c.run.Checkpoint, c.run.Metrics, c.run.Plot); err != nil {
		return err
	}
	if t != nil {
		train, test, err = reload(&c, t)
	} else {
		t, train, test, err = start(&c)
	}
	if err != nil {
		return err
	}
	if t.Run, err = json.Marshal(c.run); err != nil {
		return err
	}
	return loop(e, &c, t, train, test)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkNew checks the flags of a new run and applies --init's defaults.
func checkNew(c *config, fs *pflag.FlagSet) error {
	switch {
	case c.run.Out == "":
		return cli.Usagef("-o OUT is required")
	case c.run.Dataset == "" || c.run.Data == "":
		return cli.Usagef("--dataset and --data are required")
	case c.run.Limit < 0 || c.run.TestLimit < 0:
		return cli.Usagef("--limit and --test-limit must be ≥ 0")
	case !(c.run.Holdout >= 0 && c.run.Holdout < 1):
		return cli.Usagef("--holdout %v not in [0, 1)", c.run.Holdout)
	case c.init == "" && c.arch == "":
		return cli.Usagef("--arch (a new network) or --init (a trained one to fine-tune) is required")
	case c.init != "" && (fs.Changed("arch") || fs.Changed("head") || fs.Changed("preprocess")):
		return cli.Usagef("--init takes the architecture and preprocessing of its model: no --arch, --head or --preprocess")
	case c.init != "" && fs.Changed("bn") && c.opt.BN:
		// BN would replace the conv biases, into which the model's own BN is folded.
		return cli.Usagef("--init fine-tunes without batch norm: the model's is folded into its convs (no --bn)")
	case c.init == "" && c.opt.Freeze > 0:
		return cli.Usagef("--freeze is for fine-tuning (--init)")
	case c.opt.Schedule != nintrain.ScheduleStep && !(c.opt.EndLR > 0):
		return cli.Usagef("--end-lr %v: the last step would not train (want > 0)", c.opt.EndLR)
	}
	if c.init != "" {
		fineTune(fs, &c.opt)
	}
	if !fs.Changed("warmup") {
		c.opt.Warmup = float64(c.opt.Epochs) / 5
	}
	if c.run.Dataset != "folder" {
		c.run.Holdout = 0
	}
	return nil
}

// start sets up a new run: spec, data, preprocessing fitted on the training split, He
// initialisation from the seed; or, with --init, the model to fine-tune with a new
// classifier.
func start(c *config) (*nintrain.Trainer, nintrain.Data, nintrain.Data, error) {
	t, train, test, err := newTrainer(c)
	if err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	if err := check(c, t, train); err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	return t, data(train), data(test), nil
}

func newTrainer(c *config) (*nintrain.Trainer, *dataset.Set, *dataset.Set, error) {
	var err error
	if c.opt.Steps, err = parseSteps(c.steps); err != nil {
		return nil, nil, nil, err
	}
	if len(c.opt.Steps) > 0 && c.opt.Schedule != nintrain.ScheduleStep {
		return nil, nil, nil, cli.Usagef("--steps is for --schedule step")
	}
	if c.opt.Augment, err = resolveAugment(c.augment, c.run.Dataset); err != nil {
		return nil, nil, nil, err
	}
	if err := c.opt.Validate(); err != nil {
		return nil, nil, nil, cli.Usagef("%v", err)
	}
	var m *nin.Model
	var spec nin.Spec
	if c.init != "" {
		if m, err = nin.Load(c.init); err != nil {
			return nil, nil, nil, err
		}
		spec = m.Spec
	} else if spec, err = newSpec(c); err != nil {
		return nil, nil, nil, err
	}
	train, test, err := loadSplits(c, spec.Input)
	if err != nil {
		return nil, nil, nil, err
	}
	if m != nil {
		m, err = nintrain.Retarget(m, train.Classes, c.opt.Seed)
	} else {
		m, err = newModel(c, spec, train)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	t, err := nintrain.NewTrainer(m, c.opt, c.run.Threads)
	if err != nil {
		return nil, nil, nil, cli.Usagef("%v", err)
	}
	return t, train, test, nil
}

// newSpec is --arch with --head.
func newSpec(c *config) (nin.Spec, error) {
	spec, err := nin.LoadSpec(c.arch, infile.ReadFile)
	if err != nil {
		return nin.Spec{}, cli.Usagef("%v", err)
	}
	if spec, err = spec.WithHead(nin.Head{Kind: c.head, Dropout: c.headDropout}); err != nil {
		return nin.Spec{}, cli.Usagef("--head: %v", err)
	}
	switch c.preprocess {
	case nin.PreMeanStd, nin.PreScale, nin.PreGCNZCA:
	default:
		return nin.Spec{}, cli.Usagef("--preprocess %q: want meanstd, gcn-zca or scale", c.preprocess)
	}
	return spec, nil
}

// newModel is a network of spec with a classifier for train's classes, the preprocessing
// fitted on train and He-normal weights.
func newModel(c *config, spec nin.Spec, train *dataset.Set) (*nin.Model, error) {
	var pre nin.Preprocess
	var err error
	switch c.preprocess {
	case nin.PreMeanStd:
		pre = nintrain.FitMeanStd(train.Images, train.N, spec.Input)
	case nin.PreScale:
		pre = nin.Preprocess{Kind: nin.PreScale}
	case nin.PreGCNZCA:
		// The maxout/NIN recipe's constants: GCN to norm 55, ZCA eigenvalue bias 0.1.
		if pre, err = nintrain.FitGCNZCA(train.Images, train.N, spec.Input, 55, 0.1, c.run.Threads); err != nil {
			return nil, err
		}
	}
	// The architecture's class count is a default: a folder has as many as it has folders.
	if spec, err = spec.WithClasses(len(train.Classes)); err != nil {
		return nil, err
	}
	m, err := nin.NewModel(spec, train.Classes, pre)
	if err != nil {
		return nil, err
	}
	m.InitHe(c.opt.Seed)
	return m, nil
}

// resume reloads a checkpoint and takes the run's settings from it. Flags that define the
// run are refused rather than silently ignored: the checkpoint's settings are what make
// the continuation exact. Paths and --threads may be given anew (a moved data folder, a
// bigger machine); the checkpoint then records them.
func resume(c *config, fs *pflag.FlagSet) (*nintrain.Trainer, error) {
	var refused []string
	for _, name := range runFlags {
		if fs.Changed(name) {
			refused = append(refused, "--"+name)
		}
	}
	if len(refused) > 0 {
		return nil, cli.Usagef("%s cannot change on --resume: the checkpoint holds the run's settings", strings.Join(refused, ", "))
	}
	raw, err := nintrain.CheckpointRun(c.resume)
	if err != nil {
		return nil, err
	}
	given := c.run
	if raw == nil {
		// A checkpoint from before run settings were kept.
		if given.Out == "" || given.Dataset == "" || given.Data == "" {
			return nil, cli.Usagef("%s holds no run settings (an older checkpoint): give --dataset, --data, -o and the --limit it had", c.resume)
		}
	} else {
		// Into a zero record, not over the flags' defaults: a value the JSON leaves out is 0.
		c.run = runInfo{}
		if err := json.Unmarshal(raw, &c.run); err != nil {
			return nil, fmt.Errorf("%s: run settings: %w", c.resume, err)
		}
		rec := &c.run
		for _, d := range []struct {
			flag string
			same bool
		}{{"dataset", given.Dataset == rec.Dataset}, {"limit", given.Limit == rec.Limit},
			{"test-limit", given.TestLimit == rec.TestLimit}, {"holdout", given.Holdout == rec.Holdout}} {
			if fs.Changed(d.flag) && !d.same {
				return nil, cli.Usagef("--%s cannot change on --resume: it chose the run's data", d.flag)
			}
		}
		for _, o := range []struct {
			flag     string
			rec, new *string
		}{{"data", &rec.Data, &given.Data}, {"output", &rec.Out, &given.Out},
			{"metrics", &rec.Metrics, &given.Metrics}, {"plot", &rec.Plot, &given.Plot}} {
			if fs.Changed(o.flag) {
				*o.rec = *o.new
			}
		}
		if fs.Changed("threads") {
			rec.Threads = given.Threads
		}
	}
	// The checkpoint goes on in the file it was read from, wherever the run began.
	c.run.Checkpoint = or(given.Checkpoint, c.resume)
	t, err := nintrain.LoadCheckpoint(c.resume, c.run.Threads)
	if err != nil {
		return nil, err
	}
	if fs.Changed("epochs") {
		if c.opt.Epochs < t.State.Epoch {
			return nil, cli.Usagef("--epochs %d: the checkpoint has %d epochs done", c.opt.Epochs, t.State.Epoch)
		}
		t.Opt.Epochs = c.opt.Epochs
		if err := t.Opt.Validate(); err != nil {
			return nil, cli.Usagef("%v", err)
		}
	}
	c.opt = t.Opt
	return t, nil
}

// reload reads the data of a resumed run and checks it against the trainer.
func reload(c *config, t *nintrain.Trainer) (nintrain.Data, nintrain.Data, error) {
	train, test, err := loadSplits(c, t.Model.Spec.Input)
	if err != nil {
		return nintrain.Data{}, nintrain.Data{}, err
	}
	if err := check(c, t, train); err != nil {
		return nintrain.Data{}, nintrain.Data{}, err
	}
	return data(train), data(test), nil
}

// check makes sure that the training split fits the trainer: a batch at least, the run's
// number of images, its classes.
func check(c *config, t *nintrain.Trainer, train *dataset.Set) error {
	if train.N < t.Opt.Batch {
		return fmt.Errorf("train split: %d images, fewer than one batch of %d", train.N, t.Opt.Batch)
	}
	if n := t.State.Images; n != 0 && train.N != n {
		return fmt.Errorf("%s: the run trained on %d images, not %d (give the --limit it had)", c.resume, n, train.N)
	}
	if !slices.Equal(train.Classes, t.Model.Classes) {
		return fmt.Errorf("the run's classes differ from those of %s in %s", c.run.Dataset, c.run.Data)
	}
	return nil
}

func data(s *dataset.Set) nintrain.Data {
	return nintrain.Data{Images: s.Images, Labels: s.Labels, N: s.N}
}

// loadSplits reads both splits of the run's data set for a network of input in.
func loadSplits(c *config, in nin.Shape) (train, test *dataset.Set, err error) {
	load := func(split string, limit int) (*dataset.Set, error) {
		s, err := dataset.Load(c.run.Dataset, c.run.Data, split, dataset.Options{Size: [2]int{in.H, in.W}, Channels: in.C,
			Limit: limit, Holdout: c.run.Holdout, Seed: c.opt.Seed})
		if err != nil {
			return nil, fmt.Errorf("%s split: %w", split, err)
		}
		if s.H != in.H || s.W != in.W || s.C != in.C {
			return nil, fmt.Errorf("%s split: %dx%dx%d images, the network wants %v", split, s.H, s.W, s.C, in)
		}
		return s, nil
	}
	if train, err = load("train", c.run.Limit); err != nil {
		return nil, nil, err
	}
	if test, err = load("test", c.run.TestLimit); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func parseSteps(s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, cli.Usagef("--steps %q: %v", s, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func resolveAugment(a, set string) (string, error) {
	switch a {
	case "auto":
		switch set {
		case "cifar10", "cifar100", "folder":
			return nintrain.AugmentCropFlip, nil
		}
		return nintrain.AugmentNone, nil // digits: a flipped 2 is no 2
	case nintrain.AugmentNone, nintrain.AugmentCropFlip:
		return a, nil
	}
	return "", cli.Usagef("--augment %q: want auto, none or crop-flip", a)
}

// loop trains the remaining epochs, then writes the model. An epoch's end is checkpointed at
// once and again with its test accuracy, so a signal or failure in the test pass costs no
// training; a signal stops training between two steps, or the test between two batches,
// with the checkpoint on disk. A checkpoint that cannot be written stops the run, except
// once training is over: the model, the run's product, is then written all the same.
func loop(e *cli.Env, c *config, t *nintrain.Trainer, train, test nintrain.Data) error {
	ctx := e.Ctx
	if ctx.Err() != nil {
		return stopSignal(ctx, "before training began")
	}
	s := t.Model.Spec
	fmt.Fprintf(e.Stdout, "%s: %s on %s, %d train / %d test images, %d params, %.1f M MACs/image, %d threads, epoch %d of %d\n",
		prog, s.Name, c.run.Dataset, train.N, test.N, s.TotalParams(), float64(s.TotalMACs())/1e6, t.Threads, t.State.Epoch+1, t.Opt.Epochs)
	testSeconds := 0.0 // the last test pass's, for the time left
	var ckptErr error  // the last checkpoint's failure, once training is over
	save := func() error {
		ckptErr = t.SaveCheckpoint(c.run.Checkpoint)
		if t.State.Epoch >= t.Opt.Epochs {
			return nil
		}
		return ckptErr
	}
	for {
		if u := t.State.Untested; u != nil {
			began := time.Now()
			acc, err := t.Evaluate(ctx, test)
			testSeconds = time.Since(began).Seconds()
			if err != nil && ctx.Err() != nil {
				return stopped(ctx, c, t, fmt.Sprintf("in the test of epoch %d", u.Epoch))
			}
			if err != nil {
				return err
			}
			em := *u
			em.TestAcc = acc
			t.State.History, t.State.Untested = append(t.State.History, em), nil
			fmt.Fprintf(e.Stdout, "epoch %d/%d: loss %.4f, train %.2f%%, test %.2f%%, lr %.4g, %.0f s, %.1f images/s\n",
				em.Epoch, t.Opt.Epochs, em.TrainLoss, 100*em.TrainAcc, 100*em.TestAcc, em.LR, em.Seconds, em.ImagesPerSec)
			if err := save(); err != nil {
				return err
			}
			writeLogs(e, c, s.Name, t.State.History)
			continue
		}
		if t.State.Epoch >= t.Opt.Epochs {
			break
		}
		bar := newBar(t.State.Epoch+1, t.Opt.Epochs, t.StepsPerEpoch(train.N)*t.Opt.Batch, testSeconds)
		em, done, err := t.TrainEpoch(ctx, train, bar.update)
		bar.finish()
		if d := (*nintrain.DivergedError)(nil); errors.As(err, &d) {
			hint := ""
			if !d.BN {
				hint = " or --bn"
			}
			return fmt.Errorf("%w; --resume would keep these settings: start a new run, e.g. with --lr %.3g%s", err, t.Opt.LR/3, hint)
		}
		if err != nil {
			return err
		}
		if !done {
			return stopped(ctx, c, t, fmt.Sprintf("in epoch %d after %d steps", t.State.Epoch+1, t.State.Pos))
		}
		t.State.Untested = &em
		if err := save(); err != nil {
			return err
		}
	}
	writeLogs(e, c, s.Name, t.State.History) // also for a run resumed after its last epoch
	if err := t.Export().Save(c.run.Out); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%s: wrote %s\n", prog, c.run.Out)
	if ckptErr != nil {
		fmt.Fprintf(e.Stderr, "%s: warning: the model is written, but not the last checkpoint: %v\n", prog, ckptErr)
	}
	return nil
}

// stopped saves the checkpoint of a run a signal stopped and ends with the signal's status
// and the command that continues the run.
func stopped(ctx context.Context, c *config, t *nintrain.Trainer, where string) error {
	if err := t.SaveCheckpoint(c.run.Checkpoint); err != nil {
		return err
	}
	return stopSignal(ctx, fmt.Sprintf("stopped %s; checkpoint %s (continue with: %s --resume %s)", where, c.run.Checkpoint, prog, shellQuote(c.run.Checkpoint)))
}

// shellQuote is s as one shell word.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// stopSignal is the error of a run the signal behind ctx stopped: exit 128 + its number.
func stopSignal(ctx context.Context, what string) error {
	sig, status := "stopped", 130
	if s, ok := context.Cause(ctx).(*cli.Signalled); ok {
		sig, status = s.Error(), s.Status()
	}
	return &cli.ExitError{Code: status, Err: fmt.Errorf("%s: %s", sig, what)}
}

// writeLogs rewrites the metrics log and the curves from the history. A failure is a
// warning, not the end of the run: the checkpoint carries the history, and the next epoch
// (or the run's end) writes both again.
func writeLogs(e *cli.Env, c *config, name string, h []nintrain.EpochMetrics) {
	if err := writeMetrics(c.run.Metrics, h); err != nil {
		fmt.Fprintf(e.Stderr, "%s: warning: %v\n", prog, err)
	}
	if err := writePlot(c.run.Plot, name, h); err != nil {
		fmt.Fprintf(e.Stderr, "%s: warning: %v\n", prog, err)
	}
}
