package infer

import (
	"errors"
	"fmt"
	"image"

	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/nin"
)

// Class is one entry of a top-k list.
type Class struct {
	Class int     `json:"class"`
	Label string  `json:"label"`
	Prob  float32 `json:"prob"`
}

// Result is what `ninedge classify` prints for one image and POST /predict returns.
type Result struct {
	Input string  `json:"input"`
	Top   []Class `json:"top"`
	MS    float64 `json:"ms"`
}

// ErrVerify is wrapped by the error of a Label call whose verification failed.
var ErrVerify = errors.New("the backend disagrees with the CPU reference executor")

// Labeler turns one image at a time into its best classes with their names and softmax
// probabilities: the answer classify, stream and serve share. It is not safe for concurrent
// use: the plan and the buffers are shared by every call.
type Labeler struct {
	c        *Classifier
	fit      *imageio.Fitter
	k        int
	verify   int // images left to check against the reference executor
	verified int // images checked
	pixels   []uint8
	scores   []float32
	probs    []float32
	idx      []int
	top      []Class
}

// NewLabeler labels with c (batch 1 is enough), returning the k best classes. The first verify
// images are also checked with c.Verify, each saying on c's Options.Log what it compared. It fails for a model whose input no picture can be
// fitted to (channels other than 1 or 3).
func NewLabeler(c *Classifier, k, verify int) (*Labeler, error) {
	in, n := c.Input(), len(c.Classes())
	if err := imageio.CheckFitterShape(in.W, in.H, in.C); err != nil {
		return nil, fmt.Errorf("label: the model takes %w", err)
	}
	k = min(max(k, 1), n)
	return &Labeler{c: c, fit: imageio.NewFitter(in.W, in.H, in.C), k: k, verify: verify,
		pixels: make([]uint8, in.Size()), scores: make([]float32, n), probs: make([]float32, n),
		idx: make([]int, 0, k), top: make([]Class, k)}, nil
}

// Input is the image shape Label expects.
func (l *Labeler) Input() nin.Shape { return l.c.Input() }

// Image crops and resizes img to the model's input with imageio's Fitter and labels it.
func (l *Labeler) Image(img image.Image) ([]Class, error) {
	if err := l.fit.Fit(img, l.pixels); err != nil {
		return nil, err
	}
	return l.Label(l.pixels)
}

// Label classifies one image already fitted to Input (HWC uint8) and returns its k best classes,
// best first. The slice is reused by the next call.
func (l *Labeler) Label(pixels []uint8) ([]Class, error) {
	if l.verify > 0 {
		l.verify--
		l.verified++
		done, err := l.c.Verify(pixels)
		if err != nil {
			return nil, fmt.Errorf("--verify: %w: %v", ErrVerify, err)
		}
		if l.c.Choice != nil {
			d := l.c.Choice.Device
			fmt.Fprintf(l.c.log, "--verify: image %d on %s device %d: %d nodes, %d bytes identical to the CPU reference executor\n",
				l.verified, d.Backend, d.Index, done.Nodes, done.Bytes)
		}
	}
	if err := l.c.Scores(pixels, 1, l.scores); err != nil {
		return nil, err
	}
	nin.Softmax(l.scores, l.probs)
	l.idx = nin.TopK(l.probs, l.k, l.idx)
	names := l.c.Classes()
	for i, c := range l.idx {
		l.top[i] = Class{Class: c, Label: names[c], Prob: l.probs[c]}
	}
	return l.top, nil
}
