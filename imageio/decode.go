// Package imageio decodes the image files the toolkit meets (PNG, JPEG and binary or plain
// PPM/PGM) and holds the one geometric preprocessing shared by training-set loading and the
// camera loop: a centre crop to the network's aspect ratio, a resize, and a conversion to
// HWC uint8. Keeping a single implementation matters because a network quietly loses
// accuracy when the pixels it sees on the device are cropped, filtered or converted to gray
// differently from the pixels it was trained on.
package imageio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers "jpeg" with image.Decode
	_ "image/png"  // registers "png" with image.Decode
	"io"

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
type limits struct{ side, pixels int }

var defaultLimits = limits{side: MaxSide, pixels: MaxPixels}

// Decode reads a PNG, JPEG, PPM (P6, P3) or PGM (P5, P2) image and returns it with the
// format name ("png", "jpeg", "ppm" or "pgm"). The header is read first and images larger
// than MaxSide per side or MaxPixels in all, or with no pixels, are rejected before
// anything is allocated for them.
//
// Decoders return their natural types: *image.YCbCr or *image.Gray for JPEG, *image.RGBA,
// *image.NRGBA, *image.Gray and others for PNG, *image.RGBA or *image.Gray for PPM/PGM.
func Decode(r io.Reader) (image.Image, string, error) {
	return decode(r, defaultLimits)
}

func decode(r io.Reader, lim limits) (image.Image, string, error) {
	// DecodeConfig consumes the header; keep a copy of what it read and replay it.
	var head bytes.Buffer
	br := bufio.NewReader(r)
	cfg, format, err := image.DecodeConfig(io.TeeReader(br, &head))
	if err != nil {
		return nil, "", fmt.Errorf("imageio: reading header: %w", err)
	}
	if err := lim.check(cfg.Width, cfg.Height); err != nil {
		return nil, format, fmt.Errorf("imageio: %s: %w", format, err)
	}
	if bpp := bytesPerPixel(cfg.ColorModel); int64(cfg.Width)*int64(cfg.Height)*bpp > 4*int64(lim.pixels) {
		return nil, format, fmt.Errorf("imageio: %s: %w: %d×%d at %d bytes a pixel, more than %d MiB", format, ErrTooLarge,
			cfg.Width, cfg.Height, bpp, 4*lim.pixels>>20)
	}
	img, format, err := image.Decode(io.MultiReader(&head, br))
	if err != nil {
		return nil, format, fmt.Errorf("imageio: %s: %w", format, err)
	}
	return img, format, nil
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

// bytesPerPixel is the size of a pixel of the decoded image for a colour model (a YCbCr
// JPEG counts as 4:4:4). The decoders' working memory comes on top: a progressive JPEG's
// coefficients take about as much again.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.YCbCrModel:
		return 3
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4
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
