// Package report measures what int8 costs: the accuracy of a float model and its int8
// conversion on the same images, their agreement, per-class accuracy, and per layer how far
// the int8 activations are from the float ones.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
)

// Layer is one int8 node's error against the float layer of the same name.
type Layer struct {
	Name   string  `json:"name"`
	Op     string  `json:"op"`
	Float  bool    `json:"kept_float,omitempty"`
	SQNR   float64 `json:"sqnr_db"` // 10·log10(Σ float² / Σ (float − int8)²)
	Cosine float64 `json:"cosine"`
	// Added is how many dB of SQNR this layer lost against its input: the layer that adds the
	// most error is the one to keep in float first.
	Added float64 `json:"sqnr_lost_db"`
}

// Class is one class's accuracy under both models.
type Class struct {
	Name      string  `json:"name"`
	N         int     `json:"n"`
	FloatTop1 float64 `json:"float_top1"`
	Int8Top1  float64 `json:"int8_top1"`
}

// Report is the whole comparison. Fractions are in [0, 1]; DropPP is in percentage points.
type Report struct {
	Model     string  `json:"model"`
	Dataset   string  `json:"dataset"`
	N         int     `json:"n"`
	FloatTop1 float64 `json:"float_top1"`
	Int8Top1  float64 `json:"int8_top1"`
	FloatTop5 float64 `json:"float_top5"`
	Int8Top5  float64 `json:"int8_top5"`
	DropPP    float64 `json:"drop_pp"`
	// FloatOnly and Int8Only count the images only one of the two models classifies right:
	// they alone make the drop, 100·(FloatOnly − Int8Only)/N percentage points.
	FloatOnly int `json:"float_only_right"`
	Int8Only  int `json:"int8_only_right"`
	// DropCI95 is the drop's 95 % confidence interval in percentage points for images drawn
	// like these (Agresti–Min's paired interval, sound even for a handful of discordant
	// images), and McNemarP the exact two-sided p-value of "both models are as accurate".
	// Verdict reads them together.
	DropCI95    [2]float64      `json:"drop_ci95_pp"`
	McNemarP    float64         `json:"mcnemar_p"`
	Agreement   float64         `json:"agreement"`
	Calibration quant.CalibInfo `json:"calibration"`
	Classes     []Class         `json:"classes"`
	LayerImages int             `json:"layer_images"`
	Layers      []Layer         `json:"layers"`
	WorstLayer  string          `json:"worst_layer"`
	Backend     string          `json:"backend"`
}

// CheckPair makes sure the int8 graph was converted from this float model's architecture.
func CheckPair(m *nin.Model, g *quant.Graph) error {
	a, _ := json.Marshal(m.Spec)
	b, _ := json.Marshal(g.Spec)
	if string(a) != string(b) {
		return fmt.Errorf("the float model is %s and the int8 model %s: their architectures differ", m.Spec.Name, g.Spec.Name)
	}
	if strings.Join(m.Classes, "\x00") != strings.Join(g.Classes, "\x00") {
		return fmt.Errorf("the float and int8 models name their classes differently")
	}
	return nil
}

// CheckSource makes sure the int8 graph was converted from this float model, by the float
// model's fingerprint recorded in the int8 file: a report on a different float model of the
// same architecture measures the difference between two models, not what int8 cost. It
// returns nil for graphs that record no fingerprint (older files, graphs imported already
// quantized); Recorded tells those apart.
func CheckSource(m *nin.Model, g *quant.Graph) error {
	if !Recorded(g) {
		return nil
	}
	if fp := m.Fingerprint(); fp != g.FloatFingerprint {
		return fmt.Errorf("the int8 model was converted from the float model %s, not from this one (%s)", g.FloatFingerprint, fp)
	}
	return nil
}

// Recorded reports whether the int8 graph names the float model it was converted from.
func Recorded(g *quant.Graph) bool { return g.FloatFingerprint != "" }

// Options control a report run.
type Options struct {
	Run         infer.Options // batch and threads of both models; the int8 model's backend
	LayerImages int           // images used for the per-layer comparison
	Progress    func(done int)
}

