package report

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/ninedge/ninedge/backends/cpu" // the backend the reports run on
	"github.com/ninedge/ninedge/caffe/caffetest"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/dataset/datasettest"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// The authors' CIFAR-10 NIN, converted with the default method, loses at most 0.3 points of
// top-1 on the 10,000 test images.
func TestCIFAR10Int8Drop(t *testing.T) {
	if testing.Short() {
		t.Skip("converts and evaluates the full CIFAR-10 test set")
	}
	m := caffetest.CIFAR10(t)
	g := caffetest.CIFAR10Int8(t, 1000)
	dir := datasettest.Dir(t, "cifar10")
	test, err := dataset.Load("cifar10", dir, "test", dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(m, g, test, Options{Run: infer.Options{Backend: "cpu", Batch: 32}, LayerImages: 50})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	r.WriteMarkdown(&md)
	t.Log("\n" + md.String())
	if r.N != 10000 || r.FloatTop1 < 0.8952 || r.FloatTop1 > 0.8962 {
		t.Errorf("float top-1 %.4f on %d images", r.FloatTop1, r.N)
	}
	if r.DropPP > 0.3 {
		t.Errorf("int8 drop %.2f pp, want ≤ 0.3", r.DropPP)
	}
}

// The report's JSON carries the keys pipelines read, with fractions as fractions, and the
// chart is written.
func TestReportOutputs(t *testing.T) {
	c := quanttest.Cases(t)[1]
	g := quanttest.Graph(t, c.Spec, 3)
	m := quanttest.Model(t, c.Spec, 3)
	set := &dataset.Set{Name: "synthetic", N: 20, H: c.Spec.Input.H, W: c.Spec.Input.W, C: c.Spec.Input.C,
		Images: quanttest.Images(8, 20, c.Spec.Input), Labels: make([]int32, 20), Classes: g.Classes}
	for i := range set.Labels {
		set.Labels[i] = int32(i % c.Spec.Classes)
	}
	r, err := Build(m, g, set, Options{Run: infer.Options{Backend: "cpu", Threads: 1, Batch: 4}, LayerImages: 5})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(b.Bytes(), &j); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"float_top1", "int8_top1", "agreement", "drop_pp", "n", "layers", "worst_layer",
		"float_only_right", "int8_only_right", "drop_ci95_pp", "mcnemar_p"} {
		if _, ok := j[k]; !ok {
			t.Errorf("JSON has no %q", k)
		}
	}
	if a := j["agreement"].(float64); a < 0 || a > 1 {
		t.Errorf("agreement %v is not a fraction", a)
	}
	checkPaired(t, r)
	if len(r.Layers) != len(g.Nodes)+1 || r.Layers[0].Name != "input" {
		t.Errorf("layers: %+v", r.Layers)
	}
	// Random weights keep most of the signal through int8: a sanity floor, not a target.
	for _, l := range r.Layers {
		if l.SQNR < 10 {
			t.Errorf("layer %s: SQNR %.1f dB", l.Name, l.SQNR)
		}
	}
	png := filepath.Join(t.TempDir(), "layers.png")
	if err := r.WriteChart(png); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(png); !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Error("chart is not a PNG")
	}
	var md bytes.Buffer
	r.WriteMarkdown(&md)
	if !strings.Contains(md.String(), "percentage points") || !strings.Contains(md.String(), "(worst)") {
		t.Errorf("markdown:\n%s", md.String())
	}
	other := quanttest.Graph(t, quanttest.Cases(t)[0].Spec, 3)
	if err := CheckPair(m, other); err == nil {
		t.Error("mismatched architectures accepted")
	}
}

