package nin_test

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ninedge/ninedge/caffe/caffetest"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/dataset/datasettest"
	"github.com/ninedge/ninedge/infer"
)

// The imported authors' model must reproduce the published accuracy and, image by image, the
// scores of the reference (numpy) forward pass recorded in the shared data.
func TestImportedCIFAR10MatchesReference(t *testing.T) {
	if testing.Short() {
		t.Skip("imports and evaluates the full CIFAR-10 test set")
	}
	m := caffetest.CIFAR10(t)
	pre := datasettest.Dir(t, "pretrained")
	raw, err := os.ReadFile(filepath.Join(pre, "nin_cifar10_test_logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]float32, len(raw)/4)
	for i := range ref {
		ref[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	set, err := dataset.Load("cifar10", datasettest.Dir(t, "cifar10"), "test", dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != set.N*10 {
		t.Fatalf("%d reference scores for %d images", len(ref), set.N)
	}
	res, err := infer.Evaluate(infer.NewFloat(m, infer.Options{Batch: 64}), set, set.N, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("top-1 %.4f top-5 %.4f, %.0f images/s", res.Top1, res.Top5, res.ImagesPerSec)
	if math.Abs(res.Top1-0.8957) > 0.0005 {
		t.Errorf("top-1 %.4f, want 0.8957 ± 0.0005", res.Top1)
	}
	// Relative error per image, against the image's largest score.
	var worst float64
	worstImg := 0
	for img := 0; img < set.N; img++ {
		got, want := res.Scores[img*10:(img+1)*10], ref[img*10:(img+1)*10]
		var scale, diff float64
		for j := range want {
			scale = math.Max(scale, math.Abs(float64(want[j])))
			diff = math.Max(diff, math.Abs(float64(got[j]-want[j])))
		}
		if e := diff / scale; e > worst {
			worst, worstImg = e, img
		}
	}
	t.Logf("largest relative score error %.2g (image %d)", worst, worstImg)
	if worst > 1e-4 {
		t.Errorf("image %d: relative error %.2g against the reference scores, want < 1e-4", worstImg, worst)
	}
}
