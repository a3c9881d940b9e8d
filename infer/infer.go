// Package infer turns uint8 images into class scores with a float model or an int8 graph on a
// backend, behind one small interface, so evaluation, reports and the edge runtime share the
// whole path from pixels to scores.
package infer

import (
	"fmt"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
)

// Scorer maps batches of uint8 HWC images (already fitted to the model's input size) to
// class scores.
type Scorer interface {
	// Scores fills scores (n × classes) for n ≤ Batch() images.
	Scores(images []uint8, n int, scores []float32) error
	Batch() int
	Input() nin.Shape
	Classes() []string
}

// Float runs a float model.
type Float struct {
	runner *nin.Runner
	pp     *nin.Preprocessor
	x      []float32
}

// NewFloat prepares a float model for batches of up to batch images.
func NewFloat(m *nin.Model, batch, threads int) *Float {
	r := nin.NewRunner(m, batch, threads)
	return &Float{runner: r, pp: nin.NewPreprocessor(&m.Pre, m.Spec.Input, r.Threads),
		x: make([]float32, batch*m.Spec.Input.Size())}
}

func (f *Float) Scores(images []uint8, n int, scores []float32) error {
	if n > f.runner.Batch {
		return fmt.Errorf("batch of %d images, prepared for %d", n, f.runner.Batch)
	}
	f.pp.Apply(images, n, f.x)
	copy(scores, f.runner.Forward(f.x, n))
	return nil
}

func (f *Float) Batch() int          { return f.runner.Batch }
func (f *Float) Input() nin.Shape    { return f.runner.Model.Spec.Input }
func (f *Float) Classes() []string   { return f.runner.Model.Classes }
func (f *Float) Runner() *nin.Runner { return f.runner }

// Int8 runs an int8 graph on a backend plan: float preprocessing, input quantization, the
// integer network, then the global-pool sums dequantized into scores.
type Int8 struct {
	Graph *quant.Graph
	Plan  backends.Plan
	pp    *nin.Preprocessor
	batch int
	x     []float32
	q     []uint8
	sums  []int32
}

// NewInt8 prepares the graph on a device for batches of up to batch images.
func NewInt8(g *quant.Graph, dev backends.Device, batch, threads int) (*Int8, error) {
	plan, err := dev.Prepare(g, batch)
	if err != nil {
		return nil, err
	}
	return NewInt8Plan(g, plan, batch, threads), nil
}

// NewInt8Plan wraps a plan already prepared for g and batch (backends.Open's choice, which may
// come from a fallback or a timed trial); the Int8 owns it from then on and closes it.
func NewInt8Plan(g *quant.Graph, plan backends.Plan, batch, threads int) *Int8 {
	d := g.Spec.Input.Size()
	return &Int8{Graph: g, Plan: plan, pp: nin.NewPreprocessor(&g.Pre, g.Spec.Input, threads), batch: batch,
		x: make([]float32, batch*d), q: make([]uint8, batch*d), sums: make([]int32, batch*len(g.Classes))}
}

// Quantize preprocesses and quantizes n images into the graph's input, returning a view of
// the reused buffer.
func (c *Int8) Quantize(images []uint8, n int) []uint8 {
	d := c.Graph.Spec.Input.Size()
	c.pp.Apply(images, n, c.x)
	c.Graph.QuantizeInput(c.x[:n*d], c.q[:n*d])
	return c.q[:n*d]
}

func (c *Int8) Scores(images []uint8, n int, scores []float32) error {
	if n > c.batch {
		return fmt.Errorf("batch of %d images, prepared for %d", n, c.batch)
	}
	q := c.Quantize(images, n)
	k := len(c.Graph.Classes)
	if err := c.Plan.Run(q, n, c.sums[:n*k]); err != nil {
		return err
	}
	c.Graph.Scores(c.sums[:n*k], scores[:n*k])
	return nil
}

func (c *Int8) Batch() int        { return c.batch }
func (c *Int8) Input() nin.Shape  { return c.Graph.Spec.Input }
func (c *Int8) Classes() []string { return c.Graph.Classes }
func (c *Int8) Close() error      { return c.Plan.Close() }

// Input preprocesses one image and returns the float input the network sees (a view of the
// reused buffer).
func (f *Float) Preprocess(pixels []uint8) []float32 {
	f.pp.Apply(pixels, 1, f.x)
	return f.x[:f.Input().Size()]
}
