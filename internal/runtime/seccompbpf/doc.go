// Package seccompbpf compiles a container's seccomp profile once into the
// classic BPF program libcontainer's init would load for it, keeps it in a
// file keyed by the profile and the host, and loads such a file without
// libseccomp.
//
// The split follows who runs what: Compile and Cached (compile_linux.go,
// cache_linux.go) need libseccomp through cgo and the seccomp build tag,
// as libcontainer does, and run in the shim; Program, its file format,
// ReadProgram and Load (program_linux.go, load_linux.go) are pure Go, so
// that a CGO_ENABLED=0 container init can load the filter as its last step
// before execve. The package is Linux-only; on other systems it is empty.
package seccompbpf
