//go:build !amd64 || purego

package train

// The complement of batchnorm_amd64.go (amd64 && !purego): only amd64 has these in assembly,
// so arm64 is on this side of the tree's (amd64 || arm64) && !purego split.

// Where Go's loops are all there is, the batch-norm passes are their Go contracts.

func bnStats(z []float32, rows, c int, s, sq []float64) { bnStatsGo(z, rows, c, c, s, sq) }

func bnApply(z, y []float32, rows, c int, scale, shift []float32, relu bool) {
	bnApplyGo(z, y, rows, c, c, scale, shift, relu)
}

func bnGradStats(z, dy []float32, rows, c int, bn *batchNorm, relu bool, sg, sgx []float64) {
	bnGradStatsGo(z, dy, rows, c, c, bn.scale, bn.shift, bn.mean, bn.invStd, relu, sg, sgx)
}

func bnGradApply(z, dy []float32, rows, c int, bn *batchNorm, relu bool) {
	bnGradApplyGo(z, dy, rows, c, c, bn.scale, bn.shift, bn.coef[:c], bn.coef[c:2*c], bn.coef[2*c:], relu)
}
