package sgemm

// epilogue is GemmBiasReLU's output stage.
type epilogue struct {
	bias []float32 // indexed by the column of the whole product; nil: none
	relu bool
}

// apply runs the epilogue on the rows×cols block of C at c (rows ldc apart), whose column 0
// is column col0 of the product. A nil epilogue does nothing.
func (ep *epilogue) apply(c []float32, ldc, rows, cols, col0 int) {
	if ep == nil || rows == 0 || cols == 0 {
		return
	}
	var bias []float32
	if ep.bias != nil {
		bias = ep.bias[col0 : col0+cols]
	}
	biasReLU(c[:(rows-1)*ldc+cols], ldc, rows, cols, bias, ep.relu)
}

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
