package imageio

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// A folder's pictures are its regular image files and the links that lead to one; entries
// with an image name that lead nowhere are skipped and said, the others are ignored.
func TestListImages(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.jpg", "A.PNG", "c.ppm", "notes.txt", ".hidden.jpg"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "sub.jpg"), 0o755)
	syscall.Mkfifo(filepath.Join(dir, "fifo.jpg"), 0o644)
	for link, dest := range map[string]string{
		"latest.jpg":   "b.jpg",
		"chain.jpg":    "latest.jpg",
		"dangling.jpg": "gone.jpg",
		"loop.jpg":     "loop.jpg",
		"folder.jpg":   "sub.jpg",
		"text.txt":     "notes.txt",
	} {
		if err := os.Symlink(dest, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	files, skipped, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if want := []string{"A.PNG", "b.jpg", "c.ppm", "chain.jpg", "latest.jpg"}; !slices.Equal(names, want) {
		t.Errorf("files %q, want %q", names, want)
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	want := []string{
		at("dangling.jpg") + ", a link to gone.jpg: no such file or directory",
		at("fifo.jpg") + ": a named pipe (FIFO), not a regular file",
		at("folder.jpg") + ", a link to sub.jpg: a folder, not a regular file",
		at("loop.jpg") + ", a link to loop.jpg: too many levels of symbolic links",
		at("sub.jpg") + ": a folder, not a regular file",
	}
	var got []string
	for _, s := range skipped {
		got = append(got, s.Error())
	}
	if !slices.Equal(got, want) {
		t.Errorf("skipped\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, _, err := ListImages(at("missing")); err == nil {
		t.Error("a missing folder listed")
	}
}
