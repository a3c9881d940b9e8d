package sgemm

// biasReLUGo is the contract of biasReLU, c[i*ldc+j] = max(c[i*ldc+j] + bias[j], 0) for
// i < rows and j < cols, without the bias when it is nil and without the max when relu is
// false (NaN stays NaN, −0 becomes +0, as Go's max has it); the assembly versions follow it
// bit for bit.
func biasReLUGo(c []float32, ldc, rows, cols int, bias []float32, relu bool) {
	for i := 0; i < rows; i++ {
		row := c[i*ldc:][:cols]
		if bias != nil {
			for j, v := range bias[:cols] {
				row[j] += v
			}
		}
		if relu {
			for j, v := range row {
				row[j] = max(v, 0)
			}
		}
	}
}
