package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The memory budget of a decode. A few hundred bytes of header decide what a decoder
// allocates, and the picture is the smaller part of it: a progressive JPEG keeps 4 bytes of
// coefficients for every sample of every component until its last scan, a CMYK one holds its
// planes and then an interleaved copy, an interlaced PNG allocates each of its seven passes
// beside the full picture. An 8192×8192 progressive CMYK JPEG of half a megabyte needs
// 1.5 GiB. Decode reads the headers, estimates the decoder's peak (Need) from them and
// refuses what exceeds the budget before the decoder allocates anything.
//
// The standard library decoders cannot decode a JPEG at 1/2, 1/4 or 1/8 of its size (DCT
// scaling), which would make large JPEGs cheap; no maintained pure-Go decoder that can was
// found, so an image is either decoded in full within the budget or refused.

// DefaultMemoryBudget is the budget of a decode unless SetMemoryBudget changes it: enough for
// a 24-megapixel baseline JPEG or a 12-megapixel progressive 4:2:0 one (a phone's photo), and
// little enough that `ninedge serve` stays under 256 MB on a 1 GB board.
const DefaultMemoryBudget = 128 << 20

var budget atomic.Int64

func init() { budget.Store(DefaultMemoryBudget) }

// SetMemoryBudget sets the bytes one decode may use (the encoded file it reads included); it
// is a property of the process, like its memory limit (n ≤ 0: DefaultMemoryBudget).
func SetMemoryBudget(n int64) {
	if n <= 0 {
		n = DefaultMemoryBudget
	}
	budget.Store(n)
}

// MemoryBudget is the current budget of a decode.
func MemoryBudget() int64 { return budget.Load() }

// Overheads of the decoders besides the buffers Estimate counts: their state (Huffman and
// quantization tables, a JPEG's 4 KiB read buffer; zlib's 32 KiB window and inflater), so
// that a small image's estimate still bounds what decoding it allocates.
const (
	jpegOverhead = 64 << 10
	pngOverhead  = 128 << 10
	pnmOverhead  = 16 << 10
)

// Need is what decoding an image takes, from its header.
type Need struct {
	Format string // "jpeg", "png", "ppm" or "pgm"
	W, H   int
	Kind   string // "progressive CMYK", "interlaced 16-bit RGBA", ...: what makes it cost
	Bytes  int64  // the decoder's peak: the picture, its working memory and the decoder's state
}

func (n Need) String() string {
	kind := n.Kind
	if kind != "" {
		kind += " "
	}
	return fmt.Sprintf("%d×%d %s%s", n.W, n.H, kind, n.Format)
}

var errUnknownFormat = errors.New("unknown format (want PNG, JPEG, PPM or PGM)")

// Estimate reads the headers of an encoded image and returns what decoding it will take. It
// errs where the headers are damaged or the format is not one Decode reads; an image whose
// estimate it returns may still fail to decode.
func Estimate(data []byte) (Need, error) {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		return estimateJPEG(data)
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return estimatePNG(data)
	case len(data) >= 2 && data[0] == 'P' && bytes.IndexByte([]byte("2356"), data[1]) >= 0:
		return estimatePNM(data)
	}
	return Need{}, errUnknownFormat
}

// JPEG markers that Estimate looks at.
const (
	markerSOF0  = 0xc0 // baseline
	markerSOF1  = 0xc1 // extended sequential
	markerSOF2  = 0xc2 // progressive
	markerDHT   = 0xc4
	markerRST0  = 0xd0
	markerRST7  = 0xd7
	markerEOI   = 0xd9
	markerSOS   = 0xda
	markerAPP0  = 0xe0
	markerAPP14 = 0xee
)

