// Package server is `ninedge serve`: an HTTP front for a model and, optionally, cameras. It
// shows each camera's live picture with its current label and top-k bars on one
// self-contained page, classifies uploaded images on POST /predict with the same JSON as
// `ninedge classify`, reloads the model on POST /api/reload, and exposes /metrics
// (Prometheus) and /healthz for whatever supervises the device.
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
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	// Live is the model, shared by the camera loop and /predict, and reloaded in place.
	Live   *infer.Live
	Device backends.DeviceInfo
	Reason string // why the backend was chosen
	Model  string // the model file, shown on the page
	// Cameras are the camera loop's sources, none when only /predict classifies.
	Cameras []Camera
	// Log receives what a reload did (nil: nothing).
	Log io.Writer
	// Collectors are more metrics for /metrics (the MQTT publisher's).
	Collectors []prometheus.Collector
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

// Camera is one camera the server shows.
type Camera struct {
	Name   string // in URLs (?camera=NAME) and metrics (camera="NAME")
	Source string // its spec without password, for the page and /healthz
	// Counters are its loop's (and its source's) totals; nil: the server makes them.
	Counters *stream.Counters
}

// Server serves one model and its cameras.
type Server struct {
	cfg     Config
	started time.Time
	mux     *http.ServeMux

	// uploadSlots and uploadMem bound the uploads served at once and the memory their bodies
	// hold (upload.go); both are taken in arrival order.
	uploadSlots *semaphore.Weighted
	uploadMem   *semaphore.Weighted
	// decodeSlot lets one upload at a time decode: an image may take the whole of
	// imageio's memory budget while it is decoded, and a small board has little to spare.
	decodeSlot chan struct{}

	feeds  []*feed
	byName map[string]*feed
	cam    *infer.Handle // the camera loop's

	latency   *prometheus.HistogramVec
	requests  *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	modelInfo *prometheus.GaugeVec
}

// feed is one camera's latest result and picture, and its counters.
type feed struct {
	Camera

	mu      sync.Mutex // guards latest and picture
	latest  *stream.Result
	picture picture
	// encMu serializes encoding the latest raw frame for /frame.jpg, which happens outside
	// mu (on a small board it takes long enough to delay the camera loop and /healthz)
	// from a copy in encFrame. Taken before mu, never after.
	encMu    sync.Mutex
	encFrame *image.RGBA
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
		decodeSlot: make(chan struct{}, 1), byName: map[string]*feed{}, cam: cfg.Live.Handle()}
	for _, c := range cfg.Cameras {
		f := &feed{Camera: c}
		if f.Counters == nil {
			f.Counters = new(stream.Counters)
		}
		s.feeds = append(s.feeds, f)
		s.byName[c.Name] = f
	}
	reg := prometheus.NewRegistry()
	s.registerMetrics(reg)
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /api/latest", s.apiLatest)
	s.mux.HandleFunc("GET /frame.jpg", s.frame)
	s.mux.HandleFunc("/predict", s.predict)
	s.mux.HandleFunc("POST /api/reload", s.apiReload)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	return s
}

func (s *Server) registerMetrics(reg *prometheus.Registry) {
	counter := func(camera, name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"camera": camera}},
			func() float64 { return float64(v()) })
	}
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ninedge_latency_seconds",
		Help:    "Time to a label: from a camera frame's arrival (path=stream) or from an upload's decoding (path=predict).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 12),
	}, []string{"path", "camera"})
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ninedge_predict_requests_total", Help: "POST /predict requests by status code."}, []string{"code"})
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ninedge_model_reloads_total", Help: "Model reloads (SIGHUP, POST /api/reload) by result: ok, or error (the old model kept serving)."}, []string{"result"})
	s.reloads.WithLabelValues("ok")
	s.reloads.WithLabelValues("error")
	s.modelInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ninedge_model_info", Help: "The model file serving and its SHA-256 (value 1)."}, []string{"file", "sha256"})
	s.setModelInfo()
	loaded := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ninedge_model_loaded_timestamp_seconds", Help: "When the model serving was loaded (Unix time)."},
		func() float64 { return float64(s.cfg.Live.Info().Loaded.UnixMilli()) / 1000 })
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ninedge_backend_info", Help: "The backend and device the model runs on (value 1).",
		ConstLabels: prometheus.Labels{"backend": s.cfg.Device.Backend, "device": s.cfg.Device.Name, "type": s.cfg.Device.Type,
			"driver": s.cfg.Device.Driver, "threads": strconv.Itoa(s.cfg.Device.Threads)}})
	info.Set(1)
	for _, f := range s.feeds {
		c := f.Counters
		reg.MustRegister(
			counter(f.Name, "ninedge_frames_total", "Frames the camera delivered.", c.Frames.Load),
			counter(f.Name, "ninedge_frames_classified_total", "Frames classified.", c.Classified.Load),
			counter(f.Name, "ninedge_frames_skipped_total", "Frames dropped because a newer one arrived while the network was busy.", c.Skipped.Load),
			counter(f.Name, "ninedge_frames_bad_total", "Damaged frames and data the source skipped.", c.Bad.Load),
			counter(f.Name, "ninedge_source_reconnects_total", "Times the camera's connection (or its ffmpeg) was lost and started again.", c.Reconnects.Load))
	}
	reg.MustRegister(s.latency, s.requests, s.reloads, s.modelInfo, loaded, info,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	reg.MustRegister(s.cfg.Collectors...)
}

