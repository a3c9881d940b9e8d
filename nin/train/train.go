// Package train trains a float32 NIN (a nin.Model) with SGD: the backward passes of nin's
// layers, batch normalisation (folded into the convs when a model is exported), augmentation,
// checkpoints that continue a run bit for bit, and the fitting of the preprocessing a model is
// trained with (mean and std; GCN+ZCA, which needs gonum). nin applies a fitted preprocessing
// and runs the forward pass without this package, so the edge runtime links none of it.
package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/ninedge/ninedge/internal/parallel"
	"github.com/ninedge/ninedge/nin"
)

// Schedules.
const (
	ScheduleCosine = "cosine" // half a cosine from the base rate down to LR·EndLR over the run
	ScheduleLinear = "linear" // a straight line from the base rate down to LR·EndLR over the run
	ScheduleStep   = "step"   // the base rate multiplied by Gamma at each of Steps
)

// TrainOptions are the hyper-parameters of a run. Checkpoints store them, so a resumed run
// goes on with exactly the settings it started with.
type TrainOptions struct {
	Batch       int       `json:"batch"`
	Epochs      int       `json:"epochs"`
	LR          float64   `json:"lr"`
	Momentum    float64   `json:"momentum"`
	WeightDecay float64   `json:"weight_decay"` // on conv and fc weights only, as Caffe's NIN
	Schedule    string    `json:"schedule"`
	Steps       []float64 `json:"steps,omitempty"` // epochs; empty means half and three quarters of the run
	Gamma       float64   `json:"gamma"`
	Warmup      float64   `json:"warmup"` // epochs of linear warm-up from 0
	// The authors' Caffe files train biases at twice the rate and the last layer (weights,
	// bias and, here, its BN) at a tenth; the last layer's rate replaces the bias one.
	BiasLRMult float64 `json:"bias_lr_mult"`
	LastLRMult float64 `json:"last_lr_mult"`
	BN         bool    `json:"bn"`
	Augment    string  `json:"augment"`
	Seed       uint64  `json:"seed"`

	// Added after the first checkpoints: each is off at its zero value, which is what an
	// older checkpoint's JSON (without the key) decodes to, so such a run continues exactly
	// as it began.

	// EndLR is where the cosine and linear decays end, as a fraction of LR: the run's last
	// step runs at LR·EndLR instead of wasting itself at rate 0.
	EndLR    float64 `json:"end_lr,omitempty"`
	Nesterov bool    `json:"nesterov,omitempty"`
	// LabelSmoothing spreads this much of each target's probability evenly over all classes.
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`
	// EMA is the per-step decay of an exponential moving average of the weights (and of the
	// BN parameters and running statistics), which is what Evaluate and Export then use.
	EMA float64 `json:"ema,omitempty"`
	// Freeze keeps the first Freeze layers with weights fixed (fine-tuning).
	Freeze int `json:"freeze,omitempty"`
}

// DefaultTrainOptions is the "fast" recipe for a new run from scratch, after the CIFAR-10
// speed-run records (David Page's ResNet-9, Keller Jordan's airbench): batch norm after every
// conv, SGD with Nesterov momentum 0.9 at a peak rate of 0.1 for batch 128 (Page's 0.4 at
// 512, scaled linearly), a linear warm-up over a fifth of the run then a linear decay,
// label smoothing and an average of the weights, over 15 epochs. Augmentation is the
// caller's choice: it depends on the data.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{Batch: 128, Epochs: 15, LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4,
		Schedule: ScheduleLinear, Warmup: 3, EndLR: 0.01, Gamma: 0.1, BiasLRMult: 1, LastLRMult: 1,
		BN: true, Nesterov: true, LabelSmoothing: 0.1, EMA: 0.998,
		Augment: AugmentNone, Seed: 1}
}

// Validate rejects options that cannot train, naming the option.
func (o TrainOptions) Validate() error {
	switch {
	case o.Batch < 1 || o.Batch > 4096:
		return fmt.Errorf("batch %d not in 1..4096", o.Batch)
	case o.Epochs < 1:
		return fmt.Errorf("epochs %d < 1", o.Epochs)
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return fmt.Errorf("learning rate %v is not positive", o.LR)
	case !(o.Momentum >= 0 && o.Momentum < 1):
		return fmt.Errorf("momentum %v not in [0, 1)", o.Momentum)
	case !(o.WeightDecay >= 0 && o.WeightDecay < 1):
		return fmt.Errorf("weight decay %v not in [0, 1)", o.WeightDecay)
	case !(o.Warmup >= 0 && o.Warmup < float64(o.Epochs)):
		return fmt.Errorf("warm-up %v epochs not in [0, epochs)", o.Warmup)
	case !(o.BiasLRMult >= 0) || !(o.LastLRMult >= 0) || math.IsInf(o.BiasLRMult, 0) || math.IsInf(o.LastLRMult, 0):
		return fmt.Errorf("learning-rate multipliers %v, %v must be finite and ≥ 0", o.BiasLRMult, o.LastLRMult)
	// Finite whatever the schedule: every option goes into the checkpoint's JSON, which has
	// no NaN or Inf, so a bad one would fail the first checkpoint after an epoch's work.
	case math.IsNaN(o.Gamma) || math.IsInf(o.Gamma, 0):
		return fmt.Errorf("gamma %v is not finite", o.Gamma)
	case !(o.EndLR >= 0 && o.EndLR <= 1):
		return fmt.Errorf("end rate %v not in [0, 1] (a fraction of the base rate)", o.EndLR)
	case !(o.LabelSmoothing >= 0 && o.LabelSmoothing < 1):
		return fmt.Errorf("label smoothing %v not in [0, 1)", o.LabelSmoothing)
	case !(o.EMA >= 0 && o.EMA < 1):
		return fmt.Errorf("EMA decay %v not in [0, 1)", o.EMA)
	case o.Freeze < 0:
		return fmt.Errorf("freeze %d < 0", o.Freeze)
	}
	for _, s := range o.Steps {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("step schedule: step at epoch %v", s)
		}
	}
	switch o.Schedule {
	case ScheduleCosine, ScheduleLinear:
	case ScheduleStep:
		if !(o.Gamma > 0 && o.Gamma <= 1) {
			return fmt.Errorf("step schedule: gamma %v not in (0, 1]", o.Gamma)
		}
	default:
		return fmt.Errorf("unknown schedule %q (%s, %s, %s)", o.Schedule, ScheduleLinear, ScheduleCosine, ScheduleStep)
	}
	return nil
}

// Rate is the learning rate at e epochs into the run (fractional; the trainer passes the
// position at the end of the step, so that warm-up never starts at zero).
func (o TrainOptions) Rate(e float64) float64 {
	r := o.LR
	if e < o.Warmup {
		return r * e / o.Warmup
	}
	p := min((e-o.Warmup)/(float64(o.Epochs)-o.Warmup), 1)
	end := r * o.EndLR
	switch o.Schedule {
	case ScheduleCosine:
		// With EndLR 0 (older checkpoints) this is r·½(1 + cos πp) to the last bit.
		return end + (r-end)*0.5*(1+math.Cos(math.Pi*p))
	case ScheduleLinear:
		return r - (r-end)*p
	default:
		steps := o.Steps
		if len(steps) == 0 {
			steps = []float64{float64(o.Epochs) / 2, float64(o.Epochs) * 3 / 4}
		}
		// e is a step's end: the last step of epoch s ends at e = s and still runs at the
		// rate before the drop.
		for _, s := range steps {
			if e > s {
				r *= o.Gamma
			}
		}
		return r
	}
}

// Data is a training or test split in memory.
type Data struct {
	Images []uint8 // N×H×W×C
	Labels []int32
	N      int
}

func (d Data) check(in nin.Shape, classes int) error {
	if d.N < 1 || len(d.Images) != d.N*in.Size() || len(d.Labels) != d.N {
		return fmt.Errorf("data: %d images, %d bytes, %d labels for input %v", d.N, len(d.Images), len(d.Labels), in)
	}
	for i, l := range d.Labels {
		if l < 0 || int(l) >= classes {
			return fmt.Errorf("data: image %d has label %d, the model has %d classes", i, l, classes)
		}
	}
	return nil
}

// EpochMetrics is one line of the metrics log.
type EpochMetrics struct {
	Epoch        int     `json:"epoch"`
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_acc"`
	TestAcc      float64 `json:"test_acc"`
	LR           float64 `json:"lr"` // at the end of the epoch
	Seconds      float64 `json:"seconds"`
	ImagesPerSec float64 `json:"images_per_s"`
}

