package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/ninedge/ninedge/internal/atomicfile"
)

// WriteChart draws the per-layer SQNR as a bar chart (PNG, SVG or PDF by the file's extension).
func (r *Report) WriteChart(path string) error {
	ext, err := chartFormat(path)
	if err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: int8 vs float32, per layer (drop %.2f pp top-1)", r.Model, r.DropPP)
	p.Y.Label.Text = "SQNR (dB), higher is better"
	vals := make(plotter.Values, len(r.Layers))
	names := make([]string, len(r.Layers))
	for i, l := range r.Layers {
		vals[i] = l.SQNR
		names[i] = l.Name
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return err
	}
	bars.Color = plotter.DefaultLineStyle.Color
	p.Add(bars, plotter.NewGrid())
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 0.8
	p.X.Tick.Label.XAlign = -0.8
	p.Y.Min = 0
	wt, err := p.WriterTo(vg.Length(max(6, len(names))*45)*vg.Points(1), 4*vg.Inch, ext)
	if err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}

// CheckChartPath says whether WriteChart can write path, before the work that fills it.
func CheckChartPath(path string) error {
	_, err := chartFormat(path)
	return err
}

// chartFormat is the format WriteChart writes to path, by its extension.
func chartFormat(path string) (string, error) {
	switch ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), ".")); ext {
	case "png", "svg", "pdf":
		return ext, nil
	}
	return "", fmt.Errorf("chart %s: want a .png, .svg or .pdf file", path)
}
