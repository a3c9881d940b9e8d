package cpu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/backends/backendtest"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// cpuOptions checks every graph on 1, 2 and 3 worker goroutines. The CPU runs layers kept in
// float; its Trace trusts buffers sized by backends.NewTraceBuffers.
func cpuOptions() backendtest.Options {
	opt := backendtest.Options{}
	for _, threads := range []int{1, 2, 3} {
		d := NewDevice(threads)
		opt.Variants = append(opt.Variants, backendtest.Variant{
			Name:    fmt.Sprintf("threads%d", threads),
			Prepare: func(g *quant.Graph, batch int) (backends.Plan, error) { return d.Prepare(g, batch) },
		})
	}
	return opt
}

func TestMatchesReference(t *testing.T) { backendtest.MatchesReference(t, NewDevice(2), cpuOptions()) }

func TestBadCalls(t *testing.T) { backendtest.BadCalls(t, NewDevice(2), cpuOptions()) }

func TestCIFAR10(t *testing.T) { backendtest.CIFAR10(t, NewDevice(0)) }

func TestRunAllocatesNothing(t *testing.T) {
	for _, threads := range []int{1, 2} {
		t.Run(fmt.Sprintf("threads%d", threads), func(t *testing.T) { backendtest.ZeroAllocs(t, NewDevice(threads)) })
	}
}

// A layer kept in float allocates nothing per Run either, split or not.
func TestFloatLayerAllocatesNothing(t *testing.T) {
	spec := quanttest.Cases(t)[0].Spec
	g := quanttest.GraphWith(t, spec, 1, quant.Options{FloatLayers: []string{spec.Layers[0].Name}})
	for _, threads := range []int{1, 2} {
		p, err := NewDevice(threads).Prepare(g, 2)
		if err != nil {
			t.Fatal(err)
		}
		in, sums := quanttest.Input(g, 1, 2), make([]int32, 2*len(g.Classes))
		if a := testing.AllocsPerRun(20, func() { p.Run(in, 2, sums) }); a != 0 {
			t.Errorf("threads %d: %v allocations per Run", threads, a)
		}
		p.Close()
	}
}

// Profile gives the reference's sums and a time for every node that does work.
func TestProfile(t *testing.T) { backendtest.Profile(t, NewDevice(2), backendtest.TimesWork) }

func TestDevices(t *testing.T) {
	backendtest.Devices(t, Backend{}, func(info backends.DeviceInfo) error {
		if info.Threads <= 0 {
			return errors.New("no thread count")
		}
		return nil
	})
}

// The plan names each conv's kernel, none for pools and layers kept in float, lists the
// distinct ones, and measures a peak for every kernel but the portable Go one.
func TestKernelProfiler(t *testing.T) {
	spec := quanttest.Cases(t)[0].Spec
	g := quanttest.GraphWith(t, spec, 1, quant.Options{FloatLayers: []string{"cccp1"}})
	p, err := NewDevice(2).Prepare(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	kp := p.(backends.KernelProfiler)
	var kernels []string
	for i, n := range g.Nodes {
		k := kp.Kernel(i)
		if (k != "") != (n.Op == quant.OpConv && !n.Float) {
			t.Errorf("node %s (%s, float %v): kernel %q", n.Name, n.Op, n.Float, k)
		}
		if k != "" && !slices.Contains(kernels, k) {
			kernels = append(kernels, k)
		}
	}
	if got := kp.Kernels(); got != strings.Join(kernels, "+") || got == "" {
		t.Errorf("Kernels() = %q, nodes have %v", got, kernels)
	}
	for _, k := range kernels {
		if rate := kp.Peak(k, 10*time.Millisecond); (rate > 0) != (k != "go") {
			t.Errorf("kernel %s: peak %v multiply-adds/s", k, rate)
		}
	}
	if rate := kp.Peak("no such kernel", time.Millisecond); rate != 0 {
		t.Errorf("an unknown kernel's peak: %v", rate)
	}
}
