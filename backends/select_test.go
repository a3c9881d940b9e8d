package backends

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
)

// fakeBackend is a backend whose devices fail where told to; Open's tests register it, under
// any name ("cpu" included), in place of the real backends.
type fakeBackend struct {
	name string
	devs []*fakeDevice
	err  error // Devices' error
}

func (b *fakeBackend) Name() string { return b.name }

func (b *fakeBackend) Devices(Options) ([]Device, error) {
	if b.err != nil {
		return nil, b.err
	}
	devs := make([]Device, len(b.devs))
	for i, d := range b.devs {
		d.backend, d.index = b.name, i
		devs[i] = d
	}
	return devs, nil
}

type fakeDevice struct {
	backend    string
	index      int
	name       string
	prepareErr error
	runErr     error         // every Run's error
	runTime    time.Duration // how long each Run takes
	plans      []*fakePlan
}

func (d *fakeDevice) Info() DeviceInfo {
	return DeviceInfo{Backend: d.backend, Index: d.index, Name: d.name, Type: "other", Driver: "fake"}
}

func (d *fakeDevice) Prepare(g *quant.Graph, batch int) (Plan, error) {
	if d.prepareErr != nil {
		return nil, d.prepareErr
	}
	p := &fakePlan{g: g, batch: batch, dev: d}
	d.plans = append(d.plans, p)
	return p, nil
}

type fakePlan struct {
	g      *quant.Graph
	batch  int
	dev    *fakeDevice
	runs   int
	closed bool
}

func (p *fakePlan) Run(in []uint8, n int, sums []int32) error {
	if p.closed {
		return ErrClosed
	}
	if err := CheckRun(p.g, p.batch, in, n, sums); err != nil {
		return err
	}
	p.runs++
	time.Sleep(p.dev.runTime)
	return p.dev.runErr
}

func (p *fakePlan) Trace(in []uint8, acts [][]uint8, sums []int32) error {
	return errors.New("not traced")
}

func (p *fakePlan) Close() error {
	p.closed = true
	return nil
}

// open registers bs alone for the test and runs Open with batch 2 on a graph whose input is
// 2×2×3 and which has 3 classes (the trial run's sizes); it returns Open's result and warnings.
func open(t *testing.T, name string, index int, bs ...*fakeBackend) (*Choice, string, error) {
	t.Helper()
	saved := registry
	registry = map[string]Backend{}
	t.Cleanup(func() { registry = saved })
	for _, b := range bs {
		Register(b)
	}
	g := &quant.Graph{Spec: nin.Spec{Name: "fake", Input: nin.Shape{H: 2, W: 2, C: 3}, Classes: 3}, Classes: []string{"a", "b", "c"}}
	var warn strings.Builder
	c, err := Open(name, index, g, 2, Options{}, &warn)
	return c, warn.String(), err
}

func cpuBackend() *fakeBackend {
	return &fakeBackend{name: "cpu", devs: []*fakeDevice{{name: "fake CPU", runTime: 2 * time.Millisecond}}}
}

// chosen checks Open's choice: the device, the reason (a regular expression, matched whole)
// and that the plan is open.
func chosen(t *testing.T, c *Choice, err error, backend, device, reason string) {
	t.Helper()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if c.Device.Backend != backend || c.Device.Name != device {
		t.Errorf("chose %s %q, want %s %q", c.Device.Backend, c.Device.Name, backend, device)
	}
	if !regexp.MustCompile("^" + reason + "$").MatchString(c.Reason) {
		t.Errorf("reason %q, want %q", c.Reason, reason)
	}
	if c.Plan.(*fakePlan).closed {
		t.Error("the chosen plan is closed")
	}
}

// A named backend is used as asked, without a trial run, and the reason says it was chosen.
func TestOpenNamed(t *testing.T) {
	gpu := &fakeBackend{name: "gpu", devs: []*fakeDevice{{name: "first"}, {name: "second"}}}
	cpu := cpuBackend()
	c, warn, err := open(t, "gpu", 1, gpu, cpu)
	chosen(t, c, err, "gpu", "second", `chosen with --backend gpu`)
	if warn != "" || len(cpu.devs[0].plans) != 0 || c.Plan.(*fakePlan).runs != 0 {
		t.Errorf("warned %q, %d CPU plans, %d runs", warn, len(cpu.devs[0].plans), c.Plan.(*fakePlan).runs)
	}
	if c.Device.Index != 1 {
		t.Errorf("device index %d", c.Device.Index)
	}

	c, warn, err = open(t, "cpu", 0, gpu, cpuBackend())
	chosen(t, c, err, "cpu", "fake CPU", `chosen with --backend cpu`)
	if warn != "" {
		t.Errorf("warned %q", warn)
	}
}

