// Command ninquant inspects, imports, evaluates and converts NIN models, and reports what
// int8 costs in accuracy.
//
//	ninquant inspect FILE
//	ninquant import --caffe FILE --arch nin-cifar10 --data DIR -o OUT
//	ninquant eval --model FILE --dataset D --data DIR [--split test] [--limit N] [--json]
//	ninquant convert --model F --dataset D --data DIR [--calib N] [--method M] -o OUT
//	ninquant report --float F --int8 Q --dataset D --data DIR [--json FILE] [--md FILE]
package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	_ "github.com/ninedge/ninedge/backends/cpu" // the int8 backend eval and report run on
	"github.com/ninedge/ninedge/internal/cli"
)

var commands = map[string]func(args []string) error{
	"inspect": inspect,
	"import":  importCaffe,
	"eval":    eval,
	"convert": convert,
	"report":  reportCmd,
}

const usage = `usage: ninquant COMMAND [flags]

commands:
  inspect FILE     layers, shapes, parameters, multiply-adds; scales of int8 files
  import           a Caffe .caffemodel into a float model file
  eval             top-1/top-5 accuracy and speed of a float or int8 model
  convert          calibrate a float model and write its int8 model
  report           float vs int8 accuracy, per class and per layer

'ninquant COMMAND --help' describes each.
`

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		cli.Exit("ninquant", cli.Usagef("unknown command %q (inspect, import, eval, convert, report)", os.Args[1]))
	}
	cli.Exit("ninquant "+os.Args[1], cmd(os.Args[2:]))
}

// newFlags makes a subcommand's flag set; parse errors come back as usage errors.
func newFlags(name, synopsis string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: ninquant %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			os.Exit(0)
		}
		return cli.Usagef("%v", err)
	}
	return nil
}
