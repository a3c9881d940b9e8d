package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/backends/cpu"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// faulty is a backend whose plans get one byte of one layer wrong, as a broken GPU kernel
// would; it lists its device only while a test enables it, so that "auto" elsewhere ignores it.
type faulty struct{}

var faultyEnabled bool

func init() { backends.Register(faulty{}) }

func (faulty) Name() string { return "faulty-test" }

func (faulty) Devices(opt backends.Options) ([]backends.Device, error) {
	if !faultyEnabled {
		return nil, errors.New("a test backend, enabled only by TestVerify")
	}
	return []backends.Device{faultyDevice{cpu.NewDevice(1)}}, nil
}

type faultyDevice struct{ *cpu.Device }

func (d faultyDevice) Prepare(g *quant.Graph, batch int) (backends.Plan, error) {
	p, err := d.Device.Prepare(g, batch)
	return faultyPlan{p}, err
}

type faultyPlan struct{ backends.Plan }

// faultyNode is the node whose output faultyPlan gets wrong.
const faultyNode = 2

func (p faultyPlan) Trace(in []uint8, acts [][]uint8, sums []int32) error {
	err := p.Plan.Trace(in, acts, sums)
	acts[faultyNode][7]++
	return err
}

func TestVerify(t *testing.T) {
	faultyEnabled = true
	defer func() { faultyEnabled = false }()
	dir, m, g := model(t)
	img := streamtest.WriteFile(t, dir, "a.png", streamtest.PNG(t, streamtest.Pictures(1, 64, 48)[0]))
	jpg := streamtest.JPEG(t, streamtest.Pictures(1, 64, 48)[0])
	node := g.Nodes[faultyNode].Name
	compared := 4 * len(g.Classes)
	for _, n := range g.Nodes[:len(g.Nodes)-1] {
		compared += n.Out.Size()
	}
	agrees := fmt.Sprintf("--verify: image 1 on cpu device 0: %d nodes, %d bytes identical to the CPU reference executor\n", len(g.Nodes), compared)
	tests := []struct {
		name  string
		stdin []byte
		args  []string
		code  int
		err   string
	}{
		{"cpu agrees", nil, []string{"classify", "--backend", "cpu", img}, 0, agrees},
		{"cpu agrees on every checked image", nil, []string{"classify", "--backend", "cpu", img, img, img, img}, 0,
			strings.ReplaceAll(agrees, "image 1", "image 3")},
		{"classify stops", nil, []string{"classify", "--backend", "faulty-test", img, img}, 1, "node " + node + " (3 of"},
		// Before the first frame: the model is checked on a probe picture as it loads.
		{"stream stops", jpg, []string{"stream", "--backend", "faulty-test", "--source", "-"}, 1, "fails on a probe picture: --verify: the backend disagrees"},
		{"without --verify nothing is checked", nil, []string{"classify", "--backend", "faulty-test", img}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{tt.args[0], "--model", m}, tt.args[1:]...)
			if !strings.HasPrefix(tt.name, "without") {
				args = append(args, "--verify")
			}
			code, out, errs := cmd(bytes.NewReader(tt.stdin), args...)
			if code != tt.code || !strings.Contains(errs, tt.err) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.err)
			}
			if n := strings.Count(errs, "--verify: image"); tt.code == 0 && n != min(len(tt.args)-3, 3) && tt.err != "" {
				t.Errorf("%d images said verified, want one per image up to 3:\n%s", n, errs)
			}
			if tt.code != 0 && out != "" {
				t.Errorf("printed %q before stopping", out)
			}
		})
	}
}
