package cli

import (
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress returns a callback that draws a progress bar on stderr when it is a terminal, and
// does nothing otherwise (logs and pipes stay clean).
func Progress(total int, what string) (update func(done int), finish func()) {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return func(int) {}, func() {}
	}
	bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"),
		progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
	return func(done int) { _ = bar.Set(done) }, func() { _ = bar.Finish() }
}