// A backend that is not registered is an error that lists the ones there are.
func TestOpenUnknown(t *testing.T) {
	_, warn, err := open(t, "metal", 0, cpuBackend(), &fakeBackend{name: "gpu"})
	if err == nil || err.Error() != `backend "metal" is not available in this build (have: cpu, gpu)` || warn != "" {
		t.Errorf("error %v, warning %q", err, warn)
	}
}

// A named backend that fails in any way (no driver, no device, Prepare) is an error: the run
// never moves to the CPU behind the user's back. An index past its devices matches
// ErrNoDevice, a usage error for the commands; the CPU named alone is no exception.
func TestOpenNamedFails(t *testing.T) {
	boom := errors.New("out of device memory")
	only := func(d *fakeDevice) *fakeBackend { return &fakeBackend{name: "gpu", devs: []*fakeDevice{d}} }
	for _, tt := range []struct {
		name     string
		choice   string
		gpu      *fakeBackend
		cpu      *fakeBackend
		index    int
		err      string
		noDevice bool
	}{
		{"no driver", "gpu", &fakeBackend{name: "gpu", err: errors.New("no driver")}, cpuBackend(), 0, "gpu: no driver", false},
		{"no devices", "gpu", &fakeBackend{name: "gpu"}, cpuBackend(), 0, "gpu: no usable device", false},
		{"index out of range", "gpu", only(&fakeDevice{name: "only"}), cpuBackend(), 7, "gpu: no device 7 (it has 1)", true},
		{"negative index", "gpu", only(&fakeDevice{name: "only"}), cpuBackend(), -1, "gpu: no device -1 (it has 1)", true},
		{"prepare", "gpu", only(&fakeDevice{name: "only", prepareErr: boom}), cpuBackend(), 0, "gpu device 0 (only): out of device memory", false},
		{"unsupported", "gpu", only(&fakeDevice{name: "only", prepareErr: Unsupported("cccp1", "layer %s is kept in float")}), cpuBackend(), 0,
			"gpu device 0 (only): layer cccp1 is kept in float", false},
		{"cpu fails", "cpu", only(&fakeDevice{name: "only"}), &fakeBackend{name: "cpu", devs: []*fakeDevice{{name: "fake CPU", prepareErr: errors.New("cannot allocate")}}}, 0,
			"cpu device 0 (fake CPU): cannot allocate", false},
		{"cpu index out of range", "cpu", only(&fakeDevice{name: "only"}), cpuBackend(), 1, "cpu: no device 1 (it has 1)", true},
		// In a list, an index out of range is the same mistake: no fallback hides it.
		{"list, index out of range", "gpu,cpu", only(&fakeDevice{name: "only"}), cpuBackend(), 3, "gpu: no device 3 (it has 1)", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, warn, err := open(t, tt.choice, tt.index, tt.gpu, tt.cpu)
			if c != nil || err == nil || err.Error() != tt.err || errors.Is(err, ErrNoDevice) != tt.noDevice {
				t.Errorf("Open: %v, %v; want %q (ErrNoDevice %v)", c, err, tt.err, tt.noDevice)
			}
			if warn != "" || len(tt.cpu.devs[0].plans) > 0 && tt.choice != "cpu" {
				t.Errorf("warned %q, CPU plans %d", warn, len(tt.cpu.devs[0].plans))
			}
		})
	}
}

