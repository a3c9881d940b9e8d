package infer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ninedge/ninedge/internal/infile"
	"github.com/ninedge/ninedge/nin"
)

// ErrLiveClosed is returned by Live.Do and Live.Reload after Close.
var ErrLiveClosed = errors.New("the model is closed: the program is stopping")

// ModelInfo identifies the model a Live serves.
type ModelInfo struct {
	Path   string
	SHA256 string    // of the file as it was read for this load
	Loaded time.Time // when it started serving
}

// Live is a labeler whose model can be replaced while it serves (a reload on SIGHUP or an HTTP
// request): the new file is loaded, checked on a probe picture (and verified against the
// reference executor when the opener's labeler verifies) while the old model keeps serving;
// only a model that passes replaces it. A labeling in progress finishes on the old model,
// whose plan is closed after it; one that starts later runs on the new one. No labeling
// fails because of a reload, and a bad new file leaves the old model serving.
type Live struct {
	path string
	open func() (*Labeler, *Classifier, error)

	mu     sync.Mutex // guards cur and closed
	cur    *generation
	closed bool

	reload sync.Mutex // one reload at a time
}

// generation is one loaded model.
type generation struct {
	mu      sync.Mutex // held while its labeler runs: a Labeler serves one call at a time
	lab     *Labeler
	c       *Classifier
	info    ModelInfo
	retired bool // replaced (or closed): its plan is gone
}

// NewLive loads the first model with open, which must read path: reloads call it again.
func NewLive(path string, open func() (*Labeler, *Classifier, error)) (*Live, error) {
	l := &Live{path: path, open: open}
	g, err := l.load()
	if err != nil {
		return nil, err
	}
	l.cur = g
	return l, nil
}

// load hashes the file, opens it and checks the new labeler on a probe picture (its first
// verification against the reference executor, when the labeler verifies).
func (l *Live) load() (*generation, error) {
	sum, err := fileSHA256(l.path)
	if err != nil {
		return nil, err
	}
	lab, c, err := l.open()
	if err != nil {
		return nil, err
	}
	if _, err := lab.Label(probe(lab.Input().Size())); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%s: the model fails on a probe picture: %w", l.path, err)
	}
	return &generation{lab: lab, c: c, info: ModelInfo{Path: l.path, SHA256: sum, Loaded: time.Now()}}, nil
}

func fileSHA256(path string) (string, error) {
	f, err := infile.Open(path) // a FIFO is refused, not waited on
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// probe is a picture that exercises every input value range: a ramp over the pixels.
func probe(n int) []uint8 {
	p := make([]uint8, n)
	for i := range p {
		p[i] = uint8(i * 7)
	}
	return p
}

// Do runs f with the current model's labeler, alone: the labeler and the slices it returns
// are f's until it returns.
func (l *Live) Do(f func(*Labeler) error) error {
	for {
		l.mu.Lock()
		g, closed := l.cur, l.closed
		l.mu.Unlock()
		if closed {
			return ErrLiveClosed
		}
		g.mu.Lock()
		if g.retired { // replaced between the two locks: take the new one
			g.mu.Unlock()
			continue
		}
		err := f(g.lab)
		g.mu.Unlock()
		return err
	}
}

// Info describes the model serving now.
func (l *Live) Info() ModelInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur.info
}

// Reload loads the model file again and, if it loads and passes its checks, swaps it in,
// returning its description; otherwise the old model keeps serving and the error says why.
// The new model must take the same input as the old: the camera loops fit their frames to it.
func (l *Live) Reload() (ModelInfo, error) {
	l.reload.Lock()
	defer l.reload.Unlock()
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ModelInfo{}, ErrLiveClosed
	}
	g, err := l.load()
	if err != nil {
		return ModelInfo{}, err
	}
	oldIn, in := l.cur.lab.Input(), g.lab.Input()
	if in != oldIn {
		_ = g.c.Close()
		return ModelInfo{}, fmt.Errorf("%s takes %dx%dx%d pictures, the model serving takes %dx%dx%d: restart to change the input",
			l.path, in.W, in.H, in.C, oldIn.W, oldIn.H, oldIn.C)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = g.c.Close()
		return ModelInfo{}, ErrLiveClosed
	}
	prev := l.cur
	g.info.Loaded = time.Now()
	l.cur = g
	l.mu.Unlock()
	prev.retire()
	return g.info, nil
}

// retire waits for the labeling in progress on g and closes its plan.
func (g *generation) retire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.retired {
		g.retired = true
		_ = g.c.Close()
	}
}

// Close waits for the labeling in progress, closes the model and refuses later calls.
func (l *Live) Close() {
	l.mu.Lock()
	l.closed = true
	g := l.cur
	l.mu.Unlock()
	g.retire()
}

// Input is the picture shape the model takes; a reload never changes it.
func (l *Live) Input() nin.Shape {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur.lab.Input()
}

// Handle labels through a Live for one goroutine (a camera loop): its answer is copied out of
// the model's buffers, which a reload may close, into the handle's own, reused by the next
// call. It is the stream.Classifier of a model that reloads.
type Handle struct {
	l   *Live
	top []Class
}

// Handle returns a new handle on l.
func (l *Live) Handle() *Handle { return &Handle{l: l} }

// Input is the picture shape the model takes.
func (h *Handle) Input() nin.Shape { return h.l.Input() }

// Label labels pixels fitted to Input; the slice is valid until the next call.
func (h *Handle) Label(pixels []uint8) ([]Class, error) {
	err := h.l.Do(func(lab *Labeler) error {
		top, err := lab.Label(pixels)
		h.top = append(h.top[:0], top...)
		return err
	})
	return h.top, err
}
