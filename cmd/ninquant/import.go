package main

import (
	"fmt"
	"time"

	"github.com/ninedge/ninedge/caffe"
	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/internal/infile"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/nin/train"
)

func importCaffe(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninquant import", "ninquant import --caffe FILE --arch SPEC --data DIR [--dataset cifar10] -o OUT")
	caffePath := fs.String("caffe", "", "Caffe .caffemodel file")
	arch := fs.String("arch", "nin-cifar10", "architecture: a built-in name or a JSON spec file")
	var data cli.DataFlags
	data.Add(fs.FlagSet, "train")
	pre := fs.String("preprocess", nin.PreGCNZCA, "preprocessing the weights were trained with: gcn-zca (the authors'), meanstd, scale")
	gcnScale := fs.Float64("gcn-scale", 55, "GCN: the norm each image is scaled to")
	zcaBias := fs.Float64("zca-bias", 0.1, "ZCA: added to the eigenvalues")
	var threads int
	cli.ThreadsFlag(fs.FlagSet, &threads)
	out := fs.StringP("output", "o", "", "output model file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *caffePath == "" || *out == "" {
		return cli.Usagef("--caffe and -o are required")
	}
	if err := cli.CheckThreads(threads); err != nil {
		return err
	}
	if err := cli.CheckOutputs([]string{*caffePath, *arch}, *out); err != nil {
		return err
	}
	if data.Name == "" {
		data.Name = "cifar10"
	}
	spec, err := nin.LoadSpec(*arch, infile.ReadFile)
	if err != nil {
		return err
	}
	net, err := caffe.ReadFile(*caffePath)
	if err != nil {
		return err
	}
	set, err := data.Load(spec.Input)
	if err != nil {
		return err
	}
	classes := set.Classes
	if len(classes) != spec.Classes {
		classes = nin.NumberedClasses(spec.Classes)
	}
	start := time.Now()
	var p nin.Preprocess
	switch *pre {
	case nin.PreGCNZCA:
		fmt.Fprintf(e.Stderr, "fitting GCN (scale %g) + ZCA (bias %g) on %d %s %s images...\n", *gcnScale, *zcaBias, set.N, data.Name, data.Split)
		p, err = train.FitGCNZCA(set.Images, set.N, spec.Input, *gcnScale, *zcaBias, threads)
	case nin.PreMeanStd:
		p = train.FitMeanStd(set.Images, set.N, spec.Input)
	case nin.PreScale:
		p = nin.Preprocess{Kind: nin.PreScale}
	default:
		err = cli.Usagef("unknown --preprocess %q", *pre)
	}
	if err != nil {
		return err
	}
	m, err := caffe.Import(net, spec, classes, p)
	if err != nil {
		return err
	}
	if err := m.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "wrote %s: %s, %d parameters, preprocessing %s (fitted in %.1fs)\n",
		*out, spec.Name, spec.TotalParams(), p.Kind, time.Since(start).Seconds())
	return nil
}