// Build evaluates both models on the set and compares them layer by layer on the first
// LayerImages images. The int8 model runs on the backend opt.Run chooses (infer.NewInt8).
func Build(m *nin.Model, g *quant.Graph, set *dataset.Set, opt Options) (*Report, error) {
	if err := CheckPair(m, g); err != nil {
		return nil, err
	}
	if opt.Run.Batch < 1 || opt.LayerImages < 1 {
		return nil, fmt.Errorf("report: batch %d and layer images %d must be at least 1", opt.Run.Batch, opt.LayerImages)
	}
	fs := infer.NewFloat(m, opt.Run)
	qs, err := infer.NewInt8(g, opt.Run)
	if err != nil {
		return nil, err
	}
	defer qs.Close()
	progress := func(base int) func(int) {
		if opt.Progress == nil {
			return nil
		}
		return func(d int) { opt.Progress(base + d) }
	}
	fr, err := infer.Evaluate(fs, set, set.N, false, progress(0))
	if err != nil {
		return nil, err
	}
	qr, err := infer.Evaluate(qs, set, set.N, false, progress(set.N))
	if err != nil {
		return nil, err
	}
	r := &Report{Model: m.Spec.Name, N: set.N, FloatTop1: fr.Top1, Int8Top1: qr.Top1, FloatTop5: fr.Top5, Int8Top5: qr.Top5,
		DropPP: 100 * (fr.Top1 - qr.Top1), Calibration: g.Calib, Backend: qs.Choice.Device.Backend}
	same := 0
	for i := range fr.Pred {
		label := set.Labels[i]
		switch {
		case fr.Pred[i] == qr.Pred[i]:
			same++
		case fr.Pred[i] == label:
			r.FloatOnly++
		case qr.Pred[i] == label:
			r.Int8Only++
		}
	}
	r.Agreement = float64(same) / float64(set.N)
	r.DropCI95 = pairedInterval(r.FloatOnly, r.Int8Only, set.N)
	r.McNemarP = mcnemarExact(r.FloatOnly, r.Int8Only)
	counts := make([]int, len(m.Classes))
	for _, l := range set.Labels[:set.N] {
		if int(l) < len(counts) {
			counts[l]++
		}
	}
	for c, name := range m.Classes {
		r.Classes = append(r.Classes, Class{Name: name, N: counts[c], FloatTop1: fr.PerClass[c], Int8Top1: qr.PerClass[c]})
	}
	r.LayerImages = min(max(opt.LayerImages, 1), set.N)
	if r.Layers, err = compareLayers(fs, qs, set, r.LayerImages); err != nil {
		return nil, err
	}
	worst := math.Inf(-1)
	for _, l := range r.Layers {
		if !l.Float && l.Added > worst {
			worst, r.WorstLayer = l.Added, l.Name
		}
	}
	return r, nil
}

// Verdict says in words whether the drop is more than the noise of this test set: both the
// interval and McNemar's test must agree, as they do unless the discordant images are few
// and split near the edge of significance.
func (r *Report) Verdict() string {
	holdsZero := r.DropCI95[0] <= 0 && 0 <= r.DropCI95[1]
	switch {
	case holdsZero && r.McNemarP >= 0.05:
		return "within the noise of this test set"
	case !holdsZero && r.McNemarP < 0.05:
		return "a real difference, not noise"
	}
	return "borderline: the interval and the test disagree at this sample size"
}

// pairedInterval is the 95 % interval, in percentage points, of the difference of two
// accuracies measured on the same n images, b of them right under the first model only and
// c under the second only: Agresti and Min's (2005) Wald interval with half an image added to
// each cell, which keeps its coverage where b and c are small (the plain Wald interval is
// [0, 0] when they are both 0).
func pairedInterval(b, c, n int) [2]float64 {
	bb, cc, nn := float64(b)+0.5, float64(c)+0.5, float64(n)+2
	d := (bb - cc) / nn
	se := math.Sqrt(bb+cc-(bb-cc)*(bb-cc)/nn) / nn
	return [2]float64{100 * (d - 1.96*se), 100 * (d + 1.96*se)}
}

// mcnemarExact is the exact two-sided p-value of McNemar's test: under "equally accurate"
// each of the b+c discordant images is equally likely to favour either model, so min(b, c)
// is binomial(b+c, ½) and p is twice its lower tail.
func mcnemarExact(b, c int) float64 {
	n, k := b+c, min(b, c)
	tail := 0.0
	lgN, _ := math.Lgamma(float64(n + 1))
	for i := 0; i <= k; i++ {
		lgI, _ := math.Lgamma(float64(i + 1))
		lgNI, _ := math.Lgamma(float64(n - i + 1))
		tail += math.Exp(lgN - lgI - lgNI - float64(n)*math.Ln2)
	}
	return min(1, 2*tail)
}

