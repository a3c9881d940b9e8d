package cpu

import (
	"github.com/ninedge/ninedge/internal/u8vec"
	"github.com/ninedge/ninedge/quant"
)

// poolRows runs output rows [r0, r1) (image-major: row = image·H + y) of a max or average
// pool, byte for byte as quant's Node.PoolRow: Caffe's ceil-mode windows clipped at the
// border, the average rounded with fixedpoint.DivRound over the in-bounds cells. Each window
// cell is one vector operation over all channels (NHWC keeps them contiguous).
// rowMax, at least in.W·in.C bytes, is scratch for the max pool.
func poolRows(n *quant.Node, x, y []uint8, r0, r1 int, rowMax []uint8) {
	in, out := n.In, n.Out
	for r := r0; r < r1; r++ {
		img, oy := r/out.H, r%out.H
		xi, yi := x[img*in.Size():(img+1)*in.Size()], y[img*out.Size():(img+1)*out.Size()]
		switch {
		case n.Op == quant.OpMaxPool:
			maxPoolRow(n, xi, yi, oy, rowMax[:in.W*in.C])
		case n.Kernel*n.Kernel <= u8vec.MaxCount:
			avgPoolRow(n, xi, yi, oy)
		default:
			// A larger window could overflow the uint16 sums: quant's int32 loop.
			n.PoolRow(xi, yi, oy)
		}
	}
}

// maxPoolRow takes the maximum over the window's rows first, a whole input row per vector
// call, into rowMax, then over each window's columns there: 2 long calls and 3 short ones per
// output pixel of a 3×3 window instead of 9 short ones, whose fixed cost dominated.
func maxPoolRow(n *quant.Node, x, y []uint8, oy int, rowMax []uint8) {
	in, out, c := n.In, n.Out, n.In.C
	y0, y1 := oy*n.Stride, min(oy*n.Stride+n.Kernel, in.H)
	copy(rowMax, x[y0*in.W*c:(y0+1)*in.W*c])
	for iy := y0 + 1; iy < y1; iy++ {
		u8vec.Max(rowMax, x[iy*in.W*c:])
	}
	for ox := 0; ox < out.W; ox++ {
		x0, x1 := ox*n.Stride, min(ox*n.Stride+n.Kernel, in.W)
		dst := y[(oy*out.W+ox)*c:][:c]
		copy(dst, rowMax[x0*c:])
		for ix := x0 + 1; ix < x1; ix++ {
			u8vec.Max(dst, rowMax[ix*c:])
		}
	}
}

// avgChunk is how many channels an average pool sums at a time, on the stack.
const avgChunk = 256

func avgPoolRow(n *quant.Node, x, y []uint8, oy int) {
	in, out, c := n.In, n.Out, n.In.C
	y0, y1 := oy*n.Stride, min(oy*n.Stride+n.Kernel, in.H)
	var acc [avgChunk]uint16
	for ox := 0; ox < out.W; ox++ {
		x0, x1 := ox*n.Stride, min(ox*n.Stride+n.Kernel, in.W)
		count := (y1 - y0) * (x1 - x0)
		for c0 := 0; c0 < c; c0 += avgChunk {
			sum := acc[:min(avgChunk, c-c0)]
			clear(sum)
			for iy := y0; iy < y1; iy++ {
				for ix := x0; ix < x1; ix++ {
					u8vec.AddWiden(sum, x[(iy*in.W+ix)*c+c0:])
				}
			}
			u8vec.DivRound(y[(oy*out.W+ox)*c+c0:][:len(sum)], sum, count)
		}
	}
}
