package u8vec

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// lengths covers every tail of the 16-, 32- and 64-element steps, the NIN channel counts and
// a long run.
func lengths() []int {
	var ns []int
	for n := 0; n <= 100; n++ {
		ns = append(ns, n)
	}
	return append(ns, 191, 192, 193, 1000)
}

// guard is how many elements either side of an output must come back unchanged.
const guard = 37

// guarded returns a buffer with n elements of v between two guards of sentinel, and the
// n-element window; off shifts the window so that its alignment varies.
func guarded[T any](n, off int, sentinel T, fill func(i int) T) (buf, win []T) {
	buf = make([]T, guard+off+n+guard)
	for i := range buf {
		buf[i] = sentinel
	}
	win = buf[guard+off : guard+off+n]
	for i := range win {
		win[i] = fill(i)
	}
	return buf, win
}

// checkGuards fails if anything outside the window of a guarded buffer changed.
func checkGuards[T comparable](t *testing.T, name string, buf []T, n, off int, sentinel T) {
	t.Helper()
	for i, v := range buf {
		if (i < guard+off || i >= guard+off+n) && v != sentinel {
			t.Errorf("%s: wrote %v at guard index %d (window [%d, %d))", name, v, i, guard+off, guard+off+n)
			return
		}
	}
}

// byteSource gives random bytes; a third of the cases draw only from the extremes, where a
// signed compare or a saturating add would show.
func byteSource(rng *rand.Rand) func(int) uint8 {
	if rng.IntN(3) == 0 {
		ext := []uint8{0, 1, 127, 128, 254, 255}
		return func(int) uint8 { return ext[rng.IntN(len(ext))] }
	}
	return func(int) uint8 { return uint8(rng.UintN(256)) }
}

func TestMax(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range kernels {
		for _, n := range lengths() {
			name := fmt.Sprintf("%s/n%d", k.name, n)
			off := n % 5
			dbuf, dst := guarded(n, off, uint8(0xa5), byteSource(rng))
			_, src := guarded(n, n%3, uint8(0x5a), byteSource(rng))
			want := slices.Clone(dst)
			maxGo(want, src)
			srcWas := slices.Clone(src)
			k.max(dst, src)
			if !slices.Equal(dst, want) {
				t.Errorf("%s: got %v, want %v", name, dst, want)
			}
			if !slices.Equal(src, srcWas) {
				t.Errorf("%s: src changed", name)
			}
			checkGuards(t, name, dbuf, n, off, 0xa5)
		}
	}
}

func TestAddWiden(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range kernels {
		for _, n := range lengths() {
			name := fmt.Sprintf("%s/n%d", k.name, n)
			off := n % 5
			// Sums near the top show whether the adds wrap as uint16 (rather than saturate).
			top := n%2 == 0
			abuf, acc := guarded(n, off, uint16(0xa5a5), func(int) uint16 {
				if top {
					return uint16(65535 - rng.IntN(300))
				}
				return uint16(rng.UintN(65536))
			})
			_, src := guarded(n, n%3, uint8(0x5a), byteSource(rng))
			want := slices.Clone(acc)
			addWidenGo(want, src)
			k.addWiden(acc, src)
			if !slices.Equal(acc, want) {
				t.Errorf("%s: got %v, want %v", name, acc, want)
			}
			checkGuards(t, name, abuf, n, off, 0xa5a5)
		}
	}
}

func TestDivRound(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, k := range kernels {
		for _, n := range lengths() {
			for _, count := range []int{1, 2, 3, 4, 6, 9, 1 + rng.IntN(MaxCount), MaxCount} {
				name := fmt.Sprintf("%s/n%d/count%d", k.name, n, count)
				top := 255 * count
				_, sum := guarded(n, n%3, uint16(0x5a5a), func(int) uint16 {
					switch rng.IntN(4) {
					case 0: // either side of a rounding boundary
						return uint16(min(top, max(0, rng.IntN(256)*count+count/2-rng.IntN(2))))
					case 1:
						return uint16(top - rng.IntN(2))
					}
					return uint16(rng.IntN(top + 1))
				})
				off := n % 5
				dbuf, dst := guarded(n, off, uint8(0xa5), func(int) uint8 { return 0xa5 })
				want := make([]uint8, n)
				divRoundGo(want, sum, count)
				k.divRound(dst, sum, count)
				if i := firstDiff(dst, want); i >= 0 {
					t.Errorf("%s: sum[%d] %d: got %d, want %d", name, i, sum[i], dst[i], want[i])
				}
				checkGuards(t, name, dbuf, n, off, 0xa5)
			}
		}
	}
}

