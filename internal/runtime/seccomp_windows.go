package runtime

import specs "github.com/opencontainers/runtime-spec/specs-go"

// applySeccompImpl: a Windows container has no seccomp filter.
func applySeccompImpl(*specs.Spec, string) error { return nil }

// checkSeccompProfileImpl: dockerd on Windows takes any seccomp option and
// applies none.
func checkSeccompProfileImpl(string) error { return nil }
