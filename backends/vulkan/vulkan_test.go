//go:build cgo && vulkan

package vulkan

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/backends/backendtest"
	_ "github.com/ninedge/ninedge/backends/cpu" // the fallback TestNoDriver lists
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// device returns the first Vulkan device, or skips the test where the machine has none.
func device(tb testing.TB) *Device {
	tb.Helper()
	return backendtest.Devices(tb, Backend{}, nil)[0].(*Device)
}

// Every device describes itself (backendtest.Devices checks what all backends share).
func TestDevices(t *testing.T) {
	backendtest.Devices(t, Backend{}, func(info backends.DeviceInfo) error {
		if len(info.Features) == 0 || !strings.HasPrefix(info.Features[0], "vulkan-") {
			return errors.New("no Vulkan version in the features")
		}
		return nil
	})
}

// Every test graph at batch 1 and 3 gives the reference executor's bytes, node by node, and
// batched Runs of every size give each image's reference sums. Graphs with a layer kept in
// float are refused.
func TestMatchesReference(t *testing.T) {
	backendtest.MatchesReference(t, device(t), backendtest.Options{RefusesFloat: true})
}

// requantGraph is one 1×1 conv with zero weights, so that output channel o's accumulator is
// exactly its bias: the shader's requantization meets every (acc, m, s) triple given.
func requantGraph(acc, m, s []int32) *quant.Graph {
	c := len(acc)
	one := nin.Shape{H: 1, W: 1, C: 1}
	out := nin.Shape{H: 1, W: 1, C: c}
	conv := quant.Node{Name: "requant", Op: quant.OpConv, In: one, Out: out, Kernel: 1, Stride: 1,
		InScale: 1, OutScale: 1, Weights: make([]int8, c), Bias: acc, Mult: m, Shift: s}
	gap := quant.Node{Name: "sums", Op: quant.OpGlobalAvg, In: out, Out: out, InScale: 1, OutScale: 1}
	return &quant.Graph{Spec: nin.Spec{Name: "requant", Input: one, Classes: c}, Classes: make([]string, c),
		InScale: 1, OutScale: 1, OutPixels: 1, Nodes: []quant.Node{conv, gap}}
}

// The shader's 32-bit requantization (umulExtended, carry, 64-bit shift) equals
// fixedpoint.Requantize on backendtest's edge, tie and random triples.
func TestRequantize(t *testing.T) {
	d := device(t)
	backendtest.Requantize(t, func(acc, m, s []int32) ([]uint8, error) {
		const chunk = 4096 // output channels per graph
		out := make([]uint8, 0, len(acc))
		for lo := 0; lo < len(acc); lo += chunk {
			hi := min(lo+chunk, len(acc))
			g := requantGraph(acc[lo:hi], m[lo:hi], s[lo:hi])
			p, err := d.Prepare(g, 1)
			if err != nil {
				return nil, err
			}
			acts := backends.NewTraceBuffers(g)
			err = p.Trace([]uint8{0}, acts, make([]int32, hi-lo))
			p.Close()
			if err != nil {
				return nil, err
			}
			out = append(out, acts[0]...)
		}
		return out, nil
	})
}

func TestBadCalls(t *testing.T) { backendtest.BadCalls(t, device(t), backendtest.Options{}) }

// Run allocates nothing on the Go side: the submission goes through one cgo call with C-side
// state, never through vulkan-go's allocating wrappers.
func TestRunAllocatesNothing(t *testing.T) { backendtest.ZeroAllocs(t, device(t)) }

func TestProfile(t *testing.T) {
	d := device(t)
	if !d.timestamps() {
		t.Skip("the device has no timestamp queries")
	}
	backendtest.Profile(t, d, backendtest.TimesAny)
}

