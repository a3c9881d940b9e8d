package main

import (
	"bytes"
	"fmt"
	"math"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/internal/atomicfile"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/report"
)

func reportCmd(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninquant report", "ninquant report --float F --int8 Q --dataset D --data DIR [--split test] [--json FILE] [--md FILE] [--png FILE] [--max-drop PP] [--force]")
	floatPath := fs.String("float", "", "float model file")
	int8Path := fs.String("int8", "", "int8 model file converted from it")
	var data cli.DataFlags
	data.Add(fs.FlagSet, "test")
	var run cli.RunFlags
	run.Add(fs.FlagSet, "", 32)
	jsonPath := fs.String("json", "", "write the report as JSON to this file")
	mdPath := fs.String("md", "", "write the report as Markdown to this file (it is printed either way)")
	pngPath := fs.String("png", "", "write a chart of the per-layer SQNR (PNG)")
	layerImages := fs.Int("layer-images", 200, "images for the per-layer comparison")
	maxDrop := fs.Float64("max-drop", -1, "exit with status 3 when top-1 drops by more than this many percentage points")
	force := fs.Bool("force", false, "compare even when the int8 file records another float model than --float")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *floatPath == "" || *int8Path == "" {
		return cli.Usagef("--float and --int8 are required")
	}
	if err := run.Check(); err != nil {
		return err
	}
	if *layerImages < 1 {
		return cli.Usagef("--layer-images must be at least 1")
	}
	if math.IsNaN(*maxDrop) {
		return cli.Usagef("--max-drop NaN: want percentage points (negative: no limit)")
	}
	if *pngPath != "" {
		if err := report.CheckChartPath(*pngPath); err != nil {
			return cli.Usagef("--png: %v", err)
		}
	}
	if err := cli.CheckOutputs([]string{*floatPath, *int8Path}, *jsonPath, *mdPath, *pngPath); err != nil {
		return err
	}
	m, err := nin.Load(*floatPath)
	if err != nil {
		return fmt.Errorf("--float: %w", err)
	}
	g, err := quant.Load(*int8Path)
	if err != nil {
		return fmt.Errorf("--int8: %w", err)
	}
	if err := report.CheckPair(m, g); err != nil {
		return err
	}
	switch err := report.CheckSource(m, g); {
	case err != nil && !*force:
		return fmt.Errorf("--int8 %s: %w; convert this float model, or give --force to compare them anyway", *int8Path, err)
	case err != nil:
		fmt.Fprintf(e.Stderr, "--force: %v\n", err)
	case !report.Recorded(g):
		fmt.Fprintf(e.Stderr, "note: --int8 %s does not record which float model it came from (converted before ninquant recorded it, or imported already quantized): the pair is not checked\n", *int8Path)
	}
	set, err := data.Load(m.Spec.Input)
	if err != nil {
		return err
	}
	update, finish := cli.Progress(2*set.N, "float + int8")
	r, err := report.Build(m, g, set, report.Options{Run: run.Options(e), LayerImages: *layerImages, Progress: update})
	finish()
	if err != nil {
		return err
	}
	r.Dataset = data.Name + "/" + data.Split
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		return err
	}
	e.Stdout.Write(md.Bytes())
	if *mdPath != "" {
		if err := atomicfile.WriteFile(*mdPath, md.Bytes()); err != nil {
			return err
		}
	}
	if *jsonPath != "" {
		var b bytes.Buffer
		if err := r.WriteJSON(&b); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(*jsonPath, b.Bytes()); err != nil {
			return err
		}
	}
	if *pngPath != "" {
		if err := r.WriteChart(*pngPath); err != nil {
			return err
		}
	}
	if *maxDrop >= 0 && r.DropPP > *maxDrop {
		return &cli.ExitError{Code: 3, Err: fmt.Errorf("top-1 dropped %.2f pp, more than --max-drop %.2f", r.DropPP, *maxDrop)}
	}
	return nil
}
