// Package server is `ninedge serve`: an HTTP front for a model and, optionally, a camera. It
// shows the live picture with its current label and top-k bars on one self-contained page,
// classifies uploaded images on POST /predict with the same JSON as `ninedge classify`, and
// exposes /metrics (Prometheus) and /healthz for whatever supervises the device.
package server

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/semaphore"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/stream"
)

//go:embed page.html
var page []byte

// Defaults of Config.
const (
	DefaultMaxUpload     = 10 << 20
	DefaultUploadTimeout = time.Minute
	DefaultMinUploadRate = 16 << 10
	DefaultStaleAfter    = 10 * time.Second
)

// ReadTimeout and WriteTimeout bound a request's body and its response, for the HTTP server
// to set: without them a client that sends a body slowly to any route, or never reads a
// response, holds a goroutine (and a frame) for good. POST /predict extends both by its
// upload timeout.
const (
	ReadTimeout  = 30 * time.Second
	WriteTimeout = 30 * time.Second
)

// Config describes what a Server serves.
type Config struct {
	Labeler *infer.Labeler
	Device  backends.DeviceInfo
	Reason  string // why the backend was chosen
	Model   string // the model file, shown on the page
	// Source is the camera's spec, "" when there is none (then only /predict classifies).
	Source string
	// MaxUpload caps a POST /predict body in bytes (0: DefaultMaxUpload).
	MaxUpload int64
	// UploadTimeout is how long a POST /predict body may take to arrive, counted from the
	// end of its headers (0: DefaultUploadTimeout).
	UploadTimeout time.Duration
	// MinUploadRate is the slowest average rate, in bytes per second, at which a POST
	// /predict body may arrive after its first seconds (0: DefaultMinUploadRate).
	MinUploadRate int64
	// UploadMemory bounds the bytes of the POST /predict bodies held at once, beyond their
	// first 64 KiB (0: 4 × MaxUpload).
	UploadMemory int64
	// Token, when set, is the bearer token every route but /healthz asks for (see auth.go).
	Token string
	// StaleAfter is how long the source may send nothing before /healthz fails (0:
	// DefaultStaleAfter).
	StaleAfter time.Duration
}

// Server serves one model. The labeler is shared by the camera loop and /predict.
type Server struct {
	cfg     Config
	started time.Time
	mux     *http.ServeMux

	labMu  sync.Mutex // guards cfg.Labeler and closed
	closed bool       // the labeler's device may be gone: Close was called
	// uploadSlots and uploadMem bound the uploads served at once and the memory their bodies
	// hold (upload.go); both are taken in arrival order.
	uploadSlots *semaphore.Weighted
	uploadMem   *semaphore.Weighted
	// decodeSlot lets one upload at a time decode: an image may take the whole of
	// imageio's memory budget while it is decoded, and a small board has little to spare.
	decodeSlot chan struct{}

	mu      sync.Mutex // guards latest and picture
	latest  *stream.Result
	picture picture
	// encMu serializes encoding the latest raw frame for /frame.jpg, which happens outside
	// mu (on a small board it takes long enough to delay the camera loop and /healthz)
	// from a copy in encFrame. Taken before mu, never after.
	encMu    sync.Mutex
	encFrame *image.RGBA

	counters stream.Counters
	latency  *prometheus.HistogramVec
	requests *prometheus.CounterVec
}

// picture is the latest classified frame: its JPEG as the camera sent it, or a copy of the
// decoded frame, encoded only when somebody asks for it.
type picture struct {
	// jpeg is reused frame after frame (a camera sends 30 a second, the page asks for at
	// most 4), so handlers take a copy under mu.
	jpeg  []byte
	frame *image.RGBA
	gen   uint64 // counts frames stored, so that an encoding of an older one is not cached
	at    time.Time
}

// New builds the server and its metrics.
func New(cfg Config) *Server {
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.UploadTimeout <= 0 {
		cfg.UploadTimeout = DefaultUploadTimeout
	}
	if cfg.MinUploadRate <= 0 {
		cfg.MinUploadRate = DefaultMinUploadRate
	}
	if cfg.UploadMemory <= 0 {
		cfg.UploadMemory = 4 * cfg.MaxUpload
	}
	cfg.UploadMemory = max(cfg.UploadMemory, cfg.MaxUpload+1) // room for one upload at least
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	s := &Server{cfg: cfg, started: time.Now(), mux: http.NewServeMux(),
		uploadSlots: semaphore.NewWeighted(maxUploads), uploadMem: semaphore.NewWeighted(cfg.UploadMemory),
		decodeSlot: make(chan struct{}, 1)}
	reg := prometheus.NewRegistry()
	s.registerMetrics(reg)
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /api/latest", s.apiLatest)
	s.mux.HandleFunc("GET /frame.jpg", s.frame)
	s.mux.HandleFunc("/predict", s.predict)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	return s
}

