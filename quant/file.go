package quant

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/safetensors"
)

// Int8 model file format: safetensors with the float format's metadata (spec, classes,
// preprocess) plus "quant" (the graph's scales and node list, JSON). Per integer conv node the
// tensors are "<node>.weight" (I8, OIHW), "<node>.bias", "<node>.multiplier", "<node>.shift"
// (I32, per output channel) and "<node>.weight_scale" (F32); a node kept in float stores F32
// "<node>.weight" (OIHW) and "<node>.bias".
const (
	FormatInt8        = "ninedge-int8"
	FormatInt8Version = 1
)

type nodeJSON struct {
	Name     string  `json:"name"`
	Op       string  `json:"op"`
	In       [3]int  `json:"in"`
	Out      [3]int  `json:"out"`
	Kernel   int     `json:"kernel,omitempty"`
	Stride   int     `json:"stride,omitempty"`
	Pad      int     `json:"pad,omitempty"`
	InScale  float32 `json:"in_scale"`
	OutScale float32 `json:"out_scale"`
	PadValue uint8   `json:"pad_value,omitempty"`
	Float    bool    `json:"float,omitempty"`
}

type quantJSON struct {
	InScale   float32    `json:"input_scale"`
	InZero    uint8      `json:"input_zero"`
	OutScale  float32    `json:"output_scale"`
	OutPixels int        `json:"output_pixels"`
	Calib     CalibInfo  `json:"calibration"`
	Nodes     []nodeJSON `json:"nodes"`
	// FloatFingerprint is Graph.FloatFingerprint; absent in older files, which still load.
	FloatFingerprint string `json:"float_fingerprint,omitempty"`
}

func shape3(s nin.Shape) [3]int   { return [3]int{s.H, s.W, s.C} }
func unshape3(a [3]int) nin.Shape { return nin.Shape{H: a[0], W: a[1], C: a[2]} }

// convShape is a conv node's weight shape in HWIO.
func (n *Node) convShape() [4]int { return [4]int{n.Kernel, n.Kernel, n.In.C, n.Out.C} }

// File returns the graph as a safetensors file.
func (g *Graph) File() (*safetensors.File, error) {
	f, err := nin.Header(FormatInt8, FormatInt8Version, g.Spec, g.Classes, g.Pre)
	if err != nil {
		return nil, err
	}
	q := quantJSON{InScale: g.InScale, InZero: g.InZero, OutScale: g.OutScale, OutPixels: g.OutPixels, Calib: g.Calib, FloatFingerprint: g.FloatFingerprint}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		q.Nodes = append(q.Nodes, nodeJSON{Name: n.Name, Op: n.Op, In: shape3(n.In), Out: shape3(n.Out), Kernel: n.Kernel,
			Stride: n.Stride, Pad: n.Pad, InScale: n.InScale, OutScale: n.OutScale, PadValue: n.PadValue, Float: n.Float})
		if n.Op != OpConv {
			continue
		}
		s := n.convShape()
		oihw := []int{s[3], s[2], s[0], s[1]}
		c := []int{n.Out.C}
		if n.Float {
			f.Tensors = append(f.Tensors,
				safetensors.F32(n.Name+".weight", oihw, nin.HWIOToOIHW(n.FWeights, s)),
				safetensors.F32(n.Name+".bias", c, n.FBias))
			continue
		}
		f.Tensors = append(f.Tensors,
			safetensors.I8(n.Name+".weight", oihw, nin.HWIOToOIHW(n.Weights, s)),
			safetensors.I32(n.Name+".bias", c, n.Bias),
			safetensors.I32(n.Name+".multiplier", c, n.Mult),
			safetensors.I32(n.Name+".shift", c, n.Shift),
			safetensors.F32(n.Name+".weight_scale", c, n.WScale))
	}
	qj, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	f.Metadata["quant"] = string(qj)
	return f, nil
}

