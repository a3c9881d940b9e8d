package fixedpoint

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// bigRequantize is the rule in exact rational arithmetic: round(max(acc,0)·m/2^s) half up,
// clamped to 255.
func bigRequantize(acc, m, s int32) uint8 {
	if acc <= 0 {
		return 0
	}
	num := new(big.Int).Mul(big.NewInt(int64(acc)), big.NewInt(int64(m)))
	den := new(big.Int).Lsh(big.NewInt(1), uint(s))
	// floor((num + den/2) / den)
	num.Add(num, new(big.Int).Rsh(den, 1))
	q := new(big.Int).Div(num, den)
	if q.Cmp(big.NewInt(255)) > 0 {
		return 255
	}
	return uint8(q.Int64())
}

func TestRequantizeMatchesBigInt(t *testing.T) {
	edges := []int32{math.MinInt32, -1, 0, 1, 2, 127, 128, 255, 256, 1 << 20, math.MaxInt32 - 1, math.MaxInt32}
	mults := []int32{0, 1 << 30, 1<<30 + 1, 1518500250, math.MaxInt32}
	for _, acc := range edges {
		for _, m := range mults {
			for s := int32(1); s <= MaxShift; s++ {
				if got, want := Requantize(acc, m, s), bigRequantize(acc, m, s); got != want {
					t.Fatalf("Requantize(%d, %d, %d) = %d, want %d", acc, m, s, got, want)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		acc := int32(r.Uint32())
		m := int32(1<<30 + r.IntN(1<<30))
		s := int32(1 + r.IntN(MaxShift))
		if got, want := Requantize(acc, m, s), bigRequantize(acc, m, s); got != want {
			t.Fatalf("Requantize(%d, %d, %d) = %d, want %d", acc, m, s, got, want)
		}
	}
}

func TestRequantizeTiesRoundUp(t *testing.T) {
	// m·2^-s = 1/2 exactly: 1 → 0.5 → 1, 3 → 1.5 → 2, 5 → 2.5 → 3.
	for acc, want := range map[int32]uint8{1: 1, 3: 2, 5: 3, 2: 1, 509: 255, 510: 255} {
		if got := Requantize(acc, 1<<30, 31); got != want {
			t.Errorf("Requantize(%d, 1/2) = %d, want %d", acc, got, want)
		}
	}
}

func TestMultiplier(t *testing.T) {
	for _, real := range []float64{1e-9, 1e-6, 0.00390625, 0.1, 0.5, 0.999999999, 1, 3.7, 1 << 29} {
		m, s, err := Multiplier(real)
		if err != nil {
			t.Fatalf("%v: %v", real, err)
		}
		if m < 1<<30 || s < 1 || s > MaxShift {
			t.Fatalf("%v: m %d s %d out of range", real, m, s)
		}
		if rel := math.Abs(Real(m, s)-real) / real; rel > 1e-9 {
			t.Errorf("%v: represented as %v (rel error %g)", real, Real(m, s), rel)
		}
	}
	if m, s, err := Multiplier(1e-30); err != nil || m != 0 || s != 1 || Requantize(math.MaxInt32, m, s) != 0 {
		t.Errorf("tiny multiplier: %d %d %v", m, s, err)
	}
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1), 1 << 31} {
		if _, _, err := Multiplier(bad); err == nil {
			t.Errorf("Multiplier(%v) accepted", bad)
		}
	}
}

func TestDivRound(t *testing.T) {
	for _, tc := range []struct{ sum, count, want int32 }{
		{0, 9, 0}, {4, 9, 0}, {5, 9, 1}, {1, 2, 1}, {3, 2, 2}, {2295, 9, 255}, {64 * 255, 64, 255}, {31, 64, 0}, {32, 64, 1},
	} {
		if got := DivRound(tc.sum, tc.count); got != tc.want {
			t.Errorf("DivRound(%d, %d) = %d, want %d", tc.sum, tc.count, got, tc.want)
		}
	}
}
