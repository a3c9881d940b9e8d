package sgemm

// axpyGo is kernel.axpy in plain Go, and the contract the assembly versions follow:
//
//	for j := range y {
//		y[j] += alpha * x[j]
//	}
func axpyGo(alpha float32, x, y []float32) {
	x = x[:len(y)]
	for j := range y {
		y[j] += alpha * x[j]
	}
}
