package cpu

import (
	"runtime"
	"sync/atomic"
	"time"
)

// team runs one node at a time on the calling goroutine and threads−1 workers. A layer of
// nin-cifar10 lasts from 2 to 400 µs at batch 1, and waking a parked goroutine costs tens of
// microseconds, so the workers spin on the node counter for a while after each node before
// they park, the caller takes parts itself instead of waiting, and parts are taken from a
// shared counter, so that a worker whose core is busy elsewhere delays no more than one part.
type team struct {
	// state holds the node's generation in its high 32 bits and the next part to take in its
	// low 32: a part is taken by one compare-and-swap, which fails once the generation moves on.
	state   atomic.Uint64
	pending atomic.Int64 // parts of the current generation not yet done
	stop    atomic.Bool
	// The caller parks too when the last parts take long (a worker's core was taken by
	// another process): spinning then would only take time from that worker.
	callerWaits atomic.Bool
	done        chan struct{}
	job         job // the current generation's node; written only while no worker reads it
	workers     []teamWorker
	do          func(w int, j job, part int)
}

type teamWorker struct {
	// active is set while this worker reads or runs a job: the caller writes the next job only
	// when no worker holds the current one.
	active   atomic.Bool
	sleeping atomic.Bool
	wake     chan struct{}
	_        [48]byte // one cache line per worker (16 bytes above): they spin on their own flags
}

// spinFor is how long an idle worker polls for the next node before it parks: longer than
// the gap between two nodes of one frame (the caller's share of a node), far shorter than
// the gap between frames of a camera. The caller polls for the last parts of a node for
// callerSpinFor at most: a part lasts tens of microseconds unless its worker lost its core.
const (
	spinFor       = 200 * time.Microsecond
	callerSpinFor = 50 * time.Microsecond
)

// newTeam starts threads−1 workers running do(w, job, part) for w in [1, threads).
func newTeam(threads int, do func(w int, j job, part int)) *team {
	t := &team{workers: make([]teamWorker, threads-1), do: do, done: make(chan struct{}, 1)}
	for i := range t.workers {
		t.workers[i].wake = make(chan struct{}, 1)
		go t.work(i)
	}
	return t
}

// run runs j's parts and returns when all are done. Generations are even; the odd one
// between two closes the last job, so that a worker arriving late sees it gone before it
// reads t.job.
func (t *team) run(j job) {
	gen := uint32(t.state.Load()>>32) + 1
	t.state.Store(uint64(gen) << 32)
	gen++
	for i := range t.workers {
		// A worker still holding the previous job is about to let go of it (its parts are
		// done); wait so that the job is not rewritten under it.
		for spins := 0; t.workers[i].active.Load(); spins++ {
			pause(spins)
		}
	}
	t.job = j
	t.pending.Store(int64(j.parts))
	t.state.Store(uint64(gen) << 32)
	for i := range t.workers {
		if w := &t.workers[i]; w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	t.take(0, gen, &t.job)
	t.await()
}

// await returns when the current job's parts are all done.
func (t *team) await() {
	if t.pending.Load() == 0 {
		return
	}
	start := time.Now()
	for spins := 0; ; spins++ {
		if t.pending.Load() == 0 {
			return
		}
		if spins%64 == 63 {
			if time.Since(start) > callerSpinFor {
				break
			}
			yield()
		}
	}
	t.callerWaits.Store(true)
	if t.pending.Load() == 0 && t.callerWaits.CompareAndSwap(true, false) {
		return
	}
	<-t.done // the last part's worker claimed the wake-up and sends it
}

// take runs parts of generation gen's job until none is left.
func (t *team) take(w int, gen uint32, j *job) {
	for {
		s := t.state.Load()
		if uint32(s>>32) != gen || int(uint32(s)) >= j.parts {
			return
		}
		if t.state.CompareAndSwap(s, s+1) {
			t.do(w, *j, int(uint32(s)))
			if t.pending.Add(-1) == 0 && t.callerWaits.CompareAndSwap(true, false) {
				t.done <- struct{}{}
			}
		}
	}
}

// work is worker i's loop (goroutine index i+1: the caller is 0).
func (t *team) work(i int) {
	w := &t.workers[i]
	seen := uint32(0)
	for {
		gen := t.wait(w, seen)
		if t.stop.Load() {
			return
		}
		seen = gen
		w.active.Store(true)
		if uint32(t.state.Load()>>32) == gen {
			j := t.job
			t.take(i+1, gen, &j)
		}
		w.active.Store(false)
	}
}

// next returns the current generation if it is a published one other than seen.
func (t *team) next(seen uint32) (uint32, bool) {
	gen := uint32(t.state.Load() >> 32)
	return gen, (gen != seen && gen%2 == 0) || t.stop.Load()
}

// wait returns the first published generation after seen, spinning for spinFor and then
// parked.
func (t *team) wait(w *teamWorker, seen uint32) uint32 {
	start := time.Now()
	for spins := 0; ; spins++ {
		if gen, ok := t.next(seen); ok {
			return gen
		}
		if spins%64 == 63 {
			if time.Since(start) > spinFor {
				break
			}
			yield() // more threads than free cores: let the others run
		}
	}
	for {
		w.sleeping.Store(true)
		if gen, ok := t.next(seen); ok {
			if !w.sleeping.CompareAndSwap(true, false) {
				<-w.wake // run or close already claimed the wake-up: take its token
			}
			return gen
		}
		<-w.wake
		if gen, ok := t.next(seen); ok {
			return gen
		}
	}
}

// pause yields now and then while the caller waits for a worker to let go of a job.
func pause(spins int) {
	if spins%64 == 63 {
		yield()
	}
}

// yield lets whatever a spinning goroutine keeps waiting run: another goroutine when there are
// more goroutines than Ps (--threads above GOMAXPROCS), another thread when there are more
// threads than free cores.
func yield() {
	runtime.Gosched()
	osYield()
}

// close stops the workers; run must not be called afterwards.
func (t *team) close() {
	t.stop.Store(true)
	for i := range t.workers {
		if w := &t.workers[i]; w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
}
