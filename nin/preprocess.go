package nin

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/ninedge/ninedge/internal/sgemm"
	"github.com/ninedge/ninedge/safetensors"
)

// Preprocessing kinds.
const (
	PreScale   = "scale"   // x/255
	PreMeanStd = "meanstd" // (x/255 − mean[c]) / std[c]
	PreGCNZCA  = "gcn-zca" // per-image global contrast normalisation, then ZCA whitening
)

// Preprocess turns uint8 HWC pixels into the float input a model was trained on. It travels
// in the model file, so training, evaluation, conversion and the edge runtime all apply the
// same function. nin/train fits it (FitMeanStd, FitGCNZCA).
type Preprocess struct {
	Kind     string    `json:"kind"`
	Mean     []float32 `json:"mean,omitempty"` // per channel, on the [0, 1] pixel scale
	Std      []float32 `json:"std,omitempty"`
	GCNScale float64   `json:"gcn_scale,omitempty"` // the norm each image is scaled to
	ZCABias  float64   `json:"zca_bias,omitempty"`  // added to the eigenvalues when fitting
	// ZCAMean (D) and ZCA (D×D, symmetric) are tensors in the file, not metadata.
	ZCAMean []float32 `json:"-"`
	ZCA     []float32 `json:"-"`
}

func (p Preprocess) encode() (string, []safetensors.Tensor, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", nil, err
	}
	var t []safetensors.Tensor
	if p.Kind == PreGCNZCA {
		d := len(p.ZCAMean)
		t = append(t, safetensors.F32("preprocess.zca_mean", []int{d}, p.ZCAMean),
			safetensors.F32("preprocess.zca", []int{d, d}, p.ZCA))
	}
	return string(b), t, nil
}

func decodePreprocess(meta string, f *safetensors.File, in Shape) (Preprocess, error) {
	var p Preprocess
	if err := json.Unmarshal([]byte(meta), &p); err != nil {
		return p, fmt.Errorf("metadata preprocess: %w", err)
	}
	d := in.Size()
	var err error
	if p.Kind == PreGCNZCA {
		if p.ZCAMean, err = TensorF32(f, "preprocess.zca_mean", d); err != nil {
			return p, err
		}
		if p.ZCA, err = TensorF32(f, "preprocess.zca", d, d); err != nil {
			return p, err
		}
	}
	return p, p.Validate(in)
}

// Validate checks the preprocessing against the model's input shape.
func (p Preprocess) Validate(in Shape) error {
	switch p.Kind {
	case PreScale:
	case PreMeanStd:
		if len(p.Mean) != in.C || len(p.Std) != in.C {
			return fmt.Errorf("preprocess meanstd: %d means and %d stds for %d channels", len(p.Mean), len(p.Std), in.C)
		}
		for _, s := range p.Std {
			if !(s > 0) {
				return fmt.Errorf("preprocess meanstd: std %v is not positive", s)
			}
		}
	case PreGCNZCA:
		if !(p.GCNScale > 0) {
			return fmt.Errorf("preprocess gcn-zca: gcn_scale %v is not positive", p.GCNScale)
		}
		if len(p.ZCAMean) != in.Size() || len(p.ZCA) != in.Size()*in.Size() {
			return fmt.Errorf("preprocess gcn-zca: ZCA sizes %d and %d for input %v", len(p.ZCAMean), len(p.ZCA), in)
		}
	default:
		return fmt.Errorf("unknown preprocessing %q (scale, meanstd, gcn-zca)", p.Kind)
	}
	return nil
}

// Preprocessor applies a Preprocess to batches, reusing its scratch memory.
type Preprocessor struct {
	p       *Preprocess
	in      Shape
	threads int
	scratch []float32
	gcn     []float64
}

// NewPreprocessor prepares p for images of shape in.
func NewPreprocessor(p *Preprocess, in Shape, threads int) *Preprocessor {
	return &Preprocessor{p: p, in: in, threads: threads}
}

// Apply maps n uint8 HWC images in src to float32 in dst.
func (pp *Preprocessor) Apply(src []uint8, n int, dst []float32) {
	d := pp.in.Size()
	src, dst = src[:n*d], dst[:n*d]
	p := pp.p
	switch p.Kind {
	case PreScale:
		for i, v := range src {
			dst[i] = float32(v) / 255
		}
	case PreMeanStd:
		c := pp.in.C
		for i, v := range src {
			ch := i % c
			dst[i] = (float32(v)/255 - p.Mean[ch]) / p.Std[ch]
		}
	case PreGCNZCA:
		if cap(pp.scratch) < n*d {
			pp.scratch = make([]float32, n*d)
		}
		if len(pp.gcn) != d {
			pp.gcn = make([]float64, d)
		}
		x := pp.scratch[:n*d]
		for i := 0; i < n; i++ {
			GCN(src[i*d:(i+1)*d], p.GCNScale, pp.gcn)
			row := x[i*d : (i+1)*d]
			for j, v := range pp.gcn {
				row[j] = float32(v - float64(p.ZCAMean[j]))
			}
		}
		sgemm.Gemm(pp.threads, false, false, n, d, d, x, d, p.ZCA, d, 0, dst, d)
	}
}

// GCN writes one image's global-contrast-normalised values: the image minus its mean, scaled
// to norm `scale` (pylearn2's recipe without sqrt bias; a flat image is left unscaled). It
// works in float64 so that the result does not depend on summation order.
func GCN(img []uint8, scale float64, out []float64) {
	var sum float64
	for _, v := range img {
		sum += float64(v)
	}
	mean := sum / float64(len(img))
	var ss float64
	for _, v := range img {
		c := float64(v) - mean
		ss += c * c
	}
	norm := math.Sqrt(ss) / scale
	if norm < 1e-8 {
		norm = 1
	}
	for i, v := range img {
		out[i] = (float64(v) - mean) / norm
	}
}
