package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/quant"
)

// benchJSON is what `ninedge bench --json` prints.
type benchJSON struct {
	Model        string      `json:"model"`
	Backend      string      `json:"backend"`
	Device       string      `json:"device"`
	Threads      int         `json:"threads,omitempty"`
	Kernel       string      `json:"kernel,omitempty"`
	Batch        int         `json:"batch"`
	Runs         int         `json:"runs"`
	MACs         int64       `json:"macs_per_image"`
	PreprocessMS float64     `json:"preprocess_ms"` // per image, preprocessing and input quantization
	MSMin        float64     `json:"ms_min"`        // per image
	MSMedian     float64     `json:"ms_median"`     // per image
	ImagesPerS   float64     `json:"images_per_s"`
	GOPS         float64     `json:"gops"` // 2·MACs per second, at the median
	Peak         *peak       `json:"peak,omitempty"`
	PeakShare    float64     `json:"peak_share,omitempty"` // at the min; absent when the probe never beat the network
	MedianShare  float64     `json:"median_share,omitempty"`
	Layers       []layerJSON `json:"layers,omitempty"`
}

// peak is the int8 arithmetic peak of the CPU threads a plan uses, measured (measurePeak).
type peak struct {
	GOPS    float64            `json:"gops"`    // 2·multiply-adds per second over the network's convolutions
	Threads int                `json:"threads"` // probes run at once
	GMACs   map[string]float64 `json:"gmacs"`   // per kernel: G multiply-adds per second, all threads together
}

type layerJSON struct {
	Node   string  `json:"node"`
	Kernel string  `json:"kernel,omitempty"` // the CPU backend's GEMM kernel for a conv
	Op     string  `json:"op"`
	Out    string  `json:"out"`
	MS     float64 `json:"ms"` // per image
	Share  float64 `json:"share"`
	GOPS   float64 `json:"gops,omitempty"`
}

func bench(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninedge bench", "ninedge bench --model Q [--backend B] [--threads T] [--batch B] [--runs N] [--json]")
	var rf cli.RunFlags
	rf.Add(fs.FlagSet, modelHelp, 1)
	runs := fs.Int("runs", 50, "timed runs")
	warmup := fs.Int("warmup", 5, "untimed runs first")
	asJSON := fs.Bool("json", false, "one JSON object: ms_min, ms_median, images_per_s, gops, peak, layers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs < 1 || *warmup < 0 {
		return cli.Usagef("want --runs at least 1, --warmup not negative (have %d, %d)", *runs, *warmup)
	}
	c, err := rf.OpenInt8(e, "ninedge", false)
	if err != nil {
		return err
	}
	defer c.Close()
	g, plan, dev, batch := c.Graph, c.Choice.Plan, c.Choice.Device, rf.Batch

	r := benchJSON{Model: g.Spec.Name, Backend: dev.Backend, Device: dev.Name, Threads: dev.Threads,
		Batch: batch, Runs: *runs, MACs: g.Spec.TotalMACs()}
	if kp, ok := plan.(backends.KernelProfiler); ok {
		r.Kernel = kp.Kernels()
	}
	images := make([]uint8, batch*g.Spec.Input.Size())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range images {
		images[i] = uint8(rng.UintN(256))
	}
	// Preprocessing is timed on its own: it is float work outside the int8 network.
	var in []uint8
	pre := timeRuns(min(*runs, 10), func() error { in = c.Quantize(images, batch); return nil }, nil)
	r.PreprocessMS = median(pre) / float64(batch)

	sums := make([]int32, batch*len(g.Classes))
	runNet := func() error {
		if e.Ctx.Err() != nil {
			return errInterrupted
		}
		return plan.Run(in, batch, sums)
	}
	for range *warmup {
		if err := runNet(); err != nil {
			return err
		}
	}
	probe := newPeakProbe(plan, g, dev.Threads)
	times := timeRuns(*runs, runNet, probe.burst)
	if times == nil {
		return runNet() // it failed: say why
	}
	r.MSMin, r.MSMedian = slices.Min(times)/float64(batch), median(times)/float64(batch)
	r.ImagesPerS = 1000 / r.MSMedian
	r.GOPS = 2 * float64(r.MACs) / r.MSMedian / 1e6
	if p := probe.settle(2 * float64(r.MACs) / r.MSMin / 1e6); p != nil {
		r.Peak, r.MedianShare = p, r.GOPS/p.GOPS
		if share := 2 * float64(r.MACs) / r.MSMin / 1e6 / p.GOPS; share <= 1 {
			r.PeakShare = share
		}
	}
	if prof, ok := plan.(backends.Profiler); ok && e.Ctx.Err() == nil {
		if r.Layers, err = profile(prof, g, in, batch, *runs, sums); err != nil {
			return err
		}
	}
	if e.Ctx.Err() != nil {
		return errInterrupted
	}
	if *asJSON {
		return json.NewEncoder(e.Stdout).Encode(r)
	}
	printBench(e.Stdout, &r, g.Pre.Kind)
	return nil
}

