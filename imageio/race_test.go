//go:build race

package imageio

// raceEnabled: the race detector makes sync.Pool drop items at random, so x/image/draw's
// scratch buffers are reallocated and allocation counts mean nothing.
const raceEnabled = true
