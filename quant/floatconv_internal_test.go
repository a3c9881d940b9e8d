package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// roundByte is math.Round clamped to 255 on every non-negative value, ties and the values
// just beside them included.
func TestRoundByte(t *testing.T) {
	xs := []float64{0, 0.5, 1.5, 2.5, 254.5, 255, 255.5, 300, 1e30, math.Nextafter(0.5, 0), math.Nextafter(0.5, 1),
		math.Nextafter(1.5, 0), math.Nextafter(254.5, 0), math.Nextafter(255, 0), 1e-300}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		xs = append(xs, r.Float64()*260, float64(r.IntN(256))+0.5)
	}
	for _, x := range xs {
		if got, want := roundByte(x), uint8(min(math.Round(x), 255)); got != want {
			t.Fatalf("roundByte(%v) = %d, want %d", x, got, want)
		}
	}
}

func BenchmarkRoundByte(b *testing.B) {
	xs := make([]float64, 4096)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range xs {
		xs[i] = max(0, r.NormFloat64()*60)
	}
	var sink uint8
	for b.Loop() {
		for _, x := range xs {
			sink += roundByte(x)
		}
	}
	_ = sink
}
