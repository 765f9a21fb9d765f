//go:build unix

package exec

import (
	osexec "os/exec"
	"syscall"
)

// killGroup makes c's program lead a process group of its own, which
// cancelling kills whole.
func killGroup(c *osexec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
}
