package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ninedge/ninedge/nin/nintest"
	"github.com/ninedge/ninedge/safetensors"
)

// FuzzCheckpoint: a damaged checkpoint is refused or resumes into a trainer that can take a
// step and save itself again.
func FuzzCheckpoint(f *testing.F) {
	s := nintest.GradSpec(f, "gap")
	data := synthData(s, 4, 1)
	opt := DefaultTrainOptions()
	opt.Batch, opt.BN = 2, true
	tr := newTestTrainer(f, s, data, opt, 1)
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.ckpt")
	if err := tr.SaveCheckpoint(path); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		dec, err := safetensors.Decode(b)
		if err != nil {
			return
		}
		tr, err := trainerFromFile(dec, 1)
		if err != nil {
			return
		}
		if !nintest.SmallEnoughToRun(tr.Model.Spec) || tr.Opt.Batch > 8 || tr.Model.Spec.Input != s.Input || tr.Model.Spec.Classes != s.Classes {
			return
		}
		// One step at most: cancel as soon as the first completes.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if _, _, err := tr.TrainEpoch(ctx, data, func(Progress) { cancel() }); err != nil {
			return
		}
		if err := tr.SaveCheckpoint(filepath.Join(t.TempDir(), "again.ckpt")); err != nil {
			t.Fatalf("a resumed trainer cannot save: %v", err)
		}
	})
}
