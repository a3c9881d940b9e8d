package nin

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestBuiltinSpecs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params int
		macs   int64
		out    int
	}{
		// The authors' CIFAR-10 model: 966,986 parameters (its caffemodel holds exactly
		// these), 222,486,528 multiply-adds per image.
		{"nin-cifar10", 966986, 222486528, 10},
		{"nin-cifar100", 966986 + 90*192 + 90, 222486528 + 64*192*90, 100},
		{"nin-svhn", -1, -1, 10},
		{"nin-mnist", -1, -1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadSpec(tc.name, os.ReadFile)
			if err != nil {
				t.Fatal(err)
			}
			if tc.params >= 0 && s.TotalParams() != tc.params {
				t.Errorf("params %d, want %d", s.TotalParams(), tc.params)
			}
			if tc.macs >= 0 && s.TotalMACs() != tc.macs {
				t.Errorf("MACs %d, want %d", s.TotalMACs(), tc.macs)
			}
			sh := s.Shapes()
			if last := sh[len(sh)-1]; last != (Shape{1, 1, tc.out}) {
				t.Errorf("output %v", last)
			}
			// The JSON form round-trips to the same spec.
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var back Spec
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			b2, _ := json.Marshal(back)
			if string(b) != string(b2) {
				t.Errorf("round trip changed the spec:\n%s\n%s", b, b2)
			}
		})
	}
}

func TestCifarShapes(t *testing.T) {
	s, _ := LoadSpec("nin-cifar10", nil)
	want := map[string]Shape{"pool1": {16, 16, 96}, "pool2": {8, 8, 192}, "cccp6": {8, 8, 10}, "pool3": {1, 1, 10}}
	sh := s.Shapes()
	for i, l := range s.Layers {
		if w, ok := want[l.Name]; ok && sh[i+1] != w {
			t.Errorf("%s: %v, want %v", l.Name, sh[i+1], w)
		}
	}
	// Ceil mode: 32 → 16 (floor would give 15), and the MNIST pools take 28 → 14 → 7.
	if got := poolOut(32, 3, 2); got != 16 {
		t.Errorf("poolOut(32,3,2) = %d", got)
	}
	m, _ := LoadSpec("nin-mnist", nil)
	ms := m.Shapes()
	if ms[len(ms)-2] != (Shape{7, 7, 10}) {
		t.Errorf("mnist before the global pool: %v", ms[len(ms)-2])
	}
}

