package monitor

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/runtime/shimapi"
)

// FinishCreate finishes a lean create the shim handed over (cfg.Pending):
// it reads the init's answer and answers the shim's caller on the ready
// pipe — the shim's response with the last steps, once the init waits on
// the exec fifo, or the init's error, once the create is undone (the init
// killed and reaped, its cgroups and state removed), as the shim's own
// create undoes it. It reports whether the container was created; if not,
// the monitor exits.
func FinishCreate(cfg Config) bool {
	p := cfg.Pending
	sync := os.NewFile(uintptr(p.SyncFd), "init-sync")
	ready := os.NewFile(uintptr(p.ReadyFd), "ready")
	unix.CloseOnExec(p.SyncFd)
	unix.CloseOnExec(p.ReadyFd)
	defer ready.Close()
	b, _ := io.ReadAll(io.LimitReader(sync, 1<<16))
	sync.Close()
	resp := p.Response
	if string(b) == "r" {
		now := time.Now()
		resp.Steps = append(resp.Steps,
			shimapi.TimedStep{Name: "lean init: ready", At: now},
			shimapi.TimedStep{Name: "lean init", At: now},
			shimapi.TimedStep{Name: "container created (init waiting to start)", At: time.Now()})
		out, _ := json.Marshal(resp)
		_, err := ready.Write(out)
		return err == nil
	}
	msg := "hull-init exited before the container was created"
	if len(b) > 0 {
		// In libcontainer's words, which clients match.
		msg = "unable to start container process: error during container init: " + string(b)
	}
	failCreate(cfg, ready, errors.New(msg))
	return false
}

// AbandonCreate undoes a pending create this monitor cannot serve (err:
// why) and answers the shim's caller with err, as FinishCreate answers an
// init's failure.
func AbandonCreate(cfg Config, err error) {
	ready := os.NewFile(uintptr(cfg.Pending.ReadyFd), "ready")
	defer ready.Close()
	failCreate(cfg, ready, err)
}

// failCreate undoes the pending create and answers err on ready.
func failCreate(cfg Config, ready *os.File, err error) {
	undoCreate(cfg)
	out, _ := json.Marshal(StartFailure(err))
	ready.Write(out)
}

// undoCreate undoes a create whose init failed: what the shim's lean
// create undoes when it fails.
func undoCreate(cfg Config) {
	pid := cfg.Record.Pid
	if pid > 0 {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
	}
	if err := removeCgroups(cfg.CgroupPaths, time.Now().Add(2*time.Second)); err != nil {
		slog.Warn("create failed: remove its cgroups", "container", cfg.ID, "error", err)
	}
	if err := os.RemoveAll(filepath.Join(cfg.Root, "state", cfg.ID)); err != nil {
		slog.Warn("create failed: remove its state", "container", cfg.ID, "error", err)
	}
}

// removeCgroups removes the container's cgroup folders, retrying a busy
// one until deadline (the kernel may still be tearing down the last
// processes of the container).
func removeCgroups(paths map[string]string, deadline time.Time) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		for {
			err := unix.Rmdir(p)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				return &os.PathError{Op: "rmdir", Path: p, Err: err}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// StartFailure answers for a process the runtime could not start, as
// dockerd classifies such an error (its setExitCodeFromError, on the
// message: the init reports its error as text): the exit status a shell
// gives, 126 for a program that cannot run (EACCES; EISDIR, to which
// dockerd adds EACCES's text since the docker CLI looks for it), 127 for
// one that is not there (or a mount of a file on a folder), 128 for a
// sysctl value the kernel refuses; the caller's mistake (InvalidArgument),
// unless the cause is unknown (128). The message is libcontainer's,
// without the kind appended.
func StartFailure(err error) shimapi.Response {
	msg := err.Error()
	l := strings.ToLower(msg)
	resp := shimapi.Response{Error: msg, Kind: "invalid"}
	switch {
	case strings.Contains(l, unix.EACCES.Error()):
		resp.Exit = 126
	case strings.Contains(l, unix.EISDIR.Error()):
		resp.Error, resp.Exit = msg+": "+unix.EACCES.Error(), 126
	case strings.Contains(l, unix.ENOTDIR.Error()):
		resp.Error = msg + ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type"
		resp.Exit = 127
	case strings.Contains(l, "executable file not found") || strings.Contains(l, "no such file or directory"):
		resp.Exit = 127
	case strings.Contains(l, "failed to write sysctl") && strings.Contains(l, unix.EINVAL.Error()):
		// A value the kernel refuses (kernel.shmmax=abc): the caller's.
		resp.Exit = 128
	default:
		resp.Kind, resp.Exit = "", 128
	}
	return resp
}
