// Package seccompbpf compiles a container's seccomp profile once into the
// classic BPF program libcontainer's init would load for it, keeps it in a
// file keyed by the profile and the host, and loads such a file without
// libseccomp.
//
// Compile and Cached (compile_linux.go, cache_linux.go) need libseccomp
// through cgo and the seccomp build tag, as libcontainer does, and run in
// the shim. The program they make, its file format and its loader are
// package seccompprog's: pure Go and free of libcontainer's configuration,
// so that the container's init (hull-init, CGO_ENABLED=0) loads the filter
// as its last step before execve without starting up what it does not
// use. The package is Linux-only; on other systems it is empty.
package seccompbpf
