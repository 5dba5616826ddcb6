package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// checkExecUser looks the exec's user up in the running container's
// /etc/passwd and /etc/group at create, as moby 28.2 and later do
// (daemon/exec.go ContainerExecCreate, b54a038bec: "fail early on exec
// create if specified user doesn't exist"), with the words of its start:
// 400 "unable to find user X: no matching entries in passwd file". The
// start looks again (the files may change in between). A container whose
// spec cannot be read is left to the start to report.
func (d *Daemon) checkExecUser(id, userSpec string) error {
	if userSpec == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(d.bundleDir(id), "config.json"))
	if err != nil {
		return nil
	}
	var s specs.Spec
	if json.Unmarshal(b, &s) != nil || s.Root == nil || s.Process == nil {
		return nil
	}
	p := *s.Process
	return applyUser(&specs.Spec{Process: &p}, s.Root.Path, userSpec, nil, strictGroups(s.Annotations))
}
