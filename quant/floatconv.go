package quant

import (
	"math"

	"github.com/ninedge/ninedge/internal/sgemm"
)

// FloatScratch is one goroutine's buffers for Node.FloatRows, made by NewFloatScratch for
// the largest node it serves.
type FloatScratch struct {
	ws       sgemm.Workspace
	col, sum []float32
	deq      []float32    // one image, dequantized
	lut      [256]float32 // the dequantized value of each input byte
}

// floatBlock is how many output pixels FloatRows computes with one SGEMM: the block's im2col
// rows and sums stay in L2 (nin-cifar10's conv1: 70 and 180 KiB), and B is packed once per
// block.
const floatBlock = 240

// NewFloatScratch returns buffers with which FloatRows of any of nodes allocates nothing.
func NewFloatScratch(nodes ...*Node) *FloatScratch {
	s := &FloatScratch{}
	for _, n := range nodes {
		s.reserve(n)
	}
	return s
}

func (s *FloatScratch) reserve(n *Node) {
	if len(s.col) < floatBlock*n.K() {
		s.col = make([]float32, floatBlock*n.K())
	}
	if len(s.sum) < floatBlock*n.Out.C {
		s.sum = make([]float32, floatBlock*n.Out.C)
	}
	if len(s.deq) < n.In.Size() {
		s.deq = make([]float32, n.In.Size())
	}
	s.ws.Reserve(floatBlock, n.Out.C, n.K())
}

// FloatConv runs a layer kept in float on one image: the reference's call of FloatRows.
func (n *Node) FloatConv(x, y []uint8) {
	n.FloatRows(x, y, 0, n.Out.H*n.Out.W, NewFloatScratch(n))
}

// FloatRows runs output rows [r0, r1) of a layer kept in float, x and y holding a batch of
// images (row = image·H·W + pixel): dequantize (the padding value reads as an exact 0),
// im2col, internal/sgemm's product with the bias and ReLU, and rounding to the output's scale
// (half away from zero). Each value is summed in one fixed float32 order, internal/sgemm's
// packed path for this K on this CPU (Workspace.GemmBiasReLU), whatever rows a call covers:
// backends split the rows between goroutines and still match the reference bit for bit.
func (n *Node) FloatRows(x, y []uint8, r0, r1 int, s *FloatScratch) {
	in, out, k, nc := n.In, n.Out, n.Kernel, n.Out.C
	K, pix := n.K(), out.H*out.W
	for v := range s.lut {
		s.lut[v] = float32(int32(v)-int32(n.PadValue)) * n.InScale
	}
	s.reserve(n) // nothing to do where NewFloatScratch was given n
	inv := 1 / float64(n.OutScale)
	// The image is dequantized once, so that im2col copies runs of floats: a k×k window reads
	// each input value k² times.
	src, deq := s.deq[:in.Size()], -1
	for b0 := r0; b0 < r1; b0 += floatBlock {
		b1 := min(b0+floatBlock, r1)
		for r := b0; r < b1; r++ {
			img, p := r/pix, r%pix
			oy, ox := p/out.W, p%out.W
			if img != deq {
				for i, v := range x[img*in.Size() : (img+1)*in.Size()] {
					src[i] = s.lut[v]
				}
				deq = img
			}
			row := s.col[(r-b0)*K : (r-b0+1)*K]
			x0 := ox*n.Stride - n.Pad
			lo, hi := max(0, -x0), max(min(k, in.W-x0), 0)
			for ky := 0; ky < k; ky++ {
				iy := oy*n.Stride - n.Pad + ky
				d := row[ky*k*in.C : (ky+1)*k*in.C]
				if iy < 0 || iy >= in.H || hi <= lo {
					clear(d)
					continue
				}
				clear(d[:lo*in.C])
				clear(d[hi*in.C:])
				copy(d[lo*in.C:hi*in.C], src[(iy*in.W+x0+lo)*in.C:])
			}
		}
		m := b1 - b0
		s.ws.GemmBiasReLU(false, false, m, nc, K, s.col, K, n.FWeights, nc, s.sum, nc, n.FBias, true)
		dst := y[b0*nc : b1*nc]
		for i, v := range s.sum[:m*nc] {
			dst[i] = roundByte(float64(v) * inv)
		}
	}
}

// roundByte is min(math.Round(x), 255) for x ≥ 0 (the ReLU's output), without math.Round's
// bit twiddling and without a branch on the fraction, which is a coin toss: each took a third
// of a float first layer's time. For x ≥ 0.5, x + 0.5 is a multiple of x's ulp and rounds
// (if at all, into the next binade) without crossing an integer, so truncating it is exact;
// below 0.5 the answer is 0, which x − 0.5's sign (exact there) masks in.
func roundByte(x float64) uint8 {
	if x >= 255 {
		return 255
	}
	q := int64(x + 0.5)
	return uint8(q &^ (int64(math.Float64bits(x-0.5)) >> 63))
}
