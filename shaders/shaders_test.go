package shaders

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSPIRVFresh recompiles every shader with the exact //go:generate command of shaders.go,
// into a temporary folder, and fails when a committed .spv differs: someone edited a .comp
// or .glsl file without running `go generate ./shaders`.
func TestSPIRVFresh(t *testing.T) {
	if _, err := exec.LookPath("glslc"); err != nil {
		t.Skip("glslc not installed (Debian: apt-get install glslc)")
	}
	src, err := os.ReadFile("shaders.go")
	if err != nil {
		t.Fatal(err)
	}
	// Reading the sources records them as inputs of this test, so that the go command's
	// test cache is invalidated when they change (glslc reads them in another process).
	sources, _ := filepath.Glob("*.comp")
	includes, _ := filepath.Glob("*.glsl")
	for _, f := range append(sources, includes...) {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	n := 0
	for _, line := range strings.Split(string(src), "\n") {
		args, ok := strings.CutPrefix(line, "//go:generate ")
		if !ok {
			continue
		}
		f := strings.Fields(args)
		out := -1
		for i := range f[:len(f)-1] {
			if f[i] == "-o" {
				out = i + 1
			}
		}
		if f[0] != "glslc" || out < 0 {
			t.Fatalf("unexpected generate line %q", line)
		}
		spv := f[out]
		f[out] = filepath.Join(tmp, spv)
		cmd := exec.Command(f[0], f[1:]...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", args, err, msg)
		}
		fresh, err := os.ReadFile(f[out])
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(spv)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, committed) {
			ver, _ := exec.Command("glslc", "--version").Output()
			first, _, _ := strings.Cut(string(ver), "\n")
			t.Errorf("%s is stale (or was built by another glslc than %s): run go generate ./shaders", spv, first)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no //go:generate lines in shaders.go")
	}
}
