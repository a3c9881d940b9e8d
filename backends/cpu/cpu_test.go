package cpu

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/backends/backendtest"
	"github.com/ninedge/ninedge/quant"
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
