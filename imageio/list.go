package imageio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ninedge/ninedge/internal/infile"
)

// Extensions are the file name extensions (lower case) of the formats Decode reads: the one
// list behind every folder of images a command or a data set takes.
var Extensions = []string{".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm"}

// IsImageName reports whether a folder listing picks the file name: an image extension in any
// case, and not hidden (editors' and macOS's "._name.jpg" companions are not pictures).
func IsImageName(name string) bool {
	return !strings.HasPrefix(name, ".") && slices.Contains(Extensions, strings.ToLower(filepath.Ext(name)))
}

// ListImages returns the image files of dir (not recursing), in name order: regular files
// with an image name, and symbolic links to regular files (a capture folder's latest.jpg,
// a set assembled from links). An entry with an image name that is not one (a dangling
// link, a loop of links, a link to a folder, a FIFO) is left out, and an error naming it and
// why goes into skipped for the caller to report: one bad entry does not hide the folder's
// other pictures.
func ListImages(dir string) (files []string, skipped []error, err error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if !IsImageName(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if !e.Type().IsRegular() {
			if _, err := infile.Check(path); err != nil {
				skipped = append(skipped, unlisted(path, e, err))
				continue
			}
		}
		files = append(files, path)
	}
	return files, skipped, nil
}

// unlisted says why the entry e at path is no picture: "dir/latest.jpg, a link to
// 0001.jpg: no such file or directory".
func unlisted(path string, e fs.DirEntry, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if e.Type()&fs.ModeSymlink != 0 {
		if dest, lerr := os.Readlink(path); lerr == nil {
			return fmt.Errorf("%s, a link to %s: %w", path, dest, err)
		}
	}
	return fmt.Errorf("%s: %w", path, err)
}
