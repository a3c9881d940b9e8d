// Package imageiotest writes the images that test a decoder's memory budget: small files
// that declare large pictures and decode to them (decompression bombs), in the encodings
// that cost a decoder most. The standard library encoders write neither progressive JPEG nor
// interlaced PNG, so these are written here, byte by byte.
package imageiotest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// ProgressiveJPEG is a valid progressive JPEG of w×h uniform pixels with comps components
// (1 grey, 3 YCbCr with a JFIF header, 4 CMYK with an Adobe header), each sampled 1×1: a DC
// scan whose every block codes a zero difference in one bit, and no AC scan. It is about
// w·h·comps/512 bytes (0.5 MB for 8192×8192 CMYK), and image/jpeg decodes it to a full
// picture after allocating 4 bytes of coefficients per sample.
func ProgressiveJPEG(w, h, comps int) []byte {
	var b bytes.Buffer
	segment := func(marker byte, data ...byte) {
		b.Write([]byte{0xff, marker})
		binary.Write(&b, binary.BigEndian, uint16(len(data)+2))
		b.Write(data)
	}
	b.Write([]byte{0xff, 0xd8})
	switch comps {
	case 3:
		segment(0xe0, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0)
	case 4:
		segment(0xee, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0) // transform 0: CMYK
	}
	dqt := make([]byte, 65)
	for i := 1; i < 65; i++ {
		dqt[i] = 1
	}
	segment(0xdb, dqt...)
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(comps)}
	for c := range comps {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	segment(0xc2, sof...)
	// DC table 0: one code, "0", for difference category 0.
	dht := append([]byte{0x00, 1}, make([]byte, 15)...)
	segment(0xc4, append(dht, 0)...)
	sos := []byte{byte(comps)}
	for c := range comps {
		sos = append(sos, byte(c+1), 0x00)
	}
	segment(0xda, append(sos, 0, 0, 0)...) // Ss 0, Se 0, Ah Al 0: the first DC scan
	blocks := ((w + 7) / 8) * ((h + 7) / 8) * comps
	b.Write(make([]byte, (blocks+7)/8))
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}

// InterlacedPNG is a valid Adam7-interlaced 8-bit RGBA PNG of w×h transparent pixels: the
// filtered rows of its seven passes, all zeros, compress to about 1/1000 of the picture.
func InterlacedPNG(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	chunk("IHDR", append(ihdr, 8, 6, 0, 0, 1))
	var idat bytes.Buffer
	z, _ := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	// Adam7: the passes' starting pixel and step, across and down.
	passes := [7][4]int{{0, 8, 0, 8}, {4, 8, 0, 8}, {0, 4, 4, 8}, {2, 4, 0, 4}, {0, 2, 2, 4}, {1, 2, 0, 2}, {0, 1, 1, 2}}
	var row []byte
	for _, p := range passes {
		pw, ph := (w-p[0]+p[1]-1)/p[1], (h-p[2]+p[3]-1)/p[3]
		if pw <= 0 || ph <= 0 {
			continue
		}
		if cap(row) < 1+4*pw {
			row = make([]byte, 1+4*pw)
		}
		for range ph {
			z.Write(row[:1+4*pw]) // filter type 0, then zero samples
		}
	}
	z.Close()
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}
