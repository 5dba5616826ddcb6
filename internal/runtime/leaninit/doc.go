// Package leaninit is hull's own container init: the program a container's
// first process runs (cmd/hull-init) from the moment the shim forks it into
// new namespaces until it executes the container's program. It does what
// libcontainer's init does for the configurations it supports — the rootfs
// and its mounts, devices, pivot_root, masked and read-only paths,
// hostname, sysctls, user, capabilities, no_new_privs, the exec fifo and a
// seccomp filter compiled beforehand — without libcontainer's re-exec
// stages and without compiling the seccomp profile again. The shim
// (internal/runtime, lean_linux.go) decides per container whether the lean
// init can take it and falls back to libcontainer otherwise; it writes
// libcontainer's state for the container, so that everything after the
// create (exec, pause, stats, update, kill, destroy) keeps using
// libcontainer.
//
// The shim and the init talk over one socket (fd 3 in the init):
//
//	shim → init: a 4-byte big-endian length and the Config as JSON
//	shim → init: "g" once the init is in its cgroups, with its
//	             oom_score_adj set (the init sets its rlimits itself, from
//	             the Config)
//	init → shim: "r" when it waits on the exec fifo, or an error's text;
//	             then the init closes the socket
//
// A pre-forked init (PreforkArg) is forked by a spare shim before its
// container is known, into a new pid namespace only (the one namespace a
// process cannot enter or make for itself later), says "w" on the socket
// and waits. Its config's length comes with its descriptors (SCM_RIGHTS):
// the init's fds 0, 1, 2, 4, 5… in that order, which it puts in their
// places before reading the config; the config then says which namespaces
// it unshares on its main thread (Unshare) — the mount namespace among
// them, copied from the host's at that moment as a fork would copy it.
package leaninit
