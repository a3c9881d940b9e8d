package qgemm

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ninedge/ninedge/quant/fixedpoint"
)

// case_ fills a GEMM problem; mode picks how extreme its values are.
type case_ struct {
	m, n, k  int
	lda, ldc int
	tightA   bool // a ends right after the last row's K bytes: no slack past K to over-read
	mode     int
}

const (
	modeRandom   = iota // uniform activations and weights, realistic scales
	modeExtreme         // activations 0 or 255, weights ±127 or -128, shifts anywhere in 1..62
	modeSaturate        // everything maximal: huge sums, most outputs clamp to 255
	modeNegative        // weights mostly negative: most sums ≤ 0
)

type problem struct {
	a                 []uint8
	b                 []int8
	bias, mult, shift []int32
}

func (tc case_) problem(rng *rand.Rand) problem {
	pr := problem{
		a:     make([]uint8, (tc.m-1)*tc.lda+tc.k),
		b:     make([]int8, tc.k*tc.n),
		bias:  make([]int32, tc.n),
		mult:  make([]int32, tc.n),
		shift: make([]int32, tc.n),
	}
	if !tc.tightA {
		pr.a = append(pr.a, make([]uint8, tc.lda-tc.k)...)
	}
	for i := range pr.a {
		switch tc.mode {
		case modeExtreme:
			pr.a[i] = uint8(rng.IntN(2) * 255)
		case modeSaturate:
			pr.a[i] = 255
		default:
			pr.a[i] = uint8(rng.IntN(256))
		}
	}
	for i := range pr.b {
		switch tc.mode {
		case modeExtreme:
			pr.b[i] = []int8{127, -127, -128, 0}[rng.IntN(4)]
		case modeSaturate:
			pr.b[i] = 127
		case modeNegative:
			pr.b[i] = int8(-rng.IntN(128))
			if rng.IntN(8) == 0 {
				pr.b[i] = int8(rng.IntN(128))
			}
		default:
			pr.b[i] = int8(rng.IntN(255) - 127)
		}
	}
	// A typical sum's magnitude, to pick scales that put outputs across 0..255.
	typical := 128 * 74 * math.Sqrt(float64(tc.k))
	for j := range tc.n {
		pr.bias[j] = int32(rng.IntN(1<<16) - 1<<15)
		scale := rng.Float64() * 1.5 * 255 / typical
		m, s, err := fixedpoint.Multiplier(scale)
		if err != nil {
			panic(err)
		}
		switch {
		case tc.mode == modeExtreme || rng.IntN(8) == 0:
			m = int32(1<<30 + rng.IntN(1<<30))
			s = int32(1 + rng.IntN(fixedpoint.MaxShift))
		case rng.IntN(16) == 0:
			m, s = 0, 1 // a scale too small to represent
		case rng.IntN(16) == 0:
			m, s = 1<<31-1, 1 // the largest product: acc·(2^31-1) + 1, clamped
		}
		switch rng.IntN(16) {
		case 0:
			pr.bias[j] = 1<<31 - 1 - int32(rng.IntN(1<<20)) // near int32's edge: sums wrap as in RunRef
		case 1:
			pr.bias[j] = -1 << 31
		case 2:
			pr.bias[j] = 0
		}
		pr.mult[j], pr.shift[j] = m, s
	}
	return pr
}

// pack packs the problem for kernel kn, first clamping the weights into the range kn is
// exact on: a narrow kernel is then tested at its limits (clamping puts many weights exactly
// there).
func (pr problem) pack(kn *kernel, tc case_) *Packed {
	if m := kn.maxAbsB; m != 0 {
		for i, v := range pr.b {
			pr.b[i] = min(m, max(-m, v))
		}
	}
	return pack(kn, tc.k, tc.n, pr.b, pr.bias, pr.mult, pr.shift)
}

// cOut returns an output buffer of m rows of ldc bytes plus a guard tail, all set to a
// sentinel that Run must leave alone outside the m×n block.
func cOut(m, ldc int) []uint8 {
	c := make([]uint8, m*ldc+37)
	for i := range c {
		c[i] = 0xA5
	}
	return c
}

// checkAgainstRef runs pk.Run and pk.RunRef and compares every byte, guards included.
func checkAgainstRef(t *testing.T, name string, pk *Packed, tc case_, a []uint8) {
	t.Helper()
	want := cOut(tc.m, tc.ldc)
	got := cOut(tc.m, tc.ldc)
	pk.RunRef(tc.m, a, tc.lda, want, tc.ldc)
	pk.Run(tc.m, a, tc.lda, got, tc.ldc)
	if bytes.Equal(got, want) {
		return
	}
	for i := range got {
		if got[i] != want[i] {
			r, j := i/tc.ldc, i%tc.ldc
			t.Fatalf("%s %+v: c[%d] (row %d, col %d) = %d, want %d", name, tc, i, r, j, got[i], want[i])
		}
	}
}