func TestSpecJSONBlocksAndErrors(t *testing.T) {
	good := `{"name":"tiny","input":[12,12,1],"classes":3,"blocks":[
	  {"out":[8,4],"kernel":3,"pad":1,"pool":"max","size":3,"step":2,"dropout":0.5},
	  {"out":[6,3],"kernel":3,"pad":1,"pool":"global"}]}`
	var s Spec
	if err := json.Unmarshal([]byte(good), &s); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range s.Layers {
		names = append(names, l.Name)
	}
	if got := strings.Join(names, " "); got != "conv1 cccp1 pool1 drop1 conv2 cccp2 pool2" {
		t.Errorf("layers %s", got)
	}
	fc := strings.Replace(good, `"classes":3,`, `"classes":3,"head":{"kind":"fc","dropout":0.5},`, 1)
	if err := json.Unmarshal([]byte(fc), &s); err != nil {
		t.Fatal(err)
	}
	if l := s.Layers[len(s.Layers)-1]; l.Kind != FC || l.Out != 3 {
		t.Errorf("fc head: last layer %+v", l)
	}
	for name, bad := range map[string]string{
		"wrong classes":  strings.Replace(good, `[6,3]`, `[6,4]`, 1),
		"unknown pool":   strings.Replace(good, `"global"`, `"median"`, 1),
		"unknown field":  strings.Replace(good, `"name"`, `"nmae"`, 1),
		"huge input":     strings.Replace(good, `[12,12,1]`, `[1000000,12,1]`, 1),
		"kernel too big": strings.Replace(good, `"kernel":3,"pad":1,"pool":"max"`, `"kernel":30,"pad":1,"pool":"max"`, 1),
		"not json":       `{"name":`,
	} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A spec is a small file that decides how much a loader allocates and how long a run takes:
// each bound refuses the smallest spec over it and accepts the largest under it.
func TestSpecCostBounds(t *testing.T) {
	conv1 := func(out ...int) []Block { return []Block{{Out: out, Kernel: 1, Pool: "global"}} }
	for _, tc := range []struct {
		name   string
		in     Shape
		blocks []Block
		err    string // "" where the spec is accepted
	}{
		{"input at the bound", Shape{H: 4096, W: 4096, C: 1}, conv1(1), ""},
		{"input over", Shape{H: 4096, W: 4097, C: 1}, conv1(1), "input"},
		{"tensor at the bound", Shape{H: 2048, W: 2048, C: 3}, conv1(4, 1), ""},
		{"tensor over", Shape{H: 2048, W: 2048, C: 3}, conv1(5, 1), "output"},
		{"im2col under", Shape{H: 1024, W: 1024, C: 3}, []Block{{Out: []int{1}, Kernel: 5, Pad: 2, Pool: "global"}}, ""},
		{"im2col over", Shape{H: 1024, W: 1024, C: 3}, []Block{{Out: []int{1}, Kernel: 7, Pad: 3, Pool: "global"}}, "im2col"},
		{"weights at the bound", Shape{H: 1, W: 1, C: 16384}, conv1(4096, 1), ""},
		{"weights over", Shape{H: 1, W: 1, C: 16384}, conv1(4097, 1), "weights"},
		{"MACs under", Shape{H: 64, W: 64, C: 1024}, conv1(1024, 1), ""},
		{"MACs over", Shape{H: 64, W: 64, C: 1024}, conv1(1024, 1024, 1), "multiply-accumulates"},
		{"pool windows over", Shape{H: 4096, W: 4096, C: 1}, []Block{{Out: []int{1}, Kernel: 1, Pool: "max", Size: 3000, Step: 1},
			{Out: []int{1}, Kernel: 1, Pool: "global"}}, "multiply-accumulates"},
	} {
		_, err := Expand("big", tc.in, 1, tc.blocks)
		if tc.err == "" && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: got %v, want an error about %s", tc.name, err, tc.err)
		}
	}
}

// WithClasses resizes the classifier, the last layer with weights, whatever the head.
func TestWithClasses(t *testing.T) {
	for _, head := range []string{"gap", "fc"} {
		s, err := LoadSpec("nin-cifar10", nil)
		if err != nil {
			t.Fatal(err)
		}
		if s, err = s.WithHead(Head{Kind: head}); err != nil {
			t.Fatal(err)
		}
		got, err := s.WithClasses(3)
		if err != nil {
			t.Fatal(err)
		}
		if sh := got.Shapes(); got.Classes != 3 || sh[len(sh)-1].C != 3 || s.Classes != 10 {
			t.Errorf("%s: %d classes, output %v; the original now has %d", head, got.Classes, sh[len(sh)-1], s.Classes)
		}
	}
}

// A pool whose stride exceeds its window drops the ceil-mode window that would start past
// the input, as PyTorch and ONNX do: out = ⌈(in−k)/s⌉+1, less one when (out−1)·s ≥ in.
func TestPoolOutDropsEmptyWindow(t *testing.T) {
	for _, c := range []struct{ in, k, s, want int }{
		{32, 3, 2, 16}, {28, 3, 2, 14}, {18, 3, 2, 9}, {9, 2, 2, 5}, // NIN pools, clipped last windows kept
		{5, 1, 3, 2}, {11, 2, 4, 3}, {4, 1, 2, 2}, {7, 2, 4, 2}, // the last window would be empty
		{14, 2, 4, 4}, {10, 3, 5, 2}, {3, 3, 7, 1},
	} {
		if got := poolOut(c.in, c.k, c.s); got != c.want {
			t.Errorf("poolOut(%d, %d, %d) = %d, want %d", c.in, c.k, c.s, got, c.want)
		}
	}
}
