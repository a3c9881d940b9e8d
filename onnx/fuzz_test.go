package onnx

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
)

// FuzzImport: any bytes give a model or an error, never a panic; a model is a valid spec
// that exports and imports back unchanged, and whose forward pass runs (when small enough to
// run here).
func FuzzImport(f *testing.F) {
	for _, opset := range []int64{MinOpset, 13, MaxOpset} {
		m := tiny(opset)
		if opset == 13 {
			viewBatch(m, 13)
		}
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seedFiles(f, "tiny-bn.onnx", "tiny-gemm.onnx", "tiny-matmul.onnx")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ImportBytes(b, scale)
		if err != nil {
			return
		}
		if err := m.Spec.Validate(); err != nil {
			t.Fatalf("accepted an invalid spec: %v", err)
		}
		b2, err := Export(m)
		if err != nil {
			t.Fatalf("imported but cannot export: %v", err)
		}
		if back, err := ImportBytes(b2, scale); err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("export and import changed the model (%v)", err)
		}
		if m.Spec.TotalMACs() > 1e7 {
			return
		}
		outs := nin.ForwardRef(m, make([]float32, m.Spec.Input.Size()))
		if got := len(outs[len(outs)-1]); got != m.Spec.Classes {
			t.Fatalf("%d scores, want %d", got, m.Spec.Classes)
		}
	})
}

// FuzzImportQuantized: any bytes give an int8 graph or an error, never a panic; a graph
// validates and survives the int8 file format.
func FuzzImportQuantized(f *testing.F) {
	seedFiles(f, "nin-mnist-qdq.onnx", "tiny-bn.onnx")
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ImportQuantizedBytes(b, scale, "fuzz")
		if err != nil {
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("accepted an invalid graph: %v", err)
		}
		file, err := g.File()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := quant.FromFile(file); err != nil {
			t.Fatalf("the int8 file does not read back: %v", err)
		}
	})
}

// seedFiles adds the testdata files and the empty input as seeds.
func seedFiles(f *testing.F, names ...string) {
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
}
