// Package monitor is the part of a container's shim that stays with it
// while it runs: it holds the container's stdio (pipes or the pty master),
// writes its json-file log, fans its output out to attached clients, reaps
// the init and records its exit status, and answers state, start, kill,
// wait, resize, attach and delete on the shim's socket. What needs the
// container runtime (exec, pause, resume, ps, stats, update, killing every
// process, destroying the container) it hands to a Backend.
//
// It imports no container runtime: the shim (cmd/hull-shim, on libcontainer)
// creates the container and then replaces itself, by execve, with
// cmd/hull-monitor, which serves the same socket in a fraction of the
// memory, and runs `hull-shim helper` for each request that needs
// libcontainer. The pid, the init as its child, the subreaper flag and the
// descriptors survive the execve, and so does the thread the init's parent
// death signal follows. Where hull-monitor is missing, and for a foreground
// run, the shim serves with the same code and libcontainer in process.
package monitor
