package imageio

import (
	"errors"
	"fmt"
	"image"
	"image/color"

	"golang.org/x/image/draw"
)

// Resampling filters (boxFilter, finalFilter). A crop is shrunk in one or two stages:
//
//   - When it is more than boxAbove times the target size, an area average (box filter) first
//     brings it to twice the target size. Every source pixel contributes, so fine texture
//     and sensor noise average out instead of aliasing into the 32×32 input, as they would
//     with ApproxBiLinear or NearestNeighbor, which read 4 or 1 source pixels per output
//     whatever the reduction. It also keeps the cost per camera frame low: x/image/draw
//     converts each YCbCr sample once per filter tap, and a single Catmull-Rom pass from a
//     480×480 crop to 32×32 reads 60 taps per output along each axis (about 12 ms per
//     640×480 frame on a server core, several times that on a Pi), while box then
//     Catmull-Rom takes about 3 ms (BenchmarkFit).
//   - Catmull-Rom then produces the final size: a cubic kernel, sharper than the bilinear
//     tent, whose support widens with the reduction factor so that it also low-pass filters.
//     It is used alone for enlargements and reductions up to 4 times.
var (
	boxFilter   = &draw.Kernel{Support: 0.5, At: func(float64) float64 { return 1 }}
	finalFilter = draw.CatmullRom
)

// boxAbove is the reduction factor above which the box stage runs first.
const boxAbove = 4

// A Fitter turns images of any size into a network input of w×h pixels and c channels:
// it centre-crops the image to the aspect ratio of w×h, resizes the crop (an area average
// then Catmull-Rom, see boxFilter) and writes it as HWC uint8. When the crop already is
// w×h (the image has the network's size, or is larger only along one axis) the pixels are
// copied without resampling, so fitting an image of the right size is exact.
//
// c is 3 (RGB) or 1 (grayscale, ITU-R BT.601 luma as computed by Luma). Transparent
// pixels come out composited over black (premultiplied colour). For *image.YCbCr with
// c == 1 the Y plane is used directly: it already is the BT.601 luma.
//
// A Fitter reuses its buffers and resampling weights between calls, so Fit allocates
// nothing once it has seen a crop size, for *image.YCbCr (JPEG and camera frames; 4:4:4,
// 4:2:2, 4:2:0 and 4:4:0), *image.RGBA, *image.NRGBA and *image.Gray. (x/image/draw keeps
// its scratch rows in a sync.Pool, which a garbage collection may empty: one refill then.)
// Other image types work through the slower generic image.Image interface. A Fitter is
// not safe for concurrent use: give each goroutine its own.
type Fitter struct {
	w, h, c   int
	buf       *image.RGBA // resampled crop, w×h
	mid       *image.RGBA // box-filtered crop, 2w×2h, made when first needed
	box, last cachedScaler
	luma      image.Gray // view of a YCbCr image's Y plane while it is being resampled
}

// cachedScaler keeps the resampling weights of a kernel for one source size: computing
// them allocates, and successive camera frames have the same size.
type cachedScaler struct {
	scaler draw.Scaler
	from   image.Point
}

// scale resamples the rectangle sr of src onto all of dst with kernel k.
func (c *cachedScaler) scale(k *draw.Kernel, dst *image.RGBA, src image.Image, sr image.Rectangle) {
	if c.scaler == nil || sr.Size() != c.from {
		c.scaler = k.NewScaler(dst.Rect.Dx(), dst.Rect.Dy(), sr.Dx(), sr.Dy())
		c.from = sr.Size()
	}
	c.scaler.Scale(dst, dst.Rect, src, sr, draw.Src, nil)
}

// CheckFitterShape says whether a Fitter can produce w×h images with c channels: sides in
// [1, MaxSide], and 1 (grey) or 3 (RGB) channels. Callers whose shape comes from a file (a
// model's input) check it here first.
func CheckFitterShape(w, h, c int) error {
	if w < 1 || h < 1 || w > MaxSide || h > MaxSide || (c != 1 && c != 3) {
		return fmt.Errorf("an image input of %dx%dx%d: sides must be in [1, %d] and channels 1 (grey) or 3 (RGB)", h, w, c, MaxSide)
	}
	return nil
}

// NewFitter returns a Fitter producing w×h images with c channels. It panics where
// CheckFitterShape fails: the shape must have been checked before.
func NewFitter(w, h, c int) *Fitter {
	if err := CheckFitterShape(w, h, c); err != nil {
		panic("imageio.NewFitter: " + err.Error())
	}
	return &Fitter{w: w, h: h, c: c, buf: image.NewRGBA(image.Rect(0, 0, w, h))}
}

// Len returns the length of the dst slice Fit expects, w*h*c.
func (f *Fitter) Len() int { return f.w * f.h * f.c }

var errEmpty = errors.New("imageio: Fit: empty image")