func (s *Server) setModelInfo() {
	i := s.cfg.Live.Info()
	s.modelInfo.Reset()
	s.modelInfo.WithLabelValues(filepath.Base(i.Path), i.SHA256).Set(1)
}

// Handler is the server's HTTP handler, behind the token when Config has one.
func (s *Server) Handler() http.Handler {
	if s.cfg.Token == "" {
		return s.mux
	}
	return newAuth(s.cfg.Token).wrap(s.mux)
}

// Counters are a camera's totals, to pass to stream.RunCameras (nil for an unknown camera).
func (s *Server) Counters(camera string) *stream.Counters {
	if f := s.byName[camera]; f != nil {
		return f.Counters
	}
	return nil
}

// Input and Label make the server the camera loop's stream.Classifier, sharing the model
// with /predict.
func (s *Server) Input() nin.Shape { return s.cam.Input() }

func (s *Server) Label(pixels []uint8) ([]infer.Class, error) { return s.cam.Label(pixels) }

// Close waits for the labeling in progress and refuses any later one (POST /predict answers
// 503), so that the caller can then release the model's device: handlers the HTTP server
// gave up waiting for at shutdown may still be running.
func (s *Server) Close() { s.cfg.Live.Close() }

// Reload loads the model file again (see infer.Live.Reload), counts the outcome and says it
// on Log: SIGHUP and POST /api/reload both come here.
func (s *Server) Reload() (infer.ModelInfo, error) {
	info, err := s.cfg.Live.Reload()
	if err != nil {
		s.reloads.WithLabelValues("error").Inc()
		s.logf("ninedge serve: reloading the model failed, the old one keeps serving: %v\n", err)
		return info, err
	}
	s.reloads.WithLabelValues("ok").Inc()
	s.setModelInfo()
	s.logf("ninedge serve: model reloaded: %s (sha256 %s)\n", info.Path, info.SHA256)
	return info, nil
}

func (s *Server) logf(format string, a ...any) {
	if s.cfg.Log != nil {
		fmt.Fprintf(s.cfg.Log, format, a...)
	}
}

// reloadJSON is POST /api/reload's answer.
type reloadJSON struct {
	Model  string    `json:"model"`
	SHA256 string    `json:"sha256"`
	Loaded time.Time `json:"loaded"`
}

func (s *Server) apiReload(w http.ResponseWriter, r *http.Request) {
	info, err := s.Reload()
	switch {
	case errors.Is(err, infer.ErrLiveClosed):
		writeJSON(w, http.StatusServiceUnavailable, errorJSON{err.Error()})
	case err != nil:
		writeJSON(w, http.StatusUnprocessableEntity, errorJSON{"the old model keeps serving: " + err.Error()})
	default:
		writeJSON(w, http.StatusOK, reloadJSON{Model: filepath.Base(info.Path), SHA256: info.SHA256, Loaded: info.Loaded})
	}
}

