package main

import (
	"fmt"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/internal/atomicfile"
	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/onnx"
)

func exportCmd(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninquant export", "ninquant export --onnx --model F -o OUT.onnx")
	model := fs.String("model", "", "float model file")
	asONNX := fs.Bool("onnx", false, "write ONNX (opset 13): input [N, C, H, W], the preprocessed image; output [N, classes], the scores before softmax")
	out := fs.StringP("output", "o", "", "output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := fs.NoArgs(); err != nil {
		return err
	}
	switch {
	case !*asONNX:
		return cli.Usagef("--onnx is required (the one export format)")
	case *model == "" || *out == "":
		return cli.Usagef("--model and -o are required")
	}
	if err := cli.CheckOutputs([]string{*model}, *out); err != nil {
		return err
	}
	m, err := nin.Load(*model)
	if err != nil {
		return err
	}
	b, err := onnx.Export(m)
	if err != nil {
		return fmt.Errorf("%s: %w", *model, err)
	}
	if err := atomicfile.WriteFile(*out, b); err != nil {
		return err
	}
	// ONNX has no place for the preprocessing: whoever runs the file applies it first.
	fmt.Fprintf(e.Stderr, "wrote %s: %s, %d bytes; its input is the image after preprocessing %s, NCHW\n", *out, m.Spec.Name, len(b), describePre(m.Pre))
	return nil
}
