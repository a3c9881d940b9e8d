package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ninedge/ninedge/backends"
	"github.com/ninedge/ninedge/cmd/internal/cli"
)

// devicesJSON is what `ninedge devices --json` prints.
type devicesJSON struct {
	Devices     []backends.DeviceInfo `json:"devices"`
	Unavailable []unavailable         `json:"unavailable,omitempty"`
}

// unavailable is a backend that lists no device, and why: not built into this binary (Build
// then says how to build it in), or built in without a usable device.
type unavailable struct {
	Backend string `json:"backend"`
	Error   string `json:"error"`
	Build   string `json:"build,omitempty"`
}

// optional are the backends a plain build (make build, CGO_ENABLED=0) leaves out, with the
// command that builds them in; each needs cgo and its own build tag.
var optional = []struct{ name, build string }{
	{"opencl", "make build-gpu (go build -tags opencl: cgo, the OpenCL headers and libOpenCL.so.1)"},
	{"vulkan", "make build-gpu (go build -tags vulkan: cgo; libvulkan.so.1 is loaded at run time)"},
}

func devices(e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "ninedge devices", "ninedge devices [--json] [--threads T]")
	var threads int
	cli.ThreadsFlag(fs.FlagSet, &threads)
	asJSON := fs.Bool("json", false, "one JSON object: devices (backend, name, type, driver, memory, capabilities) and unavailable backends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected argument %q", fs.Arg(0))
	}
	if err := cli.CheckThreads(threads); err != nil {
		return err
	}
	var out devicesJSON
	for _, name := range backends.Names() {
		b, err := backends.Get(name)
		var devs []backends.Device
		if err == nil {
			devs, err = b.Devices(backends.Options{Threads: threads})
		}
		if err == nil && len(devs) == 0 {
			err = errors.New("no devices")
		}
		if err != nil {
			out.Unavailable = append(out.Unavailable, unavailable{Backend: name, Error: err.Error()})
			continue
		}
		for i, d := range devs {
			info := d.Info()
			info.Index = i
			out.Devices = append(out.Devices, info)
		}
	}
	for _, o := range optional {
		if !slices.Contains(backends.Names(), o.name) {
			out.Unavailable = append(out.Unavailable, unavailable{Backend: o.name, Error: "not built into this binary", Build: o.build})
		}
	}
	if *asJSON {
		if err := json.NewEncoder(e.Stdout).Encode(out); err != nil {
			return err
		}
	} else {
		printDevices(e.Stdout, &out)
	}
	if len(out.Devices) == 0 {
		return errors.New("no backend has a usable device")
	}
	return nil
}

func printDevices(w io.Writer, d *devicesJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tDEVICE\tNAME\tTYPE\tDRIVER\tMEMORY\tCAPABILITIES")
	for _, i := range d.Devices {
		mem := "-"
		if i.MemoryMB > 0 {
			mem = fmt.Sprintf("%d MiB", i.MemoryMB)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", i.Backend, i.Index, i.Name, i.Type, i.Driver, mem, capabilities(i))
	}
	for _, u := range d.Unavailable {
		if u.Build != "" {
			fmt.Fprintf(tw, "%s\t-\t%s: build it in with %s\n", u.Backend, u.Error, u.Build)
			continue
		}
		fmt.Fprintf(tw, "%s\t-\tunavailable: %s\n", u.Backend, u.Error)
	}
	tw.Flush()
}

// capabilities lists what decides how fast int8 runs on a device.
func capabilities(i backends.DeviceInfo) string {
	var c []string
	add := func(ok bool, s string) {
		if ok {
			c = append(c, s)
		}
	}
	add(i.Int8Storage, "int8-storage")
	add(i.IntegerDot, "integer-dot")
	add(i.Subgroup > 0, fmt.Sprintf("subgroup %d", i.Subgroup))
	add(i.Threads > 0, fmt.Sprintf("%d threads", i.Threads))
	c = append(c, i.Features...)
	return strings.Join(c, ", ")
}
