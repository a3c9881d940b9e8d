package backendtest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ninedge/ninedge/quant/fixedpoint"
)

// RequantizeCases returns the (accumulator, multiplier, shift) triples that a device's own
// requantization (GPU code that builds the 64-bit product from 32-bit operations) is checked
// on: every combination of edge accumulators, multipliers and shifts, exact ties on both sides
// of the product's 32-bit boundary, and random values, many of them aimed at outputs in the
// uint8 range, where rounding decides the result. The same triples on every call.
func RequantizeCases() (acc, mult, shift []int32) {
	add := func(a, m, s int32) { acc, mult, shift = append(acc, a), append(mult, m), append(shift, s) }
	accs := []int32{math.MinInt32, -1000, -1, 0, 1, 2, 3, 127, 128, 255, 256, 1 << 15, 1<<16 - 1, 1 << 16,
		1 << 20, 1<<24 + 1, 1<<30 - 1, 1 << 30, math.MaxInt32 - 1, math.MaxInt32}
	mults := []int32{1 << 30, 1<<30 + 1, 1518500250, 3 << 29, math.MaxInt32 - 1, math.MaxInt32}
	for _, a := range accs {
		for _, m := range mults {
			for s := int32(1); s <= fixedpoint.MaxShift; s++ {
				add(a, m, s)
			}
		}
		add(a, 0, 1) // a scale too small to represent
	}
	// Exact ties acc·m = (2v+1)·2^(s-1), which round up to v+1. Below the 32-bit boundary:
	// m = 2^30 + 2^(s-1) with acc 1 and 3.
	for s := int32(1); s <= 30; s++ {
		add(1, 1<<30+1<<(s-1), s)
		add(3, 1<<30+1<<(s-1), s)
	}
	// Above it: m = 2^30 and acc = (2v+1)·2^(s-31); m = 3·2^29 and acc = (2v+1)/3·2^(s-30)
	// where 3 divides 2v+1.
	for s := int32(31); s <= 61; s++ {
		add(1<<(s-31), 1<<30, s)
		if s <= 58 {
			add(5<<(s-31), 1<<30, s)
		}
		if s > 52 {
			continue
		}
		for _, v := range []int32{0, 1, 4, 127, 253, 254, 255, 256} {
			add((2*v+1)<<(s-31), 1<<30, s)
			if (2*v+1)%3 == 0 {
				add((2*v+1)/3<<(s-30), 3<<29, s)
			}
		}
	}
	// acc ≈ v·2^s/m for a target v around the uint8 range, give or take 2, clamped to int32;
	// one in 7 random bits.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		m := int32(1<<30 + r.Int64N(1<<30))
		s := int32(1 + r.IntN(fixedpoint.MaxShift))
		v := r.Float64()*300 - 10
		a := v*math.Exp2(float64(s))/float64(m) + float64(r.IntN(5)-2)
		if i%7 == 0 || a >= math.MaxInt32 || a <= math.MinInt32 {
			add(int32(r.Uint32()), m, s)
		} else {
			add(int32(a), m, s)
		}
	}
	// Random bits, or half the time an accumulator in 1..300·2^s/2^62 (an output near 0..255
	// for the smallest multipliers).
	r = rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		s := int32(1 + r.IntN(fixedpoint.MaxShift))
		a := int32(r.Uint32())
		if r.IntN(2) == 0 {
			hi := int64(300) << 32 >> (62 - s)
			a = int32(1 + r.Int64N(min(max(hi, 1), math.MaxInt32)))
		}
		add(a, int32(1<<30+r.IntN(1<<30)), s)
	}
	return acc, mult, shift
}

// Requantize checks a device's requantization against fixedpoint.Requantize on
// RequantizeCases: run computes one output per triple on the device.
func Requantize(t *testing.T, run func(acc, mult, shift []int32) ([]uint8, error)) {
	t.Helper()
	acc, mult, shift := RequantizeCases()
	got, err := run(acc, mult, shift)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < len(acc) {
		t.Fatalf("%d outputs for %d triples", len(got), len(acc))
	}
	bad := 0
	for i := range acc {
		if want := fixedpoint.Requantize(acc[i], mult[i], shift[i]); got[i] != want {
			if bad++; bad <= 10 {
				t.Errorf("Requantize(%d, %d, %d): device %d, reference %d", acc[i], mult[i], shift[i], got[i], want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d requantizations differ", bad, len(acc))
	}
}
