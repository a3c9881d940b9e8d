package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
)

func convert(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninquant convert", "ninquant convert --model F --dataset D --data DIR [--calib N] [--method minmax|percentile|kl] [--percentile P] [--float-layers a,b] [--weight-bits 7|8] -o OUT")
	model := fs.String("model", "", "float model file")
	var data cli.DataFlags
	data.Add(fs.FlagSet, "train")
	// --calib names the count where the calibration set is concerned; a --limit accepted
	// and then overridden would be silently ignored.
	_ = fs.MarkHidden("limit")
	calib := fs.Int("calib", 1000, "calibration images (the first N of the split)")
	method := fs.String("method", quant.DefaultMethod, "calibration: "+strings.Join(quant.Methods, ", "))
	pct := fs.Float64("percentile", quant.DefaultPercentile, "percentile kept by --method percentile")
	floatLayers := fs.StringSlice("float-layers", nil, "conv layers to keep in float (comma separated)")
	weightBits := fs.Int("weight-bits", 8, "weight bits: 8, or 7 (some accuracy for speed on x86 CPUs without VNNI; see docs/quantization.md)")
	var threads int
	cli.ThreadsFlag(fs.FlagSet, &threads)
	out := fs.StringP("output", "o", "", "output int8 model file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return cli.Usagef("-o is required")
	}
	if fs.Changed("limit") {
		return cli.Usagef("--limit: convert takes the number of calibration images from --calib")
	}
	if *calib <= 0 {
		return cli.Usagef("--calib must be positive")
	}
	if *weightBits != 7 && *weightBits != 8 {
		return cli.Usagef("--weight-bits must be 7 or 8")
	}
	if err := cli.CheckThreads(threads); err != nil {
		return err
	}
	if err := cli.CheckOutputs([]string{*model}, *out); err != nil {
		return err
	}
	if *model == "" {
		return cli.Usagef("--model is required")
	}
	m, err := nin.Load(*model)
	if err != nil {
		return err
	}
	data.Limit = *calib
	set, err := data.Load(m.Spec.Input)
	if err != nil {
		return err
	}
	if set.N == 0 {
		return fmt.Errorf("the calibration set %s %s is empty", data.Name, data.Split)
	}
	start := time.Now()
	g, err := quant.Convert(m, set.Images, set.N, quant.Options{Method: *method, Percentile: *pct, FloatLayers: *floatLayers,
		WeightBits: *weightBits, Threads: threads, Dataset: data.Name + "/" + data.Split})
	if err != nil {
		return err
	}
	if err := g.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "wrote %s: int8 %s (%d-bit weights), calibrated by %s on %d images in %.1fs\n", *out, m.Spec.Name, *weightBits, *method, set.N, time.Since(start).Seconds())
	return nil
}
