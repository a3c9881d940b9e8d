// Package infer is the runtime entry every command shares: a model file, float or int8, opened
// on a backend choice becomes a Classifier that maps uint8 images (fitted to the model's input)
// to class scores, and a Labeler turns one picture into the answer a user reads. classify,
// stream, serve, bench, eval and report all run models through it, so a frame from a camera,
// a picture posted to /predict and an image of a test set take the same path to their scores.
package infer

import (
	"fmt"
	"io"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/safetensors"
)

// Options say how a model runs.
type Options struct {
	// Backend runs int8 models: cpu, opencl, vulkan (or fail), a list tried in order
	// ("opencl,cpu"), or auto (a short timed trial; also ""). Float models run on the CPU's
	// float runner whatever it says.
	Backend string
	Device  int // device index within a named Backend, the first of a list
	Threads int // CPU threads (0: all cores)
	Batch   int // most images per Scores call (0: 1)
	// Pictures refuses, before a backend is opened and timed, a model whose input no picture
	// can be fitted to (channels other than 1 or 3): what camera and file commands need.
	Pictures bool
	// Log receives backends.Open's warnings (a fallback, a device skipped) and what a
	// Labeler's verification compared; nil discards them.
	Log io.Writer
}

// Classifier is one model prepared to run. It is not safe for concurrent use: the plan and the
// buffers are shared by every call.
type Classifier struct {
	// Exactly one of Model (float) and Graph (int8) is set.
	Model *nin.Model
	Graph *quant.Graph
	// Choice is the device running an int8 graph and why it was chosen.
	Choice *backends.Choice

	runner *nin.Runner // float models
	pp     *nin.Preprocessor
	batch  int
	x      []float32 // preprocessed images
	q      []uint8   // int8: quantized images
	sums   []int32   // int8: the global pool's sums
	log    io.Writer // Options.Log, never nil
}

// Open reads a model file of either kind and prepares it.
func Open(path string, o Options) (*Classifier, error) {
	f, err := read(path)
	if err != nil {
		return nil, err
	}
	if !quant.IsInt8(f) {
		m, err := nin.FromFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := checkPictures(path, m.Spec.Input, o); err != nil {
			return nil, err
		}
		return NewFloat(m, o), nil
	}
	return openGraph(path, f, o)
}

// OpenInt8 reads an int8 model file and prepares it on o's backend; a float model is refused
// with the command that converts it.
func OpenInt8(path string, o Options) (*Classifier, error) {
	f, err := read(path)
	if err != nil {
		return nil, err
	}
	if f.Metadata["format"] == nin.FormatFloat {
		return nil, fmt.Errorf("%s is a float model: convert it to int8 first (ninquant convert)", path)
	}
	return openGraph(path, f, o)
}

func read(path string) (*safetensors.File, error) {
	if path == "" {
		return nil, fmt.Errorf("no model file given")
	}
	return safetensors.ReadFile(path)
}

func openGraph(path string, f *safetensors.File, o Options) (*Classifier, error) {
	g, err := quant.FromFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkPictures(path, g.Spec.Input, o); err != nil {
		return nil, err
	}
	return NewInt8(g, o)
}

func checkPictures(path string, in nin.Shape, o Options) error {
	if !o.Pictures {
		return nil
	}
	if err := imageio.CheckFitterShape(in.W, in.H, in.C); err != nil {
		return fmt.Errorf("%s takes %w", path, err)
	}
	return nil
}

// NewFloat prepares a float model on the CPU's float runner.
func NewFloat(m *nin.Model, o Options) *Classifier {
	batch := max(o.Batch, 1)
	r := nin.NewRunner(m, batch, o.Threads)
	return &Classifier{Model: m, runner: r, pp: nin.NewPreprocessor(&m.Pre, m.Spec.Input, r.Threads), batch: batch,
		x: make([]float32, batch*m.Spec.Input.Size()), log: o.log()}
}

func (o Options) log() io.Writer {
	if o.Log == nil {
		return io.Discard
	}
	return o.Log
}

// NewInt8 prepares an int8 graph on o's backend and device through backends.Open: a named
// backend runs it or fails, a list falls back in its order, auto times every usable device.
func NewInt8(g *quant.Graph, o Options) (*Classifier, error) {
	batch := max(o.Batch, 1)
	name := o.Backend
	if name == "" {
		name = "auto"
	}
	log := o.log()
	c, err := backends.Open(name, o.Device, g, batch, backends.Options{Threads: o.Threads}, log)
	if err != nil {
		return nil, err
	}
	d := g.Spec.Input.Size()
	return &Classifier{Graph: g, Choice: c, pp: nin.NewPreprocessor(&g.Pre, g.Spec.Input, o.Threads), batch: batch,
		x: make([]float32, batch*d), q: make([]uint8, batch*d), sums: make([]int32, batch*len(g.Classes)), log: log}, nil
}

// Scores fills scores (n × classes) for n ≤ Batch images, HWC uint8 fitted to Input.
func (c *Classifier) Scores(images []uint8, n int, scores []float32) error {
	if n > c.batch {
		return fmt.Errorf("batch of %d images, prepared for %d", n, c.batch)
	}
	if c.Graph == nil {
		copy(scores, c.runner.Forward(c.Preprocess(images, n), n))
		return nil
	}
	k := len(c.Graph.Classes)
	if err := c.Choice.Plan.Run(c.Quantize(images, n), n, c.sums[:n*k]); err != nil {
		return err
	}
	c.Graph.Scores(c.sums[:n*k], scores[:n*k])
	return nil
}

// Preprocess returns the float input the network sees for n images (a view of a reused
// buffer).
func (c *Classifier) Preprocess(images []uint8, n int) []float32 {
	c.pp.Apply(images, n, c.x)
	return c.x[:n*c.Input().Size()]
}

// Quantize preprocesses and quantizes n images into an int8 graph's input (a view of a reused
// buffer).
func (c *Classifier) Quantize(images []uint8, n int) []uint8 {
	x := c.Preprocess(images, n)
	c.Graph.QuantizeInput(x, c.q[:len(x)])
	return c.q[:len(x)]
}

// Verify runs one image (fitted to Input) through the plan beside quant's reference executor
// and names the first layer whose bytes differ; it returns what it compared. Float models
// have nothing to verify.
func (c *Classifier) Verify(pixels []uint8) (backends.Compared, error) {
	if c.Graph == nil {
		return backends.Compared{}, nil
	}
	return backends.Compare(c.Graph, c.Choice.Plan, c.Quantize(pixels, 1))
}

// Runner is a float model's runner (its activations feed the per-layer report); nil for int8.
func (c *Classifier) Runner() *nin.Runner { return c.runner }

// Batch is the most images one Scores call takes.
func (c *Classifier) Batch() int { return c.batch }

// Input is the image shape the model takes.
func (c *Classifier) Input() nin.Shape { return c.spec().Input }

// Classes names the model's classes.
func (c *Classifier) Classes() []string {
	if c.Graph != nil {
		return c.Graph.Classes
	}
	return c.Model.Classes
}

func (c *Classifier) spec() *nin.Spec {
	if c.Graph != nil {
		return &c.Graph.Spec
	}
	return &c.Model.Spec
}

// Close frees the device's resources.
func (c *Classifier) Close() error {
	if c.Choice == nil {
		return nil
	}
	return c.Choice.Plan.Close()
}
