package sgemm

// copyRowsGo copies rows of w values from src (rows lds apart) to d (rows ldd
// apart): the packing of B and of transposed A.
func copyRowsGo(d []float32, ldd int, src []float32, lds, w, rows int) {
	for p := 0; p < rows; p++ {
		copy(d[p*ldd:p*ldd+w], src[p*lds:p*lds+w])
	}
}

// transpose4Go sets d[p*w+r] = src[r*ld+p] for r < 4 and p < kb: four columns of a micro-panel
// from four rows of a transposed source (B when transB, A for a packing kernel).
func transpose4Go(d []float32, w int, src []float32, ld, kb int) {
	s0, s1, s2, s3 := src[:kb], src[ld:ld+kb], src[2*ld:2*ld+kb], src[3*ld:3*ld+kb]
	for p := range s0 {
		*(*[4]float32)(d[p*w:]) = [4]float32{s0[p], s1[p], s2[p], s3[p]}
	}
}
