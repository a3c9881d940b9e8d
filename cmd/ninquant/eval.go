package main

import (
	"encoding/json"
	"fmt"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/infer"
)

func eval(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninquant eval", "ninquant eval --model FILE --dataset D --data DIR [--split test] [--limit N] [--json]")
	var run cli.RunFlags
	run.Add(fs.FlagSet, "float or int8 model file", 32)
	var data cli.DataFlags
	data.Add(fs.FlagSet, "test")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := run.Open(e, "ninquant eval")
	if err != nil {
		return err
	}
	defer c.Close()
	set, err := data.Load(c.Input())
	if err != nil {
		return err
	}
	res, err := evaluate(c, set, fmt.Sprintf("eval %s", data.Name))
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.Stdout).Encode(struct {
			Model   string `json:"model"`
			Dataset string `json:"dataset"`
			Split   string `json:"split"`
			infer.Evaluation
		}{run.Model, data.Name, data.Split, res})
	}
	fmt.Fprintf(e.Stdout, "%s on %s %s (%d images): top-1 %.2f%%  top-5 %.2f%%  %.1f images/s\n",
		run.Model, data.Name, data.Split, res.N, 100*res.Top1, 100*res.Top5, res.ImagesPerSec)
	return nil
}

// evaluate runs a scorer over a set with a progress bar on terminals.
func evaluate(s *infer.Classifier, set *dataset.Set, what string) (infer.Evaluation, error) {
	update, finish := cli.Progress(set.N, what)
	defer finish()
	return infer.Evaluate(s, set, set.N, false, update)
}