func sizesCases() []case_ {
	var cs []case_
	ms := []int{1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 96}
	ns := []int{1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 96, 192}
	ks := []int{1, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 75, 192}
	i := 0
	for _, m := range ms {
		for _, n := range ns {
			for _, k := range ks {
				i++
				// The full product is large under emulation: take every third, in a
				// pattern that still gives each m, n and k every residue.
				if i%3 != 0 {
					continue
				}
				cs = append(cs, case_{m: m, n: n, k: k, lda: k + i%5, ldc: n + i%7, tightA: i%2 == 0, mode: i % 4})
			}
		}
	}
	// Long K, including every tail of the copied chunks.
	for _, k := range []int{255, 256, 257, 511, 1728, 2400} {
		cs = append(cs, case_{m: 13, n: 33, k: k, lda: k, ldc: 33, tightA: true, mode: modeRandom},
			case_{m: 25, n: 17, k: k, lda: k + 3, ldc: 40, mode: modeExtreme},
			case_{m: 5, n: 10, k: k, lda: k + 1, ldc: 10, tightA: true, mode: modeSaturate})
	}
	return cs
}

// TestRunMatchesRef compares Run with RunRef, byte for byte and guards included, for every
// kernel this CPU runs.
func TestRunMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := sizesCases()
	for _, kn := range kernels {
		t.Run(kn.name, func(t *testing.T) {
			for _, tc := range cases {
				pr := tc.problem(rng)
				pk := pr.pack(kn, tc)
				checkAgainstRef(t, kn.name, pk, tc, pr.a)
			}
		})
	}
}

// TestNINShapes runs the network's own shapes, which the benchmarks time.
func TestNINShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kn := range kernels {
		for _, s := range ninShapes {
			tc := case_{m: s.m, n: s.n, k: s.k, lda: s.k, ldc: s.n, tightA: true, mode: modeRandom}
			if testing.Short() || kn == &goKernel {
				tc.m = min(tc.m, 40)
			}
			pr := tc.problem(rng)
			pk := pr.pack(kn, tc)
			checkAgainstRef(t, kn.name, pk, tc, pr.a)
		}
	}
}

// TestTwins compares each kernel's assembly with its Go twin on the same packed tiles, for
// the micro-kernel (fresh and accumulating) and the requantization.
func TestTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kn := range kernels {
		for _, kk := range []int{0, kn.kstep, 3 * kn.kstep, 64, 2400} {
			kk = roundUp(kk, kn.kstep)
			tc := case_{m: kn.mr, n: 2 * kn.nr, k: max(kk, 1), lda: max(kk, 1) + 16, ldc: 2 * kn.nr, mode: kk % 4}
			pr := tc.problem(rng)
			pk := pr.pack(kn, tc)
			w := pk.w[len(pk.w)/2:] // the second panel
			got := make([]int32, kn.mr*kn.nr)
			want := make([]int32, kn.mr*kn.nr)
			for i := range got {
				got[i] = int32(rng.Uint32())
				want[i] = got[i]
			}
			for _, accum := range []bool{false, true} {
				kn.gemm(pr.a, tc.lda, w, kk, got, accum)
				kn.gemmGo(pr.a, tc.lda, w, kk, want, accum)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s gemm kk=%d accum=%v: t[%d] = %d, Go twin %d", kn.name, kk, accum, i, got[i], want[i])
					}
				}
			}

			// Requantization of arbitrary int32 tiles, edge values included.
			for i := range got {
				switch rng.IntN(6) {
				case 0:
					got[i] = []int32{0, 1, -1, 1<<31 - 1, -1 << 31, 255, 256}[rng.IntN(7)]
				case 1:
					got[i] = int32(rng.IntN(1 << 12))
				default:
					got[i] = int32(rng.Uint32())
				}
			}
			for rows := 1; rows <= kn.mr; rows += max(1, kn.mr/3) {
				ldc := kn.nr + 5
				cg, cw := cOut(rows, ldc), cOut(rows, ldc)
				kn.requant(got, rows, pk, kn.nr, cg, ldc)
				requantGo(got, rows, kn.nr, pk, kn.nr, cw, ldc)
				if !bytes.Equal(cg, cw) {
					t.Fatalf("%s requant rows=%d: got %v, Go twin %v", kn.name, rows, cg, cw)
				}
			}
		}
	}
}

