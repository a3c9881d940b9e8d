package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant/quanttest"
)

var binary string

// buildTags are the tags of this test build (backend_*_test.go add theirs), given to the
// binary's build so that it registers the same backends.
var buildTags []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ninquant-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ninquant")
	if out, err := exec.Command("go", "build", "-tags", strings.Join(buildTags, ","), "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// A command that hangs (on a FIFO, say) fails its test instead of stalling the suite.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// Bad model files give one clear error line and a non-zero exit, never a panic.
func TestBadModelFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := nin.LoadSpec("nin-mnist", nil)
	g := quanttest.Graph(t, quanttest.Cases(t)[0].Spec, 1)
	good := filepath.Join(dir, "good-int8.safetensors")
	if err := g.Save(good); err != nil {
		t.Fatal(err)
	}
	m, _ := nin.NewModel(s, nin.NumberedClasses(10), nin.Preprocess{Kind: nin.PreScale})
	goodFloat := filepath.Join(dir, "good.safetensors")
	if err := m.Save(goodFloat); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo.safetensors")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	hugeHeader := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0}, raw[8:]...)
	lie := bytes.Replace(raw, []byte(`"data_offsets":[0,`), []byte(`"data_offsets":[1,`), 1)
	for name, path := range map[string]string{
		"missing":     filepath.Join(dir, "nope.safetensors"),
		"empty":       write("empty", nil),
		"truncated":   write("trunc", raw[:len(raw)/2]),
		"wrong magic": write("text", []byte("hello, this is not a model file at all")),
		"huge header": write("huge", hugeHeader),
		"offset lie":  write("lie", lie),
		"not a model": write("plain.safetensors", []byte("\x02\x00\x00\x00\x00\x00\x00\x00{}")),
		"a directory": dir,
		"a fifo":      fifo,
		"a device":    "/dev/zero",
	} {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := run(t, "inspect", path)
			if code == 0 {
				t.Fatalf("exit %d", code)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "ninquant inspect: ") || strings.Contains(stderr, "panic") {
				t.Errorf("want one error line, got %q", stderr)
			}
		})
	}
	// Every other input is read the same way: a FIFO is refused at once, by name.
	refusal := "open " + fifo + ": a named pipe (FIFO), not a regular file"
	spec := filepath.Join(dir, "spec.json")
	if err := os.Symlink(fifo, spec); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"import", "--onnx", fifo, "--scale", "-o", filepath.Join(dir, "out.safetensors")},
		{"import", "--onnx", fifo, "--scale", "--classes", fifo, "-o", filepath.Join(dir, "out.safetensors")},
		{"import", "--caffe", fifo, "--data", dir, "-o", filepath.Join(dir, "out.safetensors")},
		{"import", "--caffe", good, "--arch", spec, "--data", dir, "-o", filepath.Join(dir, "out.safetensors")},
		{"convert", "--model", fifo, "--dataset", "mnist", "--data", dir, "-o", filepath.Join(dir, "out.safetensors")},
	} {
		if _, stderr, code := run(t, args...); code != 1 || !strings.Contains(stderr, refusal) && !strings.Contains(stderr, strings.Replace(refusal, fifo, spec, 1)) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", args, code, stderr, refusal)
		}
	}
	for _, f := range []string{good, goodFloat} {
		out, stderr, code := run(t, "inspect", f)
		if code != 0 || !strings.Contains(out, "total") && !strings.Contains(out, "int8 NIN") {
			t.Errorf("inspect %s: exit %d\n%s%s", f, code, out, stderr)
		}
	}
	out, _, _ := run(t, "inspect", goodFloat)
	if !strings.Contains(out, "total") {
		t.Errorf("inspect of a float model has no totals:\n%s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	model := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(model, []byte("checked before it is read"), 0o644); err != nil {
		t.Fatal(err)
	}
	pair := []string{"report", "--float", "f.safetensors", "--int8", "q.safetensors"}
	for _, args := range [][]string{{}, {"frobnicate"}, {"eval", "--model"}, {"convert", "--bogus"}, {"convert", "--weight-bits", "6", "-o", "x"}, {"report"}, {"inspect"},
		{"eval", "--model", model, "--threads", "-1"},
		{"convert", "--model", model, "--threads", "-2", "-o", "x"},
		{"convert", "--model", model, "-o", model},
		{"convert", "--model", model, "--limit", "10", "-o", "x"},
		append(pair, "--batch", "-3"), append(pair, "--batch", "1000000000"), append(pair, "--threads", "-4"),
		append(pair, "--layer-images", "-1"), append(pair, "--max-drop", "NaN"), append(pair, "--png", "chart.gif"),
		append(pair, "--json", "out.json", "--md", "out.json"), append(pair, "--md", os.TempDir()),
	} {
		_, stderr, code := run(t, args...)
		if code != 2 || stderr == "" || strings.Contains(stderr, "panic") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	// An output nobody can write fails at once, before any work, and leaves nothing.
	_, stderr, code := run(t, append(pair, "--json", filepath.Join(t.TempDir(), "no", "such", "folder.json"))...)
	if code != 1 || !strings.Contains(stderr, "cannot write") {
		t.Errorf("report into a missing folder: exit %d, stderr %q", code, stderr)
	}
}

// inspect prints the authors' parameter and multiply-add counts for nin-cifar10.
func TestInspectCounts(t *testing.T) {
	s, _ := nin.LoadSpec("nin-cifar10", nil)
	m, _ := nin.NewModel(s, nin.NumberedClasses(10), nin.Preprocess{Kind: nin.PreScale})
	p := filepath.Join(t.TempDir(), "c.safetensors")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	out, _, code := run(t, "inspect", p)
	if code != 0 || !strings.Contains(out, "966986") || !strings.Contains(out, "222486528") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// The whole ninquant chain on the shipped MNIST sample: convert, eval, report with its three
// outputs, and --max-drop's exit status.
func TestConvertEvalReport(t *testing.T) {
	dir := t.TempDir()
	s, _ := nin.LoadSpec("nin-mnist", nil)
	m, _ := nin.NewModel(s, nin.NumberedClasses(10), nin.Preprocess{Kind: nin.PreMeanStd, Mean: []float32{0.13}, Std: []float32{0.31}})
	m.InitHe(1)
	float := filepath.Join(dir, "f.safetensors")
	if err := m.Save(float); err != nil {
		t.Fatal(err)
	}
	int8 := filepath.Join(dir, "q.safetensors")
	data := filepath.Join("..", "..", "samples", "mnist")
	if _, stderr, code := run(t, "convert", "--model", float, "--dataset", "mnist", "--data", data, "--calib", "50", "-o", int8); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	out, stderr, code := run(t, "eval", "--model", int8, "--dataset", "mnist", "--data", data, "--limit", "40", "--json")
	if code != 0 || !strings.Contains(out, `"top1":`) || !strings.Contains(out, `"n":40`) {
		t.Fatalf("eval: exit %d: %s%s", code, out, stderr)
	}
	// A model whose scores overflow gets no accuracy, but an error that counts the images.
	huge, _ := nin.NewModel(s, nin.NumberedClasses(10), nin.Preprocess{Kind: nin.PreScale})
	for _, w := range huge.Weights {
		for i := range w {
			w[i] = 3e38
		}
	}
	hugePath := filepath.Join(dir, "huge.safetensors")
	if err := huge.Save(hugePath); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := run(t, "eval", "--model", hugePath, "--dataset", "mnist", "--data", data, "--limit", "4", "--json"); code != 1 || out != "" ||
		stderr != "ninquant eval: 4 of 4 images have scores that are not finite (NaN or infinite): the model is broken, and no accuracy is reported\n" {
		t.Errorf("eval of an overflowing model: exit %d: %s%s", code, out, stderr)
	}
	md, js, png := filepath.Join(dir, "r.md"), filepath.Join(dir, "r.json"), filepath.Join(dir, "r.png")
	out, stderr, code = run(t, "report", "--float", float, "--int8", int8, "--dataset", "mnist", "--data", data,
		"--limit", "40", "--layer-images", "5", "--md", md, "--json", js, "--png", png)
	if code != 0 || !strings.Contains(out, "percentage points") {
		t.Fatalf("report: exit %d: %s%s", code, out, stderr)
	}
	for _, f := range []string{md, js, png} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	// Outputs as a careful tool treats them: the JSON to the standard output named as a file,
	// the Markdown through a link to its target; a FIFO refused before any work.
	link := filepath.Join(dir, "latest.md")
	if err := os.Symlink("r.md", link); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = run(t, "report", "--float", float, "--int8", int8, "--dataset", "mnist", "--data", data,
		"--limit", "40", "--layer-images", "5", "--md", link, "--json", "/dev/stdout")
	if st, err := os.Lstat(link); code != 0 || !strings.Contains(out, `"agreement":`) || err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("report --json /dev/stdout --md LINK: exit %d, link %v %v: %s%s", code, st.Mode(), err, out, stderr)
	}
	fifo := filepath.Join(dir, "fifo.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "report", "--float", float, "--int8", int8, "--dataset", "mnist", "--data", data, "--png", fifo); code != 1 ||
		stderr != "ninquant report: cannot write "+fifo+": "+fifo+" is a named pipe (FIFO): an output must be a regular file (the standard output, the standard error and /dev/null are written in place)\n" {
		t.Errorf("report --png FIFO: exit %d: %s", code, stderr)
	}
	// Swapped files are named for what they are.
	if _, stderr, code := run(t, "report", "--float", int8, "--int8", float, "--dataset", "mnist", "--data", data); code == 0 || !strings.Contains(stderr, "int8 model") {
		t.Errorf("swapped report: exit %d: %s", code, stderr)
	}
	// A data folder of the wrong kind.
	if _, stderr, code := run(t, "eval", "--model", int8, "--dataset", "cifar10", "--data", data); code != 1 || !strings.Contains(stderr, "the model's input is 28×28×1 and data set cifar10 has 32×32×3 images") {
		t.Errorf("wrong data set: exit %d: %s", code, stderr)
	}
	// 7-bit weights: recorded in the file, shown by inspect.
	int7 := filepath.Join(dir, "q7.safetensors")
	if _, stderr, code := run(t, "convert", "--model", float, "--dataset", "mnist", "--data", data, "--calib", "50", "--weight-bits", "7", "-o", int7); code != 0 {
		t.Fatalf("convert --weight-bits 7: exit %d: %s", code, stderr)
	}
	if out, _, code := run(t, "inspect", int7); code != 0 || !strings.Contains(out, "7-bit weights") {
		t.Errorf("inspect of a 7-bit model: exit %d:\n%s", code, out)
	}
	// A drop budget far above any possible drop passes.
	if _, _, code := run(t, "report", "--float", float, "--int8", int8, "--dataset", "mnist", "--data", data, "--limit", "10", "--layer-images", "2", "--max-drop", "100"); code != 0 {
		t.Errorf("--max-drop 100: exit %d", code)
	}
}