// TestDivRoundEverySum checks every count with every sum it can take, which is the whole of
// the multiply-and-correct argument in the assembly.
func TestDivRoundEverySum(t *testing.T) {
	for _, k := range kernels {
		var sum []uint16
		var got, want []uint8
		for count := 1; count <= MaxCount; count++ {
			sum = sum[:0]
			for s := 0; s <= 255*count; s++ {
				sum = append(sum, uint16(s))
			}
			got, want = slices.Grow(got[:0], len(sum))[:len(sum)], slices.Grow(want[:0], len(sum))[:len(sum)]
			k.divRound(got, sum, count)
			divRoundGo(want, sum, count)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("%s: count %d sum %d: got %d, want %d", k.name, count, sum[i], got[i], want[i])
			}
		}
	}
}

func firstDiff(a, b []uint8) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestDivRoundMatchesFixedpoint pins the reference loop to quant's rounding rule.
func TestDivRoundMatchesFixedpoint(t *testing.T) {
	for _, tc := range []struct {
		sum   uint16
		count int
		want  uint8
	}{{0, 9, 0}, {4, 9, 0}, {5, 9, 1}, {1, 2, 1}, {3, 2, 2}, {2295, 9, 255}, {64 * 255, 64, 255}, {31, 64, 0}, {32, 64, 1}, {255 * 256, 256, 255}} {
		got := []uint8{0}
		DivRound(got, []uint16{tc.sum}, tc.count)
		if got[0] != tc.want {
			t.Errorf("DivRound(%d, %d) = %d, want %d", tc.sum, tc.count, got[0], tc.want)
		}
	}
}

func TestBadCalls(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Max short src", func() { Max(make([]uint8, 32), make([]uint8, 31)) }},
		{"AddWiden short src", func() { AddWiden(make([]uint16, 32), make([]uint8, 31)) }},
		{"DivRound short sum", func() { DivRound(make([]uint8, 32), make([]uint16, 31), 9) }},
		{"DivRound count 0", func() { DivRound(make([]uint8, 32), make([]uint16, 32), 0) }},
		{"DivRound count 257", func() { DivRound(make([]uint8, 32), make([]uint16, 32), MaxCount+1) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}

// The benchmarks run each loop at NIN's channel counts (96, 192) and over a whole 32×96 row,
// on the kernel this CPU uses ("fast") and on the Go reference ("ref").
var benchLens = []int{96, 192, 3072}

func benchKernels() map[string]*kernel { return map[string]*kernel{"fast": best, "ref": &goKernel} }

func BenchmarkMax(b *testing.B) {
	for _, n := range benchLens {
		for impl, k := range benchKernels() {
			dst, src := make([]uint8, n), make([]uint8, n)
			for i := range src {
				src[i] = uint8(i * 7)
			}
			b.Run(fmt.Sprintf("n%d/%s/%s", n, k.name, impl), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					k.max(dst, src)
				}
			})
		}
	}
}

func BenchmarkAddWiden(b *testing.B) {
	for _, n := range benchLens {
		for impl, k := range benchKernels() {
			acc, src := make([]uint16, n), make([]uint8, n)
			b.Run(fmt.Sprintf("n%d/%s/%s", n, k.name, impl), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					k.addWiden(acc, src)
				}
			})
		}
	}
}

func BenchmarkDivRound(b *testing.B) {
	for _, n := range benchLens {
		for impl, k := range benchKernels() {
			dst, sum := make([]uint8, n), make([]uint16, n)
			for i := range sum {
				sum[i] = uint16(i % (255 * 9))
			}
			b.Run(fmt.Sprintf("n%d/%s/%s", n, k.name, impl), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					k.divRound(dst, sum, 9)
				}
			})
		}
	}
}
