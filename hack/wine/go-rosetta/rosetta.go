// Package rosetta stands in for github.com/tonistiigi/go-rosetta when
// hack/lib.sh's install_docker_windows builds the docker CLI for Windows:
// the Go module proxy does not serve that module, and the CLI asks it only
// whether it runs under Rosetta on macOS (`docker version`), which a
// Windows program never does.
package rosetta

// Enabled reports whether the process runs under Rosetta: never on Windows.
func Enabled() bool { return false }
