package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/server"
	"github.com/ninedge/ninedge/stream"
)

// shutdownGrace is how long requests in flight may finish when the server stops.
const shutdownGrace = 5 * time.Second

func serve(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninedge serve", "ninedge serve --model Q [--listen ADDR --token-file FILE|--no-auth] [--tls-cert F --tls-key F] [--source [NAME=]SPEC...] [--mqtt URL]")
	var lf labelFlags
	lf.add(fs)
	var sf sourceFlags
	sf.add(fs, time.Minute)
	var xf exposureFlags
	xf.add(fs)
	var mf mqttFlags
	mf.add(fs)
	maxUpload := fs.Int64("max-upload", server.DefaultMaxUpload, "largest POST /predict body in bytes")
	uploadTimeout := fs.Duration("upload-timeout", server.DefaultUploadTimeout, "longest a POST /predict body may take to arrive, a wait for upload memory included (answered 408 after)")
	minRate := fs.Int64("upload-min-rate", server.DefaultMinUploadRate, "slowest average rate in bytes/s at which a POST /predict body may arrive after its first 5 s (answered 408 below)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected argument %q", fs.Arg(0))
	}
	if *maxUpload <= 0 || *uploadTimeout <= 0 {
		return cli.Usagef("--max-upload and --upload-timeout must be positive")
	}
	if *minRate <= 0 {
		return cli.Usagef("--upload-min-rate must be positive")
	}
	if err := sf.check(); err != nil {
		return err
	}
	exp, err := xf.load(e)
	if err != nil {
		return err
	}
	cams, stopped, err := sf.openSources(e, "ninedge serve")
	if stopped || err != nil {
		return err
	}
	defer closeCameras(cams)
	live, c, err := lf.live(e)
	if err != nil {
		return err
	}
	// Whatever happens below, no handler may use the model once its device is released:
	// Close waits for the labeling in progress and refuses later ones.
	defer live.Close()
	pub, err := mf.publisher(e, lf.Model, cameraNames(cams))
	if err != nil {
		return err
	}
	cfg := server.Config{Live: live, Device: c.Choice.Device, Reason: c.Choice.Reason, Model: filepath.Base(lf.Model),
		MaxUpload: *maxUpload, UploadTimeout: *uploadTimeout, MinUploadRate: *minRate, Token: exp.token, Log: e.Stderr}
	for _, cam := range cams {
		// The page and /healthz must not show a camera's password.
		cfg.Cameras = append(cfg.Cameras, server.Camera{Name: cam.name, Source: stream.Redacted(cam.spec), Counters: cam.cnt})
	}
	if pub != nil {
		defer pub.Close()
		cfg.Collectors = pub.Collectors()
	}
	srv := server.New(cfg)
	reloaded := make(chan struct{})
	defer close(reloaded)
	reloadOnSignal(e, reloaded, func() { _, _ = srv.Reload() })
	ln, err := net.Listen("tcp", xf.listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "ninedge serve: listening on %s://%s/\n", exp.scheme(), ln.Addr())
	// Cancelled at shutdown, so that requests waiting for an upload slot end at once.
	base, stopBase := context.WithCancel(context.Background())
	defer stopBase()
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ReadTimeout: server.ReadTimeout, WriteTimeout: server.WriteTimeout,
		BaseContext: func(net.Listener) context.Context { return base }, TLSConfig: exp.tls}
	hs.RegisterOnShutdown(stopBase)
	served := make(chan error, 1)
	go func() {
		if exp.tls != nil {
			served <- hs.ServeTLS(ln, "", "")
		} else {
			served <- hs.Serve(ln)
		}
	}()

	ctx, cancel := context.WithCancel(e.Ctx)
	defer cancel()
	streamed := make(chan error, 1)
	streaming := len(cams) > 0
	if streaming {
		emit := srv.Frame
		if pub != nil {
			emit = func(f *stream.Frame, r *stream.Result) error {
				pub.Publish(r)
				return srv.Frame(f, r)
			}
		}
		go func() { streamed <- stream.RunCameras(ctx, runCameras(cams, true), srv, sf.runOptions(e), emit) }()
	}
	select {
	case <-e.Ctx.Done():
	case err = <-served:
	case err = <-streamed:
		// Without its cameras the server has no purpose: exit with an error, so that a
		// supervisor (systemd Restart=on-failure) starts the capture again. (RTSP cameras
		// reconnect by themselves and never end.)
		switch {
		case err == nil && e.Ctx.Err() == nil && len(cams) == 1:
			err = fmt.Errorf("source %s ended", stream.Redacted(cams[0].spec))
		case err == nil && e.Ctx.Err() == nil:
			err = errors.New("every source ended")
		case err != nil && len(cams) == 1:
			err = fmt.Errorf("source %s stopped: %w", stream.Redacted(cams[0].spec), err)
		}
		streaming = false
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer scancel()
	if serr := hs.Shutdown(sctx); serr != nil {
		// Uploads still arriving after the grace: drop their connections. Stopping was
		// asked for, so this is no failure of the command.
		fmt.Fprintf(e.Stderr, "ninedge serve: requests still running %v after the stop: closing their connections\n", shutdownGrace)
		hs.Close()
	}
	if streaming {
		if serr := <-streamed; err == nil {
			err = serr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
