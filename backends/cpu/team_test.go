package cpu

import (
	"sync/atomic"
	"testing"
	"time"
)

// Every part of every job runs exactly once, whether the workers spin or have parked and
// whether the caller spins or parks for the last parts, and close ends parked and spinning
// workers alike.
func TestTeamRunsEachPartOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		threads int
		parts   []int
		gap     time.Duration // between jobs: past spinFor, the workers park
		part    time.Duration // a worker's part: past callerSpinFor, the caller parks
	}{
		{"two spinning", 2, []int{1, 2, 7, 64, 3}, 0, 0},
		{"three parked", 3, []int{5, 1, 9}, 2 * spinFor, 0},
		{"four spinning", 4, []int{100, 4, 2, 33}, 0, 0},
		{"caller parked", 2, []int{2, 3, 8}, 0, 2 * callerSpinFor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var counts [128]atomic.Int32
			var workers [8]atomic.Int32
			tm := newTeam(tc.threads, func(w int, j job, part int) {
				counts[part].Add(1)
				workers[w].Add(1)
				if w > 0 {
					time.Sleep(tc.part)
				}
			})
			defer tm.close()
			for round := 0; round < 50; round++ {
				for _, parts := range tc.parts {
					tm.run(job{parts: parts})
					for k := range counts {
						want := int32(0)
						if k < parts {
							want = 1
						}
						if got := counts[k].Swap(0); got != want {
							t.Fatalf("round %d, %d parts: part %d ran %d times", round, parts, k, got)
						}
					}
					time.Sleep(tc.gap)
				}
				if (tc.gap > 0 || tc.part > 0) && round == 3 {
					break
				}
			}
			for w := tc.threads; w < len(workers); w++ {
				if workers[w].Load() != 0 {
					t.Errorf("goroutine %d of %d ran parts", w, tc.threads)
				}
			}
		})
	}
}
