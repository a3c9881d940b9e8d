// Command ninquant inspects, imports, evaluates and converts NIN models, and reports what
// int8 costs in accuracy.
//
//	ninquant inspect FILE
//	ninquant import --caffe FILE --arch nin-cifar10 --data DIR -o OUT
//	ninquant import --onnx FILE --mean M --std S [--classes FILE] [--arch NAME] -o OUT
//	ninquant export --onnx --model FILE -o OUT.onnx
//	ninquant eval --model FILE --dataset D --data DIR [--split test] [--limit N] [--json]
//	ninquant convert --model F --dataset D --data DIR [--calib N] [--method M] -o OUT
//	ninquant report --float F --int8 Q --dataset D --data DIR [--json FILE] [--md FILE]
package main

import (
	_ "github.com/ninedge/ninedge/backends/cpu" // registers "cpu"; opencl and vulkan register in backend_*.go when built
	"github.com/ninedge/ninedge/cmd/internal/cli"
)

var program = &cli.Program{
	Name: "ninquant",
	Commands: []cli.Command{
		{Name: "inspect", Synopsis: "layers, shapes, parameters, multiply-adds; scales of int8 files", Run: inspect},
		{Name: "import", Synopsis: "a Caffe .caffemodel or an ONNX file into a model file", Run: importCmd},
		{Name: "eval", Synopsis: "top-1/top-5 accuracy and speed of a float or int8 model", Run: eval},
		{Name: "convert", Synopsis: "calibrate a float model and write its int8 model", Run: convert},
		{Name: "export", Synopsis: "a float model as ONNX", Run: exportCmd},
		{Name: "report", Synopsis: "float vs int8 accuracy, per class and per layer", Run: reportCmd},
	},
}

func main() { program.Main() }
