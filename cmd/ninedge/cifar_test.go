package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"github.com/ninedge/ninedge/caffe/caffetest"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/dataset/datasettest"
)

// TestStreamCIFAR10 plays CIFAR-10 test images as a 30 fps camera (640×480 MJPEG on a pipe,
// each picture enlarged into the middle of the frame) through `ninedge stream` with the
// authors' model in int8 on the CPU, and states what it kept up with. It checks that skips
// are reported honestly (every frame is classified or counted as skipped) and that the
// labels are right, which only holds when the camera path keeps colours and geometry.
func TestStreamCIFAR10(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: imports and converts the CIFAR-10 model")
	}
	set, err := dataset.Load("cifar10", datasettest.Dir(t, "cifar10"), "test", dataset.Options{Limit: 300})
	if err != nil {
		t.Fatal(err)
	}
	g := caffetest.CIFAR10Int8(t, 100)
	path := filepath.Join(t.TempDir(), "cifar10-int8.safetensors")
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}

	const fps, seconds = 30, 6
	frames := make([][]byte, fps*seconds)
	for i := range frames {
		frames[i] = cameraFrame(t, set.Image(i%set.N), set.W, set.H)
	}
	pr, pw := io.Pipe()
	go func() { // the camera: frame i is written at i/30 s
		start := time.Now()
		for i, f := range frames {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / fps)))
			if _, err := pw.Write(f); err != nil {
				return
			}
		}
		pw.Close()
	}()
	var errs syncBuffer
	code, out := ninedge(context.Background(), pr, &errs, "stream", "--model", path, "--backend", "cpu", "--source", "-", "--json", "--stats", "2s")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errs.String())
	}
	rs := frameLines(t, out)
	var skipped int64
	correct := 0
	for _, r := range rs {
		skipped += r.Skipped
		if int32(r.Top[0].Class) == set.Labels[r.Frame%set.N] {
			correct++
		}
	}
	t.Logf("%d frames at %d fps: %d classified, %d skipped; top-1 %.1f%% of the classified frames\n%s",
		len(frames), fps, len(rs), skipped, 100*float64(correct)/float64(len(rs)), errs.String())
	if int64(len(rs))+skipped != int64(len(frames)) {
		t.Errorf("%d classified + %d skipped ≠ %d frames sent", len(rs), skipped, len(frames))
	}
	if acc := float64(correct) / float64(len(rs)); acc < 0.8 {
		t.Errorf("top-1 %.1f%% on camera frames; the model scores about 89%% on the images themselves", 100*acc)
	}
}

// cameraFrame draws a w×h HWC picture enlarged to 480×480 in the middle of a grey 640×480
// frame (what the Fitter's centre crop recovers) and encodes it as a camera would.
func cameraFrame(t *testing.T, px []uint8, w, h int) []byte {
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		src.Pix[4*i], src.Pix[4*i+1], src.Pix[4*i+2], src.Pix[4*i+3] = px[3*i], px[3*i+1], px[3*i+2], 255
	}
	frame := image.NewRGBA(image.Rect(0, 0, 640, 480))
	draw.Draw(frame, frame.Rect, image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	draw.CatmullRom.Scale(frame, image.Rect(80, 0, 560, 480), src, src.Rect, draw.Src, nil)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, frame, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
