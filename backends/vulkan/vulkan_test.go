//go:build cgo && vulkan

package vulkan

import (
	"fmt"
	"testing"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// device returns the first Vulkan device, or skips the test where there is none.
func device(t testing.TB) *Device {
	t.Helper()
	devs, err := Backend{}.Devices(backends.Options{})
	if err != nil {
		t.Skipf("no Vulkan device: %v", err)
	}
	return devs[0].(*Device)
}

func TestDevices(t *testing.T) {
	devs, err := Backend{}.Devices(backends.Options{})
	if err != nil {
		t.Skipf("no Vulkan device: %v", err)
	}
	for _, d := range devs {
		t.Logf("%+v", d.Info())
	}
}

// Every test graph at batch 1 and 3 gives the reference executor's bytes, node by node, and
// a batched Run gives each image's reference sums.
func TestMatchesReference(t *testing.T) {
	d := device(t)
	for _, c := range quanttest.Cases(t) {
		g := quanttest.Graph(t, c.Spec, 11)
		for _, batch := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/batch%d", c.Name, batch), func(t *testing.T) {
				p, err := d.Prepare(g, batch)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				in := quanttest.Input(g, 5, batch)
				size := g.Spec.Input.Size()
				for img := 0; img < batch; img++ {
					if err := backends.Compare(g, p, in[img*size:(img+1)*size]); err != nil {
						t.Fatalf("image %d: %v", img, err)
					}
				}
				k := len(g.Classes)
				sums := make([]int32, batch*k)
				if err := p.Run(in, batch, sums); err != nil {
					t.Fatal(err)
				}
				for img := 0; img < batch; img++ {
					ref := g.Reference(in[img*size : (img+1)*size])
					for j, want := range ref.Sums {
						if got := sums[img*k+j]; got != want {
							t.Fatalf("batched image %d class %d: %d, reference %d", img, j, got, want)
						}
					}
				}
			})
		}
	}
}
