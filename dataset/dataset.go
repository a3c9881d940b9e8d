// Package dataset loads standard image-classification data sets, and folders of images,
// into memory as one NHWC uint8 array, the layout the rest of the toolkit trains and
// evaluates on. Loaders are strict: a file of the wrong length, a bad magic number, a label
// out of range or counts that disagree is an error naming the file, never a silently
// shorter or shifted set, and sizes declared in headers are checked against what the file
// can hold before anything is allocated for them.
//
// Load(name, dir, split, opt) knows these names; split is "train" or "test":
//
//   - "cifar10": the binary version of CIFAR-10, data_batch_1.bin … data_batch_5.bin
//     (train) and test_batch.bin (test), in dir or in its cifar-10-batches-bin subfolder.
//     Records are 3,073 bytes: the label, then the 1,024 red, green and blue bytes of the
//     32×32 image, each plane row by row. Class names come from batches.meta.txt beside
//     the batches (one per line) or are the standard ten.
//   - "cifar100": the binary version of CIFAR-100, train.bin and test.bin, in dir or
//     cifar-100-binary/. Records are 3,074 bytes: coarse label, fine label, pixels as
//     for CIFAR-10. The fine label (100 classes) is used; names come from
//     fine_label_names.txt or are the standard hundred.
//   - "mnist": train-images-idx3-ubyte with train-labels-idx1-ubyte, and
//     t10k-images-idx3-ubyte with t10k-labels-idx1-ubyte: 28×28 gray digits, labels 0–9.
//     Any rows×cols the idx header declares are accepted, so Fashion-MNIST, which uses
//     the same files, loads too.
//   - "svhn": format 2 (cropped digits) of the Street View House Numbers set,
//     train_32x32.mat and test_32x32.mat as distributed: MATLAB level-5 MAT-files (what
//     MATLAB writes with -v6 or -v7, compressed or not; not -v7.3, which is HDF5) holding X,
//     uint8 32×32×3×N in MATLAB's column-major order, and y, N×1, with digit 0 labelled 10.
//     Labels become 0–9. The reader understands exactly these two variables.
//   - "folder": your own images, dir/<split>/<class>/*.png|jpg|jpeg|ppm|pgm or, when dir has
//     neither a train nor a test subfolder, dir/<class>/… for either split. Classes are the
//     subfolders sorted by name (with split subfolders, those of train and test together,
//     so that label numbers agree between the splits); images are read in name order and
//     fitted to Options.Size by imageio.Fitter, the same centre crop and resize the camera
//     path uses. Names starting with a dot are ignored, as are files of other extensions.
//     Without split subfolders, Options.Holdout sets a fraction of each class aside as the
//     test split.
//
// The data files of cifar10, cifar100, mnist and svhn may also be gzipped, with .gz
// appended to their names. Colour images are RGB in that channel order.
package dataset

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/ninedge/ninedge/imageio"
)

// Set is a data set split held in memory.
type Set struct {
	Name  string // loader name, as passed to Load
	Split string // "train" or "test"

	N, H, W, C int
	Images     []uint8 // N×H×W×C bytes, NHWC; RGB order when C == 3
	Labels     []int32 // class index of each image, in [0, len(Classes))
	Classes    []string
}

// Image returns the H×W×C pixels of image i (a view into Images, not a copy).
func (s *Set) Image(i int) []uint8 {
	n := s.H * s.W * s.C
	return s.Images[i*n : (i+1)*n : (i+1)*n]
}

// Options adjusts what Load returns. The zero value loads everything in the set's own size
// and channels.
type Options struct {
	// Size is the image size as {H, W}. It is what "folder" fits its images to; zero
	// means 32×32, the size of CIFAR and SVHN and of the network's input. The other sets
	// have a fixed size, which Size must then be zero or equal to: they are not resized.
	Size [2]int
	// Channels is 1 (gray) or 3 (RGB); zero means the set's own (3 for folder). A colour
	// set asked for 1 channel is converted to ITU-R BT.601 luma (imageio.Luma), a gray set
	// asked for 3 channels repeats its gray value.
	Channels int
	// Limit keeps only the first Limit images of the split, in file order (0: all). Later
	// files are then not read at all, which makes quick experiments quick.
	Limit int
	// Holdout, for a folder set without train and test subfolders, is the fraction of each
	// class's images that make up the test split, the rest being the train split; which
	// ones is a function of Seed alone. 0 makes both splits the whole folder.
	Holdout float64
	Seed    uint64
}

