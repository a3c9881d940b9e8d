package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// TestServeLoad is the load test of `ninedge serve` (its own step of scripts/test.sh: set
// NINEDGE_LOAD=1; NINEDGE_LOAD_DURATION, default 2m, sets how long): 200 clients at once for
// the whole time, on loopback against the real binary with its defaults. Most send ordinary
// pictures, which must all be answered 200 with the same labels every time; others send the
// issue's decompression bombs (413), 24-megapixel photos (200), or trickle their uploads at
// a byte a second (408). The process's peak resident memory must stay within its memory
// limit (what it used with the model loaded + the 128 MiB image budget + 32 MiB) and 32 MiB
// more for its code, and /metrics must count exactly the answers the clients received.
func TestServeLoad(t *testing.T) {
	if os.Getenv("NINEDGE_LOAD") == "" {
		t.Skip("the load test runs with NINEDGE_LOAD=1 (scripts/test.sh)")
	}
	duration := 2 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("NINEDGE_LOAD_DURATION")); err == nil {
		duration = d
	}
	s := startServe(t, nil, "--model", deployModel(t), "--backend", "cpu")
	addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/")
	base := s.memory(t, "VmRSS")
	bound := base + imageio.DefaultMemoryBudget + memoryHeadroom + 32<<20

	pics := streamtest.Pictures(8, 160, 120)
	normal := make([][]byte, len(pics))
	for i, p := range pics {
		if i%2 == 0 {
			normal[i] = streamtest.PNG(t, p)
		} else {
			normal[i] = streamtest.JPEG(t, p)
		}
	}
	photo := bigJPEG(t)
	var bombData [][]byte
	for _, b := range bombs() {
		bombData = append(bombData, b.data)
	}

	const normals, bombers, photographers, tricklers = 150, 30, 4, 16
	var (
		mu      sync.Mutex
		codes   = map[int]int{}
		labels  = map[int]string{} // picture -> its first answer's top
		failed  []string
		latency []time.Duration // of ordinary pictures
	)
	fail := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failed) < 20 {
			failed = append(failed, fmt.Sprintf(format, a...))
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}, Timeout: 2 * time.Minute}
	post := func(data []byte) (int, string, error) {
		resp, err := client.Post(s.url+"predict", "application/octet-stream", bytes.NewReader(data))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		mu.Lock()
		codes[resp.StatusCode]++
		mu.Unlock()
		return resp.StatusCode, string(b), err
	}
	top := regexp.MustCompile(`"top":(\[.*?\])`)
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i := range normals {
		wg.Go(func() {
			for n := 0; time.Now().Before(stop); n++ {
				k := (i + n) % len(normal)
				start := time.Now()
				code, body, err := post(normal[k])
				d := time.Since(start)
				if err != nil || code != 200 {
					fail("picture %d: %d %v %.200s", k, code, err, body)
					continue
				}
				m := top.FindStringSubmatch(body)
				mu.Lock()
				latency = append(latency, d)
				if labels[k] == "" && m != nil {
					labels[k] = m[1]
				}
				same := m != nil && labels[k] == m[1]
				mu.Unlock()
				if !same {
					fail("picture %d: %s, earlier %s", k, body, labels[k])
				}
			}
		})
	}
	for i := range bombers {
		wg.Go(func() {
			for n := 0; time.Now().Before(stop); n++ {
				if code, body, err := post(bombData[(i+n)%len(bombData)]); err != nil || code != 413 {
					fail("bomb: %d %v %.200s", code, err, body)
				}
			}
		})
	}
	for range photographers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if code, body, err := post(photo); err != nil || code != 200 {
					fail("photo: %d %v %.200s", code, err, body)
				}
			}
		})
	}
	for range tricklers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				code, err := trickleOnce(addr)
				if err != nil || code != 408 {
					fail("trickler: %d %v", code, err)
					continue
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	var peakRSS int64
	for time.Now().Before(stop) {
		time.Sleep(time.Second)
		peakRSS = max(peakRSS, s.memory(t, "VmRSS"))
	}
	wg.Wait()
	hwm := s.memory(t, "VmHWM")

	resp, err := http.Get(s.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	counted := map[int]int{}
	for _, m := range regexp.MustCompile(`(?m)^ninedge_predict_requests_total\{code="(\d+)"\} (\d+)$`).FindAllStringSubmatch(string(metrics), -1) {
		c, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		counted[c] = n
	}
	total := 0
	for _, n := range codes {
		total += n
	}
	slowest := time.Duration(0)
	for _, d := range latency {
		slowest = max(slowest, d)
	}
	t.Logf("%v, %d requests: %v; %d ordinary pictures, slowest answer %v; resident memory %.1f MiB at the start, peak %.1f MiB (VmHWM %.1f MiB)",
		duration, total, codes, len(latency), slowest, float64(base)/(1<<20), float64(peakRSS)/(1<<20), float64(hwm)/(1<<20))
	for _, f := range failed {
		t.Error(f)
	}
	if fmt.Sprint(counted) != fmt.Sprint(codes) {
		t.Errorf("/metrics counted %v, the clients received %v", counted, codes)
	}
	if hwm > bound {
		t.Errorf("peak resident memory %.1f MiB, want under %.1f MiB", float64(hwm)/(1<<20), float64(bound)/(1<<20))
	}
	if codes[200] == 0 || codes[413] == 0 || codes[408] == 0 {
		t.Errorf("some kind of client was never answered: %v", codes)
	}
}

// trickleOnce sends a POST /predict's headers and then a byte of its body a second until
// the server answers; it returns the answer's status.
func trickleOnce(addr string) (int, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := fmt.Fprint(conn, "POST /predict HTTP/1.1\r\nHost: ninedge\r\nContent-Type: image/png\r\nContent-Length: 50000\r\n\r\n"); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if _, err := conn.Write([]byte{0}); err != nil {
					return
				}
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
