package sgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Workspace.GemmBiasReLU gives every value the same bits whichever rows a call covers (one row
// at a time included, where GemmBiasReLU would take thin's axpys), the bits of the one-call
// product, and allocates nothing once reserved.
func TestWorkspaceRowsInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, d := range []struct{ m, n, k int }{{1, 1, 1}, {7, 33, 75}, {240, 192, 75}, {64, 96, 700}} {
		a, b := operand(rng, d.m, d.k, d.k), operand(rng, d.k, d.n, d.n)
		bias := operand(rng, 1, d.n, d.n)
		var ws Workspace
		ws.Reserve(d.m, d.n, d.k)
		want := make([]float32, d.m*d.n)
		ws.GemmBiasReLU(false, false, d.m, d.n, d.k, a, d.k, b, d.n, want, d.n, bias, true)
		for _, step := range []int{1, 4, 5, 13} {
			got := make([]float32, d.m*d.n)
			allocs := testing.AllocsPerRun(1, func() {
				for r := 0; r < d.m; r += step {
					rows := min(step, d.m-r)
					ws.GemmBiasReLU(false, false, rows, d.n, d.k, a[r*d.k:], d.k, b, d.n, got[r*d.n:], d.n, bias, true)
				}
			})
			if allocs != 0 {
				t.Errorf("%v, rows in steps of %d: %v allocations", d, step, allocs)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v, rows in steps of %d: value %d is %v, the whole product's %v", d, step, i, got[i], want[i])
				}
			}
		}
		ref := make([]float32, d.m*d.n)
		GemmRef(false, false, d.m, d.n, d.k, a, d.k, b, d.n, 0, ref, d.n)
		for i := range ref {
			r := max(ref[i]+bias[i%d.n], 0)
			if math.Abs(float64(want[i]-r)) > 1e-4*float64(d.k) {
				t.Fatalf("%v: value %d is %v, GemmRef with bias and ReLU %v", d, i, want[i], r)
			}
		}
	}
}
