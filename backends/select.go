package backends

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ninedge/ninedge/quant"
)

// Choice is the outcome of Open: the plan, its device, and why it was chosen.
type Choice struct {
	Plan   Plan
	Device DeviceInfo
	Reason string
}

// ErrNoDevice matches Open's refusal of a device index its backend does not have: a mistake
// in how it was called, not a failure of the device.
var ErrNoDevice = errors.New("no such device")

type noDevice struct {
	backend      string
	index, count int
}

func (e noDevice) Error() string {
	return fmt.Sprintf("%s: no device %d (it has %d)", e.backend, e.index, e.count)
}

func (e noDevice) Is(target error) bool { return target == ErrNoDevice }

// ParseChoice checks a backend choice as Open takes it: "auto", or one or more registered
// backends, comma-separated, each at most once ("opencl,cpu"), and returns the names.
func ParseChoice(choice string) ([]string, error) {
	if choice == "auto" {
		return []string{"auto"}, nil
	}
	names := strings.Split(choice, ",")
	for i, name := range names {
		switch {
		case name == "auto":
			return nil, fmt.Errorf("%q: auto is a choice of its own, not part of a list", choice)
		case slices.Contains(names[:i], name):
			return nil, fmt.Errorf("%q names %s twice", choice, name)
		}
		if _, err := Get(name); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// Open prepares the graph on a backend choice (see ParseChoice). A named backend runs the
// graph or Open fails: a user who asked for the GPU must hear that it did not happen. A list
// is an explicit order of fallbacks: each backend that cannot open or prepare the graph is
// said on warn and the next is tried; index picks the first backend's device (the fallbacks
// run on their device 0). An index the first backend's devices do not reach is an error that
// matches ErrNoDevice, never a reason to fall back. "auto" runs a short timed trial on every
// usable device and keeps the fastest, because on boards like the Raspberry Pi the GPU is
// often slower than the CPU; a device that fails is skipped, as said on warn.
func Open(choice string, index int, g *quant.Graph, batch int, opt Options, warn io.Writer) (*Choice, error) {
	names, err := ParseChoice(choice)
	if err != nil {
		return nil, err
	}
	if choice == "auto" {
		return openAuto(g, batch, opt, warn)
	}
	var failures []string
	for i := 0; ; i++ {
		b, _ := Get(names[i])
		reason := "chosen with --backend " + choice
		if i > 0 {
			reason = fmt.Sprintf("fallback: %s failed (%s)", strings.Join(names[:i], ", "), strings.Join(failures, "; "))
		}
		c, err := prepare(b, index, g, batch, opt, reason)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, ErrNoDevice):
			return nil, err
		case i == len(names)-1 && i > 0:
			return nil, fmt.Errorf("no backend of %s could run the model: %s; %w", choice, strings.Join(failures, "; "), err)
		case i == len(names)-1:
			return nil, err
		}
		fmt.Fprintf(warn, "warning: %v; trying %s\n", err, names[i+1])
		failures = append(failures, err.Error())
		index = 0
	}
}

func prepare(b Backend, index int, g *quant.Graph, batch int, opt Options, reason string) (*Choice, error) {
	devs, err := b.Devices(opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	switch {
	case len(devs) == 0:
		return nil, fmt.Errorf("%s: no usable device", b.Name())
	case index < 0 || index >= len(devs):
		return nil, noDevice{b.Name(), index, len(devs)}
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
