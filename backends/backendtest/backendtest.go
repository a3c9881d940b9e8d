// Package backendtest is the conformance suite every backend's tests run: each check prepares
// plans on a device and compares every path (Trace node by node, Run at every batch size,
// Profile) with quant's reference executor, byte for byte, in the manner of ggml's
// test-backend-ops. What only one backend has (a device kernel tested alone, a driver that
// is absent) stays in that backend's tests.
package backendtest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/caffe/caffetest"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/dataset/datasettest"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// Options say what a device supports and how to prepare its plans.
type Options struct {
	// RefusesFloat says the device refuses graphs with layers kept in float: Prepare must fail
	// with an error that matches backends.ErrUnsupported and names the layer. When false, such
	// graphs must match the reference like any other.
	RefusesFloat bool
	// Variants are the ways of preparing a plan that MatchesReference checks on every graph
	// (thread counts, kernel options); none means the device's Prepare alone.
	Variants []Variant
}

// Variant is one way of preparing plans.
type Variant struct {
	Name    string
	Prepare func(g *quant.Graph, batch int) (backends.Plan, error)
}

// Images is how many images each graph is checked on.
const Images = 3

// floatLayer is the layer kept in float in the float-kept graphs.
const floatLayer = "cccp1"

// MatchesReference checks every quanttest graph, as int8, with a layer kept in float and with
// 7-bit weights, prepared for batches of 1 and 3 by every variant: Trace of each image node by
// node, and Run in every run length against the reference's sums. A device that refuses float-kept layers
// (opt.RefusesFloat) must refuse them with backends.ErrUnsupported.
func MatchesReference(t *testing.T, dev backends.Device, opt Options) {
	t.Helper()
	variants := opt.Variants
	if len(variants) == 0 {
		variants = []Variant{{Name: "default", Prepare: dev.Prepare}}
	}
	conversions := []struct {
		name string
		opt  quant.Options
	}{
		{"int8", quant.Options{}},
		{"float-" + floatLayer, quant.Options{FloatLayers: []string{floatLayer}}},
		{"int8-w7", quant.Options{WeightBits: 7}}, // the weights some CPU kernels run faster
	}
	for _, c := range quanttest.Cases(t) {
		for _, conv := range conversions {
			g := quanttest.GraphWith(t, c.Spec, 11, conv.opt)
			in := quanttest.Input(g, 5, Images)
			kept, float := conv.name, conv.opt.FloatLayers
			for _, v := range variants {
				for _, batch := range []int{1, 3} {
					t.Run(fmt.Sprintf("%s/%s/%s/batch%d", c.Name, kept, v.Name, batch), func(t *testing.T) {
						p, err := v.Prepare(g, batch)
						if float != nil && opt.RefusesFloat {
							if err == nil {
								p.Close()
								t.Fatalf("Prepare accepted layer %s kept in float", floatLayer)
							}
							if want := floatLayer + " "; !errors.Is(err, backends.ErrUnsupported) || !strings.Contains(err.Error(), want) {
								t.Fatalf("Prepare of layer %s kept in float: %v, want an error naming it that matches backends.ErrUnsupported", floatLayer, err)
							}
							return
						}
						if err != nil {
							t.Fatal(err)
						}
						defer p.Close()
						CheckPlan(t, g, p, in, Images, batch)
					})
				}
			}
		}
	}
}

// CheckPlan compares the first images of in one by one with backends.Compare (every node's
// bytes), then runs them in runs of batch images, and then runs of batch, batch-1, ..., 1
// images from the start (the batch size changes between runs of one plan), comparing every
// image's sums with the reference's.
func CheckPlan(t testing.TB, g *quant.Graph, p backends.Plan, in []uint8, images, batch int) {
	t.Helper()
	d, k := g.Spec.Input.Size(), len(g.Classes)
	refs := make([][]int32, images)
	for img := range refs {
		one := in[img*d : (img+1)*d]
		if _, err := backends.Compare(g, p, one); err != nil {
			t.Fatalf("image %d: %v", img, err)
		}
		refs[img] = g.Reference(one).Sums
	}
	sums := make([]int32, batch*k)
	check := func(what string, i0, n int) {
		t.Helper()
		clear(sums)
		if err := p.Run(in[i0*d:], n, sums); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for img := 0; img < n; img++ {
			for j, want := range refs[i0+img] {
				if got := sums[img*k+j]; got != want {
					t.Fatalf("%s, image %d class %d: %d, reference %d", what, i0+img, j, got, want)
				}
			}
		}
	}
	for i0 := 0; i0 < images; i0 += batch {
		n := min(batch, images-i0)
		check(fmt.Sprintf("run of %d from image %d", n, i0), i0, n)
	}
	for n := min(batch, images); n >= 1; n-- {
		check(fmt.Sprintf("run of %d", n), 0, n)
	}
}

