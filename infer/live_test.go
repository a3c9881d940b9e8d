package infer_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// liveModel opens path as the commands do, on one CPU thread.
func liveModel(t *testing.T, path string) *infer.Live {
	t.Helper()
	l, err := infer.NewLive(path, func() (*infer.Labeler, *infer.Classifier, error) {
		c, err := infer.OpenInt8(path, infer.Options{Backend: "cpu", Threads: 1})
		if err != nil {
			return nil, nil, err
		}
		lab, err := infer.NewLabeler(c, 3, 1)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return lab, c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func save(t *testing.T, g *quant.Graph, path string) {
	t.Helper()
	// Written aside and renamed, as a deployment replaces a model file.
	tmp := path + ".new"
	if err := g.Save(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// labels is what each model says of each picture.
func labels(t *testing.T, g *quant.Graph, pics [][]uint8) [][]infer.Class {
	lab := streamtest.Labeler(t, g, 3)
	var out [][]infer.Class
	for _, p := range pics {
		top, err := lab.Label(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, slices.Clone(top))
	}
	return out
}

// TestLiveReloadUnderLoad reloads the model 20 times, alternating two files, while eight
// goroutines label pictures: no labeling fails, and each answer is one of the two models'
// for that picture; after the last reload only the new model answers.
func TestLiveReloadUnderLoad(t *testing.T) {
	a, b := streamtest.GraphSeed(t, 7), streamtest.GraphSeed(t, 8)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	save(t, a, path)
	var pics [][]uint8
	fit := imageio.NewFitter(32, 32, 3)
	for _, p := range streamtest.Pictures(6, 64, 48) {
		px := make([]uint8, 32*32*3)
		if err := fit.Fit(p, px); err != nil {
			t.Fatal(err)
		}
		pics = append(pics, px)
	}
	wantA, wantB := labels(t, a, pics), labels(t, b, pics)
	if slices.EqualFunc(wantA, wantB, func(x, y []infer.Class) bool { return slices.Equal(x, y) }) {
		t.Fatal("the two models agree on every picture: the test could not tell them apart")
	}
	l := liveModel(t, path)
	first := l.Info()

	var stop atomic.Bool
	var calls atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; !stop.Load(); i++ {
				k := i % len(pics)
				var got []infer.Class
				err := l.Do(func(lab *infer.Labeler) error {
					top, err := lab.Label(pics[k])
					got = slices.Clone(top)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if !slices.Equal(got, wantA[k]) && !slices.Equal(got, wantB[k]) {
					errs <- errors.New("an answer neither model gives")
					return
				}
				calls.Add(1)
			}
		})
	}
	for i := range 20 {
		g := b
		if i%2 == 1 {
			g = a
		}
		save(t, g, path)
		if _, err := l.Reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	save(t, b, path)
	info, err := l.Reload()
	if err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if calls.Load() < 21 {
		t.Errorf("only %d labelings ran during 21 reloads", calls.Load())
	}
	if info.SHA256 == first.SHA256 || !info.Loaded.After(first.Loaded) || l.Info() != info {
		t.Errorf("info %+v after reloading, first %+v", info, first)
	}
	for k, p := range pics {
		l.Do(func(lab *infer.Labeler) error {
			top, _ := lab.Label(p)
			if !slices.Equal(top, wantB[k]) {
				t.Errorf("picture %d after the last reload: %v, want the new model's %v", k, top, wantB[k])
			}
			return nil
		})
	}
}

// TestLiveBadReload: a damaged file, a missing one and a model of another input are refused,
// and the old model keeps serving.
func TestLiveBadReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	a := streamtest.Graph(t)
	save(t, a, path)
	l := liveModel(t, path)
	before := l.Info()
	mnist, err := nin.Expand("tiny-mnist", nin.Shape{H: 28, W: 28, C: 1}, 10, []nin.Block{{Out: []int{8, 10}, Kernel: 3, Pad: 1, Pool: "global"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		write func()
		want  string
	}{
		{"damaged", func() { os.WriteFile(path, []byte("not a model"), 0o644) }, path},
		{"missing", func() { os.Remove(path) }, "no such file"},
		{"other input", func() { save(t, quanttest.Graph(t, mnist, 1), path) }, "takes 28x28x1 pictures, the model serving takes 32x32x3"},
	}
	for _, tt := range tests {
		tt.write()
		if _, err := l.Reload(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: reload error %v, want %q", tt.name, err, tt.want)
		}
		if l.Info() != before {
			t.Errorf("%s: the model changed to %+v", tt.name, l.Info())
		}
		if err := l.Do(func(lab *infer.Labeler) error { _, err := lab.Label(make([]uint8, 32*32*3)); return err }); err != nil {
			t.Errorf("%s: the old model no longer labels: %v", tt.name, err)
		}
	}
	l.Close()
	if err := l.Do(func(*infer.Labeler) error { return nil }); !errors.Is(err, infer.ErrLiveClosed) {
		t.Errorf("Do after Close: %v", err)
	}
	if _, err := l.Reload(); !errors.Is(err, infer.ErrLiveClosed) {
		t.Errorf("Reload after Close: %v", err)
	}
}

// TestHandleAllocations: a camera loop labelling through a Live allocates nothing per frame.
func TestHandleAllocations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	save(t, streamtest.Graph(t), path)
	h := liveModel(t, path).Handle()
	px := make([]uint8, h.Input().Size())
	for range 4 { // past the labeler's verification of its first pictures
		if _, err := h.Label(px); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(100, func() { h.Label(px) }); a != 0 {
		t.Errorf("%v allocations per Label", a)
	}
}
