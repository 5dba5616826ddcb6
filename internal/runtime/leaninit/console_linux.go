package leaninit

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// setupConsole makes the container's terminal in its own devpts (after
// pivot_root): the master goes to the shim on the console socket, the
// peer is bound over /dev/console and becomes the init's stdio and
// controlling terminal.
func setupConsole(cfg *Config) error {
	defer unix.Close(cfg.ConsoleFd)
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return &os.SyscallError{Syscall: "ioctl(TIOCSPTLCK)", Err: err}
	}
	// The peer is opened through the master, not by a /dev/pts path the
	// container's files could redirect.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return &os.SyscallError{Syscall: "ioctl(TIOCGPTPEER)", Err: errno}
	}
	peer := int(r)
	defer unix.Close(peer)
	if cfg.ConsoleWidth != 0 && cfg.ConsoleHeight != 0 {
		ws := &unix.Winsize{Row: cfg.ConsoleHeight, Col: cfg.ConsoleWidth}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return &os.SyscallError{Syscall: "ioctl(TIOCSWINSZ)", Err: err}
		}
	}
	f, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0o666)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "create", Path: "/dev/console", Err: err}
	}
	if err == nil {
		unix.Fchmod(f, 0o666)
		unix.Close(f)
	}
	if err := unix.Mount(fdPath(peer), "/dev/console", "bind", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind", Path: "/dev/console", Err: err}
	}
	if err := unix.Sendmsg(cfg.ConsoleFd, []byte("/dev/ptmx"), unix.UnixRights(master), nil, 0); err != nil {
		return &os.SyscallError{Syscall: "sendmsg(console)", Err: err}
	}
	for fd := range 3 {
		if err := unix.Dup3(peer, fd, 0); err != nil {
			return &os.SyscallError{Syscall: "dup3", Err: err}
		}
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0); errno != 0 {
		return &os.SyscallError{Syscall: "ioctl(TIOCSCTTY)", Err: errno}
	}
	return nil
}
