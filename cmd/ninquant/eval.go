package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/internal/cli"
)

func eval(args []string) error {
	fs := newFlags("eval", "eval --model FILE --dataset D --data DIR [--split test] [--limit N] [--json]")
	model := fs.String("model", "", "float or int8 model file")
	var data cli.DataFlags
	data.Add(fs, "test")
	var run cli.RunFlags
	run.Add(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parse(fs, args); err != nil {
		return err
	}
	scorer, closeFn, err := run.Scorer(*model)
	if err != nil {
		return err
	}
	defer closeFn()
	set, err := data.Load(scorer.Input())
	if err != nil {
		return err
	}
	res, err := evaluate(scorer, set, fmt.Sprintf("eval %s", data.Name))
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(struct {
			Model   string `json:"model"`
			Dataset string `json:"dataset"`
			Split   string `json:"split"`
			infer.Result
		}{*model, data.Name, data.Split, res})
	}
	fmt.Printf("%s on %s %s (%d images): top-1 %.2f%%  top-5 %.2f%%  %.1f images/s\n",
		*model, data.Name, data.Split, res.N, 100*res.Top1, 100*res.Top5, res.ImagesPerSec)
	return nil
}

// evaluate runs a scorer over a set with a progress bar on terminals.
func evaluate(s infer.Scorer, set *dataset.Set, what string) (infer.Result, error) {
	update, finish := cli.Progress(set.N, what)
	defer finish()
	return infer.Evaluate(s, set, set.N, false, update)
}
