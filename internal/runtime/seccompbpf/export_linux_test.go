package seccompbpf

import "golang.org/x/sys/unix"

// EnosysStub exposes the stub builder: each arch is {audit, max, x32Max}.
func EnosysStub(archs [][3]uint32, native uint32) ([]unix.SockFilter, error) {
	var as []enosysArch
	for _, a := range archs {
		as = append(as, enosysArch{audit: a[0], max: a[1], x32Max: a[2]})
	}
	return enosysStub(as, native)
}

// RetENOSYS is what the stub answers.
const RetENOSYS = retENOSYS
