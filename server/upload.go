package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/semaphore"
)

// How an upload's body is read. A client that sends slowly must not hold what others need:
// the body is read in two stages.
//
//   - The first probeBytes are read into a buffer that grows with what arrives, holding no
//     slot of the upload memory: a client trickling bytes holds its connection and a few
//     hundred bytes, never what a normal upload waits for.
//   - The rest is read into memory reserved, whole, from the upload memory (Config.
//     UploadMemory, shared by all uploads, waited for in arrival order). Reserving all of
//     it at once means no two uploads can each hold part of the memory while waiting for
//     the other's.
//
// Throughout, the body must arrive at MinUploadRate on average after uploadGrace, and within
// UploadTimeout in all; a client slower than that is answered 408 and its memory freed.
const (
	probeBytes  = 64 << 10
	uploadGrace = 5 * time.Second
)

// maxUploads bounds the POST /predict requests served at once (their first stage holds at
// most probeBytes each); more wait, until their upload timeout (503).
const maxUploads = 256

// errSlow is what a body that arrives slower than the minimum rate ends with.
var errSlow = errors.New("upload slower than the minimum rate")

// rateReader reads a request body under a read deadline that moves with what has arrived:
// start + uploadGrace + read/minRate, and never later than end.
type rateReader struct {
	r       io.Reader
	rc      *http.ResponseController
	start   time.Time
	end     time.Time
	minRate int64 // bytes per second
	read    int64
}

func (b *rateReader) deadline() time.Time {
	d := b.start.Add(uploadGrace + time.Duration(float64(b.read)/float64(b.minRate)*float64(time.Second)))
	if d.After(b.end) {
		return b.end
	}
	return d
}

func (b *rateReader) Read(p []byte) (int, error) {
	d := b.deadline()
	if err := b.rc.SetReadDeadline(d); err != nil {
		return 0, err
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	if errors.Is(err, os.ErrDeadlineExceeded) && d.Before(b.end) {
		err = fmt.Errorf("%w (%d bytes/s): %d bytes in %.1f s", errSlow, b.minRate, b.read, time.Since(b.start).Seconds())
	}
	return n, err
}

// readBody reads a request's body of size bytes (-1: unknown, then at most limit) through rr.
// release gives back the upload memory the body holds, once it is no longer needed.
func readBody(ctx context.Context, mem *semaphore.Weighted, rr *rateReader, size, limit int64) (data []byte, release func(), err error) {
	release = func() {}
	want := size
	if want < 0 {
		want = limit + 1 // one byte more makes http.MaxBytesReader report the excess
	}
	buf := make([]byte, 0, min(want, 512))
	for int64(len(buf)) < min(want, probeBytes) {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rr.Read(buf[len(buf):min(int64(cap(buf)), want, probeBytes)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, release, nil
		}
		if err != nil {
			return nil, release, err
		}
	}
	if int64(len(buf)) == size {
		return buf, release, nil
	}
	rest := want - int64(len(buf))
	waited := time.Now()
	if err := mem.Acquire(ctx, rest); err != nil {
		return nil, release, fmt.Errorf("%w: waiting for upload memory: %w", errBusy, err)
	}
	rr.start = rr.start.Add(time.Since(waited)) // waiting is not the client's slowness
	release = func() { mem.Release(rest) }
	full := make([]byte, len(buf), want)
	copy(full, buf)
	for int64(len(full)) < want {
		n, err := rr.Read(full[len(full):want])
		full = full[:len(full)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			release()
			return nil, func() {}, err
		}
	}
	return full, release, nil
}

var errBusy = errors.New("busy")
