package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ninedge/ninedge/nin"
)

// Every way a command can end maps to one exit status and at most one line on stderr.
func TestExec(t *testing.T) {
	fail := errors.New("disk full")
	p := &Program{Name: "tool", Commands: []Command{{Name: "go", Synopsis: "does it", Run: func(e *Env, args []string) error {
		fs := NewFlags(e, "tool go", "tool go [--n N]")
		n := fs.Int("n", 0, "what to end with")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := fs.NoArgs(); err != nil {
			return err
		}
		switch *n {
		case 1:
			return fail
		case 2:
			return Usagef("--n 2 is not allowed")
		case 3:
			return &ExitError{Code: 3, Err: fmt.Errorf("verdict: %w", fail)}
		case 4:
			return fmt.Errorf("wrapped: %w", &ExitError{Code: 143, Err: errors.New("terminated")})
		}
		return nil
	}}}}
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string // a prefix of what stderr holds; "" for nothing at all
	}{
		{[]string{"go"}, 0, ""},
		{[]string{"go", "--n", "1"}, 1, "tool go: disk full\n"},
		{[]string{"go", "--n", "2"}, 2, "tool go: --n 2 is not allowed\n"},
		{[]string{"go", "--n", "3"}, 3, "tool go: verdict: disk full\n"},
		{[]string{"go", "--n", "4"}, 143, "tool go: wrapped: terminated\n"},
		{[]string{"go", "--bad"}, 2, "tool go: unknown flag: --bad\n"},
		{[]string{"go", "extra"}, 2, "tool go: unexpected argument \"extra\"\n"},
		{[]string{"go", "--help"}, 0, "usage: tool go [--n N]\n"},
		{[]string{"nope"}, 2, "tool: unknown command \"nope\" (run tool --help)\n"},
		{nil, 2, "usage: tool COMMAND [flags]\n"},
		{[]string{"--help"}, 0, "usage: tool COMMAND [flags]\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := p.Exec(&Env{Ctx: context.Background(), Stdout: &stdout, Stderr: &stderr}, tt.args)
		if code != tt.code || !strings.HasPrefix(stderr.String(), tt.stderr) || (tt.stderr == "") != (stderr.Len() == 0) || stdout.Len() > 0 {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.stderr)
		}
	}
}

// A program without subcommands runs its own Run with every argument.
func TestExecSingle(t *testing.T) {
	var got []string
	p := &Program{Name: "one", Run: func(e *Env, args []string) error { got = args; return Usagef("-o is required") }}
	var stderr bytes.Buffer
	if code := p.Exec(&Env{Ctx: context.Background(), Stderr: &stderr}, []string{"--x", "y"}); code != 2 || stderr.String() != "one: -o is required\n" || len(got) != 2 {
		t.Errorf("exit %d, stderr %q, args %q", code, stderr.String(), got)
	}
}

// CheckOutputs refuses, before any work, every output a command could not write or should
// not replace, and lets through what it will write in place.
func TestCheckOutputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "model.bin")
	readOnly := filepath.Join(dir, "read-only.json")
	for _, p := range []string{in, readOnly} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(readOnly, 0o444)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink("model.bin", filepath.Join(dir, "to-input"))
	os.Symlink("out.json", filepath.Join(dir, "to-out"))
	os.Symlink(".", filepath.Join(dir, "here"))
	at := func(name string) string { return filepath.Join(dir, name) }
	for _, tt := range []struct {
		outputs []string
		code    int    // Status of the error
		err     string // what it says, after the output's name
	}{
		{[]string{at("out.json"), at("out.md"), "", "/dev/null"}, 0, ""},
		{[]string{"/dev/stdout", "/dev/stderr"}, 0, ""},
		{[]string{at("to-out")}, 0, ""},
		{[]string{dir}, 2, "output " + dir + " is a folder"},
		{[]string{fifo}, 1, "cannot write " + fifo + ": " + fifo + " is a named pipe (FIFO): an output must be a regular file"},
		{[]string{"/dev/zero"}, 1, "cannot write /dev/zero: /dev/zero is a device"},
		{[]string{readOnly}, 1, "cannot write " + readOnly + ": " + readOnly + " is read-only"},
		{[]string{at("missing/out.json")}, 1, "cannot write " + at("missing/out.json") + ": open " + at("missing")},
		{[]string{in}, 2, "output " + in + " is the same file as " + in},
		{[]string{at("to-input")}, 2, "output " + at("to-input") + " is the same file as " + in},
		{[]string{at("out.json"), at("to-out")}, 2, "two outputs are " + at("to-out")},
		{[]string{at("out.json"), at("here/out.json")}, 2, "two outputs are " + at("here/out.json")},
	} {
		err := CheckOutputs([]string{in}, tt.outputs...)
		msg := ""
		if err != nil {
			msg = strings.TrimPrefix(err.Error(), "usage: ")
		}
		if Status(err) != tt.code || !strings.HasPrefix(msg, tt.err) || (tt.err == "") != (err == nil) {
			t.Errorf("%q: status %d, %v; want %d, %q", tt.outputs, Status(err), err, tt.code, tt.err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 6 {
		t.Errorf("CheckOutputs left files behind: %v", ents)
	}
}

// A data set of fixed-size images that does not fit the model is named in the user's words:
// the model's input and the set's images, each as H×W×C.
func TestDataFlagsSizeMismatch(t *testing.T) {
	d := DataFlags{Name: "mnist", Dir: "../../../samples/mnist", Split: "test", Limit: 2}
	if _, err := d.Load(nin.Shape{H: 28, W: 28, C: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := d.Load(nin.Shape{H: 32, W: 32, C: 3})
	if want := "the model's input is 32×32×3 and data set mnist has 28×28×1 images"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want it to say %q", err, want)
	}
}
