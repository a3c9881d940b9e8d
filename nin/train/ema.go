package train

import (
	"slices"

	"github.com/ninedge/ninedge/internal/parallel"
	"github.com/ninedge/ninedge/nin"
)

// average is the exponential moving average of everything Export reads: weights, the biases
// of layers without BN, BN's γ and β, and BN's running statistics. The statistics are
// averaged with the weights (as timm's ModelEmaV2 averages buffers) rather than taken from
// the live network: the averaged weights sit where the live ones were over the last
// 1/(1−decay) steps, and so do the statistics averaged over the same steps, whereas the live
// running statistics (momentum 0.1) follow only about the last ten steps' weights.
type average struct {
	weights, biases [][]float32  // per layer, as in nin.Model
	bn              []*batchNorm // per layer: γ, β and the running statistics only
	pairs           []avgPair
}

// avgPair is one averaged tensor, named as in a checkpoint.
type avgPair struct {
	name      string
	live, avg []float32
}

// newAverage starts the average at the current values of m and bns.
func newAverage(m *nin.Model, bns []*batchNorm) *average {
	a := &average{weights: make([][]float32, len(m.Weights)), biases: make([][]float32, len(m.Biases)),
		bn: make([]*batchNorm, len(bns))}
	add := func(name string, live []float32) []float32 {
		avg := slices.Clone(live)
		a.pairs = append(a.pairs, avgPair{name: name + ".ema", live: live, avg: avg})
		return avg
	}
	for i, l := range m.Spec.Layers {
		if m.Weights[i] == nil {
			continue
		}
		a.weights[i] = add(l.Name+".weight", m.Weights[i])
		bn := bns[i]
		if bn == nil {
			a.biases[i] = add(l.Name+".bias", m.Biases[i])
			continue
		}
		a.biases[i] = slices.Clone(m.Biases[i]) // zero: BN's β replaces the bias
		a.bn[i] = &batchNorm{gamma: add(l.Name+".bn.gamma", bn.gamma), beta: add(l.Name+".bn.beta", bn.beta),
			runMean: add(l.Name+".bn.running_mean", bn.runMean), runVar: add(l.Name+".bn.running_var", bn.runVar)}
	}
	return a
}

// update moves the average towards the live values after the run's step-th step (counted
// from 0). The decay ramps up as (1+step)/(10+step) to its set value, so that the average
// soon forgets the random initialisation instead of carrying it for thousands of steps.
func (a *average) update(threads int, decay float64, step int64) {
	d := float32(min(decay, float64(1+step)/float64(10+step)))
	parallel.For(threads, len(a.pairs), func(i int) {
		p := a.pairs[i]
		for j, v := range p.live {
			p.avg[j] = d*p.avg[j] + (1-d)*v
		}
	})
}
