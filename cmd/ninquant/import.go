package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ninedge/ninedge/caffe"
	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/internal/infile"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/nin/train"
	"github.com/ninedge/ninedge/onnx"
)

const importSynopsis = `ninquant import --caffe FILE --arch SPEC --data DIR [--dataset cifar10] -o OUT
       ninquant import --onnx FILE (--mean m1,m2,m3 --std s1,s2,s3 | --scale) [--classes FILE] [--arch NAME] -o OUT`

// importFlags are both import forms' flags; each form refuses the other's.
type importFlags struct {
	caffe, onnx, arch, out string
	data                   cli.DataFlags
	pre                    string
	gcnScale, zcaBias      float64
	threads                int
	mean, std              []float64
	scale                  bool
	classes, name          string
}

func importCmd(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninquant import", importSynopsis)
	var f importFlags
	fs.StringVar(&f.caffe, "caffe", "", "Caffe .caffemodel file")
	fs.StringVar(&f.onnx, "onnx", "", "ONNX file (what torch.onnx.export writes; float, or quantized QDQ)")
	fs.StringVar(&f.arch, "arch", "", "Caffe: the architecture, a built-in name or a JSON spec file (default nin-cifar10); ONNX: a built-in name the graph must match")
	f.data.Add(fs.FlagSet, "train")
	fs.StringVar(&f.pre, "preprocess", nin.PreGCNZCA, "Caffe: preprocessing the weights were trained with: gcn-zca (the authors'), meanstd, scale")
	fs.Float64Var(&f.gcnScale, "gcn-scale", 55, "Caffe GCN: the norm each image is scaled to")
	fs.Float64Var(&f.zcaBias, "zca-bias", 0.1, "Caffe ZCA: added to the eigenvalues")
	cli.ThreadsFlag(fs.FlagSet, &f.threads)
	fs.Float64SliceVar(&f.mean, "mean", nil, "ONNX: per-channel mean subtracted from 0..1 pixels (torchvision's Normalize)")
	fs.Float64SliceVar(&f.std, "std", nil, "ONNX: per-channel standard deviation the pixels are divided by after --mean")
	fs.BoolVar(&f.scale, "scale", false, "ONNX: the input is the 0..1 pixels as they are (ToTensor without Normalize)")
	fs.StringVar(&f.classes, "classes", "", "ONNX: text file naming the classes, one a line (default: numbered)")
	fs.StringVar(&f.name, "name", "", "ONNX: the model's name when --arch is not given (default: the file name)")
	fs.StringVarP(&f.out, "output", "o", "", "output model file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := fs.NoArgs(); err != nil {
		return err
	}
	switch {
	case (f.caffe == "") == (f.onnx == ""):
		return cli.Usagef("give --caffe FILE or --onnx FILE")
	case f.out == "":
		return cli.Usagef("-o is required")
	case f.onnx != "":
		for _, name := range []string{"preprocess", "gcn-scale", "zca-bias", "dataset", "data", "split", "limit"} {
			if fs.Changed(name) {
				return cli.Usagef("--%s is a --caffe option: an ONNX import takes its preprocessing from --mean/--std or --scale", name)
			}
		}
		return importONNX(e, fs.FlagSet, &f)
	}
	for _, name := range []string{"mean", "std", "scale", "classes", "name"} {
		if fs.Changed(name) {
			return cli.Usagef("--%s is an --onnx option", name)
		}
	}
	if f.arch == "" {
		f.arch = "nin-cifar10"
	}
	return importCaffe(e, &f)
}

// onnxPreprocess is the preprocessing --mean/--std or --scale describe.
func onnxPreprocess(f *importFlags) (nin.Preprocess, error) {
	switch {
	case f.scale && (f.mean != nil || f.std != nil):
		return nin.Preprocess{}, cli.Usagef("--scale and --mean/--std exclude each other")
	case f.scale:
		return nin.Preprocess{Kind: nin.PreScale}, nil
	case f.mean == nil || f.std == nil:
		return nin.Preprocess{}, cli.Usagef("give the exporter's normalisation: --mean m1,m2,m3 --std s1,s2,s3 (on 0..1 pixels, as torchvision's Normalize), or --scale")
	case len(f.mean) != len(f.std):
		return nin.Preprocess{}, cli.Usagef("--mean has %d values and --std %d: give one per channel", len(f.mean), len(f.std))
	}
	p := nin.Preprocess{Kind: nin.PreMeanStd}
	for i := range f.mean {
		if math.IsNaN(f.mean[i]+f.std[i]) || math.IsInf(f.mean[i]+f.std[i], 0) {
			return nin.Preprocess{}, cli.Usagef("--mean %v --std %v: want finite numbers", f.mean[i], f.std[i])
		}
		p.Mean = append(p.Mean, float32(f.mean[i]))
		p.Std = append(p.Std, float32(f.std[i]))
	}
	return p, nil
}

