// Package imageio decodes the image files the toolkit meets (PNG, JPEG and binary or plain
// PPM/PGM) and holds the one geometric preprocessing shared by training-set loading and the
// camera loop: a centre crop to the network's aspect ratio, a resize, and a conversion to
// HWC uint8. Keeping a single implementation matters because a network quietly loses
// accuracy when the pixels it sees on the device are cropped, filtered or converted to gray
// differently from the pixels it was trained on.
package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg" // also registers "jpeg" with image.Decode
	"image/png"  // also registers "png" with image.Decode
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/ninedge/ninedge/internal/infile"
)

// Limits on decoded images. A few bytes of PNG, JPEG or PPM header can declare an image of
// billions of pixels, and the standard decoders allocate the whole image before reading its
// data (a "decompression bomb"); checking the declared size first keeps a hostile or
// damaged file from exhausting memory on a small board.
const (
	// MaxSide is the largest accepted width or height.
	MaxSide = 16384
	// MaxPixels is the largest accepted width×height (64 megapixels, 256 MiB as RGBA);
	// images of deeper pixels (16-bit PNG) are held to the same 256 MiB.
	MaxPixels = 64 << 20
)

// ErrTooLarge is wrapped by the error Decode returns for an image over MaxSide or MaxPixels.
var ErrTooLarge = errors.New("image too large")

// limits lets the fuzz test lower the caps, so that it explores decoder logic instead of
// spending its time allocating 256 MiB images.
type limits struct {
	side, pixels int
	budget       int64 // bytes; 0: MemoryBudget()
}

var defaultLimits = limits{side: MaxSide, pixels: MaxPixels}

// Decode reads a PNG, JPEG, PPM (P6, P3) or PGM (P5, P2) image and returns it with the
// format name ("png", "jpeg", "ppm" or "pgm"). It reads the whole file first (a file larger
// than the memory budget is refused), then its headers: images larger than MaxSide per side
// or MaxPixels in all, with no pixels, or whose decoding would take more memory than the
// budget (SetMemoryBudget; the file's own bytes included) are refused with an error that
// wraps ErrTooLarge before the decoder allocates anything for them.
//
// Decoders return their natural types: *image.YCbCr or *image.Gray for JPEG, *image.RGBA,
// *image.NRGBA, *image.Gray and others for PNG, *image.RGBA or *image.Gray for PPM/PGM.
func Decode(r io.Reader) (image.Image, string, error) {
	return decode(r, defaultLimits)
}

// readBufs holds the buffers files are read into: a camera's frames come one after another,
// and reading each into a new buffer would allocate per frame.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// keepBuffer is the largest read buffer put back into readBufs: a large file's buffer goes
// back to the system instead.
const keepBuffer = 4 << 20

func decode(r io.Reader, lim limits) (image.Image, string, error) {
	budget := lim.budgetOr()
	buf := readBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= keepBuffer {
			readBufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(io.LimitReader(r, budget+1)); err != nil {
		return nil, "", fmt.Errorf("imageio: reading: %w", err)
	}
	return decodeBytes(buf.Bytes(), lim)
}

// DecodeBytes decodes an encoded image held in memory as Decode does, without copying it.
func DecodeBytes(data []byte) (image.Image, string, error) {
	return decodeBytes(data, defaultLimits)
}

func (l limits) budgetOr() int64 {
	if l.budget == 0 {
		return MemoryBudget()
	}
	return l.budget
}

func decodeBytes(data []byte, lim limits) (image.Image, string, error) {
	budget := lim.budgetOr()
	if int64(len(data)) > budget {
		return nil, "", fmt.Errorf("imageio: %w: a file larger than the image memory budget of %s", ErrTooLarge, FormatBytes(budget))
	}
	need, err := Estimate(data)
	if err != nil {
		return nil, "", fmt.Errorf("imageio: reading header: %w", err)
	}
	if err := lim.check(need.W, need.H); err != nil {
		return nil, need.Format, fmt.Errorf("imageio: %s: %w", need.Format, err)
	}
	if total := need.Bytes + int64(len(data)); total > budget {
		return nil, need.Format, fmt.Errorf("imageio: %w: decoding a %v takes about %s, more than the image memory budget of %s",
			ErrTooLarge, need, FormatBytes(total), FormatBytes(budget))
	}
	img, err := decodeAs(need.Format, data)
	if err != nil {
		return nil, need.Format, fmt.Errorf("imageio: %s: %w", need.Format, err)
	}
	if need.Bytes > releaseAbove {
		releaseSoon()
	}
	return img, need.Format, nil
}

func decodeAs(format string, data []byte) (image.Image, error) {
	switch format {
	case "jpeg":
		return jpeg.Decode(bytes.NewReader(data))
	case "png":
		return png.Decode(bytes.NewReader(data))
	}
	return decodePNM(bytes.NewReader(data))
}

// FormatBytes writes a size for people: "128 MiB", "1.5 GiB", "512 KiB", "100 bytes".
func FormatBytes(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift {
			v := strconv.FormatFloat(float64(n)/float64(int64(1)<<u.shift), 'f', 1, 64)
			return strings.TrimSuffix(v, ".0") + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func (l limits) check(w, h int) error {
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("empty image (%d×%d)", w, h)
	case w > l.side || h > l.side:
		return fmt.Errorf("%w: %d×%d, more than %d pixels per side", ErrTooLarge, w, h, l.side)
	case int64(w)*int64(h) > int64(l.pixels):
		return fmt.Errorf("%w: %d×%d, more than %d pixels", ErrTooLarge, w, h, l.pixels)
	}
	return nil
}

// DecodeFile decodes the image file at path with Decode; errors name the file.
func DecodeFile(path string) (image.Image, error) {
	f, err := infile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	img, _, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}
