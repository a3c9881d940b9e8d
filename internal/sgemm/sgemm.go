// Package sgemm multiplies float32 matrices: the hot loop of the float forward pass (im2col and
// 1×1 convolutions as GEMM) and of training, whose gradients need the transposed variants.
//
// Gemm follows the BLIS/Goto design. op(B) is packed in kc×nc blocks, laid out as the
// micro-kernel reads them (micro-panels nr wide, zero-padded to whole ones), that stay in
// cache while they meet all of A. op(A) goes in mc×kc blocks that stay in L2, packed into
// micro-panels mr high as well unless the kernel reads it in place: the x86 kernels only
// broadcast single values of A, so a row-major A needs no packing. A register-blocked
// assembly micro-kernel computes one mr×nr tile of C at a time; tiles at the edges of C are
// computed aside and merged. The kernels are AVX2+FMA (6×16) and AVX-512 (12×32) on amd64 and
// NEON (12×8) on arm64; portable Go serves other architectures and the purego build tag.
//
// A product with a thin A, a few rows such as one image's ZCA whitening, skips all of that:
// packing B would cost more than the product, so thin streams B once through axpys instead.
package sgemm

import (
	"fmt"
	"sync"
)

// kernel is a micro-kernel with the cache blocking tuned for it.
type kernel struct {
	name   string
	mr, nr int // the micro-tile: one call computes mr×nr values of C
	// Cache blocks: an mc×kc block of A stays in L2 while it meets every kc×nr micro-panel
	// of B, which stays in L1; a packed kc×nc block of B stays in L2 or L3. mc is a multiple
	// of mr and nc of nr.
	mc, kc, nc int
	// micro sets c[i*ldc+j] = Σp a[i*rsA+p*csA]·b[p*nr+j] + beta·c[i*ldc+j] for i < mr,
	// j < nr, p < k, and overwrites c (NaN included) when beta is 0. b is a packed micro-panel
	// (nr values of a row of B for each p); a is a packed one (rsA 1, csA mr) unless strided.
	micro func(k int, a []float32, rsA, csA int, b, c []float32, ldc int, beta float32)
	// strided says that micro takes any rsA and csA, so A can be read where it lies.
	strided bool
	// axpy sets y[j] += alpha·x[j] for j < len(y), x being at least as long: the inner loop
	// of the products with a thin A (see thin).
	axpy func(alpha float32, x, y []float32)
}

// minWork is the number of multiply-adds below which another goroutine costs more than it
// saves: starting and joining one takes a few microseconds, about the time one core needs for
// this much work. Tests lower it to split small products.
var minWork = 1 << 18

// Kernel names the micro-kernel Gemm uses on this machine. Sums run in its order, so
// results are bit-identical only between machines that use the same kernel.
func Kernel() string { return kernels[0].name }

