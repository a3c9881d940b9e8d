package stream

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// openHTTP reads MJPEG over HTTP: a multipart/x-mixed-replace response with one JPEG per
// part, as IP cameras and mjpg-streamer send. The parts are found by their JPEG markers
// rather than by the multipart boundary: cameras get the multipart framing wrong often enough
// (a boundary that differs from the header's, missing line breaks) and the part headers are
// then just bytes between frames. Every wait is bounded: connecting, the
// response headers, and each read of the body, so a camera that stalls ends the stream with
// an error instead of hanging it.
func openHTTP(url string, opt SourceOptions) (Source, error) {
	timeout := opt.timeout()
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}}
	ctx, cancel := context.WithCancel(context.Background())
	name := Redacted(url)
	detach := func() bool { return true }
	if opt.Cancel != nil {
		detach = context.AfterFunc(opt.Cancel, cancel)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		detach()
		cancel()
		return nil, fmt.Errorf("source: %w", err)
	}
	resp, err := client.Do(req)
	// Once detached, a stop no longer cancels the request: Close does. A stop that came
	// first has cancelled it, even if the response had already arrived.
	if !detach() {
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		return nil, fmt.Errorf("source %s: %w", name, ErrStopped)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("source: %w", err)
	}
	if err := checkMJPEGResponse(resp); err != nil {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("source %s: %w", name, err)
	}
	body := &idleReader{r: resp.Body, timeout: timeout, cancel: cancel}
	body.timer = time.AfterFunc(time.Hour, body.expire)
	body.timer.Stop()
	return &live{Source: newMJPEG(body, name, opt.maxFrame(), true), name: name, timeout: timeout, camera: true}, nil
}

func checkMJPEGResponse(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP status %s", resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case ct == "":
		return nil // some cameras send none; the JPEG markers will tell
	case err != nil:
		return fmt.Errorf("Content-Type %q: %w", ct, err)
	case strings.HasPrefix(mt, "multipart/"), mt == "image/jpeg", mt == "video/x-motion-jpeg", mt == "application/octet-stream":
		return nil
	}
	return fmt.Errorf("Content-Type %q is not an MJPEG stream (want multipart/x-mixed-replace with JPEG parts)", ct)
}

// idleReader fails a Read that waits longer than timeout, by cancelling the request.
type idleReader struct {
	r       io.ReadCloser
	timeout time.Duration
	cancel  context.CancelFunc
	timer   *time.Timer
	expired atomic.Bool
}

func (b *idleReader) expire() {
	b.expired.Store(true)
	b.cancel()
}

func (b *idleReader) Read(p []byte) (int, error) {
	b.timer.Reset(b.timeout)
	n, err := b.r.Read(p)
	b.timer.Stop()
	if err != nil && b.expired.Load() {
		err = fmt.Errorf("no data for %v", b.timeout)
	}
	return n, err
}

func (b *idleReader) Close() error {
	b.timer.Stop()
	b.cancel()
	return b.r.Close()
}
