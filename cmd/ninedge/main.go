// Command ninedge runs int8 NIN models on small devices: on image files, on a camera stream,
// behind an HTTP server, and in a benchmark.
//
//	ninedge classify --model Q [--top K] [--json] FILE|DIR...
//	ninedge stream   --model Q --source SPEC [--json] [--every-frame] [--fps F] [--size WxH]
//	ninedge serve    --model Q [--listen ADDR] [--source SPEC]
//	ninedge bench    --model Q [--batch B] [--runs N] [--json]
//	ninedge devices  [--json]
//
// Every command but devices takes --backend cpu|opencl|vulkan|auto, --device N (with a named
// backend) and --threads T, and says on stderr which device it runs on and why.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	_ "github.com/ninedge/ninedge/backends/cpu" // registers "cpu"; opencl and vulkan register in backend_*.go when built
	"github.com/ninedge/ninedge/internal/cli"
)

// env is what a command reads and writes, so that tests run commands in-process.
type env struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
}

var commands = map[string]struct {
	run      func(e *env, args []string) error
	synopsis string
}{
	"classify": {classify, "classify images and folders of images"},
	"stream":   {streamCmd, "classify a camera or a recorded stream, newest frame first"},
	"serve":    {serve, "HTTP page with the live picture and label, /predict, /metrics"},
	"bench":    {bench, "time the network: ms per image, GOPS, share of the peak, per layer"},
	"devices":  {devices, "list the devices of every backend"},
}

// errInterrupted ends a command that SIGINT or SIGTERM stopped before it was done.
var errInterrupted = errors.New("interrupted")

// stopGrace is how long a command may take to stop after SIGINT or SIGTERM before it is
// ended at once: time for a server's requests in flight to finish, and a little more.
const stopGrace = shutdownGrace + 2*time.Second

func main() {
	ctx, stop := cli.SignalContext("ninedge", stopGrace)
	code := run(&env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs one command line and returns the exit status: 0, 1 for failures, 2 for usage errors.
func run(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		return report(e.stderr, "ninedge", cli.Usagef("unknown command %q (run ninedge --help)", args[0]))
	}
	return report(e.stderr, "ninedge "+args[0], c.run(e, args[1:]))
}

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: ninedge COMMAND [flags]\n\ncommands:\n")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].synopsis)
	}
	fmt.Fprint(w, "\n'ninedge COMMAND --help' describes each.\n")
}

// report prints err as one line, as cli.Exit does, and returns the exit status.
func report(w io.Writer, prog string, err error) int {
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return 0
	}
	fmt.Fprintf(w, "%s: %v\n", prog, strings.TrimPrefix(err.Error(), "usage: "))
	if errors.Is(err, cli.ErrUsage) {
		return 2
	}
	return 1
}

// flagSet is a command's flags. Parse errors come back as usage errors, printed once by
// report; --help prints the synopsis and the flags.
type flagSet struct {
	*pflag.FlagSet
	synopsis string
	stderr   io.Writer
}

func newFlags(e *env, name, synopsis string) *flagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, synopsis: synopsis, stderr: e.stderr}
}

func (fs *flagSet) parse(args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprintf(fs.stderr, "usage: ninedge %s\n\n%s", fs.synopsis, fs.FlagUsages())
		return err
	case err != nil:
		return cli.Usagef("%v", err)
	}
	return nil
}