func (s *Server) registerMetrics(reg *prometheus.Registry) {
	counter := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) })
	}
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ninedge_latency_seconds",
		Help:    "Time to a label: from a camera frame's arrival (path=stream) or from an upload's decoding (path=predict).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 12),
	}, []string{"path"})
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ninedge_predict_requests_total", Help: "POST /predict requests by status code."}, []string{"code"})
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ninedge_backend_info", Help: "The backend and device the model runs on (value 1).",
		ConstLabels: prometheus.Labels{"backend": s.cfg.Device.Backend, "device": s.cfg.Device.Name, "type": s.cfg.Device.Type,
			"driver": s.cfg.Device.Driver, "threads": strconv.Itoa(s.cfg.Device.Threads)}})
	info.Set(1)
	reg.MustRegister(
		counter("ninedge_frames_total", "Frames the source delivered.", s.counters.Frames.Load),
		counter("ninedge_frames_classified_total", "Frames classified.", s.counters.Classified.Load),
		counter("ninedge_frames_skipped_total", "Frames dropped because a newer one arrived while the network was busy.", s.counters.Skipped.Load),
		counter("ninedge_frames_bad_total", "Damaged frames and data the source skipped.", s.counters.Bad.Load),
		s.latency, s.requests, info,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
}

// Handler is the server's HTTP handler, behind the token when Config has one.
func (s *Server) Handler() http.Handler {
	if s.cfg.Token == "" {
		return s.mux
	}
	return newAuth(s.cfg.Token).wrap(s.mux)
}

// Counters are the camera loop's totals: pass them to stream.Run.
func (s *Server) Counters() *stream.Counters { return &s.counters }

// Input and Label make the server the camera loop's stream.Classifier, sharing the labeler
// with /predict.
func (s *Server) Input() nin.Shape { return s.cfg.Labeler.Input() }

func (s *Server) Label(pixels []uint8) ([]infer.Class, error) {
	s.labMu.Lock()
	defer s.labMu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	top, err := s.cfg.Labeler.Label(pixels)
	return slices.Clone(top), err
}

var errClosed = errors.New("the server is stopping")

// Close waits for the labeling in progress and refuses any later one (POST /predict answers
// 503), so that the caller can then release the model's device: handlers the HTTP server
// gave up waiting for at shutdown may still be running.
func (s *Server) Close() {
	s.labMu.Lock()
	s.closed = true
	s.labMu.Unlock()
}

// Frame records a classified camera frame: the emit function for stream.Run.
func (s *Server) Frame(f *stream.Frame, r *stream.Result) error {
	s.latency.WithLabelValues("stream").Observe(r.MS / 1000)
	res := *r
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest = &res
	s.picture.at = f.Time
	s.picture.gen++
	if f.JPEG != nil {
		s.picture.jpeg, s.picture.frame = append(s.picture.jpeg[:0], f.JPEG...), nil
		return nil
	}
	b := f.Image.Bounds()
	if s.picture.frame == nil || s.picture.frame.Rect.Size() != b.Size() {
		s.picture.frame = image.NewRGBA(image.Rectangle{Max: b.Size()})
	}
	draw.Draw(s.picture.frame, s.picture.frame.Rect, f.Image, b.Min, draw.Src)
	s.picture.jpeg = nil
	return nil
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

// latestJSON is GET /api/latest: what the page shows.
type latestJSON struct {
	Result     *stream.Result `json:"result"` // null until the first frame
	Model      string         `json:"model"`
	Source     string         `json:"source"`
	Backend    string         `json:"backend"`
	Device     string         `json:"device"`
	Reason     string         `json:"reason"`
	Frames     int64          `json:"frames"`
	Classified int64          `json:"classified"`
	Skipped    int64          `json:"skipped"`
	Bad        int64          `json:"bad"`
}

func (s *Server) apiLatest(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	l := latestJSON{Result: s.latest, Model: s.cfg.Model, Source: s.cfg.Source, Backend: s.cfg.Device.Backend,
		Device: s.cfg.Device.Name, Reason: s.cfg.Reason, Frames: s.counters.Frames.Load(),
		Classified: s.counters.Classified.Load(), Skipped: s.counters.Skipped.Load(), Bad: s.counters.Bad.Load()}
	s.mu.Unlock() // the stored result is replaced, never modified, so it can be encoded unlocked
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, l)
}

// latestJPEG is a copy of the latest frame as JPEG (nil before the first), encoding a raw
// frame once.
func (s *Server) latestJPEG() ([]byte, error) {
	s.mu.Lock()
	pic, raw := bytes.Clone(s.picture.jpeg), s.picture.frame
	s.mu.Unlock()
	if pic != nil || raw == nil {
		return pic, nil
	}
	s.encMu.Lock()
	defer s.encMu.Unlock()
	s.mu.Lock()
	if s.picture.jpeg != nil { // encoded while this request waited for encMu
		pic = bytes.Clone(s.picture.jpeg)
		s.mu.Unlock()
		return pic, nil
	}
	raw, gen := s.picture.frame, s.picture.gen
	if s.encFrame == nil || s.encFrame.Rect != raw.Rect {
		s.encFrame = image.NewRGBA(raw.Rect)
	}
	copy(s.encFrame.Pix, raw.Pix)
	s.mu.Unlock()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, s.encFrame, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.picture.gen == gen {
		s.picture.jpeg = bytes.Clone(b.Bytes()) // not b's own: a later JPEG frame reuses it
	}
	s.mu.Unlock()
	return b.Bytes(), nil
}

