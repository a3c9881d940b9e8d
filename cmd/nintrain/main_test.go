package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/dataset/datasettest"
	"github.com/ninedge/ninedge/nin"
	nintrain "github.com/ninedge/ninedge/nin/train"
)

// TestMain lets a test run nintrain as a process, so that real signals reach it.
func TestMain(m *testing.M) {
	if os.Getenv("NINTRAIN_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testEnv runs nintrain in the test's process, printing where the test does.
func testEnv() *cli.Env {
	return &cli.Env{Ctx: context.Background(), Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
}

// smallSpec writes a two-block network for 28×28 digits into dir and returns its path.
func smallSpec(t *testing.T, dir string) string {
	t.Helper()
	spec := filepath.Join(dir, "small.json")
	const js = `{"name": "small", "input": [28, 28, 1], "classes": 10, "blocks": [
		{"out": [8], "kernel": 5, "pad": 2, "pool": "max", "size": 3, "step": 2},
		{"out": [16, 10], "kernel": 3, "pad": 1, "pool": "global"}]}`
	if err := os.WriteFile(spec, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestBadInvocations(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	notCkpt := filepath.Join(dir, "junk.safetensors")
	if err := os.WriteFile(notCkpt, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--arch", "nin-mnist", "--dataset", "mnist", "--data", dir, "-o", out}
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool   // a usage error (exit status 2) rather than a failure
		want  string // in the message
	}{
		{"no output", []string{"--arch", "nin-mnist", "--dataset", "mnist", "--data", dir}, true, "-o"},
		{"no data", []string{"--arch", "nin-mnist", "-o", out}, true, "--dataset"},
		{"unknown flag", append(base, "--frobnicate"), true, "frobnicate"},
		{"stray argument", append(base, "extra"), true, "extra"},
		{"unknown arch", []string{"--arch", "nin-imagenet", "--dataset", "mnist", "--data", dir, "-o", out}, true, "nin-imagenet"},
		{"bad head", append(base, "--head", "mlp"), true, "head"},
		{"bad schedule", append(base, "--schedule", "exp"), true, "schedule"},
		{"bad steps", append(base, "--schedule", "step", "--steps", "3,x"), true, "--steps"},
		{"infinite step", append(base, "--schedule", "step", "--steps", "3,inf"), true, "step at epoch"},
		{"steps with cosine", append(base, "--steps", "5"), true, "--steps is for --schedule step"},
		{"gamma NaN", append(base, "--gamma", "NaN"), true, "gamma"},
		{"gamma above 1", append(base, "--schedule", "step", "--gamma", "2"), true, "gamma"},
		{"infinite multiplier", append(base, "--bias-lr-mult", "inf"), true, "multipliers"},
		{"bad augment", append(base, "--augment", "mixup"), true, "mixup"},
		{"bad lr", append(base, "--lr", "-1"), true, "learning rate"},
		{"bad momentum", append(base, "--momentum", "1.5"), true, "momentum"},
		{"warm-up too long", append(base, "--epochs", "2", "--warmup", "3"), true, "warm-up"},
		{"bad batch", append(base, "--batch", "0"), true, "batch"},
		{"bad preprocessing", append(base, "--preprocess", "pca"), true, "pca"},
		{"missing data", base, false, "train split"},
		{"output folder missing", []string{"--arch", "nin-mnist", "--dataset", "mnist", "--data", dir, "-o", filepath.Join(dir, "no", "m.safetensors")}, false, "cannot write"},
		{"output is a folder", []string{"--arch", "nin-mnist", "--dataset", "mnist", "--data", dir, "-o", dir}, true, "folder"},
		{"metrics where the model goes", append(base, "--metrics", out), true, "two outputs"},
		{"unknown data set", []string{"--arch", "nin-mnist", "--dataset", "imagenet", "--data", dir, "-o", out}, false, "imagenet"},
		{"resume changes lr", append(base, "--resume", notCkpt, "--lr", "0.3"), true, "--lr"},
		{"last step at rate 0", append(base, "--end-lr", "0"), true, "--end-lr"},
		{"holdout of all", append(base, "--holdout", "1"), true, "--holdout"},
		{"freeze from scratch", append(base, "--freeze", "2"), true, "--freeze"},
		{"init and arch", []string{"--init", notCkpt, "--arch", "nin-mnist", "--dataset", "folder", "--data", dir, "-o", out}, true, "--init"},
		{"init and bn", []string{"--init", notCkpt, "--bn", "--dataset", "folder", "--data", dir, "-o", out}, true, "--bn"},
		{"no arch nor init", []string{"--dataset", "mnist", "--data", dir, "-o", out}, true, "--arch"},
		{"resume from junk", []string{"--dataset", "mnist", "--data", dir, "-o", out, "--resume", notCkpt}, false, "junk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(testEnv(), tc.args)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, cli.ErrUsage) != tc.usage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q (usage %v), want usage %v mentioning %q", err, errors.Is(err, cli.ErrUsage), tc.usage, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// TestTrainAndResume trains a small network on MNIST digits for one epoch, resumes for a
// second, and checks the files: the model loads, the log has one line per epoch, the plot
// is a PNG.
func TestTrainAndResume(t *testing.T) {
	data := datasettest.Dir(t, "mnist")
	dir := t.TempDir()
	spec := smallSpec(t, dir)
	out := filepath.Join(dir, "small.safetensors")
	args := []string{"--dataset", "mnist", "--data", data, "--limit", "640", "--test-limit", "200", "-o", out}
	if err := run(testEnv(), append([]string{"--arch", spec, "--epochs", "1", "--bn", "--batch", "32", "--last-lr-mult", "1"}, args...)); err != nil {
		t.Fatal(err)
	}
	// As if a signal had stopped the first epoch's test pass: the checkpoint holds the
	// epoch as untested, and the resumed run tests it before training on.
	ckpt := filepath.Join(dir, "small.ckpt.safetensors")
	tr, err := nintrain.LoadCheckpoint(ckpt, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := tr.State.History
	tr.State.History, tr.State.Untested = h[:len(h)-1], &h[len(h)-1]
	tr.State.Untested.TestAcc = 0
	if err := tr.SaveCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	// The data cannot change under a run; repeating it is harmless.
	if err := run(testEnv(), []string{"--resume", ckpt, "--limit", "320"}); !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "--limit") {
		t.Errorf("a resumed run took another --limit: %v", err)
	}
	// --resume alone (but --epochs): the data set, its folder, the limits and the outputs are
	// the run's.
	if err := run(testEnv(), []string{"--resume", ckpt, "--epochs", "2"}); err != nil {
		t.Fatal(err)
	}
	// The record stays the run's: no flag default creeps in where the JSON leaves a zero out.
	raw, err := nintrain.CheckpointRun(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	var rec runInfo
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if want := (runInfo{Dataset: "mnist", Data: data, Limit: 640, TestLimit: 200, Out: out, Checkpoint: ckpt,
		Metrics: filepath.Join(dir, "small.metrics.jsonl"), Plot: filepath.Join(dir, "small.png")}); rec != want {
		t.Errorf("run record after resuming %+v, want %+v", rec, want)
	}
	m, err := nin.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pre.Kind != nin.PreMeanStd || m.Spec.Name != "small" {
		t.Errorf("model: preprocessing %q, spec %q", m.Pre.Kind, m.Spec.Name)
	}
	f, err := os.Open(filepath.Join(dir, "small.metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var epochs []int
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var em nintrain.EpochMetrics
		if err := json.Unmarshal(sc.Bytes(), &em); err != nil {
			t.Fatal(err)
		}
		epochs = append(epochs, em.Epoch)
		if !(em.TestAcc > 0 && em.TestAcc <= 1) || !(em.ImagesPerSec > 0) {
			t.Errorf("epoch %d: test accuracy %v, %v images/s", em.Epoch, em.TestAcc, em.ImagesPerSec)
		}
	}
	if len(epochs) != 2 || epochs[0] != 1 || epochs[1] != 2 {
		t.Errorf("metrics log has epochs %v, want [1 2]", epochs)
	}
	png, err := os.ReadFile(filepath.Join(dir, "small.png"))
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Errorf("plot: %v, %d bytes", err, len(png))
	}
}

// The status line's time left is the images still to train, this epoch's and the later
// epochs', at the epoch's rate so far.
func TestTimeLeft(t *testing.T) {
	for _, tc := range []struct {
		epoch, epochs, done int
		rate, test          float64
		want                string
	}{
		{1, 1, 0, 1, 0, "run ends in ~17m"},       // 1,000 s
		{3, 30, 500, 1, 0, "run ends in ~7h38m"},  // 500 + 27·1,000 images
		{3, 30, 500, 1, 60, "run ends in ~8h06m"}, // and 28 test passes of a minute
		{30, 30, 999, 10, 0, "run ends in ~0m"},   // the last image
		{30, 30, 999, 10, 120, "run ends in ~2m"}, // and the last test
		{2, 3, 0, 0, 60, "lr 0.1"},                // no rate yet, no estimate
	} {
		got := newBar(tc.epoch, tc.epochs, 1000, tc.test).status(nintrain.Progress{Done: tc.done, Total: 1000, ImagesPerSec: tc.rate, LR: 0.1})
		if !strings.HasSuffix(got, tc.want) {
			t.Errorf("epoch %d/%d at %d images, %v/s: %q, want it to end in %q", tc.epoch, tc.epochs, tc.done, tc.rate, got, tc.want)
		}
	}
}

// TestSignalCheckpoints stops a run with SIGTERM after its first epoch: it exits with 143
// (128 + SIGTERM) and leaves a checkpoint holding the tested epoch. The command the message
// prints to continue, run as printed, resumes the run.
func TestSignalCheckpoints(t *testing.T) {
	data := datasettest.Dir(t, "mnist")
	dir := t.TempDir()
	stderr := runUntilEpoch(t, "--arch", smallSpec(t, dir), "--dataset", "mnist", "--data", data,
		"--limit", "640", "--test-limit", "200", "--epochs", "1000", "--batch", "32", "-o", filepath.Join(dir, "small.safetensors"))
	// Where it stopped depends on how soon the signal came (in epoch 2's training or test,
	// on a loaded machine even later): the checkpoint holds every epoch trained, each
	// tested but perhaps the last.
	ckpt := filepath.Join(dir, "small.ckpt.safetensors")
	tr, err := nintrain.LoadCheckpoint(ckpt, 0)
	if err != nil {
		t.Fatal(err)
	}
	untested := 0
	if tr.State.Untested != nil {
		untested = 1
	}
	if st := tr.State; st.Epoch < 1 || st.Epoch != len(st.History)+untested {
		t.Errorf("checkpoint at epoch %d with %d tested and %d untested", st.Epoch, len(st.History), untested)
	}
	_, cont, _ := strings.Cut(stderr, "continue with: ")
	cont, _, _ = strings.Cut(cont, ")")
	words := strings.Fields(cont)
	if want := []string{"nintrain", "--resume", ckpt}; !slices.Equal(words, want) {
		t.Fatalf("continue with %q, want %q; stderr:\n%s", words, want, stderr)
	}
	runUntilEpoch(t, words[1:]...)
	again, err := nintrain.LoadCheckpoint(ckpt, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again.State.Epoch <= tr.State.Epoch || len(again.State.History) < len(tr.State.History) {
		t.Errorf("the resumed run went from epoch %d to %d", tr.State.Epoch, again.State.Epoch)
	}
}

// runUntilEpoch runs nintrain as a process with args, sends it SIGTERM once it prints an
// epoch's result, checks that it exits with 143, and returns its stderr.
func runUntilEpoch(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "NINTRAIN_RUN_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer kill.Stop()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "epoch ") {
	}
	cmd.Process.Signal(syscall.SIGTERM)
	io.Copy(io.Discard, out)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 143 || !strings.Contains(stderr.String(), "terminated: stopped") {
		t.Fatalf("exit %v, want status 143; stderr:\n%s", err, stderr.String())
	}
	return stderr.String()
}

// The model is the run's product: a checkpoint that cannot be written once training is over
// (a full disk, a folder gone) is a warning, and the model is written all the same.
func TestModelWrittenWithoutCheckpoint(t *testing.T) {
	data := datasettest.Dir(t, "mnist")
	dir := t.TempDir()
	c := config{arch: smallSpec(t, dir), preprocess: nin.PreMeanStd, head: "gap", augment: "auto",
		opt: nintrain.DefaultTrainOptions(),
		run: runInfo{Dataset: "mnist", Data: data, Limit: 320, TestLimit: 100, Threads: 2,
			Out: filepath.Join(dir, "m.safetensors"), Checkpoint: filepath.Join(dir, "gone", "m.ckpt.safetensors"),
			Metrics: filepath.Join(dir, "m.jsonl"), Plot: filepath.Join(dir, "m.png")}}
	c.opt.Epochs, c.opt.Batch, c.opt.Warmup = 1, 32, 0.2
	tr, train, test, err := start(&c)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	e := testEnv()
	e.Stderr = &stderr
	if err := loop(e, &c, tr, train, test); err != nil {
		t.Fatal(err)
	}
	if _, err := nin.Load(c.run.Out); err != nil {
		t.Errorf("no model: %v", err)
	}
	if !strings.Contains(stderr.String(), "not the last checkpoint") {
		t.Errorf("no warning: %q", stderr.String())
	}
	// Before the last epoch, the same failure stops the run: it could not be continued.
	c.opt.Epochs = 2
	if tr, train, test, err = start(&c); err != nil {
		t.Fatal(err)
	}
	if err := loop(e, &c, tr, train, test); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("a run that cannot checkpoint went on: %v", err)
	}
}

// A loss that explodes stops the run with its likely cause and a way out.
func TestExplodingLossStops(t *testing.T) {
	data := datasettest.Dir(t, "mnist")
	dir := t.TempDir()
	err := run(testEnv(), []string{"--arch", smallSpec(t, dir), "--dataset", "mnist", "--data", data, "--limit", "1920",
		"--test-limit", "100", "--epochs", "1", "--batch", "32", "--bn=false", "--lr", "3", "-o", filepath.Join(dir, "m.safetensors")})
	if err == nil || !strings.Contains(err.Error(), "diverged") || !strings.Contains(err.Error(), "--bn") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
}
