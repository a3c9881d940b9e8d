package train

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/dataset/datasettest"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/nin/nintest"
)

// miniMNIST is a NIN a fortieth of nin-mnist's cost, so that a real training run fits in a
// test.
func miniMNIST(t testing.TB) nin.Spec {
	s, err := nin.Expand("mini-mnist", nin.Shape{H: 28, W: 28, C: 1}, 10, []nin.Block{
		{Out: []int{16, 16}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2, Dropout: 0.25},
		{Out: []int{32, 32}, Kernel: 3, Pad: 1, Pool: "max", Size: 3, Step: 2},
		{Out: []int{32, 10}, Kernel: 3, Pad: 1, Pool: "global"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func loadMNIST(t *testing.T, split string, limit int) Data {
	set, err := dataset.Load("mnist", datasettest.Dir(t, "mnist"), split, dataset.Options{Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return Data{Images: set.Images, Labels: set.Labels, N: set.N}
}

func newTestTrainer(t testing.TB, s nin.Spec, train Data, opt TrainOptions, threads int) *Trainer {
	m, err := nin.NewModel(s, nin.NumberedClasses(s.Classes), FitMeanStd(train.Images, train.N, s.Input))
	if err != nil {
		t.Fatal(err)
	}
	m.InitHe(opt.Seed)
	tr, err := NewTrainer(m, opt, threads)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTrainMNIST is a short real run: 300 steps of 32 images on the first 3,200 MNIST
// digits. The loss must fall and the test accuracy end far above the 10% of chance.
func TestTrainMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("a real training run: seconds natively, much longer under emulation")
	}
	train, test := loadMNIST(t, "train", 3200), loadMNIST(t, "test", 1000)
	opt := DefaultTrainOptions()
	opt.Batch, opt.Epochs, opt.Warmup = 32, 3, 0.5
	opt.LabelSmoothing = 0 // its floor (about 0.5 for ten classes) would hide how far the loss falls
	tr := newTestTrainer(t, miniMNIST(t), train, opt, 0)
	var losses []float64
	prev := 0.0
	for tr.State.Epoch < opt.Epochs {
		em, done, err := tr.TrainEpoch(context.Background(), train, func(p Progress) {
			// p.Loss is the epoch's running mean; recover each step's loss from it.
			losses = append(losses, p.Loss*float64(p.Done)-prev)
			prev = p.Loss * float64(p.Done)
		})
		if err != nil || !done {
			t.Fatal(err, done)
		}
		prev = 0
		acc, err := tr.Evaluate(context.Background(), test)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("epoch %d: loss %.4f, train %.2f%%, test %.2f%%, %.0f images/s", em.Epoch, em.TrainLoss, 100*em.TrainAcc, 100*acc, em.ImagesPerSec)
		if em.Epoch == opt.Epochs && acc < 0.9 {
			t.Errorf("test accuracy %.2f%% after %d steps, want ≥ 90%%", 100*acc, len(losses))
		}
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v)) / float64(opt.Batch)
	}
	first, last := mean(losses[:20]), mean(losses[len(losses)-50:])
	t.Logf("%d steps: mean loss %.3f over the first 20, %.3f over the last 50", len(losses), first, last)
	if !(last < first/4) {
		t.Errorf("loss fell from %.3f only to %.3f", first, last)
	}
}

// synthData is n random images with labels that a network can learn: the class is which
// quadrant is brightest.
func synthData(s nin.Spec, n int, seed uint64) Data {
	r := rand.New(rand.NewPCG(seed, 9))
	in := s.Input
	d := Data{Images: make([]uint8, n*in.Size()), Labels: make([]int32, n), N: n}
	for i := range n {
		lab := r.IntN(min(4, s.Classes))
		d.Labels[i] = int32(lab)
		img := d.Images[i*in.Size():][:in.Size()]
		for y := range in.H {
			for x := range in.W {
				q := (y*2/in.H)*2 + x*2/in.W
				for c := range in.C {
					v := r.IntN(160)
					if q == lab {
						v += 90
					}
					img[(y*in.W+x)*in.C+c] = uint8(v)
				}
			}
		}
	}
	return d
}

// resumeOptions exercise every source of randomness: shuffling, crops, flips, dropout.
func resumeOptions() TrainOptions {
	opt := DefaultTrainOptions()
	opt.Batch, opt.Epochs, opt.BN, opt.Augment, opt.Warmup, opt.Seed = 8, 2, true, AugmentCropFlip, 0.5, 42
	return opt
}

// sameState fails unless two trainers hold bit-identical weights, BN state and momentum.
func sameState(t *testing.T, a, b *Trainer) {
	t.Helper()
	for i := range a.params {
		pa, pb := a.params[i], b.params[i]
		if !slices.Equal(pa.w, pb.w) || !slices.Equal(pa.v, pb.v) {
			t.Fatalf("%s differs", pa.name)
		}
	}
	for i, bn := range a.bn {
		if bn != nil && (!slices.Equal(bn.runMean, b.bn[i].runMean) || !slices.Equal(bn.runVar, b.bn[i].runVar)) {
			t.Fatalf("layer %d: BN running statistics differ", i)
		}
	}
	if (a.avg == nil) != (b.avg == nil) {
		t.Fatal("one trainer keeps an average of the weights, the other not")
	}
	if a.avg != nil {
		for i, p := range a.avg.pairs {
			if !slices.Equal(p.avg, b.avg.pairs[i].avg) {
				t.Fatalf("%s differs", p.name)
			}
		}
	}
	if a.State.Step != b.State.Step || a.State.Epoch != b.State.Epoch {
		t.Fatalf("states differ: %+v vs %+v", a.State, b.State)
	}
}

func trainEpochs(t *testing.T, tr *Trainer, data Data) {
	t.Helper()
	for tr.State.Epoch < tr.Opt.Epochs {
		if _, done, err := tr.TrainEpoch(context.Background(), data, nil); err != nil || !done {
			t.Fatal(err, done)
		}
	}
}

// TestResumeIsExact trains 2 epochs straight and compares with runs stopped and resumed
// from a checkpoint: at the epoch boundary, and inside an epoch (as SIGINT does).
func TestResumeIsExact(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	data := synthData(s, 43, 1) // 5 batches and 3 images left over
	straight := newTestTrainer(t, s, data, resumeOptions(), 2)
	trainEpochs(t, straight, data)
	for _, tc := range []struct {
		name      string
		stopAfter int // steps
	}{{"epoch boundary", 5}, {"mid-epoch", 7}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestTrainer(t, s, data, resumeOptions(), 2)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			steps := 0
			for ctx.Err() == nil {
				if _, _, err := tr.TrainEpoch(ctx, data, func(Progress) {
					if steps++; steps == tc.stopAfter {
						cancel()
					}
				}); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			if err := tr.SaveCheckpoint(path); err != nil {
				t.Fatal(err)
			}
			resumed, err := LoadCheckpoint(path, 2)
			if err != nil {
				t.Fatal(err)
			}
			if resumed.State.Step != int64(tc.stopAfter) {
				t.Fatalf("checkpoint at step %d, want %d", resumed.State.Step, tc.stopAfter)
			}
			trainEpochs(t, resumed, data)
			sameState(t, straight, resumed)
		})
	}
}

// TestThreadsDoNotChangeResults: every sum over a batch is taken per image and reduced in
// order, and the GEMM's sums do not depend on its split, so the thread count is not part of
// what makes a run reproducible.
func TestThreadsDoNotChangeResults(t *testing.T) {
	s := nintest.GradSpec(t, "fc")
	data := synthData(s, 40, 2)
	opt := resumeOptions()
	opt.Epochs = 1
	one := newTestTrainer(t, s, data, opt, 1)
	three := newTestTrainer(t, s, data, opt, 3)
	trainEpochs(t, one, data)
	trainEpochs(t, three, data)
	sameState(t, one, three)
}

func TestRate(t *testing.T) {
	cos := TrainOptions{LR: 0.1, Epochs: 10, Schedule: ScheduleCosine, Warmup: 2}
	cosEnd := cos
	cosEnd.EndLR = 0.01
	lin := TrainOptions{LR: 0.1, Epochs: 15, Schedule: ScheduleLinear, Warmup: 3, EndLR: 0.01}
	step := TrainOptions{LR: 0.1, Epochs: 8, Schedule: ScheduleStep, Gamma: 0.1}
	steps := step
	steps.Steps = []float64{3}
	for _, tc := range []struct {
		name string
		o    TrainOptions
		e    float64
		want float64
	}{
		{"warm-up start", cos, 0.5, 0.025},
		{"warm-up end", cos, 2, 0.1},
		{"cosine middle", cos, 6, 0.05},
		{"cosine end", cos, 10, 0},
		{"cosine end, end rate", cosEnd, 10, 0.001},
		{"cosine middle, end rate", cosEnd, 6, 0.0505},
		{"linear warm-up end", lin, 3, 0.1},
		{"linear middle", lin, 9, 0.0505},
		{"linear last step", lin, 15, 0.001},
		{"step before", step, 3.9, 0.1},
		{"last step of epoch 4", step, 4, 0.1}, // e is a step's end
		{"first step of epoch 5", step, 4.01, 0.01},
		{"step after 3/4", step, 6.5, 0.001},
		{"explicit steps", steps, 7, 0.01},
	} {
		if got := tc.o.Rate(tc.e); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: Rate(%v) = %v, want %v", tc.name, tc.e, got, tc.want)
		}
	}
}

func TestLRMultipliers(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	for _, bn := range []bool{false, true} {
		opt := DefaultTrainOptions()
		opt.BN, opt.BiasLRMult, opt.LastLRMult = bn, 2, 0.1
		tr := newTestTrainer(t, s, synthData(s, 8, 1), opt, 1)
		got := map[string][2]float64{}
		for _, p := range tr.params {
			got[p.name] = [2]float64{p.lrMul, p.wdMul}
		}
		want := map[string][2]float64{"conv1.weight": {1, 1}, "conv3.weight": {0.1, 1}}
		if bn {
			want["cccp1.bn.beta"], want["conv3.bn.gamma"] = [2]float64{1, 0}, [2]float64{0.1, 0}
		} else {
			want["cccp1.bias"], want["conv3.bias"] = [2]float64{2, 0}, [2]float64{0.1, 0}
		}
		for name, w := range want {
			if got[name] != w {
				t.Errorf("bn=%v %s: (lr, decay) multipliers %v, want %v", bn, name, got[name], w)
			}
		}
	}
}

// TestCropFlip checks that each augmented image is the source shifted by at most 4 pixels
// each way (zeros where it leaves), maybe mirrored, and that all 162 variants occur.
func TestCropFlip(t *testing.T) {
	in := nin.Shape{H: 6, W: 7, C: 2}
	src := make([]uint8, in.Size())
	for i := range src {
		src[i] = uint8(i + 1)
	}
	dst := make([]uint8, in.Size())
	want := make([]uint8, in.Size())
	seen := map[[3]int]bool{}
	for seed := range uint64(3000) {
		var p rand.PCG
		seedPCG(&p, seed, streamCrop, 0, 0)
		cropFlip(src, in, &p, dst)
		found := false
		for dy := -cropPad; dy <= cropPad && !found; dy++ {
			for dx := -cropPad; dx <= cropPad && !found; dx++ {
				for flip := range 2 {
					for y := range in.H {
						for x := range in.W {
							sx := x + dx
							if flip == 1 {
								sx = in.W - 1 - x + dx
							}
							for c := range in.C {
								v := uint8(0)
								if y+dy >= 0 && y+dy < in.H && sx >= 0 && sx < in.W {
									v = src[((y+dy)*in.W+sx)*in.C+c]
								}
								want[(y*in.W+x)*in.C+c] = v
							}
						}
					}
					if slices.Equal(dst, want) {
						found, seen[[3]int{dy, dx, flip}] = true, true
						break
					}
				}
			}
		}
		if !found {
			t.Fatalf("seed %d: output is no shifted or mirrored copy of the input", seed)
		}
	}
	if len(seen) != 162 {
		t.Errorf("%d of the 162 shift and flip variants occurred", len(seen))
	}
}

func TestCheckpointRejectsModelFile(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	tr := newTestTrainer(t, s, synthData(s, 8, 1), DefaultTrainOptions(), 1)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := tr.Export().Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(path, 1); err == nil {
		t.Fatal("a model file loaded as a checkpoint")
	}
}

// A checkpoint whose position lies beyond its epoch is damaged: resuming it is an error,
// not an epoch of NaN metrics.
func TestDamagedStateRefused(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	data := synthData(s, 8, 1)
	opt := DefaultTrainOptions()
	opt.Batch = 4
	tr := newTestTrainer(t, s, data, opt, 1)
	tr.State.Pos = 2 // of 2 steps
	if _, _, err := tr.TrainEpoch(context.Background(), data, nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("step 2 of 2: %v", err)
	}
	tr.State.Pos, tr.State.Epoch, tr.State.Untested = 0, 1, &EpochMetrics{Epoch: 1}
	if _, _, err := tr.TrainEpoch(context.Background(), data, nil); err == nil || !strings.Contains(err.Error(), "not tested yet") {
		t.Errorf("training past an untested epoch: %v", err)
	}
}

// BenchmarkTrain reports training throughput of the built-in networks at batch 128 on
// random images, a few steps each (the first, which faults the buffers in, is not timed).
func BenchmarkTrain(b *testing.B) {
	for _, tc := range []struct {
		arch string
		bn   bool
	}{{"nin-cifar10", false}, {"nin-cifar10", true}, {"nin-mnist", true}} {
		name := tc.arch
		if tc.bn {
			name += "-bn" // a sibling, not a sub-benchmark, so that -bench Train/nin-cifar10$ selects the plain one
		}
		b.Run(name, func(b *testing.B) {
			s, err := nin.LoadSpec(tc.arch, nil)
			if err != nil {
				b.Fatal(err)
			}
			opt := DefaultTrainOptions()
			opt.BN = tc.bn
			data := synthData(s, opt.Batch, 1)
			tr := newTestTrainer(b, s, data, opt, 0)
			tr.shuffle(data.N)
			tr.gather(data, tr.perm)
			tr.step(0.01)
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuSeconds()
			for range b.N {
				tr.step(0.01)
			}
			sec, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
			b.ReportMetric(float64(b.N*opt.Batch)/sec, "images/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N*opt.Batch)/cpu, "images/cpu-s")
			}
			// Forward, input and weight gradients: about three times the forward's work.
			b.ReportMetric(float64(b.N*opt.Batch)*3*float64(s.TotalMACs())*2/sec/1e9, "GFLOP/s")
		})
	}
}

// A run whose loss stops being finite ends at that step with an error that says so, instead
// of training on NaN for the rest of the epoch and failing to write the checkpoint.
func TestDivergedRunStops(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	data := synthData(s, 16, 1)
	opt := DefaultTrainOptions()
	opt.Batch, opt.LR, opt.Warmup, opt.Epochs = 4, 1e30, 0, 3
	tr := newTestTrainer(t, s, data, opt, 1)
	for range opt.Epochs {
		_, _, err := tr.TrainEpoch(context.Background(), data, nil)
		if err != nil {
			if !strings.Contains(err.Error(), "diverged") {
				t.Fatalf("want a divergence error, got %v", err)
			}
			if err := tr.SaveCheckpoint(filepath.Join(t.TempDir(), "c.ckpt")); err != nil {
				t.Errorf("the state after a refused step does not save: %v", err)
			}
			return
		}
	}
	t.Fatal("a learning rate of 1e30 trained three epochs without a word")
}

// A checkpoint's state must be consistent: a running loss one step could overflow to +Inf
// would make the next checkpoint impossible to write, and an untested epoch is the one just
// trained.
func TestCheckpointImplausibleState(t *testing.T) {
	s := nintest.GradSpec(t, "gap")
	tr := newTestTrainer(t, s, synthData(s, 8, 1), DefaultTrainOptions(), 1)
	for _, tc := range []struct {
		st   TrainState
		want string
	}{
		{TrainState{Seen: 8, Loss: 1e308}, "not plausible"},
		{TrainState{Seen: 8, Loss: -1}, "not plausible"},
		{TrainState{Seconds: -5}, "not plausible"},
		{TrainState{Epoch: 2, Untested: &EpochMetrics{Epoch: 1}}, "untested epoch 1"},
		{TrainState{Epoch: 1, Pos: 3, Untested: &EpochMetrics{Epoch: 1}}, "untested epoch 1"},
	} {
		tr.State = tc.st
		path := filepath.Join(t.TempDir(), "c.ckpt")
		if err := tr.SaveCheckpoint(path); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCheckpoint(path, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("state %+v: %v, want %q", tc.st, err, tc.want)
		}
	}
	tr.State = TrainState{Epoch: 1, Untested: &EpochMetrics{Epoch: 1, TrainLoss: 0.5}}
	path := filepath.Join(t.TempDir(), "c.ckpt")
	if err := tr.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadCheckpoint(path, 1)
	if err != nil || back.State.Untested == nil || *back.State.Untested != *tr.State.Untested {
		t.Errorf("untested epoch lost in the round trip: %v", err)
	}
}
