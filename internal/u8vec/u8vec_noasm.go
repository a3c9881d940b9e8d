//go:build (!amd64 && !arm64) || purego

package u8vec

// kernels lists the kernels this CPU runs, fastest first; tests try each.
var kernels = []*kernel{&goKernel}

func (k *kernel) max(dst, src []uint8) { maxGo(dst, src) }

func (k *kernel) addWiden(acc []uint16, src []uint8) { addWidenGo(acc, src) }

func (k *kernel) divRound(dst []uint8, sum []uint16, count int) { divRoundGo(dst, sum, count) }
