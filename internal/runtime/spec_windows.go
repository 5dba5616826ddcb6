package runtime

import specs "github.com/opencontainers/runtime-spec/specs-go"

// defaultSpecImpl returns the Windows-shaped spec. The options that only mean
// something on Linux (NoSeccomp, NoNewPrivileges, Cgroupns) are ignored.
func defaultSpecImpl(opts SpecOptions) (*specs.Spec, error) {
	return windowsSpec(opts), nil
}
