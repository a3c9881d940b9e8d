package main

import (
	"bytes"
	"fmt"
	"math"
	"os"

	"github.com/ninedge/ninedge/internal/atomicfile"
	"github.com/ninedge/ninedge/internal/cli"
	"github.com/ninedge/ninedge/report"
)

func reportCmd(args []string) error {
	fs := newFlags("report", "report --float F --int8 Q --dataset D --data DIR [--split test] [--json FILE] [--md FILE] [--png FILE] [--max-drop PP]")
	floatPath := fs.String("float", "", "float model file")
	int8Path := fs.String("int8", "", "int8 model file converted from it")
	var data cli.DataFlags
	data.Add(fs, "test")
	var run cli.RunFlags
	run.Add(fs)
	jsonPath := fs.String("json", "", "write the report as JSON to this file")
	mdPath := fs.String("md", "", "write the report as Markdown to this file (it is printed either way)")
	pngPath := fs.String("png", "", "write a chart of the per-layer SQNR (PNG)")
	layerImages := fs.Int("layer-images", 200, "images for the per-layer comparison")
	maxDrop := fs.Float64("max-drop", -1, "exit with status 3 when top-1 drops by more than this many percentage points")
	if err := parse(fs, args); err != nil {
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
	m, g0, err := cli.LoadModel(*floatPath)
	if err != nil {
		return err
	}
	if g0 != nil {
		return cli.Usagef("--float %s is an int8 model", *floatPath)
	}
	q, g, err := cli.LoadModel(*int8Path)
	if err != nil {
		return err
	}
	if q != nil {
		return cli.Usagef("--int8 %s is a float model; convert it first with ninquant convert", *int8Path)
	}
	if err := report.CheckPair(m, g); err != nil {
		return err
	}
	set, err := data.Load(m.Spec.Input)
	if err != nil {
		return err
	}
	dev, err := run.OpenDevice()
	if err != nil {
		return err
	}
	update, finish := cli.Progress(2*set.N, "float + int8")
	r, err := report.Build(m, g, dev, set, report.Options{Batch: run.Batch, Threads: run.Threads, LayerImages: *layerImages, Progress: update})
	finish()
	if err != nil {
		return err
	}
	r.Dataset = data.Name + "/" + data.Split
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		return err
	}
	os.Stdout.Write(md.Bytes())
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
		fmt.Fprintf(os.Stderr, "ninquant report: top-1 dropped %.2f pp, more than --max-drop %.2f\n", r.DropPP, *maxDrop)
		os.Exit(3)
	}
	return nil
}