// A list is an explicit order of fallbacks: each failing backend is said on warn, the next
// one runs on its device 0, and the reason names every failure; when all fail, the error
// does.
func TestOpenList(t *testing.T) {
	noDriver := &fakeBackend{name: "gpu", err: errors.New("no driver")}
	lost := errors.New("device lost")
	// npu's device 1 always fails; its device 0 where told to.
	npu := func(firstFails bool) *fakeBackend {
		first := &fakeDevice{name: "first"}
		if firstFails {
			first.prepareErr = lost
		}
		return &fakeBackend{name: "npu", devs: []*fakeDevice{first, {name: "second", prepareErr: lost}}}
	}
	for _, tt := range []struct {
		name, choice    string
		npuFirstFails   bool
		index           int
		backend, device string
		reason          string
		warn            string
	}{
		{"first works", "npu,cpu", false, 0, "npu", "first", "chosen with --backend npu,cpu", ""},
		{"no driver", "gpu,cpu", false, 0, "cpu", "fake CPU", "fallback: gpu failed (gpu: no driver)", "warning: gpu: no driver; trying cpu\n"},
		{"device 1 fails, the fallback runs on its device 0", "npu,cpu", false, 1, "cpu", "fake CPU", "fallback: npu failed (npu device 1 (second): device lost)",
			"warning: npu device 1 (second): device lost; trying cpu\n"},
		{"two fail", "gpu,npu,cpu", true, 1, "cpu", "fake CPU", "fallback: gpu, npu failed (gpu: no driver; npu device 0 (first): device lost)",
			"warning: gpu: no driver; trying npu\nwarning: npu device 0 (first): device lost; trying cpu\n"},
		{"the second works", "gpu,npu,cpu", false, 1, "npu", "first", "fallback: gpu failed (gpu: no driver)", "warning: gpu: no driver; trying npu\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			twoCPUs := &fakeBackend{name: "cpu", devs: []*fakeDevice{{name: "fake CPU"}, {name: "other CPU"}}}
			c, warn, err := open(t, tt.choice, tt.index, noDriver, npu(tt.npuFirstFails), twoCPUs)
			chosen(t, c, err, tt.backend, tt.device, regexp.QuoteMeta(tt.reason))
			if warn != tt.warn {
				t.Errorf("warned %q, want %q", warn, tt.warn)
			}
		})
	}
	_, warn, err := open(t, "gpu,npu", 1, noDriver, npu(true))
	if want := "no backend of gpu,npu could run the model: gpu: no driver; npu device 0 (first): device lost"; err == nil || err.Error() != want ||
		warn != "warning: gpu: no driver; trying npu\n" {
		t.Errorf("all failed: %v, warned %q; want %q", err, warn, want)
	}
}

// ParseChoice takes auto or a list of distinct registered backends.
func TestParseChoice(t *testing.T) {
	saved := registry
	registry = map[string]Backend{}
	t.Cleanup(func() { registry = saved })
	Register(cpuBackend())
	Register(&fakeBackend{name: "gpu"})
	for _, tt := range []struct {
		choice string
		want   []string
		err    string
	}{
		{"auto", []string{"auto"}, ""},
		{"cpu", []string{"cpu"}, ""},
		{"gpu,cpu", []string{"gpu", "cpu"}, ""},
		{"metal", nil, `backend "metal" is not available in this build (have: cpu, gpu)`},
		{"gpu,metal", nil, `backend "metal" is not available in this build (have: cpu, gpu)`},
		{"gpu,auto", nil, `"gpu,auto": auto is a choice of its own, not part of a list`},
		{"gpu,gpu", nil, `"gpu,gpu" names gpu twice`},
		{"gpu,", nil, `backend "" is not available in this build (have: cpu, gpu)`},
		{"", nil, `backend "" is not available in this build (have: cpu, gpu)`},
	} {
		got, err := ParseChoice(tt.choice)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("%q: %q, %v; want %q, %q", tt.choice, got, err, tt.want, tt.err)
		}
	}
}

// auto skips every device that fails to list, to prepare or to run its trial (closing that
// plan), says so on warn, and takes the CPU when nothing else is left.
func TestOpenAutoFallsBack(t *testing.T) {
	listing := &fakeBackend{name: "a-nodriver", err: errors.New("no driver")}
	preparing := &fakeBackend{name: "b-prepare", devs: []*fakeDevice{{name: "small", prepareErr: errors.New("out of memory")}}}
	running := &fakeBackend{name: "c-trial", devs: []*fakeDevice{{name: "lost", runErr: errors.New("device lost")}}}
	unsupported := &fakeBackend{name: "d-float", devs: []*fakeDevice{{name: "int8 only", prepareErr: Unsupported("cccp1", "layer %s is kept in float")}}}
	cpu := cpuBackend()
	c, warn, err := open(t, "auto", 7, listing, preparing, running, unsupported, cpu)
	chosen(t, c, err, "cpu", "fake CPU", `auto: fastest in a 5-run trial \([0-9]+\.[0-9]{2} ms per batch of 2\)`)
	want := "auto: skipping a-nodriver: no driver\n" +
		"auto: skipping b-prepare device 0 (small): out of memory\n" +
		"auto: skipping c-trial device 0 (lost): device lost\n" +
		"auto: skipping d-float device 0 (int8 only): layer cccp1 is kept in float\n"
	if warn != want {
		t.Errorf("warnings\n%s\nwant\n%s", warn, want)
	}
	if p := running.devs[0].plans; len(p) != 1 || !p[0].closed {
		t.Errorf("the plan whose trial failed is not closed: %+v", p)
	}
	if runs := c.Plan.(*fakePlan).runs; runs != 1+trialRuns {
		t.Errorf("the CPU plan ran %d times in the trial, want a warm-up and %d", runs, trialRuns)
	}
}

