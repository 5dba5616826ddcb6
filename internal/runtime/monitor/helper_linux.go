package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/hullproject/hull/internal/runtime/shimapi"
)

// HelperBackend runs each request that needs the container runtime in a
// process of its own, `<Path> helper --root R --id ID --files N`: the
// request as JSON on its stdin; for exec the client's connection on fd 3
// and the descriptors sent with the request after it (the helper answers
// the client itself and lives as long as the exec'd process); otherwise the
// response as JSON on its stdout. The helper is hull-shim, so only the
// requests that need libcontainer pay for loading it, and none of the
// monitor's resident memory does.
type HelperBackend struct {
	Path, Root, ID string
}

func (h HelperBackend) command(req shimapi.Request, nfiles int) (*exec.Cmd, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(h.Path, "helper", "--root", h.Root, "--id", h.ID, "--files", strconv.Itoa(nfiles))
	cmd.Dir = "/"
	cmd.Stdin = bytes.NewReader(b)
	cmd.Stderr = os.Stderr // the shim's log
	// The helper dies with the monitor (whose threads never end: it locks
	// none but the main one).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

// Exec hands the client's connection to a helper and returns.
func (h HelperBackend) Exec(c *net.UnixConn, req shimapi.Request, files []*os.File) {
	defer c.Close()
	defer closeAll(files)
	fail := func(err error) {
		shimapi.Send(c, shimapi.ErrorResponse(fmt.Errorf("exec in %s: %w", h.ID, err)))
	}
	cf, err := c.File()
	if err != nil {
		fail(err)
		return
	}
	defer cf.Close()
	cmd, err := h.command(req, len(files))
	if err != nil {
		fail(err)
		return
	}
	cmd.ExtraFiles = append([]*os.File{cf}, files...)
	if err := startOwned(cmd); err != nil {
		fail(err)
		return
	}
	go waitOwned(cmd)
}

// Do runs req in a helper and returns its answer.
func (h HelperBackend) Do(req shimapi.Request) (shimapi.Response, error) {
	cmd, err := h.command(req, 0)
	if err != nil {
		return shimapi.Response{}, err
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	runErr := startOwned(cmd)
	if runErr == nil {
		runErr = waitOwned(cmd)
	}
	os.Stderr.Write(errOut.Bytes())
	var resp shimapi.Response
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
		return resp, fmt.Errorf("%s %s: the helper gave no answer (%v): %s", req.Op, h.ID, runErr, strings.TrimSpace(errOut.String()))
	}
	return resp, resp.Err()
}
