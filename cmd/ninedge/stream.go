package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/stream"
)

func streamCmd(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninedge stream", "ninedge stream --model Q --source SPEC [--json] [--every-frame] [--fps F] [--size WxH]")
	var lf labelFlags
	lf.add(fs)
	var sf sourceFlags
	sf.add(fs, 5*time.Second)
	asJSON := fs.Bool("json", false, "one JSON object per classified frame: frame, time, top, ms, skipped")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return cli.Usagef("unexpected argument %q (the source is given with --source)", fs.Arg(0))
	case sf.spec == "":
		return cli.Usagef("--source is required")
	}
	// The source first: a camera that is missing is reported before the model is loaded.
	src, err := sf.open(e)
	if stoppedConnecting(e, "ninedge stream", err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer src.Close()
	lab, _, done, err := lf.labeler(e)
	if err != nil {
		return err
	}
	defer done()
	enc := json.NewEncoder(e.Stdout)
	emit := func(f *stream.Frame, r *stream.Result) error {
		if *asJSON {
			return enc.Encode(r)
		}
		_, err := fmt.Fprintf(e.Stdout, "frame %d: %s (%.1f ms, %d skipped)\n", r.Frame, topText(r.Top), r.MS, r.Skipped)
		return err
	}
	return stream.Run(e.Ctx, src, lab, sf.runOptions(e, nil), emit)
}
