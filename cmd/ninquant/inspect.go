package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/quant"
	"github.com/ninedge/ninedge/quant/fixedpoint"
	"github.com/ninedge/ninedge/safetensors"
)

func inspect(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninquant inspect", "ninquant inspect FILE")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usagef("inspect takes one model file")
	}
	path := fs.Arg(0)
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return err
	}
	if quant.IsInt8(f) {
		g, err := quant.FromFile(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return inspectInt8(e.Stdout, g)
	}
	m, err := nin.FromFile(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return inspectFloat(e.Stdout, m)
}

func inspectFloat(w io.Writer, m *nin.Model) error {
	s := m.Spec
	fmt.Fprintf(w, "%s: float32 NIN, input %v, %d classes, preprocessing %s\nfingerprint %s\n\n", s.Name, s.Input, s.Classes, m.Pre.Kind, m.Fingerprint())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\tkind\tkernel\toutput\tparams\tMACs\t")
	shapes := s.Shapes()
	for i, l := range s.Layers {
		k := ""
		if l.Kernel > 0 {
			k = fmt.Sprintf("%d/%d", l.Kernel, max(l.Stride, 1))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%d\t\n", l.Name, l.Kind, k, shapes[i+1], s.Params(i), s.MACs(i))
	}
	fmt.Fprintf(tw, "total\t\t\t\t%d\t%d\t\n", s.TotalParams(), s.TotalMACs())
	return tw.Flush()
}

func inspectInt8(w io.Writer, g *quant.Graph) error {
	s := g.Spec
	fmt.Fprintf(w, "%s: int8 NIN, input %v (scale %.6g, zero point %d), %d classes, preprocessing %s\n",
		s.Name, s.Input, g.InScale, g.InZero, len(g.Classes), g.Pre.Kind)
	fmt.Fprintf(w, "calibration: %s\n", g.Calib)
	for _, c := range g.Calib.Changes {
		fmt.Fprintf(w, "  changed: %s\n", c)
	}
	if g.FloatFingerprint != "" {
		fmt.Fprintf(w, "converted from the float model %s\n", g.FloatFingerprint)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\top\toutput\tin scale\tout scale\tweights\tweight scale\tmultiplier·2^-shift\t")
	for _, n := range g.Nodes {
		wr, ws, mr := "", "", ""
		switch {
		case n.Op == quant.OpConv && n.Float:
			wr = "float32"
		case n.Op == quant.OpConv:
			wr = fmt.Sprintf("[%d, %d]", slices.Min(n.Weights), slices.Max(n.Weights))
			ws = fmt.Sprintf("%.3g…%.3g", slices.Min(n.WScale), slices.Max(n.WScale))
			lo, hi := 1e300, 0.0
			for j := range n.Mult {
				r := fixedpoint.Real(n.Mult[j], n.Shift[j])
				lo, hi = min(lo, r), max(hi, r)
			}
			mr = fmt.Sprintf("%.3g…%.3g", lo, hi)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%.4g\t%.4g\t%s\t%s\t%s\t\n", n.Name, n.Op, n.Out, n.InScale, n.OutScale, wr, ws, mr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nscores = global-pool sums × %.6g / %d\n", g.OutScale, g.OutPixels)
	return nil
}
