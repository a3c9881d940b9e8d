package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/stream"
)

func streamCmd(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninedge stream", "ninedge stream --model Q --source [NAME=]SPEC... [--json] [--every-frame] [--fps F] [--size WxH] [--mqtt URL]")
	var lf labelFlags
	lf.add(fs)
	var sf sourceFlags
	sf.add(fs, 5*time.Second)
	var mf mqttFlags
	mf.add(fs)
	asJSON := fs.Bool("json", false, "one JSON object per classified frame: frame, time, top, ms, skipped (and camera, with several sources)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return cli.Usagef("unexpected argument %q (the source is given with --source)", fs.Arg(0))
	case len(sf.specs) == 0:
		return cli.Usagef("--source is required")
	}
	// The sources first: a camera that is missing is reported before the model is loaded.
	cams, stopped, err := sf.openSources(e, "ninedge stream")
	if stopped || err != nil {
		return err
	}
	defer closeCameras(cams)
	live, _, err := lf.live(e)
	if err != nil {
		return err
	}
	defer live.Close()
	pub, err := mf.publisher(e, lf.Model, cameraNames(cams))
	if err != nil {
		return err
	}
	if pub != nil {
		defer pub.Close()
	}
	done := make(chan struct{})
	defer close(done)
	reloadOnSignal(e, done, func() {
		if info, err := live.Reload(); err != nil {
			fmt.Fprintf(e.Stderr, "ninedge stream: reloading the model failed, the old one keeps serving: %v\n", err)
		} else {
			fmt.Fprintf(e.Stderr, "ninedge stream: model reloaded: %s (sha256 %s)\n", info.Path, info.SHA256)
		}
	})
	enc := json.NewEncoder(e.Stdout)
	emit := func(f *stream.Frame, r *stream.Result) error {
		if pub != nil {
			pub.Publish(r)
		}
		if *asJSON {
			return enc.Encode(r)
		}
		camera := ""
		if r.Camera != "" {
			camera = r.Camera + " "
		}
		_, err := fmt.Fprintf(e.Stdout, "%sframe %d: %s (%.1f ms, %d skipped)\n", camera, r.Frame, topText(r.Top), r.MS, r.Skipped)
		return err
	}
	return stream.RunCameras(e.Ctx, runCameras(cams, false), live.Handle(), sf.runOptions(e), emit)
}
