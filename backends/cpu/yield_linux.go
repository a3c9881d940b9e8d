package cpu

import "syscall"

// osYield gives the core to another runnable thread, if any, while a goroutine spins: on a
// shared machine the thread it would starve may be the caller's. RawSyscall: sched_yield
// never blocks, so the scheduler need not hand the P over.
func osYield() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
