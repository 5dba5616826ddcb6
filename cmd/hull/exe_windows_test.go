package main

// hull.exe and the named-pipe listener as Windows programs. CI runs these
// under Wine (hack/wine.sh), which has no Windows container services; on a
// Windows host with the Containers feature the test of the daemon's
// refusal skips itself.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/Microsoft/go-winio"
	"github.com/moby/moby/client"
	"golang.org/x/sys/windows"

	"github.com/hullproject/hull/internal/daemon"
	"github.com/hullproject/hull/internal/server"
	"github.com/hullproject/hull/internal/wine"
)

// runExe runs hull.exe with args, bounded by a minute (a hang fails the
// test), and returns its exit code, standard output and standard error.
func runExe(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hullBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("hull.exe %s did not exit within a minute\nstdout: %s\nstderr: %s", strings.Join(args, " "), &stdout, &stderr)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("hull.exe %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestExeVersionWithoutDaemon: `hull.exe version` asks the daemon on the
// default named pipe; with none there it says so and exits 1, without
// starting one (no background daemon on Windows).
func TestExeVersionWithoutDaemon(t *testing.T) {
	pipe := `\\.\pipe\hull_engine`
	timeout := time.Second
	if c, err := winio.DialPipe(pipe, &timeout); err == nil {
		c.Close()
		t.Skip("a hull daemon listens on " + pipe)
	}
	code, _, stderr := runExe(t, []string{"HULL_HOST="}, "version")
	if code != 1 || !strings.Contains(stderr, "no hull daemon answers at npipe:////./pipe/hull_engine") {
		t.Fatalf("hull.exe version: exit %d, stderr %q; want 1 and that no daemon answers at npipe:////./pipe/hull_engine", code, stderr)
	}
	t.Logf("hull.exe version: exit %d: %s", code, strings.TrimSpace(stderr))
}

// TestExeDaemonWithoutContainersFeature: on a host without the Windows
// container services (Wine, or Windows without the Containers feature)
// `hull.exe daemon` refuses to start, naming what is missing, as dockerd
// does: exit 1, no panic, no hang, no pipe left listening.
func TestExeDaemonWithoutContainersFeature(t *testing.T) {
	if checkWindowsServices() == nil {
		t.Skip("this host has the Windows container services (vmcompute.dll, computenetwork.dll)")
	}
	dir := wine.TempDir(t)
	pipe := "npipe:////./pipe/hull_engine_test_nohcs"
	code, stdout, stderr := runExe(t, nil, "daemon", "--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"), "-H", pipe)
	t.Logf("hull.exe daemon: exit %d: %s", code, strings.TrimSpace(stderr))
	if code != 1 || strings.Contains(stderr, "panic") {
		t.Fatalf("hull.exe daemon: exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"needs the Windows Containers feature", "Install-WindowsFeature -Name Containers"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("hull.exe daemon's message does not say %q: %s", want, stderr)
		}
	}
	if !strings.Contains(stderr, "vmcompute.dll") && !strings.Contains(stderr, "computenetwork.dll") {
		t.Errorf("hull.exe daemon's message names neither vmcompute.dll nor computenetwork.dll: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "root", "hull.db")); err == nil {
		t.Errorf("hull.exe daemon made its database before refusing")
	}
	timeout := time.Second
	if c, err := winio.DialPipe(`\\.\pipe\hull_engine_test_nohcs`, &timeout); err == nil {
		c.Close()
		t.Errorf("the pipe listens after the daemon refused to start")
	}
}

// TestExeLayerChain: `hull.exe layer chain` reads a plain folder's
// layerchain.json (Windows paths, JSON-escaped) and prints the parents,
// nearest first; `hull.exe layer import` without the Host Compute Service
// (under Wine) fails with an error, not a panic.
func TestExeLayerChain(t *testing.T) {
	dir := wine.TempDir(t)
	parents := []string{`C:\ProgramData\hull\windowsfilter\bbbb`, `C:\ProgramData\hull\windowsfilter\aaaa`}
	b, _ := json.Marshal(parents)
	if err := os.WriteFile(filepath.Join(dir, "layerchain.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runExe(t, nil, "layer", "chain", dir)
	if code != 0 || stdout != strings.Join(parents, "\n")+"\n" {
		t.Fatalf("hull.exe layer chain: exit %d\nstdout: %q\nstderr: %s", code, stdout, stderr)
	}
	if !wine.Running() {
		return
	}
	code, _, stderr = runExe(t, nil, "layer", "import", filepath.Join(dir, "new"))
	t.Logf("under Wine, hull.exe layer import: exit %d: %s", code, strings.TrimSpace(stderr))
	if code == 0 || strings.Contains(stderr, "panic") {
		t.Fatalf("hull.exe layer import without HCS: exit %d: %s", code, stderr)
	}
}

// TestNamedPipeAPI: the Engine API on the daemon's named-pipe listener
// (go-winio, listenPipe as `hull daemon` opens it) answers the Go SDK's
// _ping and version, the pipe's security descriptor admits Administrators
// and SYSTEM only, and a caller whose token has Administrators disabled is
// refused where the platform enforces it (Wine does not: skipped there).
// The daemon is the real one; its Windows services are hcsshim's, never
// called by these requests.
func TestNamedPipeAPI(t *testing.T) {
	name := "hull_engine"
	if !wine.Running() {
		name = "hull_engine_test" // beside a hull daemon this host may run
	}
	host := "npipe:////./pipe/" + name
	ctx := context.Background()
	daemon.APIVersion, daemon.MinAPIVersion = server.APIVersion, server.MinAPIVersion
	root, execRoot := wine.TempDir(t), wine.TempDir(t)
	d, err := daemon.New(ctx, daemon.Config{Root: root, ExecRoot: execRoot, Windows: windowsServices()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l, err := listenPipe(strings.TrimPrefix(host, "npipe://"))
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	srv := &http.Server{Handler: server.New(d), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	defer srv.Close()

	// The security descriptor the pipe was made with, read back.
	pipe := `\\.\pipe\` + name
	t.Run("security descriptor", func(t *testing.T) {
		sd, err := windows.GetNamedSecurityInfo(pipe, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			t.Fatalf("the security descriptor of %s: %v", pipe, err)
		}
		got := sd.String()
		if got == "" {
			wine.Skip(t, "a named pipe's security descriptor read back (GetNamedSecurityInfo gives an empty one)")
		}
		if got != "D:P(A;;GA;;;BA)(A;;GA;;;SY)" && got != "D:P(A;;FA;;;BA)(A;;FA;;;SY)" {
			t.Errorf("the DACL of %s: %s, want Administrators and SYSTEM only", pipe, got)
		}
	})

	t.Run("refuses a caller outside Administrators", func(t *testing.T) {
		err := dialAsNonAdmin(t, pipe)
		if err == nil {
			wine.Skip(t, "access checks of a named pipe's DACL against a restricted token (the dial was let through)")
			t.Fatalf("a caller with Administrators disabled in its token opened %s", pipe)
		}
		if !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			t.Fatalf("a caller with Administrators disabled: %v, want access denied", err)
		}
	})

	c, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	p, err := c.Ping(cctx, client.PingOptions{})
	if err != nil {
		t.Fatalf("_ping on %s: %v", host, err)
	}
	t.Logf("_ping on %s: API version %s, OS type %s", host, p.APIVersion, p.OSType)
	if p.APIVersion != server.APIVersion || p.OSType != "windows" {
		t.Errorf("_ping: API version %q, OS type %q; want %q, windows", p.APIVersion, p.OSType, server.APIVersion)
	}
	v, err := c.ServerVersion(cctx, client.ServerVersionOptions{})
	if err != nil {
		t.Fatalf("version on %s: %v", host, err)
	}
	t.Logf("version on %s: %s %s, API %s, %s/%s", host, v.Platform.Name, v.Version, v.APIVersion, v.Os, v.Arch)
	if v.Os != "windows" || v.APIVersion != server.APIVersion {
		t.Errorf("version: Os %q, API version %q; want windows, %s", v.Os, v.APIVersion, server.APIVersion)
	}
}

// dialAsNonAdmin dials pipe from a thread impersonating this process's
// token with the Administrators group disabled (deny-only), which the
// pipe's DACL does not admit.
func dialAsNonAdmin(t *testing.T, pipe string) error {
	t.Helper()
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_DUPLICATE|windows.TOKEN_QUERY|windows.TOKEN_IMPERSONATE, &tok); err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if u, err := tok.GetTokenUser(); err == nil && u.User.Sid.IsWellKnown(windows.WinLocalSystemSid) {
		t.Skip("this test runs as SYSTEM, which the pipe admits by its user, whatever its groups")
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		t.Fatal(err)
	}
	restricted, err := createRestrictedToken(tok, admins)
	if err != nil {
		wine.Skip(t, "CreateRestrictedToken: "+err.Error())
		t.Fatal(err)
	}
	defer restricted.Close()
	errc := make(chan error, 1)
	go func() {
		// Impersonation is per thread: this goroutine keeps its thread
		// and gives it back without the impersonation.
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		if err := windows.SetThreadToken(nil, restricted); err != nil {
			errc <- err
			return
		}
		defer windows.RevertToSelf()
		timeout := 5 * time.Second
		c, err := winio.DialPipe(pipe, &timeout)
		if err == nil {
			c.Close()
		}
		errc <- err
	}()
	return <-errc
}

var procCreateRestrictedToken = windows.NewLazySystemDLL("advapi32.dll").NewProc("CreateRestrictedToken")

// createRestrictedToken makes an impersonation token of tok with sid
// deny-only (DISABLE_MAX_PRIVILEGE too).
func createRestrictedToken(tok windows.Token, sid *windows.SID) (windows.Token, error) {
	const disableMaxPrivilege = 0x1
	disable := windows.SIDAndAttributes{Sid: sid}
	var restricted windows.Token
	r, _, err := procCreateRestrictedToken.Call(uintptr(tok), disableMaxPrivilege, 1, uintptr(unsafe.Pointer(&disable)), 0, 0, 0, 0, uintptr(unsafe.Pointer(&restricted)))
	if r == 0 {
		return 0, err
	}
	var imp windows.Token
	err = windows.DuplicateTokenEx(restricted, windows.TOKEN_IMPERSONATE|windows.TOKEN_QUERY, nil, windows.SecurityImpersonation, windows.TokenImpersonation, &imp)
	restricted.Close()
	return imp, err
}
