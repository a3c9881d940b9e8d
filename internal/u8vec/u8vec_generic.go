package u8vec

// The Go twins: the reference loops (each exported function's doc comment) that the assembly
// must reproduce bit for bit, which the tests hold it to, the purego build runs, and the
// assembly kernels call for the tail past their last whole block.

func maxGo(dst, src []uint8) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = max(dst[i], src[i])
	}
}

func addWidenGo(acc []uint16, src []uint8) {
	src = src[:len(acc)]
	for i := range acc {
		acc[i] += uint16(src[i])
	}
}

func divRoundGo(dst []uint8, sum []uint16, count int) {
	sum = sum[:len(dst)]
	for i := range dst {
		dst[i] = uint8((uint32(sum[i]) + uint32(count)/2) / uint32(count))
	}
}
