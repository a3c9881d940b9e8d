package quant

import (
	"github.com/ninedge/ninedge/nin"

	"github.com/ninedge/ninedge/quant/fixedpoint"
)

// Trace is everything the reference executor computed for one image: each node's uint8
// output (the last node's is empty) and the global average pool's int32 channel sums.
type Trace struct {
	Acts [][]uint8
	Sums []int32
}

// Reference runs the graph on one quantized image with plain loops and integer arithmetic.
// It is the oracle: every backend must reproduce its bytes, node by node.
func (g *Graph) Reference(x []uint8) Trace {
	var t Trace
	cur := x
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Op == OpGlobalAvg {
			t.Sums = make([]int32, n.In.C)
			GlobalSums(cur, n.In, t.Sums)
			t.Acts = append(t.Acts, nil)
			break
		}
		y := make([]uint8, n.Out.Size())
		switch {
		case n.Op == OpConv && n.Float:
			n.FloatConv(cur, y)
		case n.Op == OpConv:
			n.refConv(cur, y)
		default:
			n.Pool(cur, y)
		}
		t.Acts = append(t.Acts, y)
		cur = y
	}
	return t
}

func (n *Node) refConv(x, y []uint8) {
	in, out, k, nc := n.In, n.Out, n.Kernel, n.Out.C
	for oy := 0; oy < out.H; oy++ {
		for ox := 0; ox < out.W; ox++ {
			for o := 0; o < nc; o++ {
				acc := n.Bias[o]
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						iy, ix := oy*n.Stride-n.Pad+ky, ox*n.Stride-n.Pad+kx
						inside := iy >= 0 && iy < in.H && ix >= 0 && ix < in.W
						for c := 0; c < in.C; c++ {
							v := int32(n.PadValue)
							if inside {
								v = int32(x[(iy*in.W+ix)*in.C+c])
							}
							acc += v * int32(n.Weights[((ky*k+kx)*in.C+c)*nc+o])
						}
					}
				}
				y[(oy*out.W+ox)*nc+o] = fixedpoint.Requantize(acc, n.Mult[o], n.Shift[o])
			}
		}
	}
}

// Pool runs a max or average pooling node: Caffe's ceil-mode windows clipped at the border,
// the average divided by the in-bounds count with fixedpoint.DivRound.
func (n *Node) Pool(x, y []uint8) {
	for oy := 0; oy < n.Out.H; oy++ {
		n.PoolRow(x, y, oy)
	}
}

// PoolRow computes output row oy of one image's pooling; backends split work by rows. The
// channel loop is innermost so that every pass reads contiguous memory.
func (n *Node) PoolRow(x, y []uint8, oy int) {
	in, out, c := n.In, n.Out, n.In.C
	y0, y1 := oy*n.Stride, min(oy*n.Stride+n.Kernel, in.H)
	var acc [poolChunk]int32
	for ox := 0; ox < out.W; ox++ {
		x0, x1 := ox*n.Stride, min(ox*n.Stride+n.Kernel, in.W)
		dst := y[(oy*out.W+ox)*c : (oy*out.W+ox+1)*c]
		if n.Op == OpMaxPool {
			clear(dst)
			for iy := y0; iy < y1; iy++ {
				for ix := x0; ix < x1; ix++ {
					src := x[(iy*in.W+ix)*c : (iy*in.W+ix+1)*c]
					src = src[:len(dst)] // one bounds check here, none in the loop
					for ch, v := range src {
						dst[ch] = max(dst[ch], v)
					}
				}
			}
			continue
		}
		count := int32((y1 - y0) * (x1 - x0))
		for c0 := 0; c0 < c; c0 += poolChunk {
			sum := acc[:min(poolChunk, c-c0)]
			clear(sum)
			for iy := y0; iy < y1; iy++ {
				for ix := x0; ix < x1; ix++ {
					src := x[(iy*in.W+ix)*c+c0:][:len(sum)]
					for ch, v := range src {
						sum[ch] += int32(v)
					}
				}
			}
			for ch, s := range sum {
				dst[c0+ch] = uint8(fixedpoint.DivRound(s, count))
			}
		}
	}
}

// poolChunk is how many channels an average pool sums at a time, on the stack.
const poolChunk = 256

// GlobalSums adds each channel over the whole map.
func GlobalSums(x []uint8, in nin.Shape, sums []int32) {
	clear(sums)
	for p := 0; p < in.H*in.W; p++ {
		for ch, v := range x[p*in.C : (p+1)*in.C] {
			sums[ch] += int32(v)
		}
	}
}