// Without a Vulkan driver, or with a broken loader, Devices returns an error (never a panic)
// and backends.Open falls back to the CPU. Each case runs in a child process, since the loader
// and the instance are process-wide.
func TestNoDriver(t *testing.T) {
	if os.Getenv("NINEDGE_VULKAN_CHILD") != "" {
		noDriverChild(t)
		return
	}
	fake := filepath.Join(t.TempDir(), "libvulkan.so.1")
	if err := os.WriteFile(fake, []byte("not a shared library"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string][]string{
		"no ICD":        {"VK_ICD_FILENAMES=" + filepath.Join(t.TempDir(), "none.json"), "VK_DRIVER_FILES=" + filepath.Join(t.TempDir(), "none.json")},
		"broken loader": {"LD_LIBRARY_PATH=" + filepath.Dir(fake)},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoDriver$", "-test.v")
		cmd.Env = append(append(os.Environ(), "NINEDGE_VULKAN_CHILD=1"), env...)
		out, err := cmd.CombinedOutput()
		if _, ran := err.(*exec.ExitError); err != nil && !ran {
			// Under qemu-user without binfmt_misc, the test binary cannot start itself.
			t.Skipf("cannot start a child test process: %v", err)
		}
		if err != nil {
			t.Errorf("%s: child failed: %v\n%s", name, err, out)
			continue
		}
		t.Logf("%s:\n%s", name, out)
	}
}

func noDriverChild(t *testing.T) {
	devs, err := Backend{}.Devices(backends.Options{})
	if err == nil {
		t.Skipf("a Vulkan device is still visible: %s", devs[0].Info().Name)
	}
	t.Logf("Devices: %v", err)
	g := quanttest.Graph(t, quanttest.Cases(t)[0].Spec, 3)
	var warn strings.Builder
	// Named alone, the backend fails; in a list, the next one runs.
	if c, err := backends.Open("vulkan", 0, g, 1, backends.Options{Threads: 1}, &warn); err == nil {
		c.Plan.Close()
		t.Fatalf("Open(vulkan) without a driver chose %s (%s)", c.Device.Backend, c.Reason)
	}
	c, err := backends.Open("vulkan,cpu", 0, g, 1, backends.Options{Threads: 1}, &warn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Plan.Close()
	if c.Device.Backend != "cpu" || !strings.Contains(warn.String(), "trying cpu") {
		t.Fatalf("Open chose %s (%s), warning %q", c.Device.Backend, c.Reason, warn.String())
	}
	t.Logf("fallback: %s", c.Reason)
}

// The authors' CIFAR-10 NIN, converted to int8 with the default calibration: its GCN+ZCA
// input is signed, so the first conv pads with a non-zero zero point.
func TestCIFAR10(t *testing.T) { backendtest.CIFAR10(t, device(t)) }

// A run that times out (here: a wait of 0 ns on work the device has just been given) leaves
// the plan refusing to run, and Close waits for the work before it destroys anything.
func TestTimedOutPlan(t *testing.T) {
	c := quanttest.Cases(t)[0]
	g := quanttest.Graph(t, c.Spec, 1)
	const batch = 64
	for range 10 {
		bp, err := device(t).Prepare(g, batch)
		if err != nil {
			t.Fatal(err)
		}
		p := bp.(*Plan)
		p.load(quanttest.Images(1, batch, c.Spec.Input), batch)
		if err := p.submit(1, 0); err == nil {
			p.Close() // it finished at once: try again
			continue
		} else if !p.timedOut || !strings.Contains(err.Error(), "VK_TIMEOUT") {
			t.Fatalf("%v (timed out: %v)", err, p.timedOut)
		}
		err = p.Run(quanttest.Images(2, batch, c.Spec.Input), batch, make([]int32, batch*c.Spec.Classes))
		if err == nil || !strings.Contains(err.Error(), "unusable after an earlier failure") {
			t.Errorf("run after a timeout: %v", err)
		}
		if err := p.Close(); err != nil || p.device != nil {
			t.Errorf("close after the work finished: %v (device %v)", err, p.device)
		}
		return
	}
	t.Skip("the device finished every batch before a wait of 0 ns: no timeout to test")
}

// Errors name the failed call and its VkResult.
func TestResultError(t *testing.T) {
	err := fmt.Errorf("vulkan: %w", vkErr("vkAllocateMemory", -2))
	var re *resultError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "vkAllocateMemory: VK_ERROR_OUT_OF_DEVICE_MEMORY") {
		t.Errorf("%v", err)
	}
	if got := resultName(-123); got != "VkResult -123" {
		t.Errorf("unknown result: %q", got)
	}
}

// The conv shader's tile sizes are compile-time defines that the dispatch sizes must match.
func TestShaderTile(t *testing.T) {
	src, err := os.ReadFile("../../shaders/conv.comp")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("#define OG %d ", convWords), fmt.Sprintf("#define PX %d ", convPixels)} {
		if !strings.Contains(string(src), want) {
			t.Errorf("conv.comp lacks %q", want)
		}
	}
}
