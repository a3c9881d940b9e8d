package sgemm

import (
	"fmt"
	"testing"
	"time"
)

func TestTmpFinal(t *testing.T) {
	for _, sh := range ninShapes {
		m, n, k := sh[0], sh[1], sh[2]
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		fl := 2 * float64(m*n*k)
		bestOf := func(reps int, f func()) float64 {
			bd := time.Hour
			for range reps {
				st := time.Now()
				f()
				bd = min(bd, time.Since(st))
			}
			return fl / bd.Seconds() / 1e9
		}
		r := bestOf(3, func() { GemmRef(false, false, m, n, k, a, k, b, n, 0, c, n) })
		g1 := bestOf(300, func() { Gemm(1, false, false, m, n, k, a, k, b, n, 0, c, n) })
		g2 := bestOf(300, func() { Gemm(2, false, false, m, n, k, a, k, b, n, 0, c, n) })
		fmt.Printf("RESULT %-16v ref %6.2f  t1 %6.1f  t2 %6.1f\n", fmt.Sprint(sh), r, g1, g2)
	}
}