// BadCalls checks that a plan refuses what it cannot do and still works afterwards: Prepare
// of batch 0 or -1 or of an empty graph; Run of too many images, none, a short input or a
// short output; Trace of a short input, too few or short buffers; Profile with too few
// timings; and, after Close (twice, harmlessly), every call, with backends.ErrClosed.
func BadCalls(t *testing.T, dev backends.Device, opt Options) {
	t.Helper()
	g := quanttest.Graph(t, quanttest.Cases(t)[0].Spec, 3)
	for _, batch := range []int{0, -1} {
		if p, err := dev.Prepare(g, batch); err == nil {
			p.Close()
			t.Errorf("Prepare accepted batch %d", batch)
		}
	}
	empty := *g
	empty.Nodes = nil
	if p, err := dev.Prepare(&empty, 1); err == nil {
		p.Close()
		t.Error("Prepare accepted an empty graph")
	}

	p, err := dev.Prepare(g, 2)
	if err != nil {
		t.Fatal(err)
	}
	sums := make([]int32, 2*len(g.Classes))
	in := quanttest.Input(g, 1, 2)
	acts := backends.NewTraceBuffers(g)
	prof, _ := p.(backends.Profiler)
	calls := map[string]func() error{
		"batch too big":     func() error { return p.Run(in, 3, sums) },
		"batch zero":        func() error { return p.Run(in, 0, sums) },
		"batch negative":    func() error { return p.Run(in, -1, sums) },
		"short input":       func() error { return p.Run(in[:5], 1, sums) },
		"short output":      func() error { return p.Run(in, 2, sums[:1]) },
		"trace short input": func() error { return p.Trace(in[:5], acts, sums) },
		"trace no sums":     func() error { return p.Trace(in, acts, nil) },
	}
	calls["trace missing nodes"] = func() error { return p.Trace(in, acts[:1], sums) }
	calls["trace short node"] = func() error {
		return p.Trace(in, append([][]uint8{acts[0][:1]}, acts[1:]...), sums)
	}
	calls["trace short later node"] = func() error {
		short := slices.Clone(acts)
		short[1] = short[1][:1]
		return p.Trace(in, short, sums)
	}
	if prof != nil {
		calls["profile no timings"] = func() error { return prof.Profile(in, 1, sums, nil) }
		calls["profile few timings"] = func() error { return prof.Profile(in, 1, sums, make([]time.Duration, 1)) }
		calls["profile batch too big"] = func() error { return prof.Profile(in, 3, sums, make([]time.Duration, len(g.Nodes))) }
	}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		if calls[name]() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// The plan still works after refused calls.
	CheckPlan(t, g, p, in, 2, 2)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	closed := map[string]error{"Run": p.Run(in, 1, sums), "Trace": p.Trace(in, acts, sums)}
	if prof != nil {
		closed["Profile"] = prof.Profile(in, 1, sums, make([]time.Duration, len(g.Nodes)))
	}
	for _, call := range slices.Sorted(maps.Keys(closed)) {
		if err := closed[call]; !errors.Is(err, backends.ErrClosed) {
			t.Errorf("%s after Close: %v, want an error that matches backends.ErrClosed", call, err)
		}
	}
}

// Allocs checks that Run allocates at most limit(p) times per call on quanttest graphs 1 and
// 3, alternating batches of 1 and 2 images (which changes the dispatch sizes).
func Allocs(t *testing.T, dev backends.Device, limit func(p backends.Plan) float64) {
	t.Helper()
	for _, c := range []int{1, 3} {
		g := quanttest.Graph(t, quanttest.Cases(t)[c].Spec, 3)
		p, err := dev.Prepare(g, 2)
		if err != nil {
			t.Fatal(err)
		}
		in := quanttest.Input(g, 1, 2)
		sums := make([]int32, 2*len(g.Classes))
		n := 1
		allocs := testing.AllocsPerRun(20, func() {
			n = 3 - n
			if err := p.Run(in, n, sums); err != nil {
				t.Fatal(err)
			}
		})
		max := limit(p)
		p.Close()
		t.Logf("%s: %v allocations per Run (at most %v)", quanttest.Name(g), allocs, max)
		if allocs > max {
			t.Errorf("%s: %v allocations per Run, more than %v", quanttest.Name(g), allocs, max)
		}
	}
}

// ZeroAllocs checks that Run allocates nothing.
func ZeroAllocs(t *testing.T, dev backends.Device) {
	t.Helper()
	Allocs(t, dev, func(backends.Plan) float64 { return 0 })
}

