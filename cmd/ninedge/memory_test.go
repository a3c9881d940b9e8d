package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ninedge/ninedge/caffe/caffetest"
	"github.com/ninedge/ninedge/imageio/imageiotest"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// bombs are the decompression bombs: half a megabyte or less each, and 1.5 GiB, 960
// MiB and 512 MiB to decode with the standard library.
func bombs() []struct {
	name string
	data []byte
} {
	return []struct {
		name string
		data []byte
	}{
		{"cmyk.jpg", imageiotest.ProgressiveJPEG(8192, 8192, 4)},
		{"progressive.jpg", imageiotest.ProgressiveJPEG(8192, 8192, 3)},
		{"interlaced.png", imageiotest.InterlacedPNG(8192, 8192)},
	}
}

// bigJPEG is a large image the default budget decodes: a 24-megapixel baseline 4:2:0 JPEG,
// what a camera writes.
func bigJPEG(t *testing.T) []byte {
	m := image.NewYCbCr(image.Rect(0, 0, 6000, 4000), image.YCbCrSubsampleRatio420)
	for i := range m.Y {
		m.Y[i] = uint8(i % 6000 / 24)
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i/3000%256), 128
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// deployModel is the model a deployment runs: the CIFAR-10 int8 model where the shared data
// is present (its ZCA matrix alone is 36 MiB), else the small test model.
func deployModel(t *testing.T) string {
	if testing.Short() {
		_, m, _ := model(t)
		return m
	}
	path := filepath.Join(t.TempDir(), "cifar10-int8.safetensors")
	if err := caffetest.CIFAR10Int8(t, 100).Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

const maxServeRSS = 256 << 20

// TestServeImageMemory posts the bombs and a 24-megapixel photo to a real `ninedge serve`
// with the default budget: the bombs are refused (413) before they are decoded, the photo is
// classified, and the process's peak resident memory stays under 256 MiB; the memory of the
// large decode goes back to the system after it.
func TestServeImageMemory(t *testing.T) {
	m := deployModel(t)
	s := startServe(t, nil, "--model", m, "--backend", "cpu")
	post := func(data []byte) (int, string) {
		resp, err := http.Post(s.url+"predict", "application/octet-stream", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	base := s.memory(t, "VmRSS")
	for _, b := range bombs() {
		code, body := post(b.data)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "more than the image memory budget of 128 MiB") {
			t.Errorf("%s (%d bytes): %d %s", b.name, len(b.data), code, body)
		}
	}
	photo := bigJPEG(t)
	code, body := post(photo)
	if code != 200 || !strings.Contains(body, `"top"`) {
		t.Errorf("a 24-megapixel JPEG: %d %s", code, body)
	}
	small := streamtest.PNG(t, streamtest.Pictures(1, 64, 48)[0])
	if code, body := post(small); code != 200 {
		t.Errorf("a small PNG: %d %s", code, body)
	}
	peak := s.memory(t, "VmHWM")
	t.Logf("serve: resident %.1f MiB before the uploads, peak %.1f MiB", float64(base)/(1<<20), float64(peak)/(1<<20))
	if peak > maxServeRSS {
		t.Errorf("peak resident memory %.1f MiB, want under %d MiB", float64(peak)/(1<<20), maxServeRSS>>20)
	}
	// The decoder's memory goes back within a few seconds (imageio's release after a large
	// decode; the memory limit).
	var rss int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if rss = s.memory(t, "VmRSS"); rss < base+(peak-base)/2 {
			break
		}
	}
	t.Logf("serve: resident %.1f MiB after", float64(rss)/(1<<20))
	if rss >= base+(peak-base)/2 {
		t.Errorf("resident memory %.1f MiB 10 s after a peak of %.1f MiB (%.1f MiB before)", float64(rss)/(1<<20), float64(peak)/(1<<20), float64(base)/(1<<20))
	}
	resp, err := http.Get(s.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{`ninedge_predict_requests_total{code="200"} 2`, `ninedge_predict_requests_total{code="413"} 3`} {
		if !strings.Contains(string(metrics), w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

// TestImageMemoryFlag: classify reports a refused image and exits 1, labelling the others;
// stream counts it as a bad frame; --image-memory moves the line.
func TestImageMemoryFlag(t *testing.T) {
	dir, m, g := model(t)
	good := streamtest.PNG(t, streamtest.Pictures(1, 64, 48)[0])
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodPath := write("a-good.png", good)
	bombPath := write("b-bomb.jpg", bombs()[0].data)
	photoPath := write("photo.jpg", streamtest.JPEG(t, streamtest.Pictures(1, 1000, 800)[0]))
	cmykPath := write("cmyk.jpg", imageiotest.ProgressiveJPEG(4096, 4096, 4)) // 385 MiB to decode
	tests := []struct {
		args   []string
		code   int
		out    int    // lines on stdout
		stderr string // contained
	}{
		{[]string{"classify", "--model", m, goodPath, bombPath}, 1, 1,
			"b-bomb.jpg: imageio: image too large: decoding a 8192×8192 progressive CMYK jpeg takes about 1.5 GiB, more than the image memory budget of 128 MiB"},
		{[]string{"classify", "--model", m, "--image-memory", "1MiB", photoPath}, 1, 0, "more than the image memory budget of 1 MiB"},
		{[]string{"classify", "--model", m, "--image-memory", "8M", photoPath}, 0, 1, ""},
		{[]string{"classify", "--model", m, cmykPath}, 1, 0, "takes about 384.2 MiB"},
		{[]string{"classify", "--model", m, "--image-memory", "0.5GiB", cmykPath}, 0, 1, ""},
		{[]string{"classify", "--model", m, "--image-memory", "lots", goodPath}, 2, 0, `"lots": want a size such as 128MiB`},
		{[]string{"classify", "--model", m, "--image-memory", "0", goodPath}, 2, 0, "want a size"},
		{[]string{"stream", "--model", m, "--source", dir, "--every-frame", "--json"}, 1, 2, "damaged frames in the source: 2"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[3:], " "), func(t *testing.T) {
			code, out, errs := cmd(nil, tt.args...)
			if code != tt.code || len(lines(out)) != tt.out || !strings.Contains(errs, tt.stderr) {
				t.Errorf("exit %d, %d lines, stderr %q; want %d, %d lines and %q", code, len(lines(out)), errs, tt.code, tt.out, tt.stderr)
			}
		})
	}
	// classify's line for the good image is what it was without the bomb beside it.
	_, out, _ := cmd(nil, "classify", "--model", m, "--json", goodPath, bombPath)
	var r infer.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil || fmt.Sprint(r.Top) != fmt.Sprint(want(t, g, 5, good)[0]) {
		t.Errorf("%v: %s", err, out)
	}
	if !regexp.MustCompile(`^\S+a-good.png$`).MatchString(r.Input) {
		t.Errorf("input %q", r.Input)
	}
}