// Save writes the graph atomically.
func (g *Graph) Save(path string) error {
	f, err := g.File()
	if err == nil {
		err = safetensors.WriteFile(path, f)
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// Load reads an int8 model file, checking it whole before returning it.
func Load(path string) (*Graph, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := FromFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// IsInt8 reports whether a decoded model file is an int8 model; any other is read as a float
// model (nin.FromFile), which names what is wrong with it.
func IsInt8(f *safetensors.File) bool { return f.Metadata["format"] == FormatInt8 }

// FromFile builds a graph from a decoded int8 model file.
func FromFile(f *safetensors.File) (*Graph, error) {
	if f.Metadata["format"] == nin.FormatFloat {
		return nil, fmt.Errorf("this is a float model; convert it first: ninquant convert --model FILE ... -o OUT")
	}
	spec, classes, pre, err := nin.HeaderOf(f, FormatInt8, FormatInt8Version)
	if err != nil {
		return nil, err
	}
	var q quantJSON
	if err := json.Unmarshal([]byte(f.Metadata["quant"]), &q); err != nil {
		return nil, fmt.Errorf("metadata quant: %w", err)
	}
	if len(q.Nodes) > 4*len(spec.Layers)+4 {
		return nil, fmt.Errorf("metadata quant: %d nodes for %d layers", len(q.Nodes), len(spec.Layers))
	}
	g := &Graph{Spec: spec, Classes: classes, Pre: pre, InScale: q.InScale, InZero: q.InZero,
		OutScale: q.OutScale, OutPixels: q.OutPixels, Calib: q.Calib, FloatFingerprint: q.FloatFingerprint}
	for _, nj := range q.Nodes {
		n := Node{Name: nj.Name, Op: nj.Op, In: unshape3(nj.In), Out: unshape3(nj.Out), Kernel: nj.Kernel, Stride: nj.Stride,
			Pad: nj.Pad, InScale: nj.InScale, OutScale: nj.OutScale, PadValue: nj.PadValue, Float: nj.Float}
		if n.Op == OpConv {
			if err := n.readTensors(f); err != nil {
				return nil, err
			}
		}
		g.Nodes = append(g.Nodes, n)
	}
	if err := g.checkAgainstSpec(); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

func (n *Node) readTensors(f *safetensors.File) error {
	// Shapes come from the metadata; bound them before any tensor is shaped by them.
	if n.Kernel <= 0 || n.Kernel > 64 || n.In.C <= 0 || n.In.C > 1<<14 || n.Out.C <= 0 || n.Out.C > 1<<14 {
		return fmt.Errorf("node %s: bad kernel %d or channels %d→%d", n.Name, n.Kernel, n.In.C, n.Out.C)
	}
	s := n.convShape()
	oihw := []int{s[3], s[2], s[0], s[1]}
	c := n.Out.C
	var err error
	if n.Float {
		var w []float32
		if w, err = nin.TensorF32(f, n.Name+".weight", oihw...); err != nil {
			return err
		}
		n.FWeights = nin.OIHWToHWIO(w, s)
		n.FBias, err = nin.TensorF32(f, n.Name+".bias", c)
		return err
	}
	t, err := f.Tensor(n.Name + ".weight")
	if err != nil {
		return err
	}
	if err := t.CheckShape(oihw...); err != nil {
		return err
	}
	w, err := t.Int8s()
	if err != nil {
		return err
	}
	n.Weights = nin.OIHWToHWIO(w, s)
	for _, p := range []struct {
		name string
		dst  *[]int32
	}{{".bias", &n.Bias}, {".multiplier", &n.Mult}, {".shift", &n.Shift}} {
		t, err := f.Tensor(n.Name + p.name)
		if err != nil {
			return err
		}
		if err := t.CheckShape(c); err != nil {
			return err
		}
		if *p.dst, err = t.Int32s(); err != nil {
			return err
		}
	}
	n.WScale, err = nin.TensorF32(f, n.Name+".weight_scale", c)
	return err
}

// checkAgainstSpec makes sure the node list is the spec's network minus its dropouts, so a
// file cannot pair one architecture's metadata with another's graph.
func (g *Graph) checkAgainstSpec() error {
	var want []string
	for _, l := range g.Spec.Layers {
		if l.Kind != nin.Dropout {
			want = append(want, l.Name)
		}
	}
	var got []string
	for _, n := range g.Nodes {
		got = append(got, n.Name)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("metadata quant: nodes %v do not match the spec's layers %v", got, want)
	}
	return nil
}
