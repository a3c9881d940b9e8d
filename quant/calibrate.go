package quant

import (
	"fmt"
	"math"
	"slices"
)

// Calibration methods: how a tensor's real range is chosen from the values it took on the
// calibration images.
const (
	MethodMinMax     = "minmax"     // the whole observed range: nothing clips, resolution suffers from outliers
	MethodPercentile = "percentile" // clip the top (100−P)% of values
	MethodKL         = "kl"         // the threshold minimising KL divergence (TensorRT's entropy calibration)
)

// Methods lists the calibration methods.
var Methods = []string{MethodMinMax, MethodPercentile, MethodKL}

const histBins = 2048

// stats gathers one tensor's values over the calibration set in two passes: the first finds
// the range, the second fills a fixed histogram over it.
type stats struct {
	lo, hi float64
	hist   []int64
	width  float64
}

func newStats() *stats { return &stats{lo: math.Inf(1), hi: math.Inf(-1)} }

func (s *stats) observeRange(v []float32) {
	for _, x := range v {
		s.lo = min(s.lo, float64(x))
		s.hi = max(s.hi, float64(x))
	}
}

func (s *stats) startHistogram() {
	s.lo = min(s.lo, 0)
	s.hi = max(s.hi, 0)
	s.hist = make([]int64, histBins)
	s.width = (s.hi - s.lo) / histBins
}

func (s *stats) observeHistogram(v []float32) {
	if s.width == 0 {
		s.hist[0] += int64(len(v))
		return
	}
	inv := 1 / s.width
	for _, x := range v {
		b := int((float64(x) - s.lo) * inv)
		s.hist[min(max(b, 0), histBins-1)]++
	}
}

// quantile returns the value below which fraction q of the observations lie.
func (s *stats) quantile(q float64) float64 {
	var total int64
	for _, c := range s.hist {
		total += c
	}
	target := q * float64(total)
	var cum float64
	for i, c := range s.hist {
		if cum+float64(c) >= target {
			frac := 0.0
			if c > 0 {
				frac = (target - cum) / float64(c)
			}
			return s.lo + (float64(i)+frac)*s.width
		}
		cum += float64(c)
	}
	return s.hi
}

// unsignedThreshold picks the top of the range of a non-negative (post-ReLU) tensor.
func (s *stats) unsignedThreshold(method string, percentile float64) float64 {
	switch method {
	case MethodPercentile:
		return s.quantile(percentile / 100)
	case MethodKL:
		return s.lo + float64(klThreshold(s.hist, 255))*s.width
	}
	return s.hi
}

// signedRange picks [lo, hi] for the network input, which GCN+ZCA or mean/std make signed.
// KL divergence is defined here for one-sided ranges, so the input uses percentiles with it.
func (s *stats) signedRange(method string, percentile float64) (float64, float64) {
	if method == MethodMinMax {
		return s.lo, s.hi
	}
	if method == MethodKL {
		percentile = 99.99
	}
	return s.quantile(1 - percentile/100), s.quantile(percentile / 100)
}

// klThreshold returns the bin count whose range, quantized to `levels` steps, loses the least
// information: for each candidate, the clipped distribution P (outliers added to its last bin)
// is compared with Q, P merged into `levels` buckets and spread back over the bins that were
// non-zero in P.
func klThreshold(hist []int64, levels int) int {
	n := len(hist)
	last := n
	for last > 0 && hist[last-1] == 0 {
		last--
	}
	if last <= levels {
		return max(last, 1)
	}
	best, bestKL := n, math.Inf(1)
	p := make([]float64, n)
	q := make([]float64, n)
	for i := levels; i <= n; i++ {
		for j, c := range hist[:i] {
			p[j] = float64(c)
		}
		var outliers float64
		for _, c := range hist[i:] {
			outliers += float64(c)
		}
		p[i-1] += outliers
		clear(q[:i])
		for b := 0; b < levels; b++ {
			start, end := b*i/levels, (b+1)*i/levels
			var sum float64
			nz := 0
			for j := start; j < end; j++ {
				sum += float64(hist[j])
				if hist[j] != 0 {
					nz++
				}
			}
			for j := start; j < end; j++ {
				if hist[j] != 0 {
					q[j] = sum / float64(nz)
				}
			}
		}
		if kl := klDiv(p[:i], q[:i]); kl < bestKL {
			best, bestKL = i, kl
		}
	}
	return best
}

func klDiv(p, q []float64) float64 {
	var sp, sq float64
	for i := range p {
		sp += p[i]
		sq += q[i]
	}
	if sp == 0 || sq == 0 {
		return math.Inf(1)
	}
	var kl float64
	for i := range p {
		if p[i] == 0 {
			continue
		}
		if q[i] == 0 {
			return math.Inf(1)
		}
		pi, qi := p[i]/sp, q[i]/sq
		kl += pi * math.Log(pi/qi)
	}
	return kl
}

func checkMethod(method string, percentile float64) error {
	if !slices.Contains(Methods, method) {
		return fmt.Errorf("unknown calibration method %q (minmax, percentile, kl)", method)
	}
	if method == MethodPercentile && !(percentile > 50 && percentile <= 100) {
		return fmt.Errorf("percentile %v not in (50, 100]", percentile)
	}
	return nil
}
