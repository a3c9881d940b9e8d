//go:build cgo && opencl

package opencl

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"github.com/jgillich/go-opencl/cl"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/backends/backendtest"
	"github.com/ninedge/ninedge/quant"
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

// The device's requantization must equal fixedpoint.Requantize on backendtest's cases: edge
// values, exact ties and random values aimed at the uint8 range.
func TestRequantizeKernel(t *testing.T) {
	d := device(t)
	backendtest.Requantize(t, func(acc, mult, shift []int32) ([]uint8, error) {
		// requant_test works on 8 lanes: the padding is a triple that requantizes to 0.
		n := ceilDiv(len(acc), 8) * 8
		rt, err := d.open("")
		if err != nil {
			return nil, err
		}
		defer rt.release()
		k, err := rt.prog.CreateKernel("requant_test")
		if err != nil {
			return nil, err
		}
		defer k.Release()
		var bufs []*cl.MemObject
		for j, v := range [][]int32{acc, mult, shift} {
			b, err := rt.ctx.CreateBuffer(cl.MemReadOnly|cl.MemCopyHostPtr, padInt32(v, n, int32(j/2)))
			if err != nil {
				return nil, err
			}
			defer b.Release()
			bufs = append(bufs, b)
		}
		out, err := rt.ctx.CreateEmptyBuffer(cl.MemWriteOnly, n)
		if err != nil {
			return nil, err
		}
		defer out.Release()
		if err := k.SetArgs(bufs[0], bufs[1], bufs[2], out); err != nil {
			return nil, err
		}
		if _, err := rt.queue.EnqueueNDRangeKernel(k, nil, []int{n / 8}, nil, nil); err != nil {
			return nil, err
		}
		got := make([]uint8, n)
		if _, err := rt.queue.EnqueueReadBuffer(out, true, 0, len(got), unsafe.Pointer(&got[0]), nil); err != nil {
			return nil, err
		}
		return got, nil
	})
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

// With no OpenCL driver registered, Devices must say so in an error (auto then skips the
// backend, a named choice fails with it), never panic. The ICD loader reads its configuration once per process,
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