// TrainState is where a run stands: what a checkpoint needs beyond the parameters. Pos > 0
// means the run stopped inside epoch Epoch+1; the loss, correct and seen sums are that
// epoch's so far.
type TrainState struct {
	Epoch   int            `json:"epoch"`  // epochs completed
	Pos     int            `json:"pos"`    // batches done in the current epoch
	Step    int64          `json:"step"`   // batches done in the run
	Images  int            `json:"images"` // the training set's size, fixed for the run
	Loss    float64        `json:"loss"`
	Correct int            `json:"correct"`
	Seen    int            `json:"seen"`
	Seconds float64        `json:"seconds"`
	History []EpochMetrics `json:"history"`
	// Untested is an epoch trained but not yet tested: the checkpoint is written as soon as
	// an epoch ends, so a signal or failure in the test pass costs no training.
	Untested *EpochMetrics `json:"untested,omitempty"`
	// LossStart is the mean loss per image of the run's first steps and LossRecent a running
	// average of it since (see watchLoss); both 0 in runs begun before they were kept.
	LossStart  float64 `json:"loss_start,omitempty"`
	LossRecent float64 `json:"loss_recent,omitempty"`
}

// Progress reports a training step to a progress display.
type Progress struct {
	Done, Total  int // images of this epoch
	Loss, Acc    float64
	ImagesPerSec float64
	LR           float64
}

