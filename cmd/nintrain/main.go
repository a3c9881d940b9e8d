// Command nintrain trains a NIN in float32 and writes a model file that ninquant and the edge
// runtime read.
//
//	nintrain --arch SPEC --dataset D --data DIR --epochs N [--batch B] [--lr R] [--momentum M]
//	         [--wd W] [--schedule step|cosine] [--warmup E] [--bn] [--augment auto|none|crop-flip]
//	         [--head gap|fc] [--seed S] [--threads T] [--resume CKPT] [--checkpoint PATH] -o OUT
//
// It checkpoints after every epoch and on SIGINT/SIGTERM/SIGHUP, writes a metrics log (JSON lines)
// and a PNG of the curves, and is deterministic for a seed: see docs/training.md.
package main

import (
	"context"
	"fmt"
	"path/filepath"
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
	arch, data, name, out, ckpt, resume, metrics, plot string
	augment, preprocess, head, steps                   string
	headDropout                                        float64
	limit, testLimit, threads                          int
	opt                                                nintrain.TrainOptions
}

// runFlags are the flags that a resumed run takes from its checkpoint instead.
var runFlags = []string{"arch", "batch", "lr", "momentum", "wd", "schedule", "steps", "gamma", "warmup",
	"bias-lr-mult", "last-lr-mult", "bn", "augment", "preprocess", "head", "head-dropout", "seed"}