// compareLayers runs n images through both models and accumulates, per int8 node, the
// signal and error energy of its dequantized output against the float layer's output.
func compareLayers(fs, qs *infer.Classifier, set *dataset.Set, n int) ([]Layer, error) {
	g := qs.Graph
	runner := fs.Runner()
	spec := runner.Model.Spec
	layerOf := map[string]int{}
	for i, l := range spec.Layers {
		layerOf[l.Name] = i
	}
	// accs[0] is the quantized input; accs[i+1] is node i.
	accs := make([]acc, len(g.Nodes)+1)
	acts := backends.NewTraceBuffers(g)
	sums := make([]int32, len(g.Classes))
	d := set.H * set.W * set.C
	scores := make([]float32, len(g.Classes))
	for img := 0; img < n; img++ {
		pixels := set.Images[img*d : (img+1)*d]
		if err := fs.Scores(pixels, 1, scores); err != nil {
			return nil, err
		}
		q := qs.Quantize(pixels, 1)
		for j, v := range fs.Preprocess(pixels, 1) {
			accs[0].add(float64(v), float64(int32(q[j])-int32(g.InZero))*float64(g.InScale))
		}
		if err := qs.Choice.Plan.Trace(q, acts, sums); err != nil {
			return nil, err
		}
		for i, node := range g.Nodes {
			f := runner.Activation(layerOf[node.Name], 1)
			a := &accs[i+1]
			if node.Op == quant.OpGlobalAvg {
				k := float64(g.OutScale) / float64(g.OutPixels)
				for c, s := range sums {
					a.add(float64(f[c]), float64(s)*k)
				}
				continue
			}
			for j, q := range acts[i] {
				a.add(float64(f[j]), float64(q)*float64(node.OutScale))
			}
		}
	}
	out := []Layer{accs[0].layer(Layer{Name: "input", Op: "quantize"})}
	for i, node := range g.Nodes {
		out = append(out, accs[i+1].layer(Layer{Name: node.Name, Op: node.Op, Float: node.Float}))
	}
	for i := 1; i < len(out); i++ {
		out[i].Added = out[i-1].SQNR - out[i].SQNR
	}
	return out, nil
}

func (a acc) layer(l Layer) Layer {
	l.SQNR = 10 * math.Log10(a.sig/math.Max(a.noise, 1e-30))
	if a.sig > 0 && a.qq > 0 {
		l.Cosine = a.dot / math.Sqrt(a.sig*a.qq)
	}
	return l
}

type acc struct{ sig, noise, dot, qq float64 }

func (a *acc) add(f, q float64) {
	a.sig += f * f
	a.noise += (f - q) * (f - q)
	a.dot += f * q
	a.qq += q * q
}

// WriteJSON writes the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteMarkdown writes the report for people.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# int8 accuracy report: %s on %s\n\n", r.Model, r.Dataset)
	fmt.Fprintf(&b, "int8 costs **%.2f percentage points** of top-1 on %d images (calibration: %s", r.DropPP, r.N, r.Calibration)
	fmt.Fprintf(&b, "; int8 run on the %s backend).\n\n", r.Backend)
	verdict := r.Verdict()
	images := func(n int) string {
		if n == 1 {
			return "1 image"
		}
		return fmt.Sprintf("%d images", n)
	}
	fmt.Fprintf(&b, "Float32 alone is right on %s, int8 alone on %s: the drop's 95%% interval is %.2f to %.2f pp and McNemar's exact p = %.3g, %s.\n\n",
		images(r.FloatOnly), images(r.Int8Only), r.DropCI95[0], r.DropCI95[1], r.McNemarP, verdict)
	fmt.Fprintf(&b, "| | float32 | int8 | change |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| top-1 | %.2f%% | %.2f%% | %+.2f pp |\n", 100*r.FloatTop1, 100*r.Int8Top1, -r.DropPP)
	fmt.Fprintf(&b, "| top-5 | %.2f%% | %.2f%% | %+.2f pp |\n", 100*r.FloatTop5, 100*r.Int8Top5, 100*(r.Int8Top5-r.FloatTop5))
	fmt.Fprintf(&b, "| same top-1 class | | %.2f%% | |\n\n", 100*r.Agreement)
	fmt.Fprintf(&b, "## Per class\n\n| class | images | float32 | int8 | change |\n|---|---:|---:|---:|---:|\n")
	for _, cl := range r.Classes {
		fmt.Fprintf(&b, "| %s | %d | %.2f%% | %.2f%% | %+.2f pp |\n", cl.Name, cl.N, 100*cl.FloatTop1, 100*cl.Int8Top1, 100*(cl.Int8Top1-cl.FloatTop1))
	}
	fmt.Fprintf(&b, "\n## Per layer (first %d images)\n\nSQNR is 10·log10(signal/error) of the int8 output against the float layer; higher is better. Errors accumulate along the network; \"lost\" is what each layer adds, and the worst layer is the one that loses most: the first candidate for --float-layers.\n\n", r.LayerImages)
	fmt.Fprintf(&b, "| layer | op | SQNR (dB) | lost (dB) | cosine |\n|---|---|---:|---:|---:|\n")
	for _, l := range r.Layers {
		name := l.Name
		if l.Float {
			name += " (float)"
		}
		if l.Name == r.WorstLayer {
			name = "**" + name + "** (worst)"
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %.5f |\n", name, l.Op, l.SQNR, l.Added, l.Cosine)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
