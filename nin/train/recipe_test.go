package train

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/internal/sgemm"
	"github.com/ninedge/ninedge/nin/nintest"
)

// stateHash is a digest of everything a run carries forward: weights, momentum, BN statistics.
func stateHash(tr *Trainer) string {
	h := sha256.New()
	put := func(v []float32) {
		for _, x := range v {
			binary.Write(h, binary.LittleEndian, math.Float32bits(x))
		}
	}
	for _, p := range tr.params {
		put(p.w)
		put(p.v)
	}
	for _, bn := range tr.bn {
		if bn != nil {
			put(bn.runMean)
			put(bn.runVar)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestVersion1CheckpointResumes continues a checkpoint written by the trainer before version
// 2 (commit c547806: GradSpec, crop-flip, BN, warm-up, cosine, stopped at step 7 of 10) and
// compares the end state with what that trainer reached from the same checkpoint. Sums run
// in the SGEMM kernel's order, so the digest is known for the kernels it was recorded with.
func TestVersion1CheckpointResumes(t *testing.T) {
	tr, err := LoadCheckpoint("testdata/v1-mid.ckpt.safetensors", 2)
	if err != nil {
		t.Fatal(err)
	}
	o := tr.Opt
	if o.EndLR != 0 || o.Nesterov || o.LabelSmoothing != 0 || o.EMA != 0 || o.Freeze != 0 || tr.avg != nil {
		t.Fatalf("a version 1 checkpoint gets the later options on: %+v", o)
	}
	trainEpochs(t, tr, synthData(tr.Model.Spec, 43, 1))
	got := stateHash(tr)
	recorded := map[string]string{
		"amd64/avx512-12x32": "2bbcd37c930d637ce670178516da5cb4904ef712c8f5a274b279eeccedf31836",
		"amd64/go4x8":        "d79b54efe8090bf45e3e8f6cdc9d76fd55923ba9ae087503ab58a95d1acc4c33", // -tags purego
	}
	key := runtime.GOARCH + "/" + sgemm.Kernel()
	want, ok := recorded[key]
	if !ok {
		t.Skipf("no end state recorded for %s (got %s)", key, got)
	}
	if got != want {
		t.Errorf("%s: a version 1 run continues to %s, the old trainer reached %s", key, got, want)
	}
}

// TestNesterov checks one update against PyTorch's formula.
func TestNesterov(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	opt := DefaultTrainOptions()
	opt.Nesterov, opt.Momentum, opt.WeightDecay = true, 0.9, 0.01
	tr := newTestTrainer(t, s, synthData(s, 8, 1), opt, 1)
	p := tr.params[0]
	for j := range p.g {
		p.g[j], p.v[j] = float32(j%7)-3, float32(j%5)*0.1
	}
	w0, v0 := slices.Clone(p.w), slices.Clone(p.v)
	tr.update(0.5)
	for j := range p.w {
		d := float64(p.g[j]) + 0.01*float64(w0[j])
		v := 0.9*float64(v0[j]) + d
		w := float64(w0[j]) - 0.5*(d+0.9*v)
		if math.Abs(float64(p.v[j])-v) > 1e-6 || math.Abs(float64(p.w[j])-w) > 1e-6*(1+math.Abs(w)) {
			t.Fatalf("value %d: w %v v %v, want %v %v", j, p.w[j], p.v[j], w, v)
		}
	}
}

// TestAverage checks the moving average's ramp and that Export and Evaluate use it.
func TestAverage(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	data := synthData(s, 40, 3)
	opt := resumeOptions()
	opt.Epochs, opt.EMA = 1, 0.99
	tr := newTestTrainer(t, s, data, opt, 1)
	p := tr.avg.pairs[0]
	start := slices.Clone(p.avg)
	for j := range p.live {
		p.live[j] = start[j] + 1
	}
	tr.avg.update(1, 0.99, 0) // first step: decay (1+0)/(10+0) = 0.1
	for j := range p.avg {
		if want := 0.1*start[j] + 0.9*(start[j]+1); math.Abs(float64(p.avg[j]-want)) > 1e-6 {
			t.Fatalf("%s[%d] = %v after one step, want %v", p.name, j, p.avg[j], want)
		}
	}
	tr = newTestTrainer(t, s, data, opt, 1)
	trainEpochs(t, tr, data)
	live := *tr
	live.avg, live.folded = nil, nil
	avg, raw := tr.Export(), live.Export()
	differ := false
	for i := range avg.Weights {
		differ = differ || !slices.Equal(avg.Weights[i], raw.Weights[i])
	}
	if !differ {
		t.Error("Export with EMA on returns the live weights")
	}
}

// TestFreeze: frozen layers keep their weights; the rest train.
func TestFreeze(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	data := synthData(s, 16, 1)
	opt := resumeOptions()
	opt.Epochs, opt.Freeze, opt.BN = 1, 2, false
	tr := newTestTrainer(t, s, data, opt, 1)
	before := make([][]float32, len(tr.params))
	for i, p := range tr.params {
		before[i] = slices.Clone(p.w)
	}
	trainEpochs(t, tr, data)
	for i, p := range tr.params {
		frozen := i < 4 // conv1 and cccp1: weight and bias each
		if moved := !slices.Equal(before[i], p.w); moved == frozen {
			t.Errorf("%s: moved %v, frozen %v", p.name, moved, frozen)
		}
	}
	// The backward pass stops below the first layer that trains, with the same gradients.
	full := opt
	full.Freeze = 0
	grads := func(o TrainOptions) *Trainer {
		tr := newTestTrainer(t, s, data, o, 1)
		tr.gather(data, []int{0, 1, 2, 3, 4, 5, 6, 7})
		scores := tr.forward(o.Batch)
		softmaxCrossEntropy(scores, tr.labels, o.Batch, s.Classes, o.LabelSmoothing, tr.grad[0])
		tr.backward(o.Batch)
		return tr
	}
	a, b := grads(opt), grads(full)
	for i := 4; i < len(a.params); i++ {
		if !slices.Equal(a.params[i].g, b.params[i].g) {
			t.Errorf("%s: gradient differs with the first layers frozen", a.params[i].name)
		}
	}
	opt.Freeze = 4 // GradSpec has 4 layers with weights
	if _, err := NewTrainer(nintest.RandomModel(t, s, 1), opt, 1); err == nil {
		t.Error("freezing every layer accepted")
	}
}

// TestLossRiseStops: a running loss three times the start stops the run with the cause.
func TestLossRiseStops(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	opt := resumeOptions()
	opt.BN = false
	tr := newTestTrainer(t, s, synthData(s, 8, 1), opt, 1)
	var err error
	for i := 0; err == nil && i < 100; i++ {
		loss := 2.0
		if i >= lossStartSteps {
			loss = 10
		}
		err = tr.watchLoss(loss, 0.05, 10)
		tr.State.Step++
	}
	var d *DivergedError
	if !errors.As(err, &d) || d.Start != 2 || !(d.Loss > 6) {
		t.Fatalf("got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "without batch normalisation") || !strings.Contains(msg, "learning rate 0.05") {
		t.Errorf("message %q does not name the cause", msg)
	}
	t.Log(err)
	// A run from before the start was recorded is not watched.
	tr.State = TrainState{Step: 500}
	if err := tr.watchLoss(1e6, 0.05, 10); err != nil {
		t.Errorf("old run stopped: %v", err)
	}
}

// TestLabelSmoothingLoss: the smoothed loss of uniform scores is log(classes) whatever ε.
func TestLabelSmoothingLoss(t *testing.T) {
	scores := make([]float32, 5)
	g := make([]float32, 5)
	loss, _ := softmaxCrossEntropy(scores, []int32{2}, 1, 5, 0.3, g)
	if math.Abs(loss-math.Log(5)) > 1e-12 {
		t.Errorf("loss %v, want log 5", loss)
	}
	// p = 0.2 everywhere; target 0.06 off the label, 0.76 on it.
	for j, v := range g {
		want := 0.2 - 0.06
		if j == 2 {
			want = 0.2 - 0.76
		}
		if math.Abs(float64(v)-want) > 1e-6 {
			t.Errorf("gradient %d = %v, want %v", j, v, want)
		}
	}
}

// TestRetarget: every layer but the classifier is kept; the classifier has one output per
// new class, and the model runs.
func TestRetarget(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	m := nintest.RandomModel(t, s, 1)
	r, err := Retarget(m, []string{"car", "porch"}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if r.Spec.Classes != 2 || !slices.Equal(r.Classes, []string{"car", "porch"}) || r.Spec.Layers[6].Out != 2 || m.Spec.Layers[6].Out != 3 {
		t.Fatalf("retargeted spec: %d classes %v, last conv %d outputs (original %d)", r.Spec.Classes, r.Classes, r.Spec.Layers[6].Out, m.Spec.Layers[6].Out)
	}
	for i := range 6 {
		if !slices.Equal(r.Weights[i], m.Weights[i]) || !slices.Equal(r.Biases[i], m.Biases[i]) {
			t.Errorf("layer %d changed", i)
		}
	}
	if len(r.Weights[6]) != 3*3*6*2 {
		t.Errorf("classifier has %d weights", len(r.Weights[6]))
	}
	tr, err := NewTrainer(r, resumeOptions(), 1)
	if err != nil {
		t.Fatal(err)
	}
	data := synthData(r.Spec, 16, 1)
	for i := range data.Labels {
		data.Labels[i] %= 2
	}
	if _, err := tr.Evaluate(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

// An epoch at chance level past the warm-up stops the run; early ones say too little.
func TestChanceLevelStops(t *testing.T) {
	s := nintest.GradSpec(t, "gap") // 3 classes: chance 1/3, log 3 = 1.10
	opt := resumeOptions()
	opt.Warmup = 1
	tr := newTestTrainer(t, s, synthData(s, 8, 1), opt, 1)
	stalled := EpochMetrics{Epoch: 2, TrainAcc: 0.34, TrainLoss: 1.2}
	for _, tc := range []struct {
		name string
		step int64
		em   EpochMetrics
		stop bool
	}{
		{"chance level", 100, stalled, true},
		{"too few steps", 40, stalled, false},
		{"in the warm-up", 100, EpochMetrics{Epoch: 1, TrainAcc: 0.34, TrainLoss: 1.2}, false},
		{"learning", 100, EpochMetrics{Epoch: 2, TrainAcc: 0.6, TrainLoss: 1.2}, false},
		{"loss falling", 100, EpochMetrics{Epoch: 2, TrainAcc: 0.34, TrainLoss: 0.9}, false},
	} {
		tr.State.Step = tc.step
		err := tr.checkLearning(tc.em, 10)
		var d *DivergedError
		if stop := errors.As(err, &d) && d.Stalled; stop != tc.stop {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