// TestConcurrentRows splits M over goroutines at odd boundaries, as the CPU backend does.
func TestConcurrentRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, kn := range kernels {
		tc := case_{m: 301, n: 96, k: 75, lda: 75, ldc: 100, tightA: true, mode: modeRandom}
		pr := tc.problem(rng)
		pk := pr.pack(kn, tc)
		want, got := cOut(tc.m, tc.ldc), cOut(tc.m, tc.ldc)
		pk.RunRef(tc.m, pr.a, tc.lda, want, tc.ldc)
		bounds := []int{0, 1, 14, 100, 101, 190, 250, 301}
		var wg sync.WaitGroup
		for g := 0; g+1 < len(bounds); g++ {
			lo, hi := bounds[g], bounds[g+1]
			wg.Go(func() {
				for range 20 {
					pk.Run(hi-lo, pr.a[lo*tc.lda:], tc.lda, got[lo*tc.ldc:], tc.ldc)
				}
			})
		}
		wg.Wait()
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: concurrent Run differs from RunRef", kn.name)
		}
	}
}

func TestRunAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, kn := range kernels {
		tc := case_{m: 37, n: 40, k: 75, lda: 75, ldc: 40, tightA: true}
		pr := tc.problem(rng)
		pk := pr.pack(kn, tc)
		c := make([]uint8, tc.m*tc.ldc)
		if n := testing.AllocsPerRun(10, func() { pk.Run(tc.m, pr.a, tc.lda, c, tc.ldc) }); n != 0 {
			t.Errorf("%s: Run allocates %v times", kn.name, n)
		}
	}
}

// TestKernelSelection checks that start-up picks the fastest kernel the CPU has: under qemu,
// QEMU_CPU names the emulated core, which must get exactly the path it supports. Pack gives a
// kernel limited to narrow weights only the matrices it is exact on.
func TestKernelSelection(t *testing.T) {
	t.Logf("kernel: %s (available: %v)", Kernel(), kernelNames())
	general := kernels[slices.IndexFunc(kernels, func(kn *kernel) bool { return kn.maxAbsB == 0 })]
	if Kernel() != general.name {
		t.Fatalf("Kernel() = %s, want %s", Kernel(), general.name)
	}
	want := map[string]string{"cortex-a72": "neon", "cortex-a76": "sdot"}[os.Getenv("QEMU_CPU")]
	if want != "" && Kernel() != want && Kernel() != "go" {
		t.Fatalf("QEMU_CPU=%s: kernel %s, want %s", os.Getenv("QEMU_CPU"), Kernel(), want)
	}
	one := []int32{1 << 30}
	for _, kn := range kernels {
		if kn.maxAbsB == 0 {
			break
		}
		m := kn.maxAbsB
		for _, tc := range []struct {
			b    []int8
			want string
		}{
			{[]int8{m, -m, 0, 1}, kn.name},
			{[]int8{m, -m - 1, 0, 1}, general.name},
			{[]int8{m + 1, 0, 0, 1}, general.name},
		} {
			if got := Pack(2, 2, tc.b, make([]int32, 2), append(one, one...), []int32{1, 1}).Kernel(); got != tc.want {
				t.Errorf("Pack(%v) chose %s, want %s", tc.b, got, tc.want)
			}
		}
	}
}

func kernelNames() []string {
	var s []string
	for _, kn := range kernels {
		s = append(s, kn.name)
	}
	return s
}

func TestPackRejects(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mult, shift int32
	}{{"shift 0", 1 << 30, 0}, {"shift 63", 1 << 30, 63}, {"negative multiplier", -1, 5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Pack did not panic", tc.name)
				}
			}()
			Pack(1, 1, []int8{1}, []int32{0}, []int32{tc.mult}, []int32{tc.shift})
		}()
	}
}

var ninShapes = []struct{ m, n, k int }{
	{1024, 192, 75}, {1024, 160, 192}, {1024, 96, 160}, {256, 192, 2400},
	{256, 192, 192}, {64, 192, 1728}, {64, 192, 192}, {64, 10, 192},
}

// benchProblem is a GEMM of NIN's size with weights of the given bits: 8 is the full range,
// 7 what `ninquant convert --weight-bits 7` emits.
func benchProblem(m, n, k, bits int) (*Packed, []uint8, []uint8) {
	rng := rand.New(rand.NewPCG(11, 12))
	tc := case_{m: m, n: n, k: k, lda: k, ldc: n, tightA: true}
	pr := tc.problem(rng)
	for i, v := range pr.b {
		pr.b[i] = v >> (8 - bits)
	}
	return Pack(k, n, pr.b, pr.bias, pr.mult, pr.shift), pr.a, make([]uint8, m*n)
}