// Frame records a classified camera frame: the emit function for stream.RunCameras. A run of
// one camera may leave r.Camera empty.
func (s *Server) Frame(fr *stream.Frame, r *stream.Result) error {
	f := s.byName[r.Camera]
	if f == nil && r.Camera == "" && len(s.feeds) == 1 {
		f = s.feeds[0]
	}
	if f == nil {
		return fmt.Errorf("server: a frame of camera %q, which it does not show", r.Camera)
	}
	s.latency.WithLabelValues("stream", f.Name).Observe(r.MS / 1000)
	res := *r
	res.Camera = f.Name
	res.Top = slices.Clone(r.Top) // Label's answer is reused for the next frame
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latest = &res
	f.picture.at = fr.Time
	f.picture.gen++
	if fr.JPEG != nil {
		f.picture.jpeg, f.picture.frame = append(f.picture.jpeg[:0], fr.JPEG...), nil
		return nil
	}
	b := fr.Image.Bounds()
	if f.picture.frame == nil || f.picture.frame.Rect.Size() != b.Size() {
		f.picture.frame = image.NewRGBA(image.Rectangle{Max: b.Size()})
	}
	draw.Draw(f.picture.frame, f.picture.frame.Rect, fr.Image, b.Min, draw.Src)
	f.picture.jpeg = nil
	return nil
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

// latestJSON is GET /api/latest: what the page shows of one camera.
type latestJSON struct {
	Result     *stream.Result `json:"result"` // null until the first frame
	Model      string         `json:"model"`
	Camera     string         `json:"camera"`  // "" without cameras
	Cameras    []string       `json:"cameras"` // every camera, in the order given
	Source     string         `json:"source"`
	Backend    string         `json:"backend"`
	Device     string         `json:"device"`
	Reason     string         `json:"reason"`
	Frames     int64          `json:"frames"`
	Classified int64          `json:"classified"`
	Skipped    int64          `json:"skipped"`
	Bad        int64          `json:"bad"`
	Reconnects int64          `json:"reconnects"`
}

// feed finds the camera a request names with ?camera=NAME (the first camera when it names
// none), answering 404 itself when there is no such camera. It returns nil without cameras.
func (s *Server) feed(w http.ResponseWriter, r *http.Request) (f *feed, ok bool) {
	name := r.URL.Query().Get("camera")
	switch {
	case name == "" && len(s.feeds) == 0:
		return nil, true
	case name == "":
		return s.feeds[0], true
	case s.byName[name] != nil:
		return s.byName[name], true
	}
	writeJSON(w, http.StatusNotFound, errorJSON{fmt.Sprintf("no camera %q (the cameras: %s)", name, strings.Join(s.cameraNames(), ", "))})
	return nil, false
}

func (s *Server) cameraNames() []string {
	names := make([]string, len(s.feeds))
	for i, f := range s.feeds {
		names[i] = f.Name
	}
	return names
}

func (s *Server) apiLatest(w http.ResponseWriter, r *http.Request) {
	f, ok := s.feed(w, r)
	if !ok {
		return
	}
	l := latestJSON{Model: s.cfg.Model, Cameras: s.cameraNames(), Backend: s.cfg.Device.Backend, Device: s.cfg.Device.Name, Reason: s.cfg.Reason}
	if f != nil {
		c := f.Counters
		f.mu.Lock()
		l.Result = f.latest // replaced, never modified, so it can be encoded unlocked
		f.mu.Unlock()
		l.Camera, l.Source = f.Name, f.Source
		l.Frames, l.Classified, l.Skipped, l.Bad, l.Reconnects = c.Frames.Load(), c.Classified.Load(), c.Skipped.Load(), c.Bad.Load(), c.Reconnects.Load()
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, l)
}

// latestJPEG is a copy of the camera's latest frame as JPEG (nil before the first), encoding
// a raw frame once.
func (f *feed) latestJPEG() ([]byte, error) {
	f.mu.Lock()
	pic, raw := bytes.Clone(f.picture.jpeg), f.picture.frame
	f.mu.Unlock()
	if pic != nil || raw == nil {
		return pic, nil
	}
	f.encMu.Lock()
	defer f.encMu.Unlock()
	f.mu.Lock()
	if f.picture.jpeg != nil { // encoded while this request waited for encMu
		pic = bytes.Clone(f.picture.jpeg)
		f.mu.Unlock()
		return pic, nil
	}
	raw, gen := f.picture.frame, f.picture.gen
	if f.encFrame == nil || f.encFrame.Rect != raw.Rect {
		f.encFrame = image.NewRGBA(raw.Rect)
	}
	copy(f.encFrame.Pix, raw.Pix)
	f.mu.Unlock()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, f.encFrame, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.picture.gen == gen {
		f.picture.jpeg = bytes.Clone(b.Bytes()) // not b's own: a later JPEG frame reuses it
	}
	f.mu.Unlock()
	return b.Bytes(), nil
}

func (s *Server) frame(w http.ResponseWriter, r *http.Request) {
	f, ok := s.feed(w, r)
	if !ok {
		return
	}
	if f == nil {
		http.Error(w, "no camera", http.StatusNotFound)
		return
	}
	pic, err := f.latestJPEG()
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

// healthz fails while any camera has sent nothing for StaleAfter, naming each such camera.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	var stale []string
	for _, f := range s.feeds {
		f.mu.Lock()
		last := f.picture.at
		f.mu.Unlock()
		if last.IsZero() {
			last = s.started
		}
		if age := time.Since(last); age > s.cfg.StaleAfter {
			what := f.Source
			if len(s.feeds) > 1 {
				what = f.Name + " (" + f.Source + ")"
			}
			stale = append(stale, fmt.Sprintf("no frame from %s for %.0f s", what, age.Seconds()))
		}
	}
	if stale != nil {
		http.Error(w, strings.Join(stale, "; "), http.StatusServiceUnavailable)
		return
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
	var top []infer.Class
	err = s.cfg.Live.Do(func(lab *infer.Labeler) error {
		t, err := lab.Image(img)
		top = slices.Clone(t)
		return err
	})
	switch {
	case errors.Is(err, infer.ErrLiveClosed):
		return failf(http.StatusServiceUnavailable, "the server is stopping")
	case err != nil:
		return failf(http.StatusInternalServerError, "%v", err)
	}
	d := time.Since(start)
	s.latency.WithLabelValues("predict", "").Observe(d.Seconds())
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