// timeRuns times n calls of f in milliseconds, calling between (when not nil) after each,
// untimed; nil when one fails.
func timeRuns(n int, f func() error, between func()) []float64 {
	t := make([]float64, n)
	for i := range t {
		start := time.Now()
		if f() != nil {
			return nil
		}
		t[i] = float64(time.Since(start).Nanoseconds()) / 1e6
		if between != nil {
			between()
		}
	}
	return t
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

// nodeKernel names the CPU backend's GEMM kernel for node i ("" elsewhere).
func nodeKernel(p backends.Profiler, i int) string {
	if kp, ok := p.(backends.KernelProfiler); ok {
		return kp.Kernel(i)
	}
	return ""
}

// profile runs the plan's per-node timing runs times and returns each node's time per image,
// its share of the sum, and its arithmetic rate.
func profile(p backends.Profiler, g *quant.Graph, in []uint8, batch, runs int, sums []int32) ([]layerJSON, error) {
	per := make([]time.Duration, len(g.Nodes))
	for range runs {
		if err := p.Profile(in, batch, sums, per); err != nil {
			return nil, err
		}
	}
	var total time.Duration
	for _, d := range per {
		total += d
	}
	var out []layerJSON
	for i, n := range g.Nodes {
		if per[i] == 0 {
			continue
		}
		l := layerJSON{Node: n.Name, Op: n.Op, Out: n.Out.String(), Kernel: nodeKernel(p, i),
			MS: per[i].Seconds() * 1000 / float64(runs*batch), Share: per[i].Seconds() / total.Seconds()}
		if n.Op == quant.OpConv {
			l.GOPS = 2 * float64(n.MACs()) / (l.MS / 1000) / 1e9
		}
		out = append(out, l)
	}
	return out, nil
}

// peakProbe measures the arithmetic ceiling of a CPU plan: each conv node's kernel runs its
// multiply-accumulate instructions on registers only, on the plan's threads at once
// (KernelProfiler.Peak), and the network's peak is its conv work done at those rates. The
// machine may be shared: a probe that loses a core to another process reads low, and one
// long probe before or after the runs met other weather than they did (shares of 160 % were
// printed that way). So the probe runs in short bursts between the timed runs, and each
// kernel keeps its best burst, as the runs keep their min.
type peakProbe struct {
	kp      backends.KernelProfiler
	g       *quant.Graph
	threads int
	best    map[string]float64 // G multiply-adds per second
}

// peakBurst is one probe of one kernel: a few runs of a small network.
const peakBurst = 2 * time.Millisecond

// newPeakProbe returns nil for other backends and for the portable Go kernel, which has no
// meaningful peak.
func newPeakProbe(plan backends.Plan, g *quant.Graph, threads int) *peakProbe {
	kp, ok := plan.(backends.KernelProfiler)
	if !ok {
		return nil
	}
	pp := &peakProbe{kp: kp, g: g, threads: threads, best: map[string]float64{}}
	for i := range g.Nodes {
		if k := kp.Kernel(i); k != "" {
			pp.best[k] = 0
		}
	}
	if len(pp.best) == 0 {
		return nil
	}
	return pp
}

// burst probes every kernel once and keeps the better rates.
func (pp *peakProbe) burst() {
	if pp == nil {
		return
	}
	for k, r := range pp.best {
		pp.best[k] = max(r, pp.kp.Peak(k, peakBurst)/1e9)
	}
}

// settle returns the network's peak from the best bursts, probing further (at most a second)
// while the network's best rate, gops, still beats it; nil when a kernel has no peak.
func (pp *peakProbe) settle(gops float64) *peak {
	if pp == nil {
		return nil
	}
	p := pp.peak()
	for start := time.Now(); p != nil && p.GOPS < gops && time.Since(start) < time.Second; p = pp.peak() {
		pp.burst()
	}
	return p
}

func (pp *peakProbe) peak() *peak {
	p := &peak{Threads: pp.threads, GMACs: maps.Clone(pp.best)}
	var macs, seconds float64
	for i, n := range pp.g.Nodes {
		k := pp.kp.Kernel(i)
		if k == "" {
			continue
		}
		rate := pp.best[k]
		if rate == 0 {
			return nil
		}
		m := float64(n.MACs())
		macs += m
		seconds += m / (rate * 1e9)
	}
	p.GOPS = 2 * macs / seconds / 1e9
	return p
}

func printBench(w io.Writer, r *benchJSON, pre string) {
	dev := r.Device
	if r.Kernel != "" {
		dev += fmt.Sprintf(", %d threads, kernel %s", r.Threads, r.Kernel)
	}
	fmt.Fprintf(w, "model %s: %.1f M multiply-adds per image; %s %s; batch %d, %d runs\n", r.Model, float64(r.MACs)/1e6, r.Backend, dev, r.Batch, r.Runs)
	fmt.Fprintf(w, "preprocess (%s, then input quantization; timed apart from the network): %.3f ms per image\n", pre, r.PreprocessMS)
	fmt.Fprintf(w, "network: min %.3f ms, median %.3f ms per image; %.1f images/s; %.1f GOPS\n", r.MSMin, r.MSMedian, r.ImagesPerS, r.GOPS)
	if p := r.Peak; p != nil {
		var rates []string
		for _, k := range slices.Sorted(maps.Keys(p.GMACs)) {
			rates = append(rates, fmt.Sprintf("%s %.1f", k, p.GMACs[k]))
		}
		reached := fmt.Sprintf("reached %.1f%% at the min, %.1f%% at the median", 100*r.PeakShare, 100*r.MedianShare)
		if r.PeakShare == 0 {
			reached = "no share: the network's best run beat every probe, so the machine was too busy for the probe to find its peak"
		}
		fmt.Fprintf(w, "peak: %.1f GOPS, measured: each kernel's multiply-accumulate instructions on registers only, %d threads, best of bursts between the runs (G multiply-adds/s: %s); %s\n",
			p.GOPS, p.Threads, strings.Join(rates, ", "), reached)
	}
	if len(r.Layers) == 0 {
		return
	}
	fmt.Fprintln(w, "per layer (mean of the profiled runs):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\top\toutput\tms\tshare\tGOPS\tkernel\t")
	for _, l := range r.Layers {
		gops := "-"
		if l.GOPS > 0 {
			gops = fmt.Sprintf("%.1f", l.GOPS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.1f%%\t%s\t%s\t\n", l.Node, l.Op, l.Out, l.MS, 100*l.Share, gops, l.Kernel)
	}
	tw.Flush()
}
