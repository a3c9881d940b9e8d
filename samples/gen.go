//go:build ignore

// gen writes the small samples the demo runs on from the full MNIST files in
// ../shared/data/mnist: the first 1,000 training images (calibration) and the first 1,000
// test images (the accuracy sample) as idx files, and the first 60 test digits as an MJPEG
// stream (4× upscaled grey frames, as a camera pipe would deliver them).
//
//	go run samples/gen.go [-data ../shared/data/mnist]
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"image"
	"image/jpeg"
	"log"
	"os"
	"path/filepath"

	"github.com/ninedge/ninedge/dataset"
)

const keep = 1000

func main() {
	data := flag.String("data", "../shared/data/mnist", "folder with the MNIST idx files")
	flag.Parse()
	for _, split := range []string{"train", "test"} {
		set, err := dataset.Load("mnist", *data, split, dataset.Options{Limit: keep})
		if err != nil {
			log.Fatal(err)
		}
		prefix := map[string]string{"train": "train", "test": "t10k"}[split]
		writeIdx(filepath.Join("samples", "mnist", prefix+"-images-idx3-ubyte.gz"), 0x803, []int{set.N, 28, 28}, set.Images)
		labels := make([]byte, set.N)
		for i, l := range set.Labels {
			labels[i] = byte(l)
		}
		writeIdx(filepath.Join("samples", "mnist", prefix+"-labels-idx1-ubyte.gz"), 0x801, []int{set.N}, labels)
		if split == "test" {
			writeStream(set, 60)
		}
	}
}

func writeIdx(path string, magic uint32, dims []int, body []byte) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	binary.Write(zw, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(zw, binary.BigEndian, uint32(d))
	}
	zw.Write(body)
	zw.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

func writeStream(set *dataset.Set, n int) {
	var out bytes.Buffer
	for i := 0; i < n; i++ {
		img := image.NewGray(image.Rect(0, 0, 112, 112))
		src := set.Image(i)
		for y := 0; y < 112; y++ {
			for x := 0; x < 112; x++ {
				img.Pix[y*112+x] = src[(y/4)*28+x/4]
			}
		}
		if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: 90}); err != nil {
			log.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join("samples", "digits.mjpeg"), out.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	var labels bytes.Buffer
	for i := 0; i < n; i++ {
		labels.WriteString(set.Classes[set.Labels[i]] + "\n")
	}
	os.WriteFile(filepath.Join("samples", "digits.labels"), labels.Bytes(), 0o644)
}