// maxSetBytes bounds Images: 4 GiB, or what one slice can hold on a 32-bit board. Sizes
// declared by headers are checked against it before anything is allocated.
const maxSetBytes = min(math.MaxInt, 1<<32)

type loader func(dir, split string, opt Options) (*Set, error)

var loaders = map[string]loader{
	"cifar10":  cifar10.load,
	"cifar100": cifar100.load,
	"mnist":    loadMNIST,
	"svhn":     loadSVHN,
	"folder":   loadFolder,
}

// Names returns the names Load accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(loaders))
	for n := range loaders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Load reads the split ("train" or "test") of the data set name from the folder dir. See the
// package documentation for the files each name expects.
func Load(name, dir, split string, opt Options) (*Set, error) {
	load, ok := loaders[name]
	if !ok {
		return nil, fmt.Errorf("dataset: unknown data set %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if err := opt.check(split); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	s, err := load(dir, split, opt)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	s.Name, s.Split = name, split
	if opt.Channels != 0 && opt.Channels != s.C {
		s.convertChannels(opt.Channels)
	}
	return s, nil
}

func (opt Options) check(split string) error {
	switch {
	case split != "train" && split != "test":
		return fmt.Errorf("split %q: want \"train\" or \"test\"", split)
	case opt.Channels != 0 && opt.Channels != 1 && opt.Channels != 3:
		return fmt.Errorf("Options.Channels %d: want 0, 1 or 3", opt.Channels)
	case opt.Limit < 0:
		return fmt.Errorf("Options.Limit %d is negative", opt.Limit)
	case !(opt.Holdout >= 0 && opt.Holdout < 1):
		return fmt.Errorf("Options.Holdout %v not in [0, 1)", opt.Holdout)
	case opt.Size[0] < 0 || opt.Size[1] < 0 || (opt.Size[0] == 0) != (opt.Size[1] == 0):
		return fmt.Errorf("Options.Size %v: want two positive sizes, or zero", opt.Size)
	case opt.Size[0] > imageio.MaxSide || opt.Size[1] > imageio.MaxSide:
		return fmt.Errorf("Options.Size %v: larger than %d", opt.Size, imageio.MaxSide)
	}
	return nil
}

// SizeError is returned when a set whose images have a fixed size (every set but "folder")
// is asked for another size: its images are not resized. Callers that know why the size was
// asked for (a model's input) can say so in their own words.
type SizeError struct {
	H, W, C int    // the set's images
	Size    [2]int // Options.Size
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("Options.Size %v: this set's images are %d×%d×%d and are not resized (leave Size zero)", e.Size, e.H, e.W, e.C)
}

// fixedSize rejects an Options.Size other than the h×w of a set of h×w×c images that is not
// resized.
func (opt Options) fixedSize(h, w, c int) error {
	if opt.Size != [2]int{} && opt.Size != [2]int{h, w} {
		return &SizeError{H: h, W: w, C: c, Size: opt.Size}
	}
	return nil
}

// remaining is how many more images may be read after n, given Options.Limit; -1 means no
// limit.
func (opt Options) remaining(n int) int {
	if opt.Limit == 0 {
		return -1
	}
	return opt.Limit - n
}

// convertChannels turns a gray set into RGB or an RGB set into BT.601 luma.
func (s *Set) convertChannels(c int) {
	pixels := s.N * s.H * s.W
	out := make([]uint8, pixels*c)
	for p := range pixels {
		if c == 3 {
			v := s.Images[p]
			out[3*p], out[3*p+1], out[3*p+2] = v, v, v
		} else {
			out[p] = imageio.Luma(s.Images[3*p], s.Images[3*p+1], s.Images[3*p+2])
		}
	}
	s.Images, s.C = out, c
}