// estimateJPEG walks the markers of a JPEG the way image/jpeg reads them, to the end of the
// image: what the decoder allocates depends on the frame header (SOF) but also on markers
// it may meet after the scans (a JFIF APP0 or an Adobe APP14 decide whether three
// components are converted to RGBA).
func estimateJPEG(data []byte) (Need, error) {
	type component struct{ id, h, v byte }
	var (
		comps            []component
		w, h             int
		progressive, sof bool
		jfif, adobeRGB   bool
	)
	i := 2
	for i < len(data) {
		// Find the next marker: like image/jpeg, skip extraneous bytes, "\xff\x00" and fill
		// bytes. Entropy-coded data is skipped the same way.
		if data[i] != 0xff {
			i++
			continue
		}
		for i < len(data) && data[i] == 0xff {
			i++
		}
		if i >= len(data) {
			break
		}
		m := data[i]
		i++
		if m == 0 || markerRST0 <= m && m <= markerRST7 {
			continue
		}
		if m == markerEOI {
			break
		}
		if i+2 > len(data) {
			break
		}
		n := int(binary.BigEndian.Uint16(data[i:])) - 2
		i += 2
		if n < 0 {
			return Need{}, errors.New("jpeg: short segment length")
		}
		seg := data[i:min(i+n, len(data))]
		switch m {
		case markerSOF0, markerSOF1, markerSOF2:
			if sof {
				return Need{}, errors.New("jpeg: multiple SOF markers")
			}
			sof = true
			if len(seg) < 6 || len(seg) != 6+3*int(seg[5]) {
				return Need{}, errors.New("jpeg: bad SOF segment")
			}
			progressive = m == markerSOF2
			h, w = int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:]))
			for c := range int(seg[5]) {
				hv := seg[7+3*c]
				comps = append(comps, component{id: seg[6+3*c], h: max(hv>>4, 1), v: max(hv&15, 1)})
			}
		case markerAPP0:
			jfif = jfif || bytes.HasPrefix(seg, []byte("JFIF\x00"))
		case markerAPP14:
			adobeRGB = adobeRGB || len(seg) >= 12 && bytes.HasPrefix(seg, []byte("Adobe")) && seg[11] == 0
		case markerSOS:
			if !sof {
				return Need{}, errors.New("jpeg: scan before the frame header (SOF)")
			}
		}
		i += n
	}
	if !sof {
		return Need{}, errors.New("jpeg: no frame header (SOF)")
	}
	if len(comps) == 0 {
		return Need{}, errors.New("jpeg: no components")
	}
	need := Need{Format: "jpeg", W: w, H: h, Bytes: jpegOverhead}
	// image/jpeg allocates whole MCUs, sized by the first component's sampling factors, and
	// each component's plane (or coefficients) in blocks of 8×8 per sampling unit.
	h0, v0 := int64(comps[0].h), int64(comps[0].v)
	mxx, myy := (int64(w)+8*h0-1)/(8*h0), (int64(h)+8*v0-1)/(8*v0)
	var planes int64
	for _, c := range comps {
		samples := mxx * 8 * int64(c.h) * myy * 8 * int64(c.v)
		if c.h > comps[0].h || c.v > comps[0].v {
			// Only the luma's plane is full size in an image.YCbCr: a chroma plane with larger
			// factors than the luma is refused by the decoder, counted here as full anyway.
			samples = mxx * 8 * 4 * myy * 8 * 4
		}
		planes += samples
		if progressive {
			need.Bytes += 4 * samples // an int32 coefficient per sample, until the last scan
		}
	}
	need.Bytes += planes
	pixels := int64(w) * int64(h)
	switch {
	case len(comps) == 4:
		need.Kind = "CMYK"
		need.Bytes += 4 * pixels // the interleaved CMYK (or RGBA) picture beside the planes
	case len(comps) == 3 && !jfif && (adobeRGB || comps[0].id == 'R' && comps[1].id == 'G' && comps[2].id == 'B'):
		need.Kind = "RGB"
		need.Bytes += 4 * pixels
	case len(comps) == 1:
		need.Kind = "grey"
	}
	if progressive {
		need.Kind = join("progressive", need.Kind)
	}
	return need, nil
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + " " + b
}