// readClasses reads one class name a line; blank lines at the end are ignored, others are
// an error, as a class needs a name.
func readClasses(path string) ([]string, error) {
	b, err := infile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--classes: %w", err)
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(strings.TrimRight(string(b), "\r\n\t ")))
	for line := 1; sc.Scan(); line++ {
		name := strings.TrimSpace(sc.Text())
		if name == "" {
			return nil, fmt.Errorf("--classes %s: line %d is empty", path, line)
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--classes %s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("--classes %s names no class", path)
	}
	return names, nil
}

func importONNX(e *cli.Env, fs *pflag.FlagSet, f *importFlags) error {
	pre, err := onnxPreprocess(f)
	if err != nil {
		return err
	}
	if fs.Changed("threads") {
		return cli.Usagef("--threads is a --caffe option")
	}
	if err := cli.CheckOutputs([]string{f.onnx, f.classes}, f.out); err != nil {
		return err
	}
	opt := onnx.Options{Preprocess: pre, Arch: f.arch, Name: f.name}
	if opt.Name == "" && opt.Arch == "" {
		opt.Name = strings.TrimSuffix(filepath.Base(f.onnx), ".onnx")
	}
	if f.classes != "" {
		if opt.Classes, err = readClasses(f.classes); err != nil {
			return err
		}
	}
	file, err := infile.Open(f.onnx)
	if err != nil {
		return err
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, onnx.MaxSize+1))
	if err != nil {
		return fmt.Errorf("%s: %w", f.onnx, err)
	}
	m, err := onnx.ImportBytes(b, opt)
	if errors.Is(err, onnx.ErrQuantized) {
		return importQDQ(e, b, opt, f)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", f.onnx, err)
	}
	if err := m.Save(f.out); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "wrote %s: float %s, %d layers, %d parameters, %d classes, preprocessing %s\n",
		f.out, m.Spec.Name, len(m.Spec.Layers), m.Spec.TotalParams(), m.Spec.Classes, describePre(pre))
	return nil
}

// importQDQ writes the int8 graph of a quantized (QDQ) model, saying what it had to change.
func importQDQ(e *cli.Env, b []byte, opt onnx.Options, f *importFlags) error {
	g, err := onnx.ImportQuantizedBytes(b, opt, filepath.Base(f.onnx))
	if err != nil {
		return fmt.Errorf("%s: %w", f.onnx, err)
	}
	if err := g.Save(f.out); err != nil {
		return err
	}
	for _, c := range g.Calib.Changes {
		fmt.Fprintf(e.Stderr, "changed: %s\n", c)
	}
	fmt.Fprintf(e.Stderr, "wrote %s: int8 %s imported already quantized, the file's scales kept but for %d changes (above; recorded in the file's calibration info), preprocessing %s\n",
		f.out, g.Spec.Name, len(g.Calib.Changes), describePre(g.Pre))
	return nil
}

// describePre says the preprocessing in the flags' terms.
func describePre(p nin.Preprocess) string {
	if p.Kind != nin.PreMeanStd {
		return p.Kind
	}
	return fmt.Sprintf("meanstd (mean %s, std %s)", floats(p.Mean), floats(p.Std))
}

func floats(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return strings.Join(s, ",")
}

func importCaffe(e *cli.Env, f *importFlags) error {
	if err := cli.CheckThreads(f.threads); err != nil {
		return err
	}
	if err := cli.CheckOutputs([]string{f.caffe, f.arch}, f.out); err != nil {
		return err
	}
	if f.data.Name == "" {
		f.data.Name = "cifar10"
	}
	spec, err := nin.LoadSpec(f.arch, infile.ReadFile)
	if err != nil {
		return err
	}
	net, err := caffe.ReadFile(f.caffe)
	if err != nil {
		return err
	}
	set, err := f.data.Load(spec.Input)
	if err != nil {
		return err
	}
	classes := set.Classes
	if len(classes) != spec.Classes {
		classes = nin.NumberedClasses(spec.Classes)
	}
	start := time.Now()
	var p nin.Preprocess
	switch f.pre {
	case nin.PreGCNZCA:
		fmt.Fprintf(e.Stderr, "fitting GCN (scale %g) + ZCA (bias %g) on %d %s %s images...\n", f.gcnScale, f.zcaBias, set.N, f.data.Name, f.data.Split)
		p, err = train.FitGCNZCA(set.Images, set.N, spec.Input, f.gcnScale, f.zcaBias, f.threads)
	case nin.PreMeanStd:
		p = train.FitMeanStd(set.Images, set.N, spec.Input)
	case nin.PreScale:
		p = nin.Preprocess{Kind: nin.PreScale}
	default:
		err = cli.Usagef("unknown --preprocess %q", f.pre)
	}
	if err != nil {
		return err
	}
	m, err := caffe.Import(net, spec, classes, p)
	if err != nil {
		return err
	}
	if err := m.Save(f.out); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "wrote %s: %s, %d parameters, preprocessing %s (fitted in %.1fs)\n",
		f.out, spec.Name, spec.TotalParams(), p.Kind, time.Since(start).Seconds())
	return nil
}
