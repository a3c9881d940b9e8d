// Package cli is the one skeleton of the three commands: a Program parses its command line,
// runs a command with an Env (so tests run commands in-process), and maps the error it
// returns to one line on stderr and an exit status, in one place; Main is the only os.Exit.
// Beside it are the flag groups the commands share (RunFlags, DataFlags) and their checks.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ninedge/ninedge/backends"
	"github.com/spf13/pflag"
)

// Env is what a command reads and writes.
type Env struct {
	Ctx            context.Context
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Reload receives a value for each SIGHUP, for a command that Reloads (nil otherwise).
	Reload <-chan struct{}
}

// Command is one subcommand.
type Command struct {
	Name     string
	Synopsis string // one line in the program's list of commands
	Run      func(e *Env, args []string) error
	// Reloads makes SIGHUP mean "load the model again" (Env.Reload) rather than "stop".
	Reloads bool
}

// Program is a command-line tool: either subcommands (Commands) or one Run of its own.
type Program struct {
	Name     string
	Commands []Command // listed in this order by --help
	Run      func(e *Env, args []string) error
	// Grace is how long a command may take to stop after SIGINT or SIGTERM before the
	// process ends at once (≤ 0: it is never forced; a second signal always is).
	Grace time.Duration
}

// Main runs the program on the process's arguments and exits with its status.
func (p *Program) Main() {
	reloads := false
	for _, c := range p.Commands {
		if len(os.Args) > 1 && c.Name == os.Args[1] {
			reloads = c.Reloads
		}
	}
	ctx, reload, stop := SignalContext(p.Name, p.Grace, reloads)
	code := p.Exec(&Env{Ctx: ctx, Reload: reload, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// Exec runs one command line and returns the exit status (see Status), having printed the
// error, if any, as one line on e.Stderr.
func (p *Program) Exec(e *Env, args []string) int {
	if p.Run != nil {
		return report(e.Stderr, p.Name, p.Run(e, args))
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		p.usage(e.Stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range p.Commands {
		if c.Name == args[0] {
			return report(e.Stderr, p.Name+" "+c.Name, c.Run(e, args[1:]))
		}
	}
	return report(e.Stderr, p.Name, Usagef("unknown command %q (run %s --help)", args[0], p.Name))
}

func (p *Program) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\ncommands:\n", p.Name)
	for _, c := range p.Commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.Name, c.Synopsis)
	}
	fmt.Fprintf(w, "\n'%s COMMAND --help' describes each.\n", p.Name)
}

// report prints err as one line prefixed by prog and returns the exit status.
func report(w io.Writer, prog string, err error) int {
	code := Status(err)
	if err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintf(w, "%s: %v\n", prog, strings.TrimPrefix(err.Error(), "usage: "))
	}
	return code
}

// ErrUsage marks errors in how a command was called.
var ErrUsage = errors.New("usage")

// Usagef returns a usage error.
func Usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}

// ExitError ends a command with its own status: a verdict the caller scripts against (a
// report's accuracy drop past its limit), or a run stopped by a signal.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Status is the exit status for a command's error: 0 for none (or --help), 2 for usage
// errors (a --device the backend does not have among them, known only once its devices are
// listed), an ExitError's own code, and 1 for every other failure.
func Status(err error) int {
	var exit *ExitError
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		return exit.Code
	case errors.Is(err, ErrUsage), errors.Is(err, backends.ErrNoDevice):
		return 2
	}
	return 1
}

// FlagSet is a command's flags. Parse errors come back as usage errors, printed once by the
// program; --help prints the synopsis and the flags.
type FlagSet struct {
	*pflag.FlagSet
	synopsis string
	stderr   io.Writer
}

// NewFlags makes the flags of the command prog ("ninedge classify"), whose synopsis follows
// "usage: " in --help.
func NewFlags(e *Env, prog, synopsis string) *FlagSet {
	fs := pflag.NewFlagSet(prog, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &FlagSet{FlagSet: fs, synopsis: synopsis, stderr: e.Stderr}
}

// Parse parses args; with --help it prints the usage and returns pflag.ErrHelp (status 0).
func (fs *FlagSet) Parse(args []string) error {
	err := fs.FlagSet.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprintf(fs.stderr, "usage: %s\n\n%s", fs.synopsis, fs.FlagUsages())
		return err
	case err != nil:
		return Usagef("%v", err)
	}
	return nil
}

// NoArgs refuses arguments left after the flags.
func (fs *FlagSet) NoArgs() error {
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
