package backends

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/ninedge/ninedge/quant"
)

// Choice is the outcome of Open: the plan, its device, and why it was chosen.
type Choice struct {
	Plan   Plan
	Device DeviceInfo
	Reason string
}

// Open prepares the graph on the named backend ("cpu", "opencl", "vulkan" or "auto") and
// device index. Any failure to open or prepare a non-CPU device falls back to the CPU, with a
// warning on warn; "auto" runs a short timed trial on every usable device and keeps the
// fastest, because on boards like the Raspberry Pi the GPU is often slower than the CPU.
func Open(name string, index int, g *quant.Graph, batch int, opt Options, warn io.Writer) (*Choice, error) {
	if name == "auto" {
		return openAuto(g, batch, opt, warn)
	}
	b, err := Get(name)
	if err != nil {
		return nil, err
	}
	if name == "cpu" {
		return prepare(b, index, g, batch, opt, "chosen with --backend cpu")
	}
	c, err := prepare(b, index, g, batch, opt, "chosen with --backend "+name)
	if err == nil {
		return c, nil
	}
	fmt.Fprintf(warn, "warning: %v; falling back to the CPU\n", err)
	cpu, cerr := Get("cpu")
	if cerr != nil {
		return nil, err
	}
	return prepare(cpu, 0, g, batch, opt, fmt.Sprintf("fallback: %s failed (%v)", name, err))
}

func prepare(b Backend, index int, g *quant.Graph, batch int, opt Options, reason string) (*Choice, error) {
	devs, err := b.Devices(opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if index < 0 || index >= len(devs) {
		return nil, fmt.Errorf("%s: no device %d (it has %d)", b.Name(), index, len(devs))
	}
	p, err := devs[index].Prepare(g, batch)
	if err != nil {
		return nil, fmt.Errorf("%s device %d (%s): %w", b.Name(), index, devs[index].Info().Name, err)
	}
	return &Choice{Plan: p, Device: devs[index].Info(), Reason: reason}, nil
}

// trialRuns is how many timed runs decide "auto", after one warm-up run (which also absorbs
// a GPU driver's first-run compilation).
const trialRuns = 5

func openAuto(g *quant.Graph, batch int, opt Options, warn io.Writer) (*Choice, error) {
	type timed struct {
		c  *Choice
		ms float64
	}
	var ok []timed
	in := make([]uint8, batch*g.Spec.Input.Size())
	for i := range in {
		in[i] = uint8(i * 131)
	}
	sums := make([]int32, batch*len(g.Classes))
	for _, name := range Names() {
		b, _ := Get(name)
		devs, err := b.Devices(opt)
		if err != nil {
			fmt.Fprintf(warn, "auto: skipping %s: %v\n", name, err)
			continue
		}
		for i := range devs {
			c, err := prepare(b, i, g, batch, opt, "")
			if err != nil {
				fmt.Fprintf(warn, "auto: skipping %v\n", err)
				continue
			}
			ms, err := trial(c.Plan, in, batch, sums)
			if err != nil {
				fmt.Fprintf(warn, "auto: skipping %s device %d (%s): %v\n", name, i, c.Device.Name, err)
				c.Plan.Close()
				continue
			}
			ok = append(ok, timed{c, ms})
		}
	}
	if len(ok) == 0 {
		return nil, fmt.Errorf("auto: no usable device")
	}
	sort.SliceStable(ok, func(i, j int) bool { return ok[i].ms < ok[j].ms })
	best := ok[0]
	reason := fmt.Sprintf("auto: fastest in a %d-run trial (%.2f ms per batch of %d)", trialRuns, best.ms, batch)
	for _, o := range ok[1:] {
		reason += fmt.Sprintf("; %s %s: %.2f ms", o.c.Device.Backend, o.c.Device.Name, o.ms)
		o.c.Plan.Close()
	}
	best.c.Reason = reason
	return best.c, nil
}

// trial returns the median time of trialRuns runs, after a warm-up.
func trial(p Plan, in []uint8, n int, sums []int32) (float64, error) {
	if err := p.Run(in, n, sums); err != nil {
		return 0, err
	}
	times := make([]float64, trialRuns)
	for i := range times {
		t0 := time.Now()
		if err := p.Run(in, n, sums); err != nil {
			return 0, err
		}
		times[i] = float64(time.Since(t0).Microseconds()) / 1000
	}
	sort.Float64s(times)
	return times[len(times)/2], nil
}
