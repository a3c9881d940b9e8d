// Package label turns one fitted image into the answer a user reads: the best classes with
// their names and softmax probabilities, from an int8 graph on whichever backend was chosen.
// `ninedge classify`, `stream` and `serve` all answer through it, so a frame from a camera and
// the same picture posted to /predict get the same numbers.
package label

import (
	"errors"
	"fmt"
	"image"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
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

// Labeler classifies images one at a time. It is not safe for concurrent use: the plan and the
// buffers are shared by every call.
type Labeler struct {
	s      *infer.Int8
	fit    *imageio.Fitter
	k      int
	verify int // images left to check against the reference executor
	pixels []uint8
	scores []float32
	probs  []float32
	idx    []int
	top    []Class
}

// New labels with the int8 scorer s (batch 1 is enough), returning the k best classes. The
// first verify images are also run through backends.Compare, which names the first layer where
// the plan's bytes differ from quant's reference executor. It fails for a model whose input
// no picture can be fitted to (channels other than 1 or 3).
func New(s *infer.Int8, k, verify int) (*Labeler, error) {
	in, n := s.Input(), len(s.Classes())
	if err := imageio.CheckFitterShape(in.W, in.H, in.C); err != nil {
		return nil, fmt.Errorf("label: the model takes %w", err)
	}
	k = min(max(k, 1), n)
	return &Labeler{s: s, fit: imageio.NewFitter(in.W, in.H, in.C), k: k, verify: verify,
		pixels: make([]uint8, in.Size()), scores: make([]float32, n), probs: make([]float32, n),
		idx: make([]int, 0, k), top: make([]Class, k)}, nil
}

// Input is the image shape Label expects.
func (l *Labeler) Input() nin.Shape { return l.s.Input() }

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
		if err := backends.Compare(l.s.Graph, l.s.Plan, l.s.Quantize(pixels, 1)); err != nil {
			return nil, fmt.Errorf("--verify: %w: %v", ErrVerify, err)
		}
	}
	if err := l.s.Scores(pixels, 1, l.scores); err != nil {
		return nil, err
	}
	nin.Softmax(l.scores, l.probs)
	l.idx = nin.TopK(l.probs, l.k, l.idx)
	names := l.s.Classes()
	for i, c := range l.idx {
		l.top[i] = Class{Class: c, Label: names[c], Prob: l.probs[c]}
	}
	return l.top, nil
}
