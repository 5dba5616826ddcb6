// Package seccompprog is a compiled seccomp filter (Program), its file
// format and its loader: what the container's init needs of seccompbpf,
// which compiles the filter in the shim. It imports nothing of
// libcontainer's, so that hull-init, which loads the filter as its last
// step before execve, starts up without it. The package is Linux-only; on
// other systems it is empty.
package seccompprog
