package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ninedge/ninedge/imageio"
)

// folderDefaultSide is the image side of a folder set when Options.Size is zero: the
// network's input size, and that of CIFAR and SVHN.
const folderDefaultSide = 32

// folderImage is one image file of a folder set.
type folderImage struct {
	name  string // relative to the set's folder
	label int32
}

func loadFolder(dir, split string, opt Options) (*Set, error) {
	h, w := opt.Size[0], opt.Size[1]
	if h == 0 {
		h, w = folderDefaultSide, folderDefaultSide
	}
	c := opt.Channels
	if c == 0 {
		c = 3
	}
	classes, root, err := folderClasses(dir, split)
	if err != nil {
		return nil, err
	}
	var files []folderImage
	held := opt.Holdout > 0 && root == "."
	for i, class := range classes {
		paths, skipped, err := imageio.ListImages(filepath.Join(dir, root, class))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a class of the other split only
		}
		if err != nil {
			return nil, err
		}
		if len(skipped) > 0 { // a set that silently lost pictures would mislead every number
			return nil, skipped[0]
		}
		var class []folderImage
		for _, p := range paths {
			class = append(class, folderImage{filepath.Join(root, classes[i], filepath.Base(p)), int32(i)})
		}
		if held {
			class = holdout(class, split, opt.Holdout, opt.Seed, uint64(i))
		}
		files = append(files, class...)
	}
	if opt.Limit > 0 && len(files) > opt.Limit {
		files = files[:opt.Limit]
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no %s images in the class folders of %s", strings.Join(imageio.Extensions, "/"), filepath.Join(dir, root))
	}
	size := h * w * c
	if int64(len(files))*int64(size) > maxSetBytes {
		return nil, fmt.Errorf("%d images of %d×%d×%d are more than %d bytes", len(files), h, w, c, int64(maxSetBytes))
	}
	s := &Set{N: len(files), H: h, W: w, C: c, Images: make([]uint8, len(files)*size), Labels: make([]int32, len(files)), Classes: classes}
	for i, f := range files {
		s.Labels[i] = f.label
	}
	return s, fitAll(dir, files, s)
}

// holdout returns the images of one class that belong to split: a shuffle seeded by seed
// and the class number puts ⌈frac·n⌉ of them in the test split, the rest in train, each
// kept in name order. A class of two or more images keeps at least one on each side; a
// single image trains, since a class the network never sees cannot be learnt.
func holdout(files []folderImage, split string, frac float64, seed, class uint64) []folderImage {
	n := len(files)
	k := 0
	if n >= 2 {
		k = min(max(int(math.Ceil(frac*float64(n))), 1), n-1)
	}
	order := rand.New(rand.NewPCG(seed, class)).Perm(n)
	test := make([]bool, n)
	for _, j := range order[:k] {
		test[j] = true
	}
	var out []folderImage
	for j, f := range files {
		if test[j] == (split == "test") {
			out = append(out, f)
		}
	}
	return out
}

// folderClasses returns the class names of a folder set and the folder, relative to dir,
// that holds the class folders of split: dir/split when dir has train or test
// subfolders, dir itself otherwise.
func folderClasses(dir, split string) (classes []string, root string, err error) {
	var roots []string
	for _, sp := range []string{"train", "test"} {
		if fi, err := os.Stat(filepath.Join(dir, sp)); err == nil && fi.IsDir() {
			roots = append(roots, sp)
		}
	}
	root = "."
	if len(roots) > 0 {
		if !slices.Contains(roots, split) {
			return nil, "", fmt.Errorf("%s has a %s folder but no %s folder: %w", dir, roots[0], split, fs.ErrNotExist)
		}
		root = split
	} else {
		roots = []string{"."}
	}
	// With splits, classes of both are numbered together so that labels agree.
	for _, r := range roots {
		entries, err := os.ReadDir(filepath.Join(dir, r))
		if err != nil {
			return nil, "", err
		}
		for _, e := range entries {
			if isDir(dir, r, e) && !strings.HasPrefix(e.Name(), ".") && !slices.Contains(classes, e.Name()) {
				classes = append(classes, e.Name())
			}
		}
	}
	if len(classes) == 0 {
		return nil, "", fmt.Errorf("no class folders in %s", filepath.Join(dir, root))
	}
	slices.Sort(classes)
	return classes, root, nil
}

// isDir reports whether the entry e of dir/parent is a folder, following symbolic links
// (data sets are often assembled from links).
func isDir(dir, parent string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.IsDir()
	}
	fi, err := os.Stat(filepath.Join(dir, parent, e.Name()))
	return err == nil && fi.IsDir()
}

// fitAll decodes the files into s.Images with one worker and one Fitter per CPU: decoding
// JPEGs, not reading them, is what a folder set spends its time on. The error of the first
// failing file (in set order) is returned.
func fitAll(dir string, files []folderImage, s *Set) error {
	errs := make([]error, len(files))
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			fit := imageio.NewFitter(s.W, s.H, s.C)
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				path := filepath.Join(dir, files[i].name)
				img, err := imageio.DecodeFile(path) // its errors name the file
				if err == nil {
					if err = fit.Fit(img, s.Image(i)); err != nil {
						err = fmt.Errorf("%s: %w", path, err)
					}
				}
				if err != nil {
					errs[i] = err
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