// auto keeps the fastest device and closes the others' plans; the reason lists them with
// their times, fastest first.
func TestOpenAutoFastest(t *testing.T) {
	fast := &fakeBackend{name: "gpu", devs: []*fakeDevice{{name: "slow GPU", runTime: 20 * time.Millisecond}, {name: "fast GPU"}}}
	cpu := cpuBackend()
	c, warn, err := open(t, "auto", 0, fast, cpu)
	ms := `[0-9]+\.[0-9]{2} ms`
	chosen(t, c, err, "gpu", "fast GPU", fmt.Sprintf(`auto: fastest in a 5-run trial \(%s per batch of 2\); cpu fake CPU: %s; gpu slow GPU: %s`, ms, ms, ms))
	if warn != "" {
		t.Errorf("warned %q", warn)
	}
	if c.Device.Index != 1 {
		t.Errorf("device index %d", c.Device.Index)
	}
	for _, d := range []*fakeDevice{fast.devs[0], cpu.devs[0]} {
		if len(d.plans) != 1 || !d.plans[0].closed {
			t.Errorf("%s: the plan not chosen is not closed", d.name)
		}
	}
}

// auto with no usable device is an error; the warnings say why each was skipped.
func TestOpenAutoNothing(t *testing.T) {
	broken := &fakeBackend{name: "cpu", devs: []*fakeDevice{{name: "fake CPU", runErr: errors.New("illegal instruction")}}}
	_, warn, err := open(t, "auto", 0, broken, &fakeBackend{name: "gpu", err: errors.New("no driver")})
	if err == nil || err.Error() != "auto: no usable device" {
		t.Errorf("error %v", err)
	}
	if want := "auto: skipping cpu device 0 (fake CPU): illegal instruction\nauto: skipping gpu: no driver\n"; warn != want {
		t.Errorf("warnings %q, want %q", warn, want)
	}
}

// Unsupported keeps the backend's message and matches ErrUnsupported through any wrapping.
func TestUnsupported(t *testing.T) {
	err := fmt.Errorf("gpu device 0 (x): %w", fmt.Errorf("gpu: %w", Unsupported("cccp1", "layer %s is kept in float; use the cpu backend")))
	if !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrClosed) {
		t.Errorf("errors.Is: %v", err)
	}
	if want := "gpu device 0 (x): gpu: layer cccp1 is kept in float; use the cpu backend"; err.Error() != want {
		t.Errorf("%q, want %q", err, want)
	}
}

// The argument checks word their refusals as every backend reports them.
func TestChecks(t *testing.T) {
	g := &quant.Graph{Spec: nin.Spec{Input: nin.Shape{H: 2, W: 2, C: 3}}, Classes: []string{"a", "b", "c"},
		Nodes: []quant.Node{{Name: "sums", Op: quant.OpGlobalAvg}, {Name: "x", Op: quant.OpGlobalAvg}}}
	in, sums := make([]uint8, 24), make([]int32, 6)
	for _, tt := range []struct {
		err  error
		want string
	}{
		{CheckPrepare(g, 0), "batch 0"},
		{CheckPrepare(&quant.Graph{}, 1), "graph has no nodes"},
		{CheckRun(g, 2, in, 0, sums), "batch of 0 images, prepared for 1..2"},
		{CheckRun(g, 2, in, 3, sums), "batch of 3 images, prepared for 1..2"},
		{CheckRun(g, 2, in[:23], 2, sums), "input (23 bytes) or output (6 sums) too small for 2 images"},
		{CheckRun(g, 2, in, 2, sums[:5]), "input (24 bytes) or output (5 sums) too small for 2 images"},
		{CheckRun(g, 2, in, 2, sums), ""},
		{CheckRun(g, 2, in[:12], 1, sums[:3]), ""},
		{CheckTimings(g, make([]time.Duration, 1)), "profile: 1 timings for 2 nodes"},
		{CheckTimings(g, make([]time.Duration, 2)), ""},
	} {
		got := ""
		if tt.err != nil {
			got = tt.err.Error()
		}
		if got != tt.want {
			t.Errorf("%q, want %q", got, tt.want)
		}
	}
}
