//go:build linux

// Command permprobe is run by perms_e2e_linux_test.go as an unprivileged
// user: for each NUL-terminated path on its standard input it prints one
// JSON line saying what this user's lstat, and access(2) for reading,
// writing and searching/executing, answered ("" when allowed, else the
// errno's name). It follows no symbolic link.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

type result struct {
	Path  string `json:"path"`
	Lstat string `json:"lstat"`
	R     string `json:"r"`
	W     string `json:"w"`
	X     string `json:"x"`
}

func errnoName(err error) string {
	if err == nil {
		return ""
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

func main() {
	in := bufio.NewReader(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for {
		p, err := in.ReadString(0)
		if err != nil {
			return
		}
		p = p[:len(p)-1]
		r := result{Path: p}
		var st unix.Stat_t
		r.Lstat = errnoName(unix.Lstat(p, &st))
		r.R = errnoName(unix.Faccessat(unix.AT_FDCWD, p, unix.R_OK, unix.AT_SYMLINK_NOFOLLOW))
		r.W = errnoName(unix.Faccessat(unix.AT_FDCWD, p, unix.W_OK, unix.AT_SYMLINK_NOFOLLOW))
		r.X = errnoName(unix.Faccessat(unix.AT_FDCWD, p, unix.X_OK, unix.AT_SYMLINK_NOFOLLOW))
		if err := out.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
