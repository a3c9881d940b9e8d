package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := WriteFile(p, []byte("first")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	err := Write(p, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "first" {
		t.Errorf("a failed write changed the file to %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("write into a missing folder succeeded")
	}
}

// Every kind of output path: regular files are replaced whole (keeping their permission),
// links are written through to their targets, and what must not become a regular file is
// refused (by Check and by Write, leaving it as it was) or written in place.
func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	mk := func(name, content string, perm fs.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(name, dest string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(dest, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	existing := mk("existing", "old", 0o600)
	linked := mk("linked", "old", 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	inSub := mk("sub/target", "old", 0o644)
	os.Symlink("sub", filepath.Join(dir, "subdir"))
	readOnly := mk("read-only", "old", 0o444)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		file       string      // the regular file that must hold "new" afterwards ("" for none)
		perm       fs.FileMode // its permission
		links      []string    // paths that must still be links
		err        string      // a refusal, as Check says it
	}{
		{name: "new", path: filepath.Join(dir, "new"), file: filepath.Join(dir, "new"), perm: 0o644},
		{name: "existing keeps its permission", path: existing, file: existing, perm: 0o600},
		{name: "link", path: link("link", "linked"), file: linked, perm: 0o644, links: []string{filepath.Join(dir, "link")}},
		{name: "link to a link", path: link("link2", "link"), file: linked, perm: 0o644, links: []string{filepath.Join(dir, "link"), filepath.Join(dir, "link2")}},
		{name: "dangling link", path: link("dangling", "created"), file: filepath.Join(dir, "created"), perm: 0o644, links: []string{filepath.Join(dir, "dangling")}},
		{name: "relative link in a linked folder", path: link("sub/up", "../sub/target"), file: inSub, perm: 0o644, links: []string{filepath.Join(dir, "sub/up")}},
		{name: "through a linked folder", path: filepath.Join(dir, "subdir", "target"), file: inSub, perm: 0o644},
		{name: "link loop", path: link("loop", "loop"), err: "stat " + filepath.Join(dir, "loop") + ": too many levels of symbolic links"},
		{name: "read-only", path: readOnly, err: readOnly + " is read-only"},
		{name: "link to read-only", path: link("ro-link", "read-only"), err: filepath.Join(dir, "ro-link") + " is read-only"},
		{name: "folder", path: filepath.Join(dir, "sub"), err: filepath.Join(dir, "sub") + " is a folder: an output must be a regular file"},
		{name: "fifo", path: fifo, err: fifo + " is a named pipe (FIFO): an output must be a regular file"},
		{name: "link to a fifo", path: link("fifo-link", "fifo"), err: filepath.Join(dir, "fifo-link") + " is a named pipe (FIFO)"},
		{name: "device", path: "/dev/zero", err: "/dev/zero is a device: an output must be a regular file"},
		{name: "/dev/null is written in place", path: "/dev/null"},
		{name: "missing folder", path: filepath.Join(dir, "missing", "x"), err: "open " + filepath.Join(dir, "missing")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before []byte
			if st, err := os.Stat(tt.path); err == nil && st.Mode().IsRegular() {
				before, _ = os.ReadFile(tt.path)
			}
			_, cerr := Check(tt.path)
			werr := WriteFile(tt.path, []byte("new"))
			if tt.err != "" {
				if cerr == nil || !strings.HasPrefix(cerr.Error(), tt.err) {
					t.Errorf("Check: %v, want %q", cerr, tt.err)
				}
				if werr == nil || !strings.Contains(werr.Error(), tt.err) {
					t.Errorf("Write: %v, want %q", werr, tt.err)
				}
				if before != nil {
					if after, _ := os.ReadFile(tt.path); string(after) != string(before) {
						t.Errorf("a refused write changed %q to %q", before, after)
					}
				}
				if st, err := os.Stat(fifo); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
					t.Errorf("the FIFO became %v, %v", st.Mode(), err)
				}
				return
			}
			if cerr != nil || werr != nil {
				t.Fatalf("Check: %v, Write: %v", cerr, werr)
			}
			if tt.file != "" {
				st, err := os.Lstat(tt.file)
				if b, _ := os.ReadFile(tt.file); err != nil || string(b) != "new" || !st.Mode().IsRegular() || st.Mode().Perm() != tt.perm {
					t.Errorf("%s: %q, %v, %v; want \"new\", a regular file, %v", tt.file, b, st.Mode(), err, tt.perm)
				}
			}
			for _, l := range tt.links {
				if st, err := os.Lstat(l); err != nil || st.Mode()&fs.ModeSymlink == 0 {
					t.Errorf("%s is no longer a link: %v, %v", l, st.Mode(), err)
				}
			}
		})
	}
	for _, d := range []string{dir, filepath.Join(dir, "sub")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("left behind: %s", e.Name())
			}
		}
	}
	if st, err := os.Stat("/dev/null"); err != nil || st.Mode().IsRegular() {
		t.Errorf("/dev/null became %v, %v", st.Mode(), err)
	}
}

// The process's standard output named as a file is written through its descriptor: a
// redirection to a file gets the bytes where the shell expects them, and /dev/stdout stays
// what it is.
func TestStdout(t *testing.T) {
	redirected := filepath.Join(t.TempDir(), "redirected")
	f, err := os.Create(redirected)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdout
	os.Stdout = f
	defer func() { os.Stdout = saved }()
	f.WriteString("printed, ")
	if target, err := Check(redirected); err != nil || target != "" {
		t.Errorf("Check: %q, %v; want it written in place", target, err)
	}
	if err := WriteFile(redirected, []byte("then written")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(redirected); string(b) != "printed, then written" {
		t.Errorf("the redirected file holds %q", b)
	}
	os.Stdout = saved
	before, err := os.Stat("/dev/stdout")
	if err != nil {
		t.Skip("no /dev/stdout")
	}
	if err := WriteFile("/dev/stdout", nil); err != nil {
		t.Fatal(err)
	}
	if after, err := os.Stat("/dev/stdout"); err != nil || !os.SameFile(before, after) {
		t.Errorf("/dev/stdout was replaced: %v", err)
	}
}
