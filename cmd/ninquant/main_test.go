package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant/quanttest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ninquant-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ninquant")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
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
	for _, args := range [][]string{{}, {"frobnicate"}, {"eval", "--model"}, {"convert", "--bogus"}, {"report"}, {"inspect"}} {
		_, stderr, code := run(t, args...)
		if code != 2 || stderr == "" || strings.Contains(stderr, "panic") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
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