// param is one trainable tensor with its gradient, momentum and rate multipliers.
type param struct {
	name         string
	w, g, v      []float32
	lrMul, wdMul float64
}

// Trainer trains a Model with SGD. It owns every buffer a step needs, allocated once for its
// batch size, so a step allocates nothing large.
type Trainer struct {
	Model   *nin.Model // weights as trained, without BN folded in
	Opt     TrainOptions
	Threads int
	State   TrainState
	// Run is the caller's own record of the run (nintrain's data set, paths and limits),
	// kept in checkpoints verbatim so that a resumed run needs nothing but the checkpoint.
	Run json.RawMessage

	bn     []*batchNorm // per layer, nil where no BN
	params []param
	shapes []nin.Shape
	pp     *nin.Preprocessor

	raw    []uint8     // the batch's augmented pixels
	x      []float32   // the batch preprocessed
	labels []int32     // the batch's labels
	acts   [][]float32 // layer outputs
	pre    [][]float32 // conv outputs before BN, where BN
	arg    [][]int32   // max pool winners
	mask   [][]float32 // dropout masks, 0 or 1/(1−rate)
	grad   [2][]float32
	col    []float32
	dwT    []float32 // a conv weight gradient, transposed (see convBackward)
	part   []float64
	sum    []float64
	perm   []int

	avg       *average // the weights' moving average (Opt.EMA), nil when off
	trainFrom int      // the first layer that trains: the layers below it are frozen

	folded *nin.Model // the model with BN folded in, rebuilt by Export
	runner *nin.Runner
}

