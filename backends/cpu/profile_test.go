package cpu

import (
	"slices"
	"testing"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// TestProfile checks that profiling gives Run's sums and a time for every node that does work.
func TestProfile(t *testing.T) {
	c := quanttest.Cases(t)[3]
	g := quanttest.Graph(t, c.Spec, 1)
	plan, err := NewDevice(2).Prepare(g, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	prof, ok := plan.(backends.Profiler)
	if !ok {
		t.Fatal("the CPU plan does not implement backends.Profiler")
	}
	in := quanttest.Input(g, 1, 2)
	want, got := make([]int32, 2*len(g.Classes)), make([]int32, 2*len(g.Classes))
	if err := plan.Run(in, 2, want); err != nil {
		t.Fatal(err)
	}
	per := make([]time.Duration, len(g.Nodes))
	if err := prof.Profile(in, 2, got, per); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Error("Profile's sums differ from Run's")
	}
	for i, n := range g.Nodes {
		if (per[i] > 0) != (n.Op != quant.OpGlobalAvg) {
			t.Errorf("node %s (%s): %v", n.Name, n.Op, per[i])
		}
	}
	if err := prof.Profile(in, 2, got, per[:1]); err == nil {
		t.Error("no error for too few timings")
	}
}
