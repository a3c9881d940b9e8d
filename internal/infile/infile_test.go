package infile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Every kind of path that is not a regular file is refused, promptly and naming what it is;
// regular files, through symbolic links too, are read.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(file, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	fifoLink := filepath.Join(dir, "fifo-link")
	loop := filepath.Join(dir, "loop")
	for _, l := range [][2]string{{"model.bin", link}, {"fifo", fifoLink}, {"loop", loop}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		path string
		want string // "" for a file that reads as "weights"
		is   error
	}{
		{file, "", nil},
		{link, "", nil},
		{fifo, "open " + fifo + ": a named pipe (FIFO), not a regular file", ErrNotRegular},
		{fifoLink, "open " + fifoLink + ": a named pipe (FIFO), not a regular file", ErrNotRegular},
		{dir, "open " + dir + ": a folder, not a regular file", ErrNotRegular},
		{"/dev/null", "open /dev/null: a character device, not a regular file", ErrNotRegular},
		{filepath.Join(dir, "missing"), "stat " + filepath.Join(dir, "missing") + ": no such file or directory", fs.ErrNotExist},
		{loop, "stat " + loop + ": too many levels of symbolic links", nil},
	} {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			done := make(chan struct{})
			var b []byte
			var err error
			go func() { b, err = ReadFile(tt.path); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ReadFile hangs")
			}
			if tt.want == "" {
				if err != nil || string(b) != "weights" {
					t.Errorf("read %q, %v", b, err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v does not match %v", err, tt.is)
			}
		})
	}
}