// NewTrainer prepares m (initialised by the caller) for training with opt; threads ≤ 0 means
// all cores. The trainer updates m's weights in place; with BN it zeroes the conv biases,
// which BN makes redundant.
func NewTrainer(m *nin.Model, opt TrainOptions, threads int) (*Trainer, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if err := checkAugment(opt.Augment, m.Spec.Input); err != nil {
		return nil, err
	}
	if err := m.Pre.Validate(m.Spec.Input); err != nil {
		return nil, err
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	s := m.Spec
	b := opt.Batch
	t := &Trainer{Model: m, Opt: opt, Threads: threads, shapes: s.Shapes(),
		bn:   make([]*batchNorm, len(s.Layers)),
		pre:  make([][]float32, len(s.Layers)),
		arg:  make([][]int32, len(s.Layers)),
		mask: make([][]float32, len(s.Layers)),
		raw:  make([]uint8, b*s.Input.Size()), x: make([]float32, b*s.Input.Size()),
		labels: make([]int32, b)}
	t.pp = nin.NewPreprocessor(&m.Pre, s.Input, threads)
	last, weighted, k := -1, 0, 0
	for i, l := range s.Layers {
		if l.HasWeights() {
			last = i
			weighted++
		}
	}
	if opt.Freeze >= weighted {
		return nil, fmt.Errorf("freeze %d: the network has %d layers with weights, and the last must train", opt.Freeze, weighted)
	}
	colLen, gradLen, partLen, wLen := 0, b*s.Input.Size(), 0, 0
	for i, l := range s.Layers {
		in, out := t.shapes[i], t.shapes[i+1]
		t.acts = append(t.acts, make([]float32, b*out.Size()))
		gradLen = max(gradLen, b*out.Size())
		partLen = max(partLen, b*out.C)
		switch l.Kind {
		case nin.Conv:
			colLen = max(colLen, backwardColImages(l, in, out, b)*out.H*out.W*l.Kernel*l.Kernel*in.C)
			if opt.BN {
				t.bn[i] = newBatchNorm(l.Out, b)
				t.pre[i] = make([]float32, b*out.Size())
			}
		case nin.MaxPool:
			t.arg[i] = make([]int32, b*out.Size())
		case nin.Dropout:
			t.mask[i] = make([]float32, b*out.Size())
		}
		if !l.HasWeights() {
			continue
		}
		wLen = max(wLen, len(m.Weights[i]))
		lrMul, biasMul := 1.0, opt.BiasLRMult
		if i == last {
			lrMul, biasMul = opt.LastLRMult, opt.LastLRMult
		}
		if k++; k <= opt.Freeze {
			lrMul, biasMul = 0, 0
			t.trainFrom = i + 1
		}
		t.params = append(t.params, newParam(l.Name+".weight", m.Weights[i], lrMul, 1))
		if bn := t.bn[i]; bn != nil {
			// BN's mean subtraction cancels the conv bias, which stays at zero; β takes its place.
			clear(m.Biases[i])
			t.params = append(t.params, newParam(l.Name+".bn.gamma", bn.gamma, lrMul, 0),
				newParam(l.Name+".bn.beta", bn.beta, lrMul, 0))
		} else {
			t.params = append(t.params, newParam(l.Name+".bias", m.Biases[i], biasMul, 0))
		}
	}
	t.grad = [2][]float32{make([]float32, gradLen), make([]float32, gradLen)}
	t.col = make([]float32, colLen)
	t.dwT = make([]float32, wLen)
	t.part = make([]float64, partLen)
	t.sum = make([]float64, partLen/b)
	if opt.EMA > 0 {
		t.avg = newAverage(m, t.bn)
	}
	return t, nil
}

func newParam(name string, w []float32, lrMul, wdMul float64) param {
	return param{name: name, w: w, g: make([]float32, len(w)), v: make([]float32, len(w)), lrMul: lrMul, wdMul: wdMul}
}

// StepsPerEpoch is the number of batches an epoch of n images has: the incomplete last batch
// is dropped (a different one each epoch), since BN statistics of a handful of images are
// noise.
func (t *Trainer) StepsPerEpoch(n int) int { return n / t.Opt.Batch }

// TrainEpoch runs the rest of the current epoch on data, calling progress after each step.
// It returns the epoch's metrics (TestAcc unset) and true when the epoch is complete, or
// false when ctx was cancelled first: the state then marks the position, and a checkpoint
// taken now continues exactly there.
func (t *Trainer) TrainEpoch(ctx context.Context, data Data, progress func(Progress)) (EpochMetrics, bool, error) {
	in := t.Model.Spec.Input
	if err := data.check(in, t.Model.Spec.Classes); err != nil {
		return EpochMetrics{}, false, err
	}
	spe := t.StepsPerEpoch(data.N)
	if spe == 0 {
		return EpochMetrics{}, false, fmt.Errorf("train: %d images make no batch of %d", data.N, t.Opt.Batch)
	}
	st := &t.State
	if st.Images == 0 {
		st.Images = data.N
	}
	if st.Images != data.N {
		return EpochMetrics{}, false, fmt.Errorf("train: the run started on %d training images, not %d", st.Images, data.N)
	}
	if st.Untested != nil {
		return EpochMetrics{}, false, fmt.Errorf("train: epoch %d is not tested yet: Evaluate it and record it in the history first", st.Untested.Epoch)
	}
	if st.Pos < 0 || st.Pos >= spe || st.Seen < 0 || st.Correct < 0 || st.Correct > st.Seen {
		return EpochMetrics{}, false, fmt.Errorf("train: the state says step %d of %d with %d of %d images right: a damaged checkpoint", st.Pos, spe, st.Correct, st.Seen)
	}
	t.shuffle(data.N)
	b := t.Opt.Batch
	start := time.Now()
	secs0, seen0 := st.Seconds, st.Seen
	lr := 0.0
	for ; st.Pos < spe; st.Pos++ {
		if ctx.Err() != nil {
			st.Seconds = secs0 + time.Since(start).Seconds()
			return EpochMetrics{}, false, nil
		}
		t.gather(data, t.perm[st.Pos*b:(st.Pos+1)*b])
		lr = t.Opt.Rate(float64(st.Epoch) + float64(st.Pos+1)/float64(spe))
		loss, correct, ok := t.step(lr)
		if !ok {
			return EpochMetrics{}, false, &DivergedError{Epoch: st.Epoch + 1, Step: st.Pos + 1, Steps: spe, Loss: loss, LR: lr, BN: t.Opt.BN}
		}
		if err := t.watchLoss(loss/float64(b), lr, spe); err != nil {
			return EpochMetrics{}, false, err
		}
		st.Step++
		st.Loss += loss
		st.Correct += correct
		st.Seen += b
		if el := time.Since(start).Seconds(); progress != nil && el > 0 {
			progress(Progress{Done: st.Seen, Total: spe * b, Loss: st.Loss / float64(st.Seen),
				Acc: float64(st.Correct) / float64(st.Seen), ImagesPerSec: float64(st.Seen-seen0) / el, LR: lr})
		}
	}
	st.Seconds = secs0 + time.Since(start).Seconds()
	em := EpochMetrics{Epoch: st.Epoch + 1, TrainLoss: st.Loss / float64(st.Seen),
		TrainAcc: float64(st.Correct) / float64(st.Seen), LR: lr, Seconds: st.Seconds,
		ImagesPerSec: float64(st.Seen) / st.Seconds}
	st.Epoch++
	st.Pos, st.Loss, st.Correct, st.Seen, st.Seconds = 0, 0, 0, 0, 0
	return em, true, t.checkLearning(em, spe)
}

// shuffle sets perm to this epoch's order of the n training images.
func (t *Trainer) shuffle(n int) {
	if len(t.perm) != n {
		t.perm = make([]int, n)
	}
	for i := range t.perm {
		t.perm[i] = i
	}
	var p rand.PCG
	seedPCG(&p, t.Opt.Seed, streamShuffle, uint64(t.State.Epoch), 0)
	rand.New(&p).Shuffle(n, func(i, j int) { t.perm[i], t.perm[j] = t.perm[j], t.perm[i] })
}

// gather copies the images idx into the batch, augmented, and preprocesses them.
func (t *Trainer) gather(data Data, idx []int) {
	in := t.Model.Spec.Input
	d := in.Size()
	parallel.For(t.Threads, len(idx), func(i int) {
		src, dst := data.Images[idx[i]*d:][:d], t.raw[i*d:][:d]
		t.labels[i] = data.Labels[idx[i]]
		if t.Opt.Augment == AugmentCropFlip {
			var p rand.PCG
			seedPCG(&p, t.Opt.Seed, streamCrop, uint64(t.State.Epoch), uint64(idx[i]))
			cropFlip(src, in, &p, dst)
			return
		}
		copy(dst, src)
	})
	t.pp.Apply(t.raw, len(idx), t.x)
}

// step trains on the gathered batch at learning rate lr and returns the summed loss and the
// number of correct predictions. A loss that is not finite means the weights have blown up:
// the step is not taken, and ok is false, because a NaN loss would otherwise run unnoticed
// for the rest of an hours-long epoch and then fail the checkpoint (JSON has no NaN).
func (t *Trainer) step(lr float64) (loss float64, correct int, ok bool) {
	n := t.Opt.Batch
	scores := t.forward(n)
	s := t.Model.Spec
	loss, correct = softmaxCrossEntropy(scores, t.labels, n, s.Classes, t.Opt.LabelSmoothing, t.grad[0])
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, correct, false
	}
	t.backward(n)
	t.update(lr)
	if t.avg != nil {
		t.avg.update(t.Threads, t.Opt.EMA, t.State.Step)
	}
	return loss, correct, true
}

