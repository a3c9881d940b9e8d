// Package u8vec holds the byte-vector loops of pooling: a running byte max, byte sums widened
// to uint16, and the rounded division of those sums by a window's cell count. Each has a Go
// reference loop (its doc comment) and assembly for amd64 (AVX2) and arm64 (NEON) that must
// reproduce it bit for bit; the build tag purego keeps only the Go loops.
package u8vec

import "fmt"

// kernel names one implementation of every loop; tests try each.
type kernel struct{ name string }

var goKernel = kernel{name: "go"}

// best is the fastest kernel this CPU runs.
var best = kernels[0]

// Max keeps the larger byte; src must be at least as long as dst and must not overlap it.
//
//	for i := range dst { dst[i] = max(dst[i], src[i]) }
func Max(dst, src []uint8) { best.max(dst, src[:len(dst)]) }

// AddWiden adds bytes into uint16 sums, which wrap as Go's uint16 does; src must be at least
// as long as acc. Up to 257 bytes of 255 fit in a sum.
//
//	for i := range acc { acc[i] += uint16(src[i]) }
func AddWiden(acc []uint16, src []uint8) { best.addWiden(acc, src[:len(acc)]) }

// DivRound divides sums of count bytes each (sum[i] ≤ 255·count) by count, rounding half up
// as fixedpoint.DivRound does; count must be in [1, 256] and sum at least as long as dst.
//
//	for i := range dst { dst[i] = uint8((uint32(sum[i]) + uint32(count)/2) / uint32(count)) }
func DivRound(dst []uint8, sum []uint16, count int) {
	if count < 1 || count > MaxCount {
		panic(fmt.Sprintf("u8vec: DivRound count %d outside [1, %d]", count, MaxCount))
	}
	best.divRound(dst, sum[:len(dst)], count)
}

// MaxCount is the largest count DivRound takes: 255·256 plus the rounding half (128) still
// fits the assembly's 16-bit lanes.
const MaxCount = 256