func (s *Server) frame(w http.ResponseWriter, r *http.Request) {
	pic, err := s.latestJPEG()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if pic == nil {
		http.Error(w, "no frame yet", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(pic)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Source != "" {
		s.mu.Lock()
		last := s.picture.at
		s.mu.Unlock()
		if last.IsZero() {
			last = s.started
		}
		if age := time.Since(last); age > s.cfg.StaleAfter {
			http.Error(w, fmt.Sprintf("no frame from %s for %.0f s", s.cfg.Source, age.Seconds()), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ok\n")
}

// predict classifies an uploaded image: the raw request body, or the first file of a
// multipart form.
func (s *Server) predict(w http.ResponseWriter, r *http.Request) {
	code, v := s.predictResult(w, r)
	s.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	writeJSON(w, code, v)
}

type errorJSON struct {
	Error string `json:"error"`
}

func failf(code int, format string, a ...any) (int, any) {
	return code, errorJSON{fmt.Sprintf(format, a...)}
}

func (s *Server) predictResult(w http.ResponseWriter, r *http.Request) (int, any) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return failf(http.StatusMethodNotAllowed, "use POST with an image as the body or as a multipart file field")
	}
	if r.ContentLength > s.cfg.MaxUpload {
		return failf(http.StatusRequestEntityTooLarge, "the upload is larger than %d bytes", s.cfg.MaxUpload)
	}
	start := time.Now()
	end := start.Add(s.cfg.UploadTimeout)
	ctx, cancel := context.WithDeadline(r.Context(), end)
	defer cancel()
	if err := s.uploadSlots.Acquire(ctx, 1); err != nil {
		return failf(http.StatusServiceUnavailable, "busy: %d other uploads are being served", maxUploads)
	}
	defer s.uploadSlots.Release(1)
	rc := http.NewResponseController(w)
	// Past the server's WriteTimeout when the body took long: the answer must still go out.
	_ = rc.SetWriteDeadline(end.Add(WriteTimeout))
	rr := &rateReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload), rc: rc, start: time.Now(), end: end, minRate: s.cfg.MinUploadRate}
	body, release, err := readBody(ctx, s.uploadMem, rr, r.ContentLength, s.cfg.MaxUpload)
	defer release()
	var name string
	var data []byte
	if err == nil {
		name, data, err = upload(body, r.Header.Get("Content-Type"))
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return failf(http.StatusRequestEntityTooLarge, "the upload is larger than %d bytes", s.cfg.MaxUpload)
	case errors.Is(err, errSlow):
		return failf(http.StatusRequestTimeout, "%v", err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return failf(http.StatusRequestTimeout, "the upload did not arrive within %v", s.cfg.UploadTimeout)
	case errors.Is(err, errBusy):
		return failf(http.StatusServiceUnavailable, "%v", err)
	case err != nil:
		return failf(http.StatusBadRequest, "%v", err)
	case len(data) == 0:
		return failf(http.StatusBadRequest, "empty upload: send a PNG, JPEG or PPM image")
	}
	s.decodeSlot <- struct{}{}
	start = time.Now()
	img, _, err := imageio.DecodeBytes(data)
	<-s.decodeSlot
	switch {
	case errors.Is(err, imageio.ErrTooLarge):
		return failf(http.StatusRequestEntityTooLarge, "%v", err)
	case err != nil:
		return failf(http.StatusUnsupportedMediaType, "not an image ninedge reads (PNG, JPEG, PPM): %v", err)
	}
	s.labMu.Lock()
	if s.closed {
		s.labMu.Unlock()
		return failf(http.StatusServiceUnavailable, "%v", errClosed)
	}
	top, err := s.cfg.Labeler.Image(img)
	top = slices.Clone(top)
	s.labMu.Unlock()
	if err != nil {
		return failf(http.StatusInternalServerError, "%v", err)
	}
	d := time.Since(start)
	s.latency.WithLabelValues("predict").Observe(d.Seconds())
	return http.StatusOK, infer.Result{Input: name, Top: top, MS: float64(d.Microseconds()) / 1000}
}

// upload reads the image of a request body: the first file part of a multipart form, or the
// whole body. name is the file name, or "body".
func upload(body []byte, contentType string) (name string, data []byte, err error) {
	mt, params, _ := mime.ParseMediaType(contentType)
	if mt != "multipart/form-data" {
		return "body", body, nil
	}
	if params["boundary"] == "" {
		return "", nil, errors.New("multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return "", nil, errors.New("the form has no file field")
		}
		if err != nil {
			return "", nil, fmt.Errorf("reading the form: %w", err)
		}
		if p.FileName() != "" || p.FormName() == "file" {
			data, err = io.ReadAll(p)
			return cmp.Or(p.FileName(), p.FormName()), data, err
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
