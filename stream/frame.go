package stream

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"time"

	"github.com/ninedge/ninedge/imageio"
)

// Frame is one decoded frame, fitted to the network's input. The loop owns a few frames and
// reuses their buffers; a handler must not keep a Frame or its slices after it returns.
type Frame struct {
	Index  int       // position among the frames the source delivered, from 0
	Time   time.Time // when its last byte arrived
	Name   string    // the file it came from, for folders
	Pixels []uint8   // the picture fitted to the model's input, HWC uint8
	Image  image.Image
	JPEG   []byte // the picture as JPEG when the source sent JPEG (Huffman tables added if absent), else nil

	jpegBuf []byte
	rgba    *image.RGBA // converted raw frames
}

// load decodes packet p into the frame and fits it with fit.
func (f *Frame) load(p Packet, fit *imageio.Fitter) error {
	f.Time, f.Name, f.JPEG = p.Time, p.Name, nil
	img, err := f.decode(p)
	if err != nil {
		return err
	}
	f.Image = img
	return fit.Fit(img, f.Pixels)
}

func (f *Frame) decode(p Packet) (image.Image, error) {
	switch p.Kind {
	case JPEG:
		f.jpegBuf = withHuffmanTables(f.jpegBuf[:0], p.Data)
		f.JPEG = f.jpegBuf
		return decodeImage(f.JPEG)
	case Image:
		return decodeImage(p.Data)
	case RGB24:
		if len(p.Data) < p.W*p.H*3 {
			return nil, fmt.Errorf("RGB24 frame of %d bytes, want %dx%dx3", len(p.Data), p.W, p.H)
		}
		rgb24ToRGBA(f.frameRGBA(p.W, p.H), p.Data)
	case YUYV:
		if p.W%2 != 0 || p.Stride < 2*p.W || len(p.Data) < (p.H-1)*p.Stride+2*p.W {
			return nil, fmt.Errorf("YUYV frame of %d bytes, want %dx%d with %d bytes per row", len(p.Data), p.W, p.H, p.Stride)
		}
		yuyvToRGBA(f.frameRGBA(p.W, p.H), p.Data, p.Stride)
	default:
		return nil, fmt.Errorf("unknown frame kind %d", p.Kind)
	}
	return f.rgba, nil
}

func decodeImage(b []byte) (image.Image, error) {
	img, _, err := imageio.Decode(bytes.NewReader(b))
	return img, err
}

// frameRGBA returns the frame's conversion buffer, sized w×h.
func (f *Frame) frameRGBA(w, h int) *image.RGBA {
	if f.rgba == nil || f.rgba.Rect.Dx() != w || f.rgba.Rect.Dy() != h {
		f.rgba = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	return f.rgba
}

// rgb24ToRGBA expands packed RGB24 pixels into an opaque RGBA image of the same size.
func rgb24ToRGBA(dst *image.RGBA, src []byte) {
	for p := range min(len(src)/3, len(dst.Pix)/4) {
		i, o := src[3*p:3*p+3], dst.Pix[4*p:4*p+4]
		o[0], o[1], o[2], o[3] = i[0], i[1], i[2], 0xFF
	}
}

// yuyvToRGBA converts YUYV 4:2:2 (Y0 U Y1 V; stride bytes per row) to RGBA. Cameras send
// BT.601 with limited range (Y in 16..235, chroma in 16..240), unlike JPEG's full-range YCbCr,
// so the standard library's YCbCr conversion would wash the picture out: this is the integer
// form of R = 1.164(Y−16) + 1.596(V−128), G = 1.164(Y−16) − 0.392(U−128) − 0.813(V−128),
// B = 1.164(Y−16) + 2.017(U−128), coefficients ×256.
func yuyvToRGBA(dst *image.RGBA, src []byte, stride int) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	for y := range h {
		in := src[y*stride : y*stride+2*w]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		for i := 0; i+4 <= len(in); i += 4 {
			q, o := in[i:i+4:i+4], out[2*i:2*i+8:2*i+8]
			d, e := int32(q[1])-128, int32(q[3])-128
			r, g, b := 409*e+128, -100*d-208*e+128, 516*d+128
			c0, c1 := 298*(int32(q[0])-16), 298*(int32(q[2])-16)
			o[0], o[1], o[2], o[3] = clamp8(c0+r), clamp8(c0+g), clamp8(c0+b), 0xFF
			o[4], o[5], o[6], o[7] = clamp8(c1+r), clamp8(c1+g), clamp8(c1+b), 0xFF
		}
	}
}

func clamp8(v int32) uint8 { return uint8(min(max(v>>8, 0), 255)) }

// stdHuffman is a DHT segment holding the four Huffman tables of the JPEG standard (Annex K.3).
// Many USB webcams send MJPEG frames without a DHT segment, because AVI MJPEG (and UVC after
// it) defines those tables as implied; a plain JPEG decoder rejects such a frame. The tables
// are taken from the standard library's encoder, which writes exactly them.
var stdHuffman = func() []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil); err != nil {
		panic(err)
	}
	seg, ok := findSegment(b.Bytes(), markerDHT)
	if !ok {
		panic("stream: image/jpeg wrote no DHT segment")
	}
	return bytes.Clone(seg)
}()

// withHuffmanTables appends to dst the JPEG in src, with stdHuffman inserted after its SOI when
// no DHT segment precedes its first scan.
func withHuffmanTables(dst, src []byte) []byte {
	if _, ok := findSegment(src, markerDHT); ok || len(src) < 2 {
		return append(dst, src...)
	}
	dst = append(dst, src[:2]...)
	dst = append(dst, stdHuffman...)
	return append(dst, src[2:]...)
}

// findSegment returns the first marker segment m (marker and length included) among the
// segments between the SOI and the first SOS of a JPEG.
func findSegment(b []byte, m byte) ([]byte, bool) {
	i := 2
	for i+4 <= len(b) && b[i] == 0xFF {
		mk := b[i+1]
		switch {
		case mk == 0xFF: // fill byte
			i++
			continue
		case standalone(mk):
			i += 2
			continue
		}
		end := i + 2 + (int(b[i+2])<<8 | int(b[i+3]))
		if end > len(b) {
			return nil, false
		}
		if mk == m {
			return b[i:end], true
		}
		if mk == markerSOS {
			break
		}
		i = end
	}
	return nil, false
}