// The shipped NIN-MNIST loses at most 0.1 points of top-1 in int8 on the 10,000 test images.
func TestMNISTInt8Drop(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluates the full MNIST test set")
	}
	path := filepath.Join("..", "models", "nin-mnist.safetensors")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no shipped model yet: %v", err)
	}
	m, err := nin.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := datasettest.Dir(t, "mnist")
	calib, err := dataset.Load("mnist", dir, "train", dataset.Options{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	g, err := quant.Convert(m, calib.Images, calib.N, quant.Options{Method: quant.DefaultMethod, Percentile: quant.DefaultPercentile})
	if err != nil {
		t.Fatal(err)
	}
	test, err := dataset.Load("mnist", dir, "test", dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(m, g, test, Options{Run: infer.Options{Backend: "cpu", Batch: 64}, LayerImages: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("float %.4f int8 %.4f drop %.2f pp (95%% interval %.2f to %.2f, McNemar p %.3g) agreement %.4f",
		r.FloatTop1, r.Int8Top1, r.DropPP, r.DropCI95[0], r.DropCI95[1], r.McNemarP, r.Agreement)
	checkPaired(t, r)
	// models/README.md records 99.64 %, past the paper's 99.53 %.
	if r.FloatTop1 < 0.9964 {
		t.Errorf("shipped model: float top-1 %.4f, the model card records 0.9964", r.FloatTop1)
	}
	if r.DropPP > 0.1 {
		t.Errorf("int8 drop %.2f pp, want ≤ 0.1", r.DropPP)
	}
}

// checkPaired: the discordant counts make the drop exactly, and the statistics are theirs.
func checkPaired(t *testing.T, r *Report) {
	t.Helper()
	if d := 100 * float64(r.FloatOnly-r.Int8Only) / float64(r.N); math.Abs(d-r.DropPP) > 1e-9 {
		t.Errorf("%d float-only and %d int8-only right images make %.4f pp, the report says %.4f", r.FloatOnly, r.Int8Only, d, r.DropPP)
	}
	if r.DropCI95 != pairedInterval(r.FloatOnly, r.Int8Only, r.N) || r.McNemarP != mcnemarExact(r.FloatOnly, r.Int8Only) {
		t.Errorf("interval %v and p %v are not those of %d and %d discordant images", r.DropCI95, r.McNemarP, r.FloatOnly, r.Int8Only)
	}
}

// The paired statistics against values worked by hand (p) and by a separate script (intervals).
func TestPairedStatistics(t *testing.T) {
	for _, tc := range []struct {
		b, c, n int
		p       float64 // McNemar's exact two-sided p
		ci      [2]float64
		verdict string
	}{
		// 2·(C(12,0)+C(12,1)+C(12,2))/2^12 = 2·79/4096.
		{10, 2, 1000, 2 * 79.0 / 4096, [2]float64{0.0949, 1.5019}, "a real difference"},
		{0, 0, 10000, 1, [2]float64{-0.0196, 0.0196}, "within the noise"},
		{5, 5, 100, 1, [2]float64{-6.3731, 6.3731}, "within the noise"},
		{0, 3, 10000, 0.25, [2]float64{-0.0692, 0.0092}, "within the noise"},
		// 2/2^5: not significant, yet the interval leaves out 0.
		{5, 0, 10000, 0.0625, [2]float64{0.0020, 0.0980}, "borderline"},
	} {
		if p := mcnemarExact(tc.b, tc.c); math.Abs(p-tc.p) > 1e-12 {
			t.Errorf("McNemar(%d, %d) = %v, want %v", tc.b, tc.c, p, tc.p)
		}
		ci := pairedInterval(tc.b, tc.c, tc.n)
		if math.Abs(ci[0]-tc.ci[0]) > 1e-4 || math.Abs(ci[1]-tc.ci[1]) > 1e-4 {
			t.Errorf("interval(%d, %d, %d) = %v, want %v", tc.b, tc.c, tc.n, ci, tc.ci)
		}
		r := Report{DropCI95: ci, McNemarP: mcnemarExact(tc.b, tc.c)}
		if v := r.Verdict(); !strings.HasPrefix(v, tc.verdict) {
			t.Errorf("%d vs %d of %d: %q, want %q", tc.b, tc.c, tc.n, v, tc.verdict)
		}
	}
}

// An int8 graph is checked against the float model it records; one that records none passes.
func TestCheckSource(t *testing.T) {
	s := quanttest.Cases(t)[0].Spec
	m, other := quanttest.Model(t, s, 3), quanttest.Model(t, s, 4)
	g := quanttest.Graph(t, s, 3)
	if err := CheckSource(m, g); err != nil || !Recorded(g) {
		t.Fatalf("its own float model: %v (recorded %v)", err, Recorded(g))
	}
	err := CheckSource(other, g)
	if err == nil || !strings.Contains(err.Error(), m.Fingerprint()) || !strings.Contains(err.Error(), other.Fingerprint()) {
		t.Fatalf("another float model: %v, want both fingerprints", err)
	}
	g.FloatFingerprint = ""
	if err := CheckSource(other, g); err != nil || Recorded(g) {
		t.Fatalf("a graph without a fingerprint: %v (recorded %v)", err, Recorded(g))
	}
}