// Gemm computes C = op(A)·op(B) + beta·C, op(X) = X or Xᵀ, using up to `threads` goroutines.
// op(A) is m×k, op(B) is k×n, C is m×n; lda/ldb/ldc are row strides.
//
// All matrices are row-major: A is m×k (k×m when transA), B is k×n (n×k when transB). When
// beta is 0, C is only written, so it may hold anything, NaN included. threads below 1 means
// 1. Elements of C outside the m×n matrix (the rest of each ldc row) are never touched.
func Gemm(threads int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs("Gemm", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	gemm(&kernels[0], threads, nil, transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// GemmBiasReLU is Gemm followed by c[i][j] = max(c[i][j] + bias[j], 0): a convolution's
// output stage. bias may be nil (none), and relu false leaves out the max. It does this to
// each block of C as soon as its sums are complete, while the block is still in cache: as a
// pass of its own over a large C, the same arithmetic took a third to a half as long as the
// product itself in the pointwise convolutions of nin-cifar10.
func GemmBiasReLU(threads int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32, relu bool) {
	checkArgs("GemmBiasReLU", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if bias != nil && len(bias) < n {
		panic(fmt.Sprintf("sgemm.GemmBiasReLU: len(bias)=%d < n=%d", len(bias), n))
	}
	var ep *epilogue
	if bias != nil || relu {
		ep = &epilogue{bias: bias, relu: relu}
	}
	gemm(&kernels[0], threads, ep, transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// Workspace is one goroutine's packing buffers, for callers that must not allocate per call:
// Gemm's pooled ones may be dropped by a garbage collection and allocated again.
type Workspace struct {
	w  workspace
	ep epilogue // here rather than on the stack, which it would escape from
}

// GemmBiasReLU is the package's GemmBiasReLU with beta 0, on the calling goroutine only, with
// ws's buffers (grown on first use, then reused), and always through the packed path, never
// thin's axpys: each value of C is then summed in one order that depends on k and the
// kernel only, not on m, so a caller may split the rows of C between calls (and goroutines)
// any way it likes and get the same bits.
func (ws *Workspace) GemmBiasReLU(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, bias []float32, relu bool) {
	checkArgs("Workspace.GemmBiasReLU", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if bias != nil && len(bias) < n {
		panic(fmt.Sprintf("sgemm.Workspace.GemmBiasReLU: len(bias)=%d < n=%d", len(bias), n))
	}
	if m == 0 || n == 0 {
		return
	}
	ws.ep = epilogue{bias: bias, relu: relu}
	ep := &ws.ep
	if k == 0 {
		scale(m, n, 0, c, ldc)
		ep.apply(c, ldc, m, n, 0)
		return
	}
	serialIn(&ws.w, &kernels[0], ep, 0, transA, transB, m, n, k, a, lda, b, ldb, 0, c, ldc)
}

// Reserve grows ws's buffers for every product of Workspace.GemmBiasReLU with at most m rows,
// n columns and k, so that none allocates.
func (ws *Workspace) Reserve(m, n, k int) {
	kern := &kernels[0]
	kc := blockSize(max(k, 1), kern.kc, 1)
	mc := (min(max(m, 1), kern.mc) + kern.mr - 1) / kern.mr * kern.mr // the largest block of any m' ≤ m
	nc := blockSize(max(n, 1), kern.nc, kern.nr)
	ws.w.a = grow(ws.w.a, mc*kc)
	ws.w.b = grow(ws.w.b, nc*kc)
	ws.w.tile = grow(ws.w.tile, kern.mr*kern.nr)
}

// Add sets y[j] += x[j] for j < len(y), x being at least as long, with the vector
// instructions the GEMM uses: the scatter-add of a column gradient back onto an image (col2im),
// which Go's scalar loop ran at a third of the speed.
func Add(y, x []float32) {
	kernels[0].axpy(1, x, y)
}

// GemmRef is the naive triple loop: the oracle, kept simple.
func GemmRef(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs("GemmRef", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var x, y float32
				if transA {
					x = a[p*lda+i]
				} else {
					x = a[i*lda+p]
				}
				if transB {
					y = b[j*ldb+p]
				} else {
					y = b[p*ldb+j]
				}
				s += x * y
			}
			if beta == 0 {
				c[i*ldc+j] = s
			} else {
				c[i*ldc+j] = s + beta*c[i*ldc+j]
			}
		}
	}
}

// checkArgs panics unless the dimensions are valid and each slice holds its whole matrix,
// so that a bad call fails here with a message rather than deep in a kernel.
func checkArgs(fn string, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("sgemm.%s: negative dimension m=%d n=%d k=%d", fn, m, n, k))
	}
	check := func(name string, s []float32, rows, cols, ld int) {
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("sgemm.%s: ld%s=%d < %d columns", fn, name, ld, cols))
		}
		if rows > 0 && cols > 0 && len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("sgemm.%s: len(%s)=%d < %d for %d×%d with ld%s=%d",
				fn, name, len(s), (rows-1)*ld+cols, rows, cols, name, ld))
		}
	}
	if transA {
		check("a", a, k, m, lda)
	} else {
		check("a", a, m, k, lda)
	}
	if transB {
		check("b", b, n, k, ldb)
	} else {
		check("b", b, k, n, ldb)
	}
	check("c", c, m, n, ldc)
}

