// Package streamtest gives the edge runtime's tests a small int8 model and pictures to feed
// it: a random NIN with a CIFAR-sized input converted through the real calibration path, and
// distinct synthetic pictures encoded as the sources deliver them.
package streamtest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	_ "github.com/ninedge/ninedge/backends/cpu" // the backend Labeler runs on
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/quanttest"
)

// Graph returns a small int8 NIN (32×32×3 input, 10 classes, two mlpconv blocks) with random
// weights: fast enough to classify thousands of frames in a test.
func Graph(t testing.TB) *quant.Graph {
	t.Helper()
	return GraphSeed(t, 7)
}

// GraphSeed is Graph with other random weights: another model of the same shape.
func GraphSeed(t testing.TB, seed uint64) *quant.Graph {
	t.Helper()
	s, err := nin.Expand("tiny-cifar", nin.Shape{H: 32, W: 32, C: 3}, 10, []nin.Block{
		{Out: []int{16, 16}, Kernel: 5, Pad: 2, Pool: "max", Size: 3, Step: 2},
		{Out: []int{24, 10}, Kernel: 3, Pad: 1, Pool: "global"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return quanttest.Graph(t, s, seed)
}

// ModelFile saves Graph in dir and returns its path.
func ModelFile(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "tiny-int8.safetensors")
	if err := Graph(t).Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Labeler labels with g on one CPU thread, verifying nothing.
func Labeler(t testing.TB, g *quant.Graph, k int) *infer.Labeler {
	t.Helper()
	s, err := infer.NewInt8(g, infer.Options{Backend: "cpu", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	lab, err := infer.NewLabeler(s, k, 0)
	if err != nil {
		t.Fatal(err)
	}
	return lab
}

// Pictures returns n distinct w×h pictures: colour gradients with a square whose place,
// size and colour change with the index, so that a network with random weights still gives
// each its own scores.
func Pictures(n, w, h int) []*image.RGBA {
	out := make([]*image.RGBA, n)
	for i := range out {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		x0, y0, side := (i*37)%(w/2), (i*23)%(h/2), h/4+(i*7)%(h/4)
		for y := range h {
			for x := range w {
				c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(i * 40), 255}
				if x >= x0 && x < x0+side && y >= y0 && y < y0+side {
					c = color.RGBA{uint8(255 - i*30), uint8(i * 60), 200, 255}
				}
				m.SetRGBA(x, y, c)
			}
		}
		out[i] = m
	}
	return out
}

// JPEG encodes img at quality 90.
func JPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// JPEGs encodes each picture with JPEG.
func JPEGs(t testing.TB, pics []*image.RGBA) [][]byte {
	t.Helper()
	out := make([][]byte, len(pics))
	for i, p := range pics {
		out[i] = JPEG(t, p)
	}
	return out
}

// PNG encodes img.
func PNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// RGB24 returns img's pixels as packed RGB24.
func RGB24(img *image.RGBA) []byte {
	b := img.Bounds()
	out := make([]byte, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			p := img.RGBAAt(x, y)
			out = append(out, p.R, p.G, p.B)
		}
	}
	return out
}

// WriteFile writes data to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// FFmpegMJPEG encodes pictures with ffmpeg, as a camera pipeline would: it returns the MJPEG
// stream (`-f mjpeg`) and the same frames as separate JPEG files' contents. It skips the test
// when ffmpeg is absent.
func FFmpegMJPEG(t testing.TB, pictures []*image.RGBA) (stream []byte, frames [][]byte) {
	t.Helper()
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	dir := t.TempDir()
	for i, p := range pictures {
		WriteFile(t, dir, fmt.Sprintf("in%03d.png", i), PNG(t, p))
	}
	run := func(args ...string) {
		args = append([]string{"-hide_banner", "-loglevel", "error", "-f", "image2", "-i", filepath.Join(dir, "in%03d.png"), "-q:v", "3"}, args...)
		if out, err := exec.Command(ff, args...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}
	run("-f", "mjpeg", filepath.Join(dir, "all.mjpeg"))
	run("-f", "image2", filepath.Join(dir, "out%03d.jpg"))
	stream, err = os.ReadFile(filepath.Join(dir, "all.mjpeg"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range pictures {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out%03d.jpg", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, b)
	}
	return stream, frames
}

// Live serves g from a model file in a temporary folder, on one CPU thread with k classes per
// answer, as serve does; it returns the file's path for reloads.
func Live(t testing.TB, g *quant.Graph, k int) (*infer.Live, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model-int8.safetensors")
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	l, err := infer.NewLive(path, func() (*infer.Labeler, *infer.Classifier, error) {
		c, err := infer.OpenInt8(path, infer.Options{Backend: "cpu", Threads: 1})
		if err != nil {
			return nil, nil, err
		}
		lab, err := infer.NewLabeler(c, k, 0)
		if err != nil {
			_ = c.Close()
			return nil, nil, err
		}
		return lab, c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l, path
}
