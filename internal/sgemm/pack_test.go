package sgemm

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPackTwins holds copyRowsFull and transpose4 to their Go twins, byte for byte, on every
// width and depth around the assembly's 4- and 16-byte steps, with guard values around the
// destination.
func TestPackTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for w := 1; w <= 19; w++ {
		for rows := 0; rows <= 9; rows++ {
			ld := w + rows%3
			src := operand(rng, max(rows, 1), ld, ld)
			got, want := guarded(rows*(w+1)+8), guarded(rows*(w+1)+8)
			copyRowsFull(got, w+1, src, ld, w, rows)
			copyRowsGo(want, w+1, src, ld, w, rows)
			if !slices.Equal(got, want) {
				t.Fatalf("copyRowsFull w=%d rows=%d: %v, twin %v", w, rows, got, want)
			}
		}
	}
	for kb := 0; kb <= 19; kb++ {
		for _, w := range []int{4, 6, 16} {
			ld := kb + 3
			src := operand(rng, 4, ld, ld)
			got, want := guarded(kb*w+8), guarded(kb*w+8)
			transpose4(got, w, src, ld, kb)
			transpose4Go(want, w, src, ld, kb)
			if !slices.Equal(got, want) {
				t.Fatalf("transpose4 w=%d kb=%d: %v, twin %v", w, kb, got, want)
			}
		}
	}
}

func guarded(n int) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = guard
	}
	return d
}
