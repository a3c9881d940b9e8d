// Command ninedge runs int8 NIN models on small devices: on image files, on a camera stream,
// behind an HTTP server, and in a benchmark.
//
//	ninedge classify --model Q [--top K] [--json] FILE|DIR...
//	ninedge stream   --model Q --source [NAME=]SPEC... [--json] [--every-frame] [--fps F] [--size WxH] [--mqtt URL]
//	ninedge serve    --model Q [--listen ADDR] [--source [NAME=]SPEC...] [--mqtt URL]
//	ninedge bench    --model Q [--batch B] [--runs N] [--json]
//	ninedge devices  [--json]
//
// Every command but devices takes --backend cpu|opencl|vulkan|auto, --device N (with a named
// backend) and --threads T, and says on stderr which device it runs on and why. stream and
// serve load the model again on SIGHUP (serve also on POST /api/reload).
package main

import (
	"errors"
	"time"

	_ "github.com/ninedge/ninedge/backends/cpu" // registers "cpu"; opencl and vulkan register in backend_*.go when built
	"github.com/ninedge/ninedge/cmd/internal/cli"
)

var program = &cli.Program{
	Name: "ninedge",
	Commands: []cli.Command{
		{Name: "bench", Synopsis: "time the network: ms per image, GOPS, share of the peak, per layer", Run: bench},
		{Name: "classify", Synopsis: "classify images and folders of images", Run: classify},
		{Name: "devices", Synopsis: "list the devices of every backend", Run: devices},
		{Name: "serve", Synopsis: "HTTP page with the live picture and label, /predict, /metrics", Run: serve, Reloads: true},
		{Name: "stream", Synopsis: "classify a camera or a recorded stream, newest frame first", Run: streamCmd, Reloads: true},
	},
	Grace: stopGrace,
}

// errInterrupted ends a command that SIGINT or SIGTERM stopped before it was done.
var errInterrupted = errors.New("interrupted")

// stopGrace is how long a command may take to stop after SIGINT or SIGTERM before it is
// ended at once: time for a server's requests in flight to finish, and a little more.
const stopGrace = shutdownGrace + 2*time.Second

func main() { program.Main() }