// input returns layer i's input for the current batch.
func (t *Trainer) input(i, n int) []float32 {
	if i == 0 {
		return t.x[:n*t.shapes[0].Size()]
	}
	return t.acts[i-1][:n*t.shapes[i].Size()]
}

// forward runs the batch in training mode (batch statistics, dropout) and returns the scores.
func (t *Trainer) forward(n int) []float32 {
	m := t.Model
	for i, l := range m.Spec.Layers {
		in, out := t.shapes[i], t.shapes[i+1]
		x, y := t.input(i, n), t.acts[i][:n*out.Size()]
		switch l.Kind {
		case nin.Conv:
			bn := t.bn[i]
			if bn == nil {
				nin.ForwardLayer(t.Threads, x, n, in, l, m.Weights[i], m.Biases[i], out, y, t.col)
				break
			}
			lin := l
			lin.ReLU = false
			nin.ForwardLayer(t.Threads, x, n, in, lin, m.Weights[i], nil, out, t.pre[i], t.col)
			bn.forward(t.Threads, t.pre[i], n, out.H*out.W, l.ReLU, y)
		case nin.FC, nin.AvgPool, nin.GlobalAvg:
			nin.ForwardLayer(t.Threads, x, n, in, l, m.Weights[i], m.Biases[i], out, y, t.col)
		case nin.MaxPool:
			maxPoolTrain(t.Threads, x, n, in, l, out, y, t.arg[i])
		case nin.Dropout:
			t.dropoutMask(i, n, l.Rate, out.Size())
			mulInto(t.Threads, n, y, x, t.mask[i][:n*out.Size()])
		}
	}
	return t.acts[len(m.Spec.Layers)-1][:n*m.Spec.Classes]
}

