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
