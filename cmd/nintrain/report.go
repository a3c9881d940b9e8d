package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/ninedge/ninedge/internal/atomicfile"
	nintrain "github.com/ninedge/ninedge/nin/train"
)

// bar shows an epoch's progress with the running loss, accuracy, speed and learning rate:
// as a progress bar when stderr is a terminal (as cli.Progress), otherwise as a plain line
// every logEvery, so that the log of a long background run shows it is alive.
type bar struct {
	b           *progressbar.ProgressBar
	what        string
	epochsAfter int     // whole epochs still to run after this one, for the run's ETA
	testSeconds float64 // the last test pass's duration (0: none yet), one per epoch left
	lastLog     time.Time
}

const logEvery = 2 * time.Minute

func newBar(epoch, epochs, total int, testSeconds float64) *bar {
	what := fmt.Sprintf("epoch %d/%d", epoch, epochs)
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return &bar{what: what, epochsAfter: epochs - epoch, testSeconds: testSeconds, lastLog: time.Now()}
	}
	return &bar{what: what, epochsAfter: epochs - epoch, testSeconds: testSeconds, b: progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200e6),
		progressbar.OptionClearOnFinish())}
}

func (b *bar) update(p nintrain.Progress) {
	if b.b != nil {
		b.b.Describe(b.what + " " + b.status(p))
		_ = b.b.Set(p.Done)
		return
	}
	if time.Since(b.lastLog) >= logEvery && p.ImagesPerSec > 0 {
		b.lastLog = time.Now()
		fmt.Fprintf(os.Stderr, "%s: %s %d/%d images (%s left), %s\n", prog, b.what, p.Done, p.Total,
			roughly(float64(p.Total-p.Done)/p.ImagesPerSec), b.status(p))
	}
}

// status is the running loss, accuracy, speed and learning rate, and the time the run needs:
// the images left at this epoch's rate so far, and a test pass as long as the last one after
// this epoch and each later one.
func (b *bar) status(p nintrain.Progress) string {
	s := fmt.Sprintf("loss %.4f acc %.2f%% %.0f img/s lr %.3g", p.Loss, 100*p.Acc, p.ImagesPerSec, p.LR)
	if p.ImagesPerSec > 0 {
		train := float64(p.Total-p.Done+b.epochsAfter*p.Total) / p.ImagesPerSec
		s += ", run ends in " + roughly(train+float64(b.epochsAfter+1)*b.testSeconds)
	}
	return s
}

// roughly formats seconds to the minute, as "~3h05m" or "~12m".
func roughly(seconds float64) string {
	m := int(math.Round(seconds / 60))
	if m >= 60 {
		return fmt.Sprintf("~%dh%02dm", m/60, m%60)
	}
	return fmt.Sprintf("~%dm", m)
}

func (b *bar) finish() {
	if b.b != nil {
		_ = b.b.Finish()
	}
}

// writeMetrics rewrites the whole log from the run's history, which the checkpoint carries,
// so a resumed run's log has each epoch exactly once.
func writeMetrics(path string, hist []nintrain.EpochMetrics) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, h := range hist {
			if err := enc.Encode(h); err != nil {
				return err
			}
		}
		return nil
	})
}

// writePlot draws the training loss above the train and test accuracy, per epoch.
func writePlot(path, name string, hist []nintrain.EpochMetrics) error {
	loss, train, test := make(plotter.XYs, len(hist)), make(plotter.XYs, len(hist)), make(plotter.XYs, len(hist))
	for i, h := range hist {
		x := float64(h.Epoch)
		loss[i] = plotter.XY{X: x, Y: h.TrainLoss}
		train[i] = plotter.XY{X: x, Y: 100 * h.TrainAcc}
		test[i] = plotter.XY{X: x, Y: 100 * h.TestAcc}
	}
	top, bottom := plot.New(), plot.New()
	top.Title.Text = name + ": training"
	top.Y.Label.Text = "train loss"
	bottom.X.Label.Text = "epoch"
	bottom.Y.Label.Text = "accuracy (%)"
	for _, l := range []struct {
		p     *plot.Plot
		name  string
		xy    plotter.XYs
		color int
	}{{top, "train loss", loss, 0}, {bottom, "train", train, 1}, {bottom, "test", test, 2}} {
		line, points, err := plotter.NewLinePoints(l.xy)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		line.Color, points.Color = plotutil.Color(l.color), plotutil.Color(l.color)
		l.p.Add(line, points)
		l.p.Legend.Add(l.name, line)
	}
	bottom.Legend.Top, bottom.Legend.Left = false, false
	for _, p := range []*plot.Plot{top, bottom} {
		p.Add(plotter.NewGrid())
	}
	img := vgimg.New(8*vg.Inch, 7*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	cs := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(cs[0][0])
	bottom.Draw(cs[1][0])
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
}