// Fit writes img, centre-cropped and resized, into dst as HWC uint8 (RGB order for c == 3).
// dst must have length w*h*c.
func (f *Fitter) Fit(img image.Image, dst []uint8) error {
	if len(dst) != f.Len() {
		return fmt.Errorf("imageio: Fit: dst has length %d, want %d×%d×%d = %d", len(dst), f.w, f.h, f.c, f.Len())
	}
	crop := centreCrop(img.Bounds(), f.w, f.h)
	if crop.Empty() {
		return errEmpty
	}
	if crop.Dx() == f.w && crop.Dy() == f.h {
		f.copy(dst, img, crop)
		return nil
	}
	src := img
	if m, ok := img.(*image.YCbCr); ok && f.c == 1 {
		f.luma = image.Gray{Pix: m.Y, Stride: m.YStride, Rect: m.Rect}
		src = &f.luma
	}
	if crop.Dx() > boxAbove*f.w || crop.Dy() > boxAbove*f.h {
		if f.mid == nil {
			f.mid = image.NewRGBA(image.Rect(0, 0, 2*f.w, 2*f.h))
		}
		f.box.scale(boxFilter, f.mid, src, crop)
		src, crop = f.mid, f.mid.Rect
	}
	f.last.scale(finalFilter, f.buf, src, crop)
	f.luma = image.Gray{} // do not keep the caller's frame alive
	f.copy(dst, f.buf, f.buf.Rect)
	return nil
}

// centreCrop returns the largest rectangle with the aspect ratio of w×h centred in b
// (rounded to whole pixels; any odd leftover pixel goes to the right or bottom).
func centreCrop(b image.Rectangle, w, h int) image.Rectangle {
	sw, sh := int64(b.Dx()), int64(b.Dy())
	if sw <= 0 || sh <= 0 {
		return image.Rectangle{}
	}
	cw, ch := sw, sh
	if sw*int64(h) > sh*int64(w) {
		cw = max(1, (sh*int64(w)+int64(h)/2)/int64(h))
	} else {
		ch = max(1, (sw*int64(h)+int64(w)/2)/int64(w))
	}
	x0 := b.Min.X + int((sw-cw)/2)
	y0 := b.Min.Y + int((sh-ch)/2)
	return image.Rect(x0, y0, x0+int(cw), y0+int(ch))
}

// copy converts the w×h rectangle r of img to HWC in dst without resampling.
func (f *Fitter) copy(dst []uint8, img image.Image, r image.Rectangle) {
	w, c := f.w, f.c
	for y := range f.h {
		out := dst[y*w*c : (y+1)*w*c]
		sy := r.Min.Y + y
		switch m := img.(type) {
		case *image.RGBA:
			row := m.Pix[m.PixOffset(r.Min.X, sy):][:4*w]
			for x := range w {
				put(out, x, c, row[4*x], row[4*x+1], row[4*x+2])
			}
		case *image.NRGBA:
			row := m.Pix[m.PixOffset(r.Min.X, sy):][:4*w]
			for x := range w {
				p := row[4*x : 4*x+4]
				if a := p[3]; a == 0xff {
					put(out, x, c, p[0], p[1], p[2])
				} else {
					put(out, x, c, premul(p[0], a), premul(p[1], a), premul(p[2], a))
				}
			}
		case *image.Gray:
			row := m.Pix[m.PixOffset(r.Min.X, sy):][:w]
			if c == 1 {
				copy(out, row)
				break
			}
			for x, v := range row {
				out[3*x], out[3*x+1], out[3*x+2] = v, v, v
			}
		case *image.YCbCr:
			yrow := m.Y[m.YOffset(r.Min.X, sy):][:w]
			if c == 1 {
				copy(out, yrow)
				break
			}
			for x, yy := range yrow {
				ci := m.COffset(r.Min.X+x, sy)
				out[3*x], out[3*x+1], out[3*x+2] = color.YCbCrToRGB(yy, m.Cb[ci], m.Cr[ci])
			}
		default:
			for x := range w {
				cr, cg, cb, _ := img.At(r.Min.X+x, sy).RGBA()
				put(out, x, c, uint8(cr>>8), uint8(cg>>8), uint8(cb>>8))
			}
		}
	}
}

// put stores pixel x of a row with c channels.
func put(out []uint8, x, c int, r, g, b uint8) {
	if c == 1 {
		out[x] = Luma(r, g, b)
		return
	}
	out[3*x], out[3*x+1], out[3*x+2] = r, g, b
}

// premul is colour channel v of a non-premultiplied pixel with alpha a, premultiplied with
// the same 16-bit arithmetic as color.NRGBA.RGBA, so that the copy path agrees with what
// the resampler produces.
func premul(v, a uint8) uint8 {
	a16 := uint32(a) * 0x101
	return uint8(uint32(v) * 0x101 * a16 / 0xffff >> 8)
}

// Luma is the ITU-R BT.601 luma of an 8-bit RGB pixel (0.299 R + 0.587 G + 0.114 B), with
// exactly the rounding of color.GrayModel, so that gray images made here, by the data set
// loaders and by the standard library agree to the bit.
func Luma(r, g, b uint8) uint8 {
	r16, g16, b16 := uint32(r)*0x101, uint32(g)*0x101, uint32(b)*0x101
	return uint8((19595*r16 + 38470*g16 + 7471*b16 + 1<<15) >> 24)
}
