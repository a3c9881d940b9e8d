package server

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ninedge/ninedge/stream/streamtest"
)

// trickle opens a connection that sends a POST /predict's headers and then one byte of its
// body a second, as a hostile or broken client would; it returns the answer's first line
// once one comes (or "" when the connection ends without one).
func trickle(t *testing.T, addr string, stop <-chan struct{}) <-chan string {
	answer := make(chan string, 1)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer conn.Close()
		fmt.Fprint(conn, "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
		go func() {
			for {
				select {
				case <-stop:
					conn.Close()
					return
				case <-time.After(time.Second):
					if _, err := conn.Write([]byte{0}); err != nil {
						return
					}
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answer <- ""
			return
		}
		b, _ := io.ReadAll(resp.Body)
		answer <- fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
	}()
	return answer
}

// TestTricklingClients: sixteen clients sending their uploads at a byte a second hold nothing
// a normal upload needs, which is answered at once; each trickler is answered 408 once it
// falls behind the minimum rate after the grace period.
func TestTricklingClients(t *testing.T) {
	_, _, ts := newServer(t, "", 0)
	stop := make(chan struct{})
	defer close(stop)
	var answers []<-chan string
	for range 16 {
		answers = append(answers, trickle(t, ts.Listener.Addr().String(), stop))
	}
	time.Sleep(500 * time.Millisecond) // the tricklers are all in
	png := streamtest.PNG(t, streamtest.Pictures(1, 64, 48)[0])
	for i := range 3 {
		start := time.Now()
		resp, err := http.Post(ts.URL+"/predict", "image/png", bytes.NewReader(png))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if d := time.Since(start); resp.StatusCode != 200 || d > 2*time.Second {
			t.Errorf("upload %d beside 16 tricklers: %d after %v", i, resp.StatusCode, d)
		}
	}
	for i, a := range answers {
		select {
		case got := <-a:
			if !strings.HasPrefix(got, "408 ") || !strings.Contains(got, "upload slower than the minimum rate (16384 bytes/s)") {
				t.Errorf("trickler %d: %q, want 408 for its rate", i, got)
			}
		case <-time.After(uploadGrace + 5*time.Second):
			t.Fatalf("trickler %d not answered after %v", i, uploadGrace+5*time.Second)
		}
	}
}

// TestUploadMemory: uploads larger than their first stage wait in turn for the upload memory
// (here room for one at a time) instead of failing; one that cannot fit is refused at once.
func TestUploadMemory(t *testing.T) {
	const maxUpload = 1 << 20
	_, _, _, ts := serveCameras(t, Config{MaxUpload: maxUpload, UploadMemory: 1})
	big := streamtest.PNG(t, noise(400, 300)) // over probeBytes
	if len(big) <= probeBytes || len(big) > maxUpload {
		t.Fatalf("a %d-byte PNG: want (%d, %d]", len(big), probeBytes, maxUpload)
	}
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Go(func() {
			resp, err := http.Post(ts.URL+"/predict", "image/png", bytes.NewReader(big))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("upload %d: %d", i, c)
		}
	}
	resp, err := http.Post(ts.URL+"/predict", "image/png", io.MultiReader(bytes.NewReader(big), bytes.NewReader(make([]byte, maxUpload))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("an upload over --max-upload of unknown length: %d, want 413", resp.StatusCode)
	}
}

// noise is a picture that PNG cannot compress much.
func noise(w, h int) image.Image {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	x := uint32(1)
	for i := range m.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		m.Pix[i] = uint8(x)
	}
	return m
}