// dropoutMask draws layer i's mask for this step: inverted dropout, so kept values are scaled
// by 1/(1−rate) in training and inference needs no change.
func (t *Trainer) dropoutMask(i, n int, rate float64, size int) {
	keepBits := math.Float32bits(float32(1 / (1 - rate)))
	// A value is dropped when a uniform 64-bit draw falls below rate·2⁶⁴.
	thr := uint64(rate * (1 << 63) * 2)
	parallel.For(t.Threads, n, func(img int) {
		var p rand.PCG
		seedPCG(&p, t.Opt.Seed, streamDropout, uint64(t.State.Step), uint64(i)<<32|uint64(img))
		m := t.mask[i][img*size:][:size]
		// Branch-free: which values drop is random, and a branch on it mispredicts half the time.
		for j := range m {
			_, drop := bits.Sub64(p.Uint64(), thr, 0) // 1 when the draw is below thr
			m[j] = math.Float32frombits(keepBits &^ -uint32(drop))
		}
	})
}

// backward propagates t.grad[0] (the loss gradient at the scores) through the network and
// leaves every parameter's gradient in its param.
func (t *Trainer) backward(n int) {
	m := t.Model
	g, other := t.grad[0], t.grad[1]
	p := len(t.params)
	// Frozen layers need no gradient, and the layers below them none either.
	for i := len(m.Spec.Layers) - 1; i >= t.trainFrom; i-- {
		l := m.Spec.Layers[i]
		in, out := t.shapes[i], t.shapes[i+1]
		dy := g[:n*out.Size()]
		var dx []float32
		if i > t.trainFrom {
			dx = other[:n*in.Size()]
		}
		x := t.input(i, n)
		switch l.Kind {
		case nin.Conv, nin.FC:
			pix := out.H * out.W
			if bn := t.bn[i]; bn != nil {
				p -= 3
				bn.backward(t.Threads, t.pre[i], dy, n, pix, l.ReLU)
				copy(t.params[p+1].g, bn.dgamma)
				copy(t.params[p+2].g, bn.dbeta)
			} else {
				p -= 2
				reluMaskSum(t.Threads, l.Kind == nin.Conv && l.ReLU, t.acts[i], dy, n, pix, l.Out, t.part)
				reduceParts(t.part, n, l.Out, t.sum)
				for j, v := range t.sum[:l.Out] {
					t.params[p+1].g[j] = float32(v)
				}
			}
			if l.Kind == nin.Conv {
				convBackward(t.Threads, x, n, in, l, m.Weights[i], out, dy, t.params[p].g, dx, t.col, t.dwT)
			} else {
				fcBackward(t.Threads, x, n, in, l, m.Weights[i], dy, t.params[p].g, dx)
			}
		case nin.MaxPool, nin.AvgPool:
			if dx != nil {
				poolBackward(t.Threads, n, in, l, out, dy, t.arg[i], dx)
			}
		case nin.GlobalAvg:
			if dx != nil {
				globalAvgBackward(t.Threads, n, in, dy, dx)
			}
		case nin.Dropout:
			if dx != nil {
				mulInto(t.Threads, n, dx, dy, t.mask[i][:n*out.Size()])
			}
		}
		g, other = other, g
	}
}

