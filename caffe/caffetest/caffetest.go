// Package caffetest gives tests the authors' CIFAR-10 NIN, imported from the shared
// caffemodel exactly as `ninquant import` does. Fitting its ZCA takes a while, so the imported
// model is cached in the temporary folder, keyed by the inputs and a version that changes
// with the recipe, and shared between test packages.
package caffetest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ninedge/ninedge/caffe"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/dataset/datasettest"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/nin/train"
	"github.com/ninedge/ninedge/quant"
)

// recipe versions the cached import: bump it when the import or the ZCA fit changes.
const recipe = "gcn55-zca0.1-v1"

var (
	once   sync.Once
	model  *nin.Model
	errMsg string
)

// CIFAR10 returns the imported model, or skips the test when the shared data is absent.
func CIFAR10(t testing.TB) *nin.Model {
	t.Helper()
	pre := datasettest.Dir(t, "pretrained")
	data := datasettest.Dir(t, "cifar10")
	once.Do(func() { model, errMsg = load(t, pre, data) })
	if errMsg != "" {
		t.Fatal(errMsg)
	}
	return model
}

func load(t testing.TB, pre, data string) (*nin.Model, string) {
	path := filepath.Join(pre, "cifar10_nin.caffemodel")
	sum, err := fileHash(path)
	if err != nil {
		return nil, err.Error()
	}
	cache := filepath.Join(os.TempDir(), "ninedge-test-cache", "cifar10-nin-"+sum[:16]+"-"+recipe+".safetensors")
	if m, err := nin.Load(cache); err == nil {
		return m, ""
	}
	t.Logf("importing %s and fitting its ZCA (cached in %s)", path, cache)
	m, err := Import(path, data)
	if err != nil {
		return nil, err.Error()
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err == nil {
		_ = m.Save(cache)
	}
	return m, ""
}

// CIFAR10Int8 converts the imported model to int8 as `ninquant convert` does by default:
// the default method, calibrated on the first calib images of the training split.
func CIFAR10Int8(t testing.TB, calib int) *quant.Graph {
	t.Helper()
	m := CIFAR10(t)
	set, err := dataset.Load("cifar10", datasettest.Dir(t, "cifar10"), "train", dataset.Options{Limit: calib})
	if err != nil {
		t.Fatal(err)
	}
	g, err := quant.Convert(m, set.Images, set.N, quant.Options{Method: quant.DefaultMethod,
		Percentile: quant.DefaultPercentile, Dataset: "cifar10/train"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Import reads the caffemodel and fits the authors' preprocessing on the CIFAR-10 training
// set: what `ninquant import --caffe FILE --arch nin-cifar10` does.
func Import(caffePath, cifarDir string) (*nin.Model, error) {
	spec, err := nin.LoadSpec("nin-cifar10", nil)
	if err != nil {
		return nil, err
	}
	net, err := caffe.ReadFile(caffePath)
	if err != nil {
		return nil, err
	}
	set, err := dataset.Load("cifar10", cifarDir, "train", dataset.Options{})
	if err != nil {
		return nil, err
	}
	p, err := train.FitGCNZCA(set.Images, set.N, spec.Input, 55, 0.1, 0)
	if err != nil {
		return nil, err
	}
	return caffe.Import(net, spec, set.Classes, p)
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
