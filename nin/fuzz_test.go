package nin_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/nin/nintest"
	"github.com/ninedge/ninedge/safetensors"
)

// FuzzSpecJSON: a spec the decoder accepts is valid, survives a round trip through its JSON
// unchanged, and (when small) builds a model whose forward pass runs.
func FuzzSpecJSON(f *testing.F) {
	for _, s := range []nin.Spec{nintest.TinySpec(f), nintest.GradSpec(f, "gap"), nintest.GradSpec(f, "fc")} {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"name": "b", "input": [8, 8, 1], "classes": 2, "blocks": [{"out": [4, 2], "kernel": 3, "pad": 1, "pool": "global"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s nin.Spec
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
		var back nin.Spec
		if err := json.Unmarshal(again, &back); err != nil {
			t.Fatalf("its own JSON is refused: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("round trip changed the spec:\n%+v\n%+v", s, back)
		}
		if !nintest.SmallEnoughToRun(s) {
			return
		}
		m, err := nin.NewModel(s, nin.NumberedClasses(s.Classes), nin.Preprocess{Kind: nin.PreScale})
		if err != nil {
			t.Fatalf("valid spec, no model: %v", err)
		}
		if got := len(nin.NewRunner(m, 1, 1).Forward(make([]float32, s.Input.Size()), 1)); got != s.Classes {
			t.Fatalf("%d scores, want %d", got, s.Classes)
		}
	})
}

// FuzzModelFromFile: whatever a float model file holds, loading it is an error or a model
// whose file encodes back to the same bytes and whose forward pass runs.
func FuzzModelFromFile(f *testing.F) {
	for _, s := range []nin.Spec{nintest.TinySpec(f), nintest.GradSpec(f, "fc")} {
		m := nintest.RandomModel(f, s, 3)
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
		m, err := nin.FromFile(dec)
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
		m2, err := nin.FromFile(dec2)
		if err != nil {
			t.Fatalf("its own encoding does not load: %v", err)
		}
		file2, _ := m2.File()
		if !slices.Equal(enc, file2.Encode()) {
			t.Fatal("encode → load → encode changed the bytes")
		}
		if nintest.SmallEnoughToRun(m.Spec) {
			nin.NewRunner(m, 1, 1).Forward(make([]float32, m.Spec.Input.Size()), 1)
		}
	})
}
