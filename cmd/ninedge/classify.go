package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/imageio"
	"github.com/ninedge/ninedge/infer"
)

func classify(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninedge classify", "ninedge classify --model Q [--top K] [--json] FILE|DIR...")
	var lf labelFlags
	lf.add(fs)
	asJSON := fs.Bool("json", false, "one JSON object per image: input, top (class, label, prob), ms")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return cli.Usagef("no images given")
	}
	lab, _, done, err := lf.labeler(e)
	if err != nil {
		return err
	}
	defer done()
	enc := json.NewEncoder(e.Stdout)
	inputs, failed := 0, 0
	fail := func(err error) {
		failed++
		fmt.Fprintf(e.Stderr, "ninedge classify: %v\n", err)
	}
	for _, arg := range fs.Args() {
		files, err := expand(arg, e.Stderr)
		if err != nil {
			inputs++
			fail(err)
			continue
		}
		for _, f := range files {
			if e.Ctx.Err() != nil {
				return fmt.Errorf("%w after %d inputs", errInterrupted, inputs)
			}
			inputs++
			r, err := classifyFile(lab, f)
			switch {
			case errors.Is(err, infer.ErrVerify):
				return fmt.Errorf("%s: %w", f, err)
			case err != nil:
				fail(err)
			case *asJSON:
				if err := enc.Encode(r); err != nil {
					return err
				}
			default:
				if _, err := fmt.Fprintf(e.Stdout, "%s: %s (%.1f ms)\n", r.Input, topText(r.Top), r.MS); err != nil {
					return err // a full disk: the listing would be cut short without a word
				}
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inputs could not be classified", failed, inputs)
	}
	return nil
}

// expand turns a folder into its image files, in name order, saying on stderr which entries
// it skipped (a dangling link): not a failure, as a camera's folder may hold one at any time.
func expand(arg string, stderr io.Writer) ([]string, error) {
	st, err := os.Stat(arg)
	if err != nil || !st.IsDir() {
		return []string{arg}, nil // classifyFile reports what is wrong with it
	}
	files, skipped, err := imageio.ListImages(arg)
	for _, s := range skipped {
		fmt.Fprintf(stderr, "ninedge classify: skipping %v\n", s)
	}
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("%s: no image files in the folder", arg)
	}
	return files, err
}

// classifyFile decodes, fits and labels one image file; ms covers all of it.
func classifyFile(lab *infer.Labeler, path string) (infer.Result, error) {
	start := time.Now()
	img, err := imageio.DecodeFile(path)
	if err != nil {
		return infer.Result{}, err
	}
	top, err := lab.Image(img)
	if err != nil {
		return infer.Result{}, err
	}
	return infer.Result{Input: path, Top: top, MS: float64(time.Since(start).Microseconds()) / 1000}, nil
}

// topText formats a top-k list for people: "cat 0.912, dog 0.050".
func topText(top []infer.Class) string {
	var b strings.Builder
	for i, c := range top {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.3f", c.Label, c.Prob)
	}
	return b.String()
}
