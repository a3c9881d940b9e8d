package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/backends/backendtest"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/onnx/onnxpb"
	"github.com/ninedge/ninedge/quant"
)

// mnistSample is the MNIST sample shipped in samples/.
var mnistSample = filepath.Join("..", "..", "samples", "mnist")

// A NIN exported by PyTorch goes through every command unchanged: import (with the exporter's
// normalisation and class names), convert on the shipped MNIST sample, eval and report on
// every backend built in (the opencl and vulkan steps of scripts/test.sh build them), export
// back to ONNX and import again to the same weights; the int8 graph computes the same bytes,
// node by node, on every backend's devices as the reference executor.
func TestONNXImportChain(t *testing.T) {
	dir := t.TempDir()
	classes := filepath.Join(dir, "classes.txt")
	if err := os.WriteFile(classes, []byte("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture := filepath.Join("..", "..", "onnx", "testdata", "nin-mnist.onnx")
	float := filepath.Join(dir, "f.safetensors")
	_, stderr, code := run(t, "import", "--onnx", fixture, "--mean", "0.13066047", "--std", "0.3081078", "--classes", classes, "--arch", "nin-mnist", "-o", float)
	if code != 0 || !strings.Contains(stderr, "float nin-mnist") {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	m, err := nin.Load(float)
	if err != nil {
		t.Fatal(err)
	}
	if m.Classes[7] != "seven" || m.Pre.Kind != nin.PreMeanStd || m.Pre.Std[0] != 0.3081078 {
		t.Fatalf("imported classes %v, preprocessing %+v", m.Classes, m.Pre)
	}
	int8 := filepath.Join(dir, "q.safetensors")
	if _, stderr, code := run(t, "convert", "--model", float, "--dataset", "mnist", "--data", mnistSample, "--calib", "100", "-o", int8); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	for _, b := range backends.Names() {
		out, stderr, code := run(t, "eval", "--model", int8, "--backend", b, "--dataset", "mnist", "--data", mnistSample, "--limit", "50", "--json")
		if code != 0 || !strings.Contains(out, `"n":50`) {
			t.Fatalf("eval --backend %s: exit %d: %s%s", b, code, out, stderr)
		}
		out, stderr, code = run(t, "report", "--float", float, "--int8", int8, "--backend", b, "--dataset", "mnist", "--data", mnistSample, "--limit", "50", "--layer-images", "3")
		if code != 0 || !strings.Contains(out, "percentage points") || !strings.Contains(out, "int8 run on the "+b+" backend") {
			t.Fatalf("report --backend %s: exit %d: %s%s", b, code, out, stderr)
		}
	}

	checkDevices(t, int8)

	// Export and import again: the same parameters.
	back := filepath.Join(dir, "back.onnx")
	if _, stderr, code := run(t, "export", "--onnx", "--model", float, "-o", back); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	again := filepath.Join(dir, "again.safetensors")
	if _, stderr, code := run(t, "import", "--onnx", back, "--mean", "0.13066047", "--std", "0.3081078", "--arch", "nin-mnist", "-o", again); code != 0 {
		t.Fatalf("import of the export: exit %d: %s", code, stderr)
	}
	if m2, err := nin.Load(again); err != nil || m2.Fingerprint() != m.Fingerprint() {
		t.Fatalf("export and import changed the parameters (%v)", err)
	}

	// A report of the int8 file against another float model of the same architecture is
	// refused, naming both fingerprints, unless forced.
	other, _ := nin.NewModel(m.Spec, m.Classes, m.Pre)
	other.InitHe(3)
	otherPath := filepath.Join(dir, "other.safetensors")
	if err := other.Save(otherPath); err != nil {
		t.Fatal(err)
	}
	pair := []string{"report", "--float", otherPath, "--int8", int8, "--dataset", "mnist", "--data", mnistSample, "--limit", "10", "--layer-images", "1"}
	if _, stderr, code := run(t, pair...); code != 1 || !strings.Contains(stderr, m.Fingerprint()) || !strings.Contains(stderr, other.Fingerprint()) || !strings.Contains(stderr, "--force") {
		t.Errorf("report against another float model: exit %d: %s", code, stderr)
	}
	if _, stderr, code := run(t, append(pair, "--force")...); code != 0 || !strings.Contains(stderr, "--force: ") {
		t.Errorf("report --force: exit %d: %s", code, stderr)
	}
}

// checkDevices runs the int8 file on every device of every backend built in and compares its
// bytes, node by node, with the reference executor on four images of the MNIST sample.
func checkDevices(t *testing.T, int8 string) {
	t.Helper()
	g, err := quant.Load(int8)
	if err != nil {
		t.Fatal(err)
	}
	set, err := dataset.Load("mnist", mnistSample, "test", dataset.Options{Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, set.N*g.Spec.Input.Size())
	nin.NewPreprocessor(&g.Pre, g.Spec.Input, 1).Apply(set.Images, set.N, x)
	in := make([]uint8, len(x))
	g.QuantizeInput(x, in)
	for _, name := range backends.Names() {
		b, _ := backends.Get(name)
		devs, err := b.Devices(backends.Options{})
		if err != nil || len(devs) == 0 {
			t.Logf("%s: no device: %v", name, err)
			continue
		}
		for i, d := range devs {
			p, err := d.Prepare(g, 2)
			if err != nil {
				t.Fatalf("%s device %d: %v", name, i, err)
			}
			backendtest.CheckPlan(t, g, p, in, set.N, 2)
			p.Close()
			t.Logf("%s device %d (%s): int8 bytes equal to the reference", name, i, d.Info().Name)
		}
	}
}

// A quantized (QDQ) model imports with the same command to an int8 file that says what it
// changed, runs on every backend built in with the same bytes, and reports against the float
// model (no fingerprint to check: a note says so).
func TestONNXImportQDQ(t *testing.T) {
	dir := t.TempDir()
	norm := []string{"--mean", "0.13066047", "--std", "0.3081078", "--arch", "nin-mnist"}
	int8 := filepath.Join(dir, "q.safetensors")
	_, stderr, code := run(t, append([]string{"import", "--onnx", filepath.Join("..", "..", "onnx", "testdata", "nin-mnist-qdq.onnx"), "-o", int8}, norm...)...)
	if code != 0 || !strings.Contains(stderr, "changed: pool3: output uint8 scale") || !strings.Contains(stderr, "int8 nin-mnist imported already quantized") {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	if out, _, code := run(t, "inspect", int8); code != 0 || !strings.Contains(out, "imported already quantized from nin-mnist-qdq.onnx") || !strings.Contains(out, "changed: pool3") {
		t.Fatalf("inspect: exit %d:\n%s", code, out)
	}
	float := filepath.Join(dir, "f.safetensors")
	if _, stderr, code := run(t, append([]string{"import", "--onnx", filepath.Join("..", "..", "onnx", "testdata", "nin-mnist.onnx"), "-o", float}, norm...)...); code != 0 {
		t.Fatalf("float import: exit %d: %s", code, stderr)
	}
	for _, b := range backends.Names() {
		out, stderr, code := run(t, "report", "--float", float, "--int8", int8, "--backend", b, "--dataset", "mnist", "--data", mnistSample, "--limit", "50", "--layer-images", "3")
		if code != 0 || !strings.Contains(out, "int8 run on the "+b+" backend") || !strings.Contains(stderr, "does not record which float model") {
			t.Fatalf("report --backend %s: exit %d: %s%s", b, code, out, stderr)
		}
	}
	checkDevices(t, int8)
}

// Bad ONNX files and bad import flags: one error line naming the file (exit 1), or a usage
// error (exit 2); no output file is left behind.
func TestImportONNXErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("..", "..", "onnx", "testdata", "tiny-bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Hostile variants of the good file, through the generated schema.
	mutated := func(name string, mutate func(m *onnxpb.ModelProto)) string {
		var m onnxpb.ModelProto
		if err := proto.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		mutate(&m)
		b, err := proto.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, b)
	}
	external := mutated("external.onnx", func(m *onnxpb.ModelProto) {
		w := m.Graph.Initializer[0]
		w.RawData, w.DataLocation = nil, onnxpb.TensorProto_EXTERNAL.Enum()
		w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("/etc/passwd")}}
	})
	huge := mutated("huge.onnx", func(m *onnxpb.ModelProto) { m.Graph.Initializer[0].Dims = []int64{1 << 40, 1 << 40} })
	cycle := mutated("cycle.onnx", func(m *onnxpb.ModelProto) {
		n := m.Graph.Node
		n[0].Input[0] = n[len(n)-1].Output[0]
	})
	out := filepath.Join(dir, "out.safetensors")
	norm := []string{"--mean", "0.49,0.48,0.45", "--std", "0.25,0.24,0.26"}
	for name, c := range map[string]struct {
		file string
		args []string
		want string
	}{
		"truncated":        {write("trunc.onnx", good[:len(good)/2]), norm, "not an ONNX model"},
		"empty":            {write("empty.onnx", nil), norm, "IR version 0"},
		"text":             {write("text.onnx", []byte("definitely not protobuf\n")), norm, "not an ONNX model"},
		"missing":          {filepath.Join(dir, "nope.onnx"), norm, "no such file"},
		"external data":    {external, norm, "keeps its data in an external file (\"/etc/passwd\")"},
		"huge dims":        {huge, norm, "a size out of range"},
		"cycle":            {cycle, norm, "is not defined by an earlier node"},
		"wrong channels":   {write("ok.onnx", good), []string{"--mean", "0.5", "--std", "0.25"}, "channel"},
		"classes too few":  {write("ok2.onnx", good), append(norm, "--classes", write("c.txt", []byte("a\nb\n"))), "class"},
		"arch mismatch":    {write("ok3.onnx", good), append(norm, "--arch", "nin-mnist"), "nin-mnist"},
		"class file blank": {write("ok4.onnx", good), append(norm, "--classes", write("c2.txt", []byte("a\n\nb\n"))), "line 2 is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := run(t, append([]string{"import", "--onnx", c.file, "-o", out}, c.args...)...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != 1 || len(lines) != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "panic") {
				t.Fatalf("exit %d, stderr %q; want one line saying %q", code, stderr, c.want)
			}
			if name != "class file blank" && !strings.Contains(stderr, c.file) { // that one names the class file
				t.Errorf("stderr %q does not name %s", stderr, c.file)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("an output was written")
			}
		})
	}
	onnxFile := write("ok5.onnx", good)
	for _, args := range [][]string{
		{"import", "-o", out},
		{"import", "--onnx", onnxFile, "--caffe", "x.caffemodel", "-o", out},
		{"import", "--onnx", onnxFile, "-o", out},
		{"import", "--onnx", onnxFile, "--scale", "--mean", "0.5", "--std", "0.5", "-o", out},
		{"import", "--onnx", onnxFile, "--mean", "0.5,0.5", "--std", "0.5", "-o", out},
		{"import", "--onnx", onnxFile, "--mean", "NaN,0,0", "--std", "1,1,1", "-o", out},
		{"import", "--onnx", onnxFile, "--scale", "--dataset", "cifar10", "-o", out},
		{"import", "--caffe", "x.caffemodel", "--mean", "0.5", "-o", out},
		{"import", "--onnx", onnxFile, "--scale"},
		{"export", "--model", out, "-o", filepath.Join(dir, "x.onnx")},
		{"export", "--onnx", "-o", filepath.Join(dir, "x.onnx")},
	} {
		if _, stderr, code := run(t, args...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
