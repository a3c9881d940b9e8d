package dataset

import (
	"errors"
	"fmt"
	"io"
	"path"
)

// cifarFormat describes one of the two CIFAR binary layouts, which differ only in their
// files, in how many label bytes precede the pixels and in their class names.
type cifarFormat struct {
	folder string              // subfolder of the official archive
	files  map[string][]string // data files of each split, in order
	// labels holds, for each label byte of a record, how many values it may take; the last
	// byte is the class used.
	labels    []int
	namesFile string
	standard  []string // class names when namesFile is absent
}

// cifarSide is the side of CIFAR images; each record holds cifarPixels bytes of them.
const (
	cifarSide   = 32
	cifarPixels = cifarSide * cifarSide * 3
)

var cifar10 = cifarFormat{
	folder: "cifar-10-batches-bin",
	files: map[string][]string{
		"train": {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		"test":  {"test_batch.bin"},
	},
	labels:    []int{10},
	namesFile: "batches.meta.txt",
	standard:  []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"},
}

var cifar100 = cifarFormat{
	folder: "cifar-100-binary",
	files: map[string][]string{
		"train": {"train.bin"},
		"test":  {"test.bin"},
	},
	labels:    []int{20, 100}, // coarse, fine
	namesFile: "fine_label_names.txt",
	standard: []string{
		"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
		"bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
		"chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
		"dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
		"lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
		"mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
		"plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
		"rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
		"squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
		"train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
	},
}

func (cf cifarFormat) recordSize() int { return len(cf.labels) + cifarPixels }

func (cf cifarFormat) load(dir, split string, opt Options) (*Set, error) {
	if err := opt.fixedSize(cifarSide, cifarSide, 3); err != nil {
		return nil, err
	}
	// Locate every file first, so that a missing one is reported before any reading, and
	// the whole set is allocated once.
	var sources []source
	var expect int64
	for _, base := range cf.files[split] {
		src, err := findSource(dir, base, path.Join(cf.folder, base))
		if err != nil {
			return nil, err
		}
		e, _, err := src.size()
		if err != nil {
			return nil, err
		}
		sources, expect = append(sources, src), expect+e
	}
	classes, err := readNames(dir, path.Join(path.Dir(sources[0].name), cf.namesFile), cf.labels[len(cf.labels)-1], cf.standard)
	if err != nil {
		return nil, err
	}
	n := int(min(expect/int64(cf.recordSize()), maxSetBytes/cifarPixels))
	if left := opt.remaining(0); left >= 0 {
		n = min(n, left)
	}
	s := &Set{H: cifarSide, W: cifarSide, C: 3, Images: make([]uint8, 0, n*cifarPixels), Labels: make([]int32, 0, n), Classes: classes}
	for _, src := range sources {
		left := opt.remaining(len(s.Labels))
		if left == 0 {
			break
		}
		if err := cf.readFile(src, left, s); err != nil {
			return nil, err
		}
	}
	s.N = len(s.Labels)
	return s, nil
}

func (cf cifarFormat) readFile(src source, limit int, s *Set) error {
	r, err := src.open()
	if err != nil {
		return err
	}
	defer r.Close()
	if s.Images, s.Labels, err = cf.readRecords(r, limit, s.Images, s.Labels); err != nil {
		return fmt.Errorf("%s: %w", src.name, err)
	}
	return nil
}

// readRecords appends the images (converted to HWC) and class labels of the records in r
// to images and labels, stopping after limit records unless limit is negative. It is the
// one parser of both CIFAR layouts.
func (cf cifarFormat) readRecords(r io.Reader, limit int, images []uint8, labels []int32) ([]uint8, []int32, error) {
	rec := make([]byte, cf.recordSize())
	head, pix := rec[:len(cf.labels)], rec[len(cf.labels):]
	plane := cifarSide * cifarSide
	for n := 0; n != limit; n++ {
		k, err := io.ReadFull(r, rec)
		switch {
		case err == io.EOF && n == 0:
			return nil, nil, errors.New("no records")
		case err == io.EOF:
			return images, labels, nil
		case err == io.ErrUnexpectedEOF:
			return nil, nil, fmt.Errorf("size %d is not a multiple of %d", int64(n)*int64(len(rec))+int64(k), len(rec))
		case err != nil:
			return nil, nil, err
		}
		for i, v := range head {
			if int(v) >= cf.labels[i] {
				return nil, nil, fmt.Errorf("record %d: label byte %d is %d, want < %d", n, i, v, cf.labels[i])
			}
		}
		if len(images)+cifarPixels > maxSetBytes {
			return nil, nil, fmt.Errorf("record %d: more than %d bytes of images", n, maxSetBytes)
		}
		labels = append(labels, int32(head[len(head)-1]))
		images = append(images, make([]uint8, cifarPixels)...)
		// Planes R, G, B of plane bytes each → interleaved RGB.
		dst := images[len(images)-cifarPixels:]
		r, g, b := pix[:plane], pix[plane:2*plane], pix[2*plane:]
		for p := range plane {
			dst[3*p], dst[3*p+1], dst[3*p+2] = r[p], g[p], b[p]
		}
	}
	return images, labels, nil
}
