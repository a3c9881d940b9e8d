package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"

	"github.com/ninedge/ninedge/imageio"
)

// byteSize is a flag of bytes: 134217728, 128MiB, 128M, 1.5G, 512k (powers of 1024 all).
type byteSize int64

func (b *byteSize) String() string { return imageio.FormatBytes(int64(*b)) }
func (b *byteSize) Type() string   { return "bytes" }

func (b *byteSize) Set(s string) error {
	num := strings.TrimRight(strings.TrimSpace(s), "BbIi")
	shift := 0
	if n := len(num); n > 0 {
		if i := strings.IndexByte("KMGT", num[n-1]&^0x20); i >= 0 { // upper case
			shift, num = 10*(i+1), num[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	v *= math.Exp2(float64(shift))
	if err != nil || !(v >= 1 && v < 1<<62) {
		return fmt.Errorf("%q: want a size such as 128MiB, 512K or 134217728", s)
	}
	*b = byteSize(v)
	return nil
}

// memoryHeadroom is what a command needs beyond the model and one decode: frames, uploads,
// connections.
const memoryHeadroom = 32 << 20

// applyImageMemory makes budget the memory budget of every decode, and sets the Go memory
// limit to what the process uses now (the model is loaded) plus budget and memoryHeadroom.
// The garbage collector then works harder near the limit instead of letting the heap grow
// to twice what is live, and gives memory back to the system; a decode at its budget while
// uploads arrive may take the process past it for a while (the limit is soft). A GOMEMLIMIT
// in the environment is the user's choice and wins.
func applyImageMemory(budget int64) {
	imageio.SetMemoryBudget(budget)
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	inUse := int64(s[0].Value.Uint64() - s[1].Value.Uint64())
	debug.SetMemoryLimit(inUse + budget + memoryHeadroom)
}