func flags(e *cli.Env, c *config) *cli.FlagSet {
	d := nintrain.DefaultTrainOptions()
	fs := cli.NewFlags(e, prog, prog+" --arch SPEC --dataset D --data DIR --epochs N [flags] -o OUT")
	fs.StringVar(&c.arch, "arch", "", "architecture: "+strings.Join(nin.Builtins(), ", ")+", or a .json spec")
	fs.StringVar(&c.name, "dataset", "", "data set: "+strings.Join(dataset.Names(), ", "))
	fs.StringVar(&c.data, "data", "", "folder holding the data set files")
	fs.IntVar(&c.limit, "limit", 0, "train on the first N training images only (0: all)")
	fs.IntVar(&c.testLimit, "test-limit", 0, "test on the first N test images only (0: all)")
	fs.IntVar(&c.opt.Epochs, "epochs", d.Epochs, "epochs to train in all (a resumed run may raise it)")
	fs.IntVar(&c.opt.Batch, "batch", d.Batch, "images per step")
	fs.Float64Var(&c.opt.LR, "lr", d.LR, "base learning rate")
	fs.Float64Var(&c.opt.Momentum, "momentum", d.Momentum, "SGD momentum")
	fs.Float64Var(&c.opt.WeightDecay, "wd", d.WeightDecay, "weight decay (L2) on conv and fc weights")
	fs.StringVar(&c.opt.Schedule, "schedule", d.Schedule, "learning-rate schedule: cosine or step")
	fs.StringVar(&c.steps, "steps", "", "step schedule: epochs at which the rate is multiplied by --gamma (default: half and three quarters of --epochs)")
	fs.Float64Var(&c.opt.Gamma, "gamma", d.Gamma, "step schedule: factor at each step")
	fs.Float64Var(&c.opt.Warmup, "warmup", d.Warmup, "epochs of linear warm-up")
	fs.Float64Var(&c.opt.BiasLRMult, "bias-lr-mult", d.BiasLRMult, "learning-rate multiplier of biases (the authors' 2)")
	fs.Float64Var(&c.opt.LastLRMult, "last-lr-mult", d.LastLRMult, "learning-rate multiplier of the last layer (the authors' 0.1)")
	fs.BoolVar(&c.opt.BN, "bn", d.BN, "batch normalisation after each conv, folded into it when saved")
	fs.StringVar(&c.augment, "augment", "auto", "auto (crop-flip for cifar10, cifar100 and folder; none for digits), none or crop-flip")
	fs.StringVar(&c.preprocess, "preprocess", nin.PreMeanStd, "input preprocessing fitted on the training split: meanstd, gcn-zca or scale")
	fs.StringVar(&c.head, "head", "gap", "classifier: gap (global average pooling) or fc (the paper's Table 5 comparison)")
	fs.Float64Var(&c.headDropout, "head-dropout", 0.5, "--head fc: dropout before the fc layer")
	fs.Uint64Var(&c.opt.Seed, "seed", d.Seed, "random seed: initialisation, order, augmentation, dropout")
	cli.ThreadsFlag(fs.FlagSet, &c.threads)
	fs.StringVar(&c.resume, "resume", "", "continue the run saved in this checkpoint")
	fs.StringVar(&c.ckpt, "checkpoint", "", "checkpoint written every epoch and on SIGINT/SIGTERM/SIGHUP (default: OUT with .ckpt.safetensors)")
	fs.StringVar(&c.metrics, "metrics", "", "metrics log, JSON lines (default: OUT with .metrics.jsonl)")
	fs.StringVar(&c.plot, "plot", "", "training curves, PNG (default: OUT with .png)")
	fs.StringVarP(&c.out, "output", "o", "", "model file to write (safetensors)")
	return fs
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
	if c.out == "" {
		return cli.Usagef("-o OUT is required")
	}
	if c.name == "" || c.data == "" {
		return cli.Usagef("--dataset and --data are required")
	}
	if c.limit < 0 || c.testLimit < 0 {
		return cli.Usagef("--limit and --test-limit must be ≥ 0")
	}
	if err := cli.CheckThreads(c.threads); err != nil {
		return err
	}
	base := strings.TrimSuffix(c.out, filepath.Ext(c.out))
	c.ckpt = or(c.ckpt, base+".ckpt.safetensors")
	c.metrics = or(c.metrics, base+".metrics.jsonl")
	c.plot = or(c.plot, base+".png")
	// Found now, not after hours of training.
	if err := cli.CheckOutputs(nil, c.out, c.ckpt, c.metrics, c.plot); err != nil {
		return err
	}

	var t *nintrain.Trainer
	var train, test nintrain.Data
	var err error
	if c.resume != "" {
		t, train, test, err = resume(&c, fs.FlagSet)
	} else {
		t, train, test, err = start(&c)
	}
	if err != nil {
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

// start sets up a new run: spec, data, preprocessing fitted on the training split, He
// initialisation from the seed.
func start(c *config) (*nintrain.Trainer, nintrain.Data, nintrain.Data, error) {
	if c.arch == "" {
		return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("--arch is required")
	}
	spec, err := nin.LoadSpec(c.arch, infile.ReadFile)
	if err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("%v", err)
	}
	if spec, err = spec.WithHead(nin.Head{Kind: c.head, Dropout: c.headDropout}); err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("--head: %v", err)
	}
	if c.opt.Steps, err = parseSteps(c.steps); err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	if len(c.opt.Steps) > 0 && c.opt.Schedule != nintrain.ScheduleStep {
		return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("--steps is for --schedule step")
	}
	if c.opt.Augment, err = resolveAugment(c.augment, c.name); err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	if err := c.opt.Validate(); err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("%v", err)
	}
	switch c.preprocess {
	case nin.PreMeanStd, nin.PreScale, nin.PreGCNZCA:
	default:
		return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("--preprocess %q: want meanstd, gcn-zca or scale", c.preprocess)
	}
	trainSet, train, test, err := load(c, spec.Input, spec.Classes)
	if err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	var pre nin.Preprocess
	switch c.preprocess {
	case nin.PreMeanStd:
		pre = nintrain.FitMeanStd(train.Images, train.N, spec.Input)
	case nin.PreScale:
		pre = nin.Preprocess{Kind: nin.PreScale}
	case nin.PreGCNZCA:
		// The maxout/NIN recipe's constants: GCN to norm 55, ZCA eigenvalue bias 0.1.
		if pre, err = nintrain.FitGCNZCA(train.Images, train.N, spec.Input, 55, 0.1, c.threads); err != nil {
			return nil, nintrain.Data{}, nintrain.Data{}, err
		}
	}
	m, err := nin.NewModel(spec, trainSet.Classes, pre)
	if err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	m.InitHe(c.opt.Seed)
	t, err := nintrain.NewTrainer(m, c.opt, c.threads)
	if err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("%v", err)
	}
	return t, train, test, nil
}