// estimatePNG reads the chunks before the first IDAT: the header, and whether a tRNS chunk
// makes the decoder return a deeper picture (NRGBA for grey and truecolour).
func estimatePNG(data []byte) (Need, error) {
	const sig = 8
	if len(data) < sig+8+13 || string(data[sig+4:sig+8]) != "IHDR" {
		return Need{}, errors.New("png: no IHDR chunk")
	}
	ihdr := data[sig+8:]
	w, h := binary.BigEndian.Uint32(ihdr), binary.BigEndian.Uint32(ihdr[4:])
	depth, ct, interlaced := int64(ihdr[8]), ihdr[9], ihdr[12] == 1
	if w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 {
		return Need{}, fmt.Errorf("png: empty or negative size %d×%d", int32(w), int32(h))
	}
	trns := false
	for i := sig; i+8 <= len(data); {
		n, typ := int64(binary.BigEndian.Uint32(data[i:])), string(data[i+4:i+8])
		if typ == "IDAT" {
			break
		}
		trns = trns || typ == "tRNS"
		if n > int64(len(data)) {
			break
		}
		i += 12 + int(n)
	}
	// Bytes per pixel of the picture image/png returns, and bits per pixel of a row.
	var bpp int64
	channels := map[byte]int64{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct]
	if channels == 0 || depth == 0 || depth > 16 {
		return Need{}, fmt.Errorf("png: colour type %d at %d bits", ct, depth)
	}
	kind := map[byte]string{0: "grey", 2: "RGB", 3: "paletted", 4: "grey+alpha", 6: "RGBA"}[ct]
	switch {
	case ct == 3:
		bpp = 1
	case ct == 0 && !trns:
		bpp = max(depth/8, 1)
	case depth == 16:
		bpp = 8
	default:
		bpp = 4
	}
	if depth == 16 {
		kind = join("16-bit", kind)
	}
	if interlaced {
		kind = join("interlaced", kind)
	}
	pixels := int64(w) * int64(h)
	need := Need{Format: "png", W: int(w), H: int(h), Kind: kind, Bytes: pngOverhead}
	need.Bytes += bpp * pixels
	need.Bytes += 2 * (1 + (channels*depth*int64(w)+7)/8) // the current and previous rows
	if interlaced {
		// Each of the seven passes is a picture of its own, merged into the full one; all
		// of them together hold as many pixels as the full picture.
		need.Bytes += bpp*pixels + 7*(bpp+2*(1+(channels*depth+7)/8))*1024
	}
	return need, nil
}

// estimatePNM: the picture (grey, or RGBA for PPM) and one row of samples.
func estimatePNM(data []byte) (Need, error) {
	hd, err := readPNMHeader(bytes.NewReader(data))
	if err != nil {
		return Need{}, err
	}
	need := Need{Format: "ppm", W: hd.w, H: hd.h, Bytes: pnmOverhead}
	bpp := int64(4)
	if hd.channels == 1 {
		need.Format, bpp = "pgm", 1
	}
	row := int64(hd.w) * int64(hd.channels)
	need.Bytes += bpp*int64(hd.w)*int64(hd.h) + 2*row + 8*row
	return need, nil
}

// releaseAbove is the estimate above which a decode returns its memory to the system soon
// after: the garbage collector would otherwise keep the heap it grew to for minutes, and a
// small board needs it for other things.
const releaseAbove = 32 << 20

// releaseDelay leaves the caller time to finish with the picture (fit, classify) first.
const releaseDelay = time.Second

var release struct {
	sync.Mutex
	pending bool
}

// releaseSoon schedules one debug.FreeOSMemory, however many large decodes ask for it.
func releaseSoon() {
	release.Lock()
	defer release.Unlock()
	if release.pending {
		return
	}
	release.pending = true
	time.AfterFunc(releaseDelay, func() {
		release.Lock()
		release.pending = false
		release.Unlock()
		debug.FreeOSMemory()
	})
}