// gemm runs Gemm with the given kernel, so that tests can drive every kernel and odd blockings
// through the same code; ep (nil: none) is applied to C at the end. A thin product goes to
// thin, any other to serial. It splits C into one part per goroutine, by rows or by columns
// as splitRows says; a thin product always by columns, since each part then reads only its
// own columns of B.
func gemm(kern *kernel, threads int, ep *epilogue, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scale(m, n, beta, c, ldc)
		ep.apply(c, ldc, m, n, 0)
		return
	}
	isThin := m <= thinRows && !transB
	run, unit := serial, kern.nr // unit: the columns of a tile, the least a part may have
	if isThin {
		run, unit = thin, thinUnit
	}
	t := int(min(int64(max(threads, 1)), max(int64(m)*int64(n)*int64(k)/int64(minWork), 1)))
	byRows := t > 1 && !isThin && splitRows(kern, t, transA, lda, m, n)
	tiles := (n + unit - 1) / unit
	if byRows {
		tiles = (m + kern.mr - 1) / kern.mr
	}
	t = min(t, tiles)
	if t == 1 {
		run(kern, ep, 0, transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// part runs the share of C from tile tiles*i/t up to tile tiles*(i+1)/t.
	part := func(i int) {
		if byRows {
			r0 := min(tiles*i/t*kern.mr, m)
			r1 := min(tiles*(i+1)/t*kern.mr, m)
			ao := r0 * lda
			if transA {
				ao = r0
			}
			run(kern, ep, 0, transA, transB, r1-r0, n, k, a[ao:], lda, b, ldb, beta, c[r0*ldc:], ldc)
		} else {
			c0 := min(tiles*i/t*unit, n)
			c1 := min(tiles*(i+1)/t*unit, n)
			bo := c0
			if transB {
				bo = c0 * ldb
			}
			run(kern, ep, c0, transA, transB, m, c1-c0, k, a, lda, b[bo:], ldb, beta, c[c0:], ldc)
		}
	}
	var wg sync.WaitGroup
	for i := 1; i < t; i++ {
		wg.Go(func() { part(i) })
	}
	part(0)
	wg.Wait()
}

// splitRows says whether t goroutines finish sooner with a share of the rows of C each than
// with a share of the columns. Each part packs what it needs on its own, so a row split packs
// all of B (k×n) in every goroutine and a column split all of A (m×k), unless the kernel reads
// A in place; and parts are whole tiles, so a thin split wastes part of its last one. The
// estimate per unit of k, in multiply-adds at 16 per cycle: the largest part's tiles, plus B
// packing at half a cycle a value and A packing at one.
func splitRows(kern *kernel, t int, transA bool, lda, m, n int) bool {
	rowTiles, colTiles := (m+kern.mr-1)/kern.mr, (n+kern.nr-1)/kern.nr
	rows, cols := rowTiles*kern.mr, colTiles*kern.nr // C padded to whole tiles
	partRows := (rowTiles + t - 1) / t * kern.mr
	partCols := (colTiles + t - 1) / t * kern.nr
	byRows := partRows*cols + 8*cols
	byCols := rows*partCols + 8*partCols
	if !readsInPlace(kern, transA, lda) {
		byRows += 16 * partRows
		byCols += 16 * rows
	}
	return byRows <= byCols
}

// scale sets C = beta·C, the whole product when k is 0; beta 0 clears C even of NaN.
func scale(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// A product with at most thinRows rows of A (and B not transposed) is computed by thin.
// Packing B would cost more than the whole product: each value of B is used m times only, so
// the packed path reads B, writes it and reads it again for a few multiply-adds each, and
// its micro-kernels compute whole mr-row tiles of which most rows are padding. But thin loads
// a row of B once per row of A (from L1 after the first) and loads and stores all of C for
// each row of B, so from some m on packing pays. Measured with BenchmarkThin on AVX2 (best
// of six): n = k = 3072, thin 4.6 ms against 6.8 at m = 1, 5.95 against 6.33 at m = 4, 6.30
// against 6.04 at m = 5; n = k = 192, 15 µs against 16 at m = 4, even at m = 5.
const thinRows = 4

// thinUnit is the column granularity of thin's blocks and of its split over goroutines: 16
// values, one 64-byte cache line of a row of C or B.
const thinUnit = 16

// thinCols bounds the values of C (m·width) in one column block of thin: 256 KiB, half of a
// 512 KiB L2, so that the block stays there while all k rows of B stream past it. Blocks
// sized for L1 cut each row of B into runs of a few KiB instead, and the hardware prefetchers,
// which stop at page boundaries, restart on each: at n = k = 3072 and m = 2 to 4, 16 KiB
// blocks took 1.3–1.5 times as long. Tests lower it.
var thinCols = 1 << 16

// thin computes C = op(A)·B + beta·C for m ≤ thinRows as axpys, c(i,:) += op(A)(i,p)·B(p,:),
// so that B is read once from memory: a matrix-vector product is limited by that read. C
// goes in column blocks that stay in L2; each block visits every row of B, in order. ep and
// j0 are serial's.
func thin(kern *kernel, ep *epilogue, col0 int, transA, _ bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	scale(m, n, beta, c, ldc)
	rs, cs := lda, 1 // op(A)(i, p) is a[i*rs+p*cs]
	if transA {
		rs, cs = 1, lda
	}
	nb := blockSize(n, max(thinCols/m, thinUnit), thinUnit)
	for j0 := 0; j0 < n; j0 += nb {
		j1 := min(j0+nb, n)
		for p := 0; p < k; p++ {
			row := b[p*ldb+j0 : p*ldb+j1]
			for i := 0; i < m; i++ {
				kern.axpy(a[i*rs+p*cs], row, c[i*ldc+j0:i*ldc+j1])
			}
		}
		ep.apply(c[j0:], ldc, m, j1-j0, col0+j0)
	}
}

// workspace holds one goroutine's packing buffers. Pooling them makes steady-state calls
// allocation-free: a pack of A or B is hundreds of kilobytes.
type workspace struct {
	a, b []float32
	tile []float32 // an mr×nr tile for the edges of C, which the kernel cannot write in place
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

// grow returns s resliced to n elements, reallocated only when too small.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// blockSize splits total into the fewest blocks of at most max (a multiple of unit) and
// returns the even block size rounded up to unit: k=300 with kc=256 makes two blocks of 152,
// not 256 and a thin, inefficient 44.
func blockSize(total, max, unit int) int {
	nb := (total + max - 1) / max
	s := (total + nb - 1) / nb
	return (s + unit - 1) / unit * unit
}

// serial computes the whole product on the calling goroutine with the five loops of the
// Goto algorithm around the micro-kernel. C is columns col0 on of the caller's product, which
// is what ep's bias is indexed by.
func serial(kern *kernel, ep *epilogue, col0 int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	w := workspaces.Get().(*workspace)
	defer workspaces.Put(w)
	serialIn(w, kern, ep, col0, transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// serialIn is serial with the caller's workspace.
func serialIn(w *workspace, kern *kernel, ep *epilogue, col0 int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := kern.mr, kern.nr
	kc := blockSize(k, kern.kc, 1)
	mc := blockSize(m, kern.mc, mr)
	nc := blockSize(n, kern.nc, nr)
	w.a = grow(w.a, mc*kc)
	w.b = grow(w.b, nc*kc)
	w.tile = grow(w.tile, mr*nr)
	direct := readsInPlace(kern, transA, lda)
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(nr, transB, kb, nb, b, ldb, pc, jc, w.b)
			bet := beta
			if pc > 0 {
				bet = 1 // later k blocks add to what the first one stored
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				var blk aBlock
				if direct {
					blk = aBlock{a: a[ic*lda+pc:], step: lda, rs: lda, cs: 1}
					if full := mb / mr * mr; full < mb {
						// The last rows do not fill a micro-panel: pack them with zero rows.
						packA(mr, false, mb-full, kb, a, lda, ic+full, pc, w.a)
						blk.edge = w.a[:mr*kb]
					}
				} else {
					packA(mr, transA, mb, kb, a, lda, ic, pc, w.a)
					blk = aBlock{a: w.a, step: kb, rs: 1, cs: mr}
				}
				var last *epilogue // applied with the last k block, which completes the sums
				if pc+kb == k {
					last = ep
				}
				macro(kern, w, &blk, mb, nb, kb, bet, c[ic*ldc+jc:], ldc, last, col0+jc)
			}
		}
	}
}

// readsInPlace says whether serial leaves A unpacked. A strided kernel only broadcasts single
// values of A, so a row-major A is read where it lies and spared a packing pass, unless its
// row stride is a multiple of 512 values (2 KiB). Such rows start at a few offsets within a
// 64 KiB way of L2 (set indices repeat every 64 KiB), so the 1 KiB row segments of an mc×kc
// block pile up in a few sets, more than their ways hold, and evict one another before the
// next micro-panel of B reuses them: measured, the product then runs at half speed or less.
func readsInPlace(kern *kernel, transA bool, lda int) bool {
	return kern.strided && !transA && lda%512 != 0
}

// aBlock says where macro finds the micro-panels of an mb×kb block of A: the one of rows
// ir..ir+mr at a[ir*step:], with element (i, p) at i*rs+p*cs from there, except the partial
// last one, which is in edge when that is set.
type aBlock struct {
	a            []float32
	step, rs, cs int
	edge         []float32
}

// macro multiplies the mb×kb block of A by the packed kb×nb block of B into C. The B
// micro-panel is the outer loop so that it stays in L1 while the A micro-panels stream from L2.
// ep (nil: none) goes over each column panel of C once it is done, while it is in L1; C's
// column 0 is column col0 of the product.
func macro(kern *kernel, w *workspace, blk *aBlock, mb, nb, kb int, beta float32, c []float32, ldc int, ep *epilogue, col0 int) {
	mr, nr := kern.mr, kern.nr
	for jr := 0; jr < nb; jr += nr {
		bp := w.b[jr*kb : (jr+nr)*kb]
		cols := min(nr, nb-jr)
		for ir := 0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			ap, rs, cs := blk.a[ir*blk.step:], blk.rs, blk.cs
			if rows < mr && blk.edge != nil {
				ap, rs, cs = blk.edge, 1, mr
			}
			if rows == mr && cols == nr {
				kern.micro(kb, ap, rs, cs, bp, c[ir*ldc+jr:], ldc, beta)
				continue
			}
			// An edge tile: compute the whole padded tile aside, then merge only the part
			// inside C.
			kern.micro(kb, ap, rs, cs, bp, w.tile, nr, 0)
			for i := 0; i < rows; i++ {
				src := w.tile[i*nr : i*nr+cols]
				dst := c[(ir+i)*ldc+jr : (ir+i)*ldc+jr+cols]
				if beta == 0 {
					copy(dst, src)
					continue
				}
				for j, v := range src {
					dst[j] = v + beta*dst[j]
				}
			}
		}
		ep.apply(c[jr:], ldc, mb, cols, col0+jr)
	}
}

// packA copies the mb×kb block of op(A) at (ic, pc) into dst as micro-panels of mr rows: for
// each p, the mr values of column p, the rows past mb zero.
func packA(mr int, trans bool, mb, kb int, a []float32, lda, ic, pc int, dst []float32) {
	if trans {
		// op(A)(i, p) = a[p*lda+i]: the columns of op(A) are contiguous.
		packContig(dst, mr, a, pc*lda+ic, lda, kb, mb)
		return
	}
	for ir := 0; ir < mb; ir += mr {
		transpose(dst[ir*kb:(ir+mr)*kb], mr, a, (ic+ir)*lda+pc, lda, min(mr, mb-ir), kb)
	}
}

// packB copies the kb×nb block of op(B) at (pc, jc) into dst as micro-panels of nr columns:
// for each p, the nr values of row p, the columns past nb zero.
func packB(nr int, trans bool, kb, nb int, b []float32, ldb, pc, jc int, dst []float32) {
	if !trans {
		// op(B)(p, j) = b[p*ldb+j]: the rows of op(B) are contiguous.
		packContig(dst, nr, b, pc*ldb+jc, ldb, kb, nb)
		return
	}
	for jr := 0; jr < nb; jr += nr {
		transpose(dst[jr*kb:(jr+nr)*kb], nr, b, (jc+jr)*ldb+pc, ldb, min(nr, nb-jr), kb)
	}
}

// packContig packs kb contiguous source rows, src[o+p*ld:][:n] for p < kb, into micro-panels
// w wide: value j of row p goes to d[j/w*w*kb+p*w+j%w], zero-padded to whole panels. It
// goes row by row of the source so that the reads are sequential whatever the stride.
func packContig(d []float32, w int, src []float32, o, ld, kb, n int) {
	full := n / w
	if full > 0 {
		for p := 0; p < kb; p++ {
			copyRowsFull(d[p*w:], w*kb, src[o+p*ld:], w, w, full)
		}
	}
	if rest := n - full*w; rest > 0 {
		e := d[full*w*kb : (full+1)*w*kb]
		clear(e)
		copyRowsFull(e, w, src[o+full*w:], ld, rest, kb)
	}
}

// transpose packs a micro-panel whose source is transposed: column i of d (w wide, kb rows
// deep) is src[o+i*ld:][:kb] for i < n, zero from n on. It gathers four columns at a time so
// that each row of d is written with whole vector stores.
func transpose(d []float32, w int, src []float32, o, ld, n, kb int) {
	d = d[:w*kb]
	i := 0
	for ; i+4 <= n; i += 4 {
		transpose4(d[i:], w, src[o+i*ld:], ld, kb)
	}
	for ; i < n; i++ {
		for p, v := range src[o+i*ld : o+i*ld+kb] {
			d[p*w+i] = v
		}
	}
	for ; i < w; i++ {
		for p := 0; p < kb; p++ {
			d[p*w+i] = 0
		}
	}
}
