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
	fs := cli.NewFlags(e, "ninedge serve", "ninedge serve --model Q [--listen ADDR --token-file FILE|--no-auth] [--tls-cert F --tls-key F] [--source SPEC]")
	var lf labelFlags
	lf.add(fs)
	var sf sourceFlags
	sf.add(fs, time.Minute)
	var xf exposureFlags
	xf.add(fs)
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
	var src stream.Source
	if sf.spec != "" {
		src, err = sf.open(e)
		if stoppedConnecting(e, "ninedge serve", err) {
			return nil
		}
		if err != nil {
			return err
		}
		defer src.Close()
	}
	lab, c, done, err := lf.labeler(e)
	if err != nil {
		return err
	}
	defer done()
	source := stream.Redacted(sf.spec) // the page and /healthz must not show a camera's password
	srv := server.New(server.Config{Labeler: lab, Device: c.Choice.Device, Reason: c.Choice.Reason, Model: filepath.Base(lf.Model),
		Source: source, MaxUpload: *maxUpload, UploadTimeout: *uploadTimeout, MinUploadRate: *minRate,
		Token: exp.token})
	// Whatever happens below, no handler may use the model once done() releases its device.
	defer srv.Close()
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
	if src != nil {
		go func() { streamed <- stream.Run(ctx, src, srv, sf.runOptions(e, srv.Counters()), srv.Frame) }()
	}
	select {
	case <-e.Ctx.Done():
	case err = <-served:
	case err = <-streamed:
		// Without its camera the server has no purpose: exit with an error, so that a
		// supervisor (systemd Restart=on-failure) starts the capture again.
		switch {
		case err == nil && e.Ctx.Err() == nil:
			err = fmt.Errorf("source %s ended", source)
		case err != nil:
			err = fmt.Errorf("source %s stopped: %w", source, err)
		}
		src = nil
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
	if src != nil {
		if serr := <-streamed; err == nil {
			err = serr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
