//go:build cgo && opencl

package opencl

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"github.com/jgillich/go-opencl/cl"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/backends/backendtest"
	"github.com/ninedge/ninedge/backends/cpu"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/fixedpoint"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// device returns the first OpenCL device, or skips the test where the machine has none.
func device(tb testing.TB) *Device {
	tb.Helper()
	return backendtest.Devices(tb, Backend{}, nil)[0].(*Device)
}

// Every device describes itself (backendtest.Devices checks what all backends share).
func TestDevices(t *testing.T) {
	backendtest.Devices(t, Backend{}, func(info backends.DeviceInfo) error {
		if info.MemoryMB <= 0 {
			return errors.New("no memory size")
		}
		return nil
	})
}

// The device's requantization must equal fixedpoint.Requantize on edge values (every
// combination of extreme accumulators, multipliers and shifts), exact ties, and random values
// aimed at the uint8 range, where rounding decides the result.
func TestRequantizeKernel(t *testing.T) {
	d := device(t)
	var acc, mult, shift []int32
	add := func(a, m, s int32) { acc, mult, shift = append(acc, a), append(mult, m), append(shift, s) }
	accs := []int32{math.MinInt32, -1000, -1, 0, 1, 2, 3, 127, 128, 255, 256, 1 << 16, 1<<24 + 1, 1<<30 - 1, 1 << 30, math.MaxInt32 - 1, math.MaxInt32}
	mults := []int32{1 << 30, 1<<30 + 1, 1518500250, math.MaxInt32 - 1, math.MaxInt32}
	for _, a := range accs {
		for _, m := range mults {
			for s := int32(1); s <= fixedpoint.MaxShift; s++ {
				add(a, m, s)
			}
		}
		add(a, 0, 1) // a scale too small to represent
	}
	// Exact ties acc·m = (2v+1)·2^(s-1), which round up to v+1: with m = 2^30,
	// acc = (2v+1)·2^(s-31); with m = 3·2^29, acc = (2v+1)/3·2^(s-30) where 3 divides 2v+1.
	for s := int32(31); s <= 52; s++ {
		for _, v := range []int32{0, 1, 4, 127, 253, 254, 255, 256} {
			add((2*v+1)<<(s-31), 1<<30, s)
			if (2*v+1)%3 == 0 {
				add((2*v+1)/3<<(s-30), 3<<29, s)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		m := int32(1<<30 + r.Int64N(1<<30))
		s := int32(1 + r.IntN(fixedpoint.MaxShift))
		// acc ≈ v·2^s/m for a target v around the uint8 range, clamped to int32.
		v := r.Float64()*300 - 10
		a := v * math.Exp2(float64(s)) / float64(m)
		a += float64(r.IntN(5) - 2)
		switch {
		case i%7 == 0: // random bits
			add(int32(r.Uint32()), m, s)
		case a >= math.MaxInt32 || a <= math.MinInt32:
			add(int32(r.Uint32()), m, s)
		default:
			add(int32(a), m, s)
		}
	}
	for len(acc)%8 != 0 { // requant_test works on 8 lanes
		add(0, 0, 1)
	}
	rt, err := d.open("")
	if err != nil {
		t.Fatal(err)
	}
	defer rt.release()
	k, err := rt.prog.CreateKernel("requant_test")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Release()
	var bufs []*cl.MemObject
	for _, v := range [][]int32{acc, mult, shift} {
		b, err := rt.ctx.CreateBuffer(cl.MemReadOnly|cl.MemCopyHostPtr, padInt32(v, len(v), 0))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Release()
		bufs = append(bufs, b)
	}
	out, err := rt.ctx.CreateEmptyBuffer(cl.MemWriteOnly, len(acc))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if err := k.SetArgs(bufs[0], bufs[1], bufs[2], out); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.queue.EnqueueNDRangeKernel(k, nil, []int{len(acc) / 8}, nil, nil); err != nil {
		t.Fatal(err)
	}
	got := make([]uint8, len(acc))
	if _, err := rt.queue.EnqueueReadBuffer(out, true, 0, len(got), unsafe.Pointer(&got[0]), nil); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i := range acc {
		if want := fixedpoint.Requantize(acc[i], mult[i], shift[i]); got[i] != want {
			if bad++; bad <= 10 {
				t.Errorf("Requantize(%d, %d, %d): device %d, reference %d", acc[i], mult[i], shift[i], got[i], want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d values differ", bad, len(acc))
	}
}

// Every test graph, at batch sizes 1 and 3, must give the reference executor's bytes, node by
// node, and runs each image's reference sums; so must the portable kernels, which PoCL on x86
// would not run otherwise. Graphs with a layer kept in float are refused.
func TestMatchesReference(t *testing.T) {
	d := device(t)
	backendtest.MatchesReference(t, d, backendtest.Options{
		RefusesFloat: true,
		Variants: []backendtest.Variant{
			{Name: "native", Prepare: func(g *quant.Graph, batch int) (backends.Plan, error) { return d.prepare(g, batch, "") }},
			{Name: "portable", Prepare: func(g *quant.Graph, batch int) (backends.Plan, error) {
				return d.prepare(g, batch, "-DNINEDGE_PORTABLE")
			}},
		},
	})
}

// The authors' CIFAR-10 NIN, converted to int8 as ninquant does, on real test images.
func TestCIFAR10Model(t *testing.T) { backendtest.CIFAR10(t, device(t)) }

// With no OpenCL driver registered, Devices must say so in an error (the caller then falls
// back to the CPU), never panic. The ICD loader reads its configuration once per process,
// so the check runs in a child process whose loader looks for drivers in an empty folder.
func TestNoDriver(t *testing.T) {
	if os.Getenv("NINEDGE_OPENCL_NO_DRIVER") == "1" {
		devs, err := Backend{}.Devices(backends.Options{})
		fmt.Printf("devices %d, error: %v\n", len(devs), err)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoDriver$", "-test.v")
	cmd.Env = append(os.Environ(), "NINEDGE_OPENCL_NO_DRIVER=1", "OCL_ICD_VENDORS="+t.TempDir(), "OCL_ICD_FILENAMES=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	switch {
	case strings.Contains(string(out), "CL_PLATFORM_NOT_FOUND_KHR"):
	case strings.Contains(string(out), "error: <nil>"):
		t.Skipf("this ICD loader ignores OCL_ICD_VENDORS:\n%s", out)
	default:
		t.Errorf("no driver: want an error naming CL_PLATFORM_NOT_FOUND_KHR, got\n%s", out)
	}
}

// A batch whose buffers the kernels' 32-bit indexes cannot reach is refused before anything
// is allocated, rather than computing garbage.
func TestIndexLimit(t *testing.T) {
	c := quanttest.Cases(t)[0]
	g := quanttest.Graph(t, c.Spec, 1)
	batch := math.MaxInt32/c.Spec.Input.Size() + 1
	if _, err := device(t).Prepare(g, batch); err == nil || !strings.Contains(err.Error(), "32-bit indexes") {
		t.Errorf("batch %d: %v", batch, err)
	}
}

func TestBadCalls(t *testing.T) { backendtest.BadCalls(t, device(t), backendtest.Options{}) }

// Profile must give the reference's sums and a time for every node.
func TestProfile(t *testing.T) { backendtest.Profile(t, device(t), backendtest.TimesAll) }

// Run's own code allocates nothing; go-opencl allocates in every enqueue (the work-size
// slices it converts for C, the event handle whose address it passes to C, the Event it
// returns): 4 per kernel and 2 per transfer (40 for c16-nin's 9 kernels). The count is
// bounded by the commands a run issues, never by the size of the work.
func TestRunAllocations(t *testing.T) {
	backendtest.Allocs(t, device(t), func(p backends.Plan) float64 {
		commands := 2 // the input and the sums
		for _, s := range p.(*Plan).steps {
			commands += len(s.launches)
		}
		return float64(4 * commands)
	})
}

// BenchmarkRun times the CIFAR-10-shaped graph (nin-cifar10's spec with random weights) on
// OpenCL and, for the ratio, on the CPU backend in the same run: one image at a time (the
// latency a camera sees) and batches of 8 (throughput).
func BenchmarkRun(b *testing.B) {
	d := device(b)
	spec, err := nin.LoadSpec("nin-cifar10", nil)
	if err != nil {
		b.Fatal(err)
	}
	g := quanttest.Graph(b, spec, 1)
	for _, batch := range []int{1, 8} {
		in := quanttest.Input(g, 1, batch)
		sums := make([]int32, batch*len(g.Classes))
		for _, dev := range []backends.Device{d, cpu.NewDevice(0)} {
			b.Run(fmt.Sprintf("%s/batch%d", dev.Info().Backend, batch), func(b *testing.B) {
				p, err := dev.Prepare(g, batch)
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				if err := p.Run(in, batch, sums); err != nil { // the first run absorbs lazy compilation
					b.Fatal(err)
				}
				for b.Loop() {
					if err := p.Run(in, batch, sums); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*batch), "ms/image")
			})
		}
	}
}
