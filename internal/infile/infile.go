// Package infile opens the files a command reads (models, images, data sets, specs) the way a
// careful Unix tool does: only regular files, after following symbolic links. A FIFO would
// block the open until a writer comes, a device may have side effects on open (a watchdog, a
// tape) or never end, and a folder is not a file: each is refused, naming what it is, before
// it is opened. Stream sources, which may be pipes and devices on purpose, do not go through
// it.
package infile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular matches the refusal of a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

type notRegular struct{ what string }

func (e notRegular) Error() string        { return e.what + ", not a regular file" }
func (e notRegular) Is(target error) bool { return target == ErrNotRegular }

// Kind names a file type for people: "a folder", "a named pipe (FIFO)"...
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

// Check returns path's file information if it is a regular file (symbolic links followed),
// and otherwise an error that matches ErrNotRegular (or the Stat's error).
func Check(path string) (fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: notRegular{Kind(st.Mode())}}
	}
	return st, nil
}

// Open opens path for reading if it is a regular file. The open does not block even if the
// path became a FIFO after the check, and the opened file is checked again, so a path swapped
// in between is refused too.
func Open(path string) (*os.File, error) {
	if _, err := Check(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = &fs.PathError{Op: "open", Path: path, Err: notRegular{Kind(st.Mode())}}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadFile reads the whole of a regular file; it has the signature of os.ReadFile.
func ReadFile(path string) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