// update takes one SGD step: v ← μ·v + g + λ·w, w ← w − lr·v (PyTorch's form, in which the
// momentum buffer does not scale with the learning rate), or with Nesterov momentum
// w ← w − lr·(g + λ·w + μ·v), PyTorch's form of it too.
func (t *Trainer) update(lr float64) {
	mu := float32(t.Opt.Momentum)
	for _, p := range t.params {
		if p.lrMul == 0 {
			continue // frozen: weight decay without a rate would not move it either
		}
		rate := float32(lr * p.lrMul)
		wd := float32(t.Opt.WeightDecay * p.wdMul)
		if !t.Opt.Nesterov {
			for j, g := range p.g {
				v := mu*p.v[j] + g + wd*p.w[j]
				p.v[j] = v
				p.w[j] -= rate * v
			}
			continue
		}
		for j, g := range p.g {
			d := g + wd*p.w[j]
			v := mu*p.v[j] + d
			p.v[j] = v
			p.w[j] -= rate * (d + mu*v)
		}
	}
}

// Export returns the model as inference sees it: BN folded into the convs with its running
// statistics, and the weights' moving average in place of the weights when Opt.EMA is on.
// The result shares nothing with the trainer's buffers, except that repeated calls reuse
// one model, which each call overwrites.
func (t *Trainer) Export() *nin.Model {
	m := t.Model
	weights, biases, bns := m.Weights, m.Biases, t.bn
	if t.avg != nil {
		weights, biases, bns = t.avg.weights, t.avg.biases, t.avg.bn
	}
	if t.folded == nil {
		f := *m
		f.Weights = make([][]float32, len(m.Weights))
		f.Biases = make([][]float32, len(m.Biases))
		for i := range m.Weights {
			if m.Weights[i] != nil {
				f.Weights[i] = make([]float32, len(m.Weights[i]))
				f.Biases[i] = make([]float32, len(m.Biases[i]))
			}
		}
		t.folded = &f
	}
	for i, bn := range bns {
		if weights[i] == nil {
			continue
		}
		if bn == nil {
			copy(t.folded.Weights[i], weights[i])
			copy(t.folded.Biases[i], biases[i])
			continue
		}
		bn.fold(weights[i], biases[i], t.folded.Weights[i], t.folded.Biases[i])
	}
	return t.folded
}

// Evaluate returns the top-1 accuracy of the exported model on data, or ctx's error when it
// is cancelled first.
func (t *Trainer) Evaluate(ctx context.Context, data Data) (float64, error) {
	in := t.Model.Spec.Input
	if err := data.check(in, t.Model.Spec.Classes); err != nil {
		return 0, err
	}
	m := t.Export()
	b := t.Opt.Batch
	if t.runner == nil {
		t.runner = nin.NewRunner(m, b, t.Threads)
	}
	d, c := in.Size(), m.Spec.Classes
	correct := 0
	for i0 := 0; i0 < data.N; i0 += b {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n := min(b, data.N-i0)
		t.pp.Apply(data.Images[i0*d:(i0+n)*d], n, t.x)
		scores := t.runner.Forward(t.x, n)
		for i := 0; i < n; i++ {
			row := scores[i*c : (i+1)*c]
			if slices.Index(row, slices.Max(row)) == int(data.Labels[i0+i]) {
				correct++
			}
		}
	}
	return float64(correct) / float64(data.N), nil
}
