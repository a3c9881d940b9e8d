package nin

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/ninedge/ninedge/safetensors"
)

// smallEnoughToRun bounds the work a fuzz iteration spends on a spec it was handed.
func smallEnoughToRun(s Spec) bool { return s.TotalMACs() < 1e6 && s.TotalParams() < 1e5 }

// FuzzSpecJSON: a spec the decoder accepts is valid, survives a round trip through its JSON
// unchanged, and (when small) builds a model whose forward pass runs.
func FuzzSpecJSON(f *testing.F) {
	for _, s := range []Spec{tinySpec(f), gradSpec(f, "gap"), gradSpec(f, "fc")} {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"name": "b", "input": [8, 8, 1], "classes": 2, "blocks": [{"out": [4, 2], "kernel": 3, "pad": 1, "pool": "global"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Spec
		if json.Unmarshal(b, &s) != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted an invalid spec: %v", err)
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Spec
		if err := json.Unmarshal(again, &back); err != nil {
			t.Fatalf("its own JSON is refused: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("round trip changed the spec:\n%+v\n%+v", s, back)
		}
		if !smallEnoughToRun(s) {
			return
		}
		m, err := NewModel(s, NumberedClasses(s.Classes), Preprocess{Kind: PreScale})
		if err != nil {
			t.Fatalf("valid spec, no model: %v", err)
		}
		if got := len(NewRunner(m, 1, 1).Forward(make([]float32, s.Input.Size()), 1)); got != s.Classes {
			t.Fatalf("%d scores, want %d", got, s.Classes)
		}
	})
}

// FuzzModelFromFile: whatever a float model file holds, loading it is an error or a model
// whose file encodes back to the same bytes and whose forward pass runs.
func FuzzModelFromFile(f *testing.F) {
	for _, s := range []Spec{tinySpec(f), gradSpec(f, "fc")} {
		m := randomModel(f, s, 3)
		file, err := m.File()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(file.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dec, err := safetensors.Decode(b)
		if err != nil {
			return
		}
		m, err := FromFile(dec)
		if err != nil {
			return
		}
		file, err := m.File()
		if err != nil {
			t.Fatalf("loaded model does not encode: %v", err)
		}
		enc := file.Encode()
		dec2, err := safetensors.Decode(enc)
		if err != nil {
			t.Fatalf("its own encoding does not decode: %v", err)
		}
		m2, err := FromFile(dec2)
		if err != nil {
			t.Fatalf("its own encoding does not load: %v", err)
		}
		file2, _ := m2.File()
		if !slices.Equal(enc, file2.Encode()) {
			t.Fatal("encode → load → encode changed the bytes")
		}
		if smallEnoughToRun(m.Spec) {
			NewRunner(m, 1, 1).Forward(make([]float32, m.Spec.Input.Size()), 1)
		}
	})
}

// FuzzCheckpoint: a damaged checkpoint is refused or resumes into a trainer that can take a
// step and save itself again.
func FuzzCheckpoint(f *testing.F) {
	s := gradSpec(f, "gap")
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
		if !smallEnoughToRun(tr.Model.Spec) || tr.Opt.Batch > 8 || tr.Model.Spec.Input != s.Input || tr.Model.Spec.Classes != s.Classes {
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
