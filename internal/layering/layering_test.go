package layering

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/ninedge/ninedge/"

// floors is the drawing of docs/architecture.md: a package may import only packages on lower
// floors. Keep both in step.
var floors = map[string]int{
	// 0: leaves, which import no package of this module.
	"internal/atomicfile": 0, "internal/infile": 0, "internal/parallel": 0, "internal/sgemm": 0,
	"internal/u8vec": 0, "quant/fixedpoint": 0, "shaders": 0, "dataset/datasettest": 0,
	"onnx/onnxpb": 0, "imageio/imageiotest": 0, "internal/layering": 0,
	// 1: the int8 kernels, the weight file format, image decoding (files read through infile).
	"internal/qgemm": 1, "safetensors": 1, "imageio": 1,
	// 2: the float vocabulary: spec, layers, forward, model files; the data set readers.
	"nin": 2, "dataset": 2,
	// 3: what is built on it: the trainer, the int8 graph.
	"nin/train": 3, "quant": 3, "nin/nintest": 3,
	// 4: the backend contract; importers of other frameworks' models; test graphs.
	"backends": 4, "caffe": 4, "onnx": 4, "quant/quanttest": 4,
	// 5: the backends.
	"backends/cpu": 5, "backends/opencl": 5, "backends/vulkan": 5, "caffe/caffetest": 5,
	// 6: the runtime entry; the backends' conformance suite.
	"infer": 6, "backends/backendtest": 6,
	// 7: what runs models: camera streams, reports.
	"stream": 7, "report": 7, "stream/streamtest": 7,
	// 8: the HTTP server.
	"server": 8, "mqttpub": 8,
	// 9: the commands' shared skeleton, then the commands.
	"cmd/internal/cli": 9,
	"cmd/ninedge":      10, "cmd/ninquant": 10, "cmd/nintrain": 10,
}

// isTestHelper reports a package that only tests may import (besides other test helpers).
func isTestHelper(pkg string) bool { return strings.HasSuffix(pkg, "test") }

func TestImportFloors(t *testing.T) {
	touchTree(t)
	seen := map[string]bool{} // each finding once, whichever tags showed it
	report := func(msg string) {
		if !seen[msg] {
			seen[msg] = true
			t.Error(msg)
		}
	}
	// Every build tag that adds imports: the GPU backends are cgo behind their tags.
	for _, tags := range []string{"", "opencl vulkan"} {
		cmd := exec.Command("go", "list", "-tags", tags, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v", tags, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			pkg := strings.TrimPrefix(fields[0], module)
			floor, ok := floors[pkg]
			if !ok {
				report("package " + pkg + " has no floor: add it to docs/architecture.md's drawing and to floors")
				continue
			}
			for _, imp := range fields[1:] {
				if !strings.HasPrefix(imp, module) {
					continue
				}
				dep := strings.TrimPrefix(imp, module)
				switch depFloor, known := floors[dep]; {
				case !known:
					// reported as a package of its own
				case depFloor >= floor:
					report(fmt.Sprintf("%s (floor %d) imports %s (floor %d): a package may import only lower floors", pkg, floor, dep, depFloor))
				case isTestHelper(dep) && !isTestHelper(pkg):
					report(pkg + " imports the test helper " + dep + " outside its tests")
				}
			}
		}
	}
}

// touchTree reads every folder of the module, so that go test's cache, which knows the files
// and folders a test opens but not what its go list child reads, runs the test again when a
// package is added or changed.
func touchTree(t *testing.T) {
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTwinNames checks the kernels' file-naming scheme (docs/architecture.md): a Go twin
// (<name>_generic.go) is always compiled; <name>_noasm.go, its binding where there is no
// assembly, exists only beside its twin and builds under purego; <name>_asm.go and the
// per-architecture files of a name that has a _noasm.go build only without purego.
func TestTwinNames(t *testing.T) {
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return err
		}
		name := d.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		dir, stem := filepath.Dir(path), strings.TrimSuffix(name, ".go")
		constraint := buildLine(t, path)
		base, role, _ := strings.Cut(stem, "_")
		switch {
		case role == "generic" && constraint != "":
			t.Errorf("%s: a Go twin is always compiled, but it has %q", path, constraint)
		case role == "noasm" && !strings.Contains(constraint, "purego"):
			t.Errorf("%s: a _noasm file builds under purego, but it has %q", path, constraint)
		case role == "noasm" && !exists(filepath.Join(dir, base+"_generic.go")):
			t.Errorf("%s: no %s_generic.go twin beside it", path, base)
		case role == "asm", (role == "amd64" || role == "arm64") && exists(filepath.Join(dir, base+"_noasm.go")):
			if !strings.Contains(constraint, "!purego") {
				t.Errorf("%s: assembly bindings build only without purego, but it has %q", path, constraint)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// buildLine is a file's //go:build expression, "" when it has none.
func buildLine(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if c, ok := strings.CutPrefix(line, "//go:build "); ok {
			return c
		}
		if strings.HasPrefix(line, "package ") {
			break
		}
	}
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