// resume reloads a checkpoint. Flags that define the run are refused rather than silently
// ignored: the checkpoint's settings are what make the continuation exact.
func resume(c *config, fs *pflag.FlagSet) (*nintrain.Trainer, nintrain.Data, nintrain.Data, error) {
	var refused []string
	for _, name := range runFlags {
		if fs.Changed(name) {
			refused = append(refused, "--"+name)
		}
	}
	if len(refused) > 0 {
		return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("%s cannot change on --resume: the checkpoint holds the run's settings", strings.Join(refused, ", "))
	}
	t, err := nintrain.LoadCheckpoint(c.resume, c.threads)
	if err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	if fs.Changed("epochs") {
		if c.opt.Epochs < t.State.Epoch {
			return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("--epochs %d: the checkpoint has %d epochs done", c.opt.Epochs, t.State.Epoch)
		}
		t.Opt.Epochs = c.opt.Epochs
		if err := t.Opt.Validate(); err != nil {
			return nil, nintrain.Data{}, nintrain.Data{}, cli.Usagef("%v", err)
		}
	}
	c.opt = t.Opt
	s := t.Model.Spec
	trainSet, train, test, err := load(c, s.Input, s.Classes)
	if err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	if train.N != t.State.Images {
		return nil, nintrain.Data{}, nintrain.Data{}, fmt.Errorf("%s: the run trained on %d images, not %d (give the --limit it had)", c.resume, t.State.Images, train.N)
	}
	if strings.Join(trainSet.Classes, "\n") != strings.Join(t.Model.Classes, "\n") {
		return nil, nintrain.Data{}, nintrain.Data{}, fmt.Errorf("%s: the run's classes differ from those of %s", c.resume, c.name)
	}
	return t, train, test, nil
}

// load reads both splits and checks them against the network.
func load(c *config, in nin.Shape, classes int) (*dataset.Set, nintrain.Data, nintrain.Data, error) {
	get := func(split string, limit int) (*dataset.Set, error) {
		s, err := dataset.Load(c.name, c.data, split, dataset.Options{Size: [2]int{in.H, in.W}, Channels: in.C, Limit: limit})
		if err != nil {
			return nil, fmt.Errorf("%s split: %w", split, err)
		}
		if s.H != in.H || s.W != in.W || s.C != in.C {
			return nil, fmt.Errorf("%s split: %dx%dx%d images, the network wants %v", split, s.H, s.W, s.C, in)
		}
		if len(s.Classes) != classes {
			return nil, fmt.Errorf("%s split: %d classes, the network has %d outputs", split, len(s.Classes), classes)
		}
		return s, nil
	}
	tr, err := get("train", c.limit)
	if err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	te, err := get("test", c.testLimit)
	if err != nil {
		return nil, nintrain.Data{}, nintrain.Data{}, err
	}
	if tr.N < c.opt.Batch {
		return nil, nintrain.Data{}, nintrain.Data{}, fmt.Errorf("train split: %d images, fewer than one batch of %d", tr.N, c.opt.Batch)
	}
	data := func(s *dataset.Set) nintrain.Data { return nintrain.Data{Images: s.Images, Labels: s.Labels, N: s.N} }
	return tr, data(tr), data(te), nil
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
// with the checkpoint on disk.
func loop(e *cli.Env, c *config, t *nintrain.Trainer, train, test nintrain.Data) error {
	ctx := e.Ctx
	if ctx.Err() != nil {
		return stopSignal(ctx, "before training began")
	}
	s := t.Model.Spec
	fmt.Fprintf(e.Stdout, "%s: %s on %s, %d train / %d test images, %d params, %.1f M MACs/image, %d threads, epoch %d of %d\n",
		prog, s.Name, c.name, train.N, test.N, s.TotalParams(), float64(s.TotalMACs())/1e6, t.Threads, t.State.Epoch+1, t.Opt.Epochs)
	testSeconds := 0.0 // the last test pass's, for the time left
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
			if err := t.SaveCheckpoint(c.ckpt); err != nil {
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
		if err != nil {
			return err
		}
		if !done {
			return stopped(ctx, c, t, fmt.Sprintf("in epoch %d after %d steps", t.State.Epoch+1, t.State.Pos))
		}
		t.State.Untested = &em
		if err := t.SaveCheckpoint(c.ckpt); err != nil {
			return err
		}
	}
	writeLogs(e, c, s.Name, t.State.History) // also for a run resumed after its last epoch
	if err := t.Export().Save(c.out); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%s: wrote %s\n", prog, c.out)
	return nil
}

// stopped saves the checkpoint of a run a signal stopped and ends with the signal's status.
func stopped(ctx context.Context, c *config, t *nintrain.Trainer, where string) error {
	if err := t.SaveCheckpoint(c.ckpt); err != nil {
		return err
	}
	return stopSignal(ctx, fmt.Sprintf("stopped %s; checkpoint %s (continue with --resume %s)", where, c.ckpt, c.ckpt))
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
	if err := writeMetrics(c.metrics, h); err != nil {
		fmt.Fprintf(e.Stderr, "%s: warning: %v\n", prog, err)
	}
	if err := writePlot(c.plot, name, h); err != nil {
		fmt.Fprintf(e.Stderr, "%s: warning: %v\n", prog, err)
	}
}
