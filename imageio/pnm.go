package imageio

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
)

// Netpbm is what many camera tools (v4l2 grabbers, ffmpeg -f image2, fswebcam) write when
// asked for raw frames, and it has no decoder in the standard library or x/image. Only the
// grayscale and colour variants are read: binary P5/P6 and, because they cost a few lines,
// plain-text P2/P3. Bitmaps (P1/P4) and PAM (P7) are not. Registering the formats lets
// image.Decode and image.DecodeConfig find them like PNG and JPEG.
func init() {
	for _, m := range []string{"P6", "P3"} {
		image.RegisterFormat("ppm", m, decodePNM, decodePNMConfig)
	}
	for _, m := range []string{"P5", "P2"} {
		image.RegisterFormat("pgm", m, decodePNM, decodePNMConfig)
	}
}

// pnmHeader is the parsed header of a Netpbm file.
type pnmHeader struct {
	plain    bool // P2/P3: samples are decimal text
	channels int  // 1 (PGM) or 3 (PPM)
	w, h     int
	maxval   int
}

var errPNMSyntax = errors.New("pnm: malformed header")

func readPNMHeader(r io.ByteReader) (pnmHeader, error) {
	var hd pnmHeader
	var magic [2]byte
	for i := range magic {
		b, err := r.ReadByte()
		if err != nil {
			return hd, fmt.Errorf("pnm: reading magic: %w", noEOF(err))
		}
		magic[i] = b
	}
	switch string(magic[:]) {
	case "P2":
		hd.plain, hd.channels = true, 1
	case "P3":
		hd.plain, hd.channels = true, 3
	case "P5":
		hd.channels = 1
	case "P6":
		hd.channels = 3
	default:
		return hd, fmt.Errorf("pnm: unsupported magic %q", magic[:])
	}
	var err error
	if hd.w, err = pnmNumber(r); err != nil {
		return hd, fmt.Errorf("pnm: width: %w", err)
	}
	if hd.h, err = pnmNumber(r); err != nil {
		return hd, fmt.Errorf("pnm: height: %w", err)
	}
	if hd.maxval, err = pnmNumber(r); err != nil {
		return hd, fmt.Errorf("pnm: maxval: %w", err)
	}
	if hd.maxval < 1 || hd.maxval > 65535 {
		return hd, fmt.Errorf("pnm: maxval %d outside [1, 65535]", hd.maxval)
	}
	// A binary raster starts right after the single whitespace byte that ended maxval,
	// which pnmNumber has consumed.
	return hd, nil
}

// pnmNumber skips whitespace and #-comments, then reads a decimal number and the single
// byte that ends it, which must be whitespace (or the end of the file for the last sample
// of a plain file).
func pnmNumber(r io.ByteReader) (int, error) {
	b, err := r.ReadByte()
	for {
		if err != nil {
			return 0, noEOF(err)
		}
		if b == '#' {
			for err == nil && b != '\n' && b != '\r' {
				b, err = r.ReadByte()
			}
			continue
		}
		if !isSpace(b) {
			break
		}
		b, err = r.ReadByte()
	}
	n, digits := 0, 0
	for ; err == nil && b >= '0' && b <= '9'; b, err = r.ReadByte() {
		if digits++; digits > 9 {
			return 0, fmt.Errorf("%w: number too long", errPNMSyntax)
		}
		n = n*10 + int(b-'0')
	}
	if digits == 0 {
		if err != nil {
			return 0, noEOF(err)
		}
		return 0, fmt.Errorf("%w: unexpected byte %q", errPNMSyntax, b)
	}
	if err == nil && !isSpace(b) {
		return 0, fmt.Errorf("%w: unexpected byte %q after number", errPNMSyntax, b)
	}
	if err != nil && err != io.EOF {
		return 0, err
	}
	return n, nil
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// noEOF turns a clean end of file in the middle of an image into the error it really is.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func byteReader(r io.Reader) *bufio.Reader {
	if br, ok := r.(*bufio.Reader); ok {
		return br
	}
	return bufio.NewReader(r)
}

func decodePNMConfig(r io.Reader) (image.Config, error) {
	hd, err := readPNMHeader(byteReader(r))
	if err != nil {
		return image.Config{}, err
	}
	model := color.RGBAModel
	if hd.channels == 1 {
		model = color.GrayModel
	}
	return image.Config{ColorModel: model, Width: hd.w, Height: hd.h}, nil
}

// decodePNM returns *image.Gray for PGM and *image.RGBA for PPM. Samples with a maxval other
// than 255 are rescaled to 8 bits with rounding: the toolkit works in uint8 throughout.
func decodePNM(r io.Reader) (image.Image, error) {
	br := byteReader(r)
	hd, err := readPNMHeader(br)
	if err != nil {
		return nil, err
	}
	// Registered decoders are reachable through image.Decode without imageio.Decode's check.
	if err := defaultLimits.check(hd.w, hd.h); err != nil {
		return nil, fmt.Errorf("pnm: %w", err)
	}
	rect := image.Rect(0, 0, hd.w, hd.h)
	var img image.Image
	var pix []uint8 // img's pixels: 1 byte each for Gray, 4 for RGBA (step below)
	if hd.channels == 1 {
		g := image.NewGray(rect)
		img, pix = g, g.Pix
	} else {
		m := image.NewRGBA(rect)
		img, pix = m, m.Pix
	}
	bytesPer := 1
	if hd.maxval > 255 {
		bytesPer = 2
	}
	row := make([]byte, hd.w*hd.channels*bytesPer)
	samples := make([]int, hd.w*hd.channels)
	step := 4
	if hd.channels == 1 {
		step = 1
	}
	for y := range hd.h {
		if hd.plain {
			for i := range samples {
				if samples[i], err = pnmNumber(br); err != nil {
					return nil, fmt.Errorf("pnm: row %d: %w", y, err)
				}
			}
		} else {
			if _, err := io.ReadFull(br, row); err != nil {
				return nil, fmt.Errorf("pnm: row %d: %w", y, noEOF(err))
			}
			for i := range samples {
				if bytesPer == 1 {
					samples[i] = int(row[i])
				} else {
					samples[i] = int(row[2*i])<<8 | int(row[2*i+1])
				}
			}
		}
		out := pix[y*hd.w*step : (y+1)*hd.w*step]
		for x := range hd.w {
			for c := range hd.channels {
				v := samples[x*hd.channels+c]
				if v > hd.maxval {
					return nil, fmt.Errorf("pnm: row %d: sample %d exceeds maxval %d", y, v, hd.maxval)
				}
				if hd.maxval != 255 {
					v = (v*255 + hd.maxval/2) / hd.maxval
				}
				out[x*step+c] = uint8(v)
			}
			if step == 4 {
				out[x*4+3] = 0xff
			}
		}
	}
	return img, nil
}