// BenchmarkGEMM times Run and RunRef on one core for each NIN shape; GOPS counts 2 ops per MAC.
func BenchmarkGEMM(b *testing.B) {
	for _, s := range ninShapes {
		for _, bits := range []int{8, 7} {
			pk, a, c := benchProblem(s.m, s.n, s.k, bits)
			for _, impl := range []string{"fast", "ref"} {
				run := pk.Run
				if impl == "ref" {
					run = pk.RunRef
				}
				b.Run(fmt.Sprintf("M%d_N%d_K%d/w%d/%s/%s", s.m, s.n, s.k, bits, pk.Kernel(), impl), func(b *testing.B) {
					for b.Loop() {
						run(s.m, a, s.k, c, s.n)
					}
					b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
				})
			}
		}
	}
}

// BenchmarkNIN runs every shape of one image in turn: ms/image is the network's GEMM time.
func BenchmarkNIN(b *testing.B) {
	type job struct {
		pk   *Packed
		a, c []uint8
		m    int
	}
	for _, bits := range []int{8, 7} {
		var jobs []job
		macs := 0
		for _, s := range ninShapes {
			pk, a, c := benchProblem(s.m, s.n, s.k, bits)
			jobs = append(jobs, job{pk, a, c, s.m})
			macs += s.m * s.n * s.k
		}
		b.Run(fmt.Sprintf("w%d/%s", bits, jobs[0].pk.Kernel()), func(b *testing.B) {
			for b.Loop() {
				for _, j := range jobs {
					j.pk.Run(j.m, j.a, j.pk.K(), j.c, j.pk.N())
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/image")
			b.ReportMetric(2*float64(macs)/sec/1e9, "GOPS")
		})
	}
}

// TestLayoutsWithTwins runs Run through every declared kernel's layout and tile shape with
// its Go twin, including kernels this CPU cannot run (here that checks the packing and the
// row and column tiling a VNNI or SDOT machine would use). A copy of a kernel is not one the
// dispatch recognizes, so it runs gemmGo and requantGo.
func TestLayoutsWithTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	cases := sizesCases()
	for _, kn := range declared {
		twin := *kn
		twin.name += "-twin"
		for i, tc := range cases {
			if i%4 != 0 && tc.k < 256 {
				continue
			}
			pr := tc.problem(rng)
			pk := pr.pack(&twin, tc)
			checkAgainstRef(t, twin.name, pk, tc, pr.a)
		}
	}
}

// TestPeak runs every probe this CPU has (an illegal instruction or a wrong register would
// crash here) and checks that kernels without one report no peak.
func TestPeak(t *testing.T) {
	for _, kn := range kernels {
		got := Peak(kn.name, 1, 10*time.Millisecond)
		t.Logf("%s: %.1f G multiply-adds/s on one goroutine", kn.name, got/1e9)
		if (got > 0) != (kn.probe != nil) {
			t.Errorf("%s: peak %v with probe %v", kn.name, got, kn.probe != nil)
		}
	}
	if Peak("no such kernel", 1, time.Millisecond) != 0 {
		t.Error("a peak for an unknown kernel")
	}
}

// TestHiShift runs panels whose shifts are all 33 or more, which kernels with hiShift
// requantize from the products' high halves, at the shifts' ends (33, 62) and the
// multipliers' (2^30, 2^31−1), against RunRef; a panel with one shift below 33 takes the
// general path.
func TestHiShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, kn := range kernels {
		for _, n := range []int{5, 32, 70} {
			tc := case_{m: 29, n: n, k: 75, lda: 75, ldc: n, tightA: true, mode: modeRandom}
			pr := tc.problem(rng)
			for j := range n {
				switch rng.IntN(4) {
				case 0:
					pr.mult[j], pr.shift[j] = 1<<31-1, 33
				case 1:
					pr.mult[j], pr.shift[j] = 1<<30, int32(33+rng.IntN(30))
				default:
					pr.mult[j], pr.shift[j] = int32(1<<30+rng.IntN(1<<30)), int32(33+rng.IntN(12))
				}
			}
			if n > 40 {
				pr.shift[40] = 32 // column 40's panel takes the general path
			}
			pk := pr.pack(kn, tc)
			if kn.hiShift && (!pk.hi[0] || n > 40 && pk.hi[40/kn.nr]) {
				t.Fatalf("%s n=%d: panels %v", kn.name, n, pk.hi)
			}
			checkAgainstRef(t, kn.name, pk, tc, pr.a)
		}
	}
}
