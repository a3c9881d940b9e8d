package stream

import "syscall"

// childAttr makes ffmpeg die with ninedge (SIGKILL when its parent ends, even by SIGKILL: no
// orphan keeps the camera's connection) and puts it in its own process group, so that a
// Ctrl-C in a terminal reaches ninedge only, which then stops ffmpeg in order.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