// Times says which nodes a device's Profile must time.
type Times int

const (
	// TimesAny: every time is non-negative (devices whose timestamps are coarse).
	TimesAny Times = iota
	// TimesWork: every node but the global pool has a positive time, the pool none.
	TimesWork
	// TimesAll: every node, the global pool included, has a positive time.
	TimesAll
)

// Profile checks that a profiling plan, at batches 1 and 2, gives the reference's sums for
// every image and the times that times asks for, adding up to more than nothing and to no more
// than the call's wall time.
func Profile(t *testing.T, dev backends.Device, times Times) {
	t.Helper()
	g := quanttest.Graph(t, quanttest.Cases(t)[3].Spec, 3)
	for _, batch := range []int{1, 2} {
		p, err := dev.Prepare(g, batch)
		if err != nil {
			t.Fatal(err)
		}
		prof, ok := p.(backends.Profiler)
		if !ok {
			p.Close()
			t.Fatalf("%T does not implement backends.Profiler", p)
		}
		in := quanttest.Input(g, 1, batch)
		sums := make([]int32, batch*len(g.Classes))
		per := make([]time.Duration, len(g.Nodes))
		t0 := time.Now()
		err = prof.Profile(in, batch, sums, per)
		wall := time.Since(t0)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		d, k := g.Spec.Input.Size(), len(g.Classes)
		for img := 0; img < batch; img++ {
			if want := g.Reference(in[img*d : (img+1)*d]).Sums; !slices.Equal(want, sums[img*k:(img+1)*k]) {
				t.Errorf("batch %d image %d: Profile sums %v, reference %v", batch, img, sums[img*k:(img+1)*k], want)
			}
		}
		var total time.Duration
		for i, dt := range per {
			n := g.Nodes[i]
			pool := n.Op == quant.OpGlobalAvg
			bad := dt < 0
			switch times {
			case TimesWork:
				bad = bad || (dt > 0) == pool
			case TimesAll:
				bad = bad || dt == 0
			}
			if bad {
				t.Errorf("batch %d node %s (%s): %v", batch, n.Name, n.Op, dt)
			}
			total += dt
		}
		if total <= 0 || total > wall {
			t.Errorf("batch %d: nodes add up to %v in a call of %v", batch, total, wall)
		}
	}
}

// CIFAR10 checks the authors' CIFAR-10 NIN, converted to int8 as ninquant does (64
// calibration images, the default method), on 8 test images: node by node, and in runs of up
// to 4. Its GCN+ZCA input is signed, so the first conv pads with a non-zero zero point. It is
// skipped under -short, and where the shared data is absent.
func CIFAR10(t *testing.T, dev backends.Device) {
	t.Helper()
	if testing.Short() {
		t.Skip("imports and converts the CIFAR-10 model (minutes the first time)")
	}
	g := caffetest.CIFAR10Int8(t, 64)
	test, err := dataset.Load("cifar10", datasettest.Dir(t, "cifar10"), "test", dataset.Options{Limit: 8})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, test.N*g.Spec.Input.Size())
	nin.NewPreprocessor(&g.Pre, g.Spec.Input, 1).Apply(test.Images, test.N, x)
	in := make([]uint8, len(x))
	g.QuantizeInput(x, in)
	if g.Nodes[0].PadValue == 0 {
		t.Log("note: the input zero point is 0; padding is not exercised with another value")
	}
	const batch = 4
	p, err := dev.Prepare(g, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	CheckPlan(t, g, p, in, test.N, batch)
}

// Devices returns b's devices, skipping the test where there are none, after checking that b
// is registered under its name and that every device describes itself: its backend, index,
// name, a known type, its driver and what check (when not nil) asks of the backend's devices.
func Devices(t testing.TB, b backends.Backend, check func(backends.DeviceInfo) error) []backends.Device {
	t.Helper()
	devs, err := b.Devices(backends.Options{})
	if err != nil || len(devs) == 0 {
		t.Skipf("no %s device: %v", b.Name(), err)
	}
	if r, err := backends.Get(b.Name()); err != nil || r.Name() != b.Name() {
		t.Errorf("%s is not registered: %v", b.Name(), err)
	}
	types := []string{"cpu", "gpu", "integrated-gpu", "accelerator", "other"}
	for i, d := range devs {
		info := d.Info()
		if info.Backend != b.Name() || info.Index != i || info.Name == "" || !slices.Contains(types, info.Type) || info.Driver == "" {
			t.Errorf("device %d: incomplete info %+v", i, info)
		}
		if check != nil {
			t.Logf("%+v", info)
			if err := check(info); err != nil {
				t.Errorf("device %d: %v in %+v", i, err, info)
			}
		}
	}
	return devs
}
