// Package fixedpoint is the one place that defines ninedge's integer rounding rules. Every
// backend (Go, assembly, OpenCL C, GLSL) mirrors these functions bit for bit, and the tests of
// each backend compare against them.
//
// Every NIN activation follows a ReLU, so requantization only ever sees a non-negative
// accumulator: negative sums become 0 before any rounding happens. Rounding is therefore
// round-half-up, which on non-negative values is the same as round half away from zero.
//
// A real multiplier r > 0 is stored as an int32 mantissa m in [2^30, 2^31) and a right shift s
// in [1, 62] with r ≈ m·2^-s. The product x·m of a non-negative int32 x fits in 63 bits, so
// the rule needs 64-bit arithmetic in Go and a 32×32→64 multiply (mul_hi / umulExtended) on a
// GPU, never a 64-bit integer type there.
package fixedpoint

import (
	"fmt"
	"math"
)

// MaxShift is the largest right shift a multiplier may carry.
const MaxShift = 62

// Multiplier splits a positive real scale into a mantissa in [2^30, 2^31) and a right shift.
// A scale too small to represent (it would shift every int32 to zero) returns m = 0, s = 1,
// which requantizes everything to 0, as the real arithmetic would.
func Multiplier(real float64) (m int32, s int32, err error) {
	if !(real > 0) || math.IsInf(real, 0) {
		return 0, 0, fmt.Errorf("fixedpoint: multiplier %v is not a finite positive number", real)
	}
	frac, exp := math.Frexp(real) // real = frac·2^exp, frac in [0.5, 1)
	q := math.Round(frac * (1 << 31))
	if q == 1<<31 { // rounding carried into the next power of two
		q /= 2
		exp++
	}
	shift := 31 - exp
	if shift < 1 {
		return 0, 0, fmt.Errorf("fixedpoint: multiplier %v is too large (at most 2^30)", real)
	}
	if shift > MaxShift {
		return 0, 1, nil
	}
	return int32(q), int32(shift), nil
}

// Real returns the real value a mantissa and shift stand for.
func Real(m, s int32) float64 { return float64(m) * math.Pow(2, -float64(s)) }

// Requantize maps an int32 accumulator (bias already added) to a uint8 activation with a fused
// ReLU: max(0, acc)·m·2^-s rounded half up, clamped to 255.
func Requantize(acc, m, s int32) uint8 {
	if acc <= 0 {
		return 0
	}
	v := (int64(acc)*int64(m) + int64(1)<<(s-1)) >> s
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// DivRound divides a non-negative sum by a positive count, rounding half up. Average pooling
// uses it, so that a pooled value is the nearest integer to the true mean.
func DivRound(sum, count int32) int32 {
	return (sum + count/2) / count
}
