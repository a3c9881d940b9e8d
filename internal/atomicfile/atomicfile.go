// Package atomicfile writes files so that a reader never sees a partial one: the content goes
// to a temporary file in the same folder, is synced, is renamed over the target, and the
// folder is synced so that the rename survives a power cut. A failed write leaves the old file
// (or nothing) and no temporary behind.
//
// An output is a regular file, as a careful Unix tool treats one: a symbolic link is written
// through (its target is replaced, in the target's folder, and the link stays a link); a
// read-only file, a folder, a FIFO or a device is refused, by Check before any work and by
// Write again. Three files that are not regular are written in place, because users name
// them on purpose and replacing them would be wrong: the process's own standard output and
// standard error (/dev/stdout, /dev/fd/2, or the file the shell redirected them to), and
// /dev/null.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// newPerm is the permission of a file that did not exist; a replaced file keeps its own.
const newPerm = 0o644

// target is where an output's bytes go.
type target struct {
	path   string      // the regular file replaced or created (symbolic links followed)
	perm   fs.FileMode // its permission once written
	direct io.Writer   // instead, written in place: the standard output or error, or /dev/null
}

// resolve finds where path's content goes, refusing what must not be written.
func resolve(path string) (target, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist): // a new file, or a link to one
		p, err := followLinks(path)
		return target{path: p, perm: newPerm}, err
	case err != nil:
		return target{}, err
	}
	for _, std := range []*os.File{os.Stdout, os.Stderr} {
		if sst, err := std.Stat(); err == nil && os.SameFile(st, sst) {
			return target{direct: std}, nil
		}
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
		return target{direct: io.Discard}, nil
	}
	if m := st.Mode(); !m.IsRegular() {
		return target{}, fmt.Errorf("%s is %s: an output must be a regular file (the standard output, the standard error and %s are written in place)", path, kind(m), os.DevNull)
	}
	if st.Mode().Perm()&0o222 == 0 {
		return target{}, fmt.Errorf("%s is read-only", path)
	}
	// Opening it for writing asks the system, which knows the owner, groups and ACLs.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return target{}, err
	}
	f.Close()
	p, err := followLinks(path)
	if err != nil {
		return target{}, err
	}
	// A link the system follows in ways a path cannot say (/proc/self/fd/N) is not replaced.
	if pst, err := os.Stat(p); err != nil || !os.SameFile(st, pst) {
		return target{}, fmt.Errorf("%s: cannot tell which file its links lead to", path)
	}
	return target{path: p, perm: st.Mode().Perm()}, nil
}

// kind names what is not a regular file.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// maxLinks bounds a chain of symbolic links, as the system does.
const maxLinks = 40

// followLinks returns the file path's symbolic links lead to, which may not exist yet (a
// link to the output of a previous run that was removed). Its folder is resolved by the
// system first, so that a relative link inside a linked folder resolves as the system would.
func followLinks(path string) (string, error) {
	for range maxLinks {
		st, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) || err == nil && st.Mode()&fs.ModeSymlink == 0 {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dir, err := filepath.EvalSymlinks(filepath.Dir(path))
			if err != nil {
				return "", err
			}
			dest = filepath.Join(dir, dest)
		}
		path = dest
	}
	return "", &fs.PathError{Op: "open", Path: path, Err: syscall.ELOOP}
}

// Check reports whether Write could write path, before a command starts work that may take
// hours: the refusals of Write, and a temporary file made and removed in the folder that
// will hold it. It returns the file that will be replaced (path with links followed; "" for
// a file written in place).
func Check(path string) (string, error) {
	t, err := resolve(path)
	if err != nil || t.direct != nil {
		return "", err
	}
	probe, err := os.CreateTemp(dirOf(t.path), ".ninedge-probe-*")
	if err != nil {
		return "", err
	}
	probe.Close()
	return t.path, os.Remove(probe.Name())
}

func dirOf(path string) string {
	if dir := filepath.Dir(path); dir != "" {
		return dir
	}
	return "."
}

// Write creates or replaces path with what write produces.
func Write(path string, write func(w io.Writer) error) (err error) {
	t, err := resolve(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if t.direct != nil {
		if err := write(t.direct); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	dir := dirOf(t.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(t.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Chmod(t.perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), t.path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The rename is durable only once the folder's entry is on disk.
	d, err := os.Open(dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		return fmt.Errorf("%s written, but syncing its folder failed: %w", path, err)
	}
	return nil
}

// WriteFile creates or replaces path holding data.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
