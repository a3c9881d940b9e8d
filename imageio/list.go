package imageio

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Extensions are the file name extensions (lower case) of the formats Decode reads: the one
// list behind every folder of images a command or a data set takes.
var Extensions = []string{".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm"}

// IsImageName reports whether a folder listing picks the file name: an image extension in any
// case, and not hidden (editors' and macOS's "._name.jpg" companions are not pictures).
func IsImageName(name string) bool {
	return !strings.HasPrefix(name, ".") && slices.Contains(Extensions, strings.ToLower(filepath.Ext(name)))
}

// ListImages returns the image files of dir (regular files with an image name, not
// recursing), in name order.
func ListImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && IsImageName(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}
