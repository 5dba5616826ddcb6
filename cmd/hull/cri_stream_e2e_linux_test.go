package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// TestCRIStreaming drives the CRI's streaming server with crictl: exec
// with stdin, with separate stdout and stderr, an exit status; exec -it
// in a terminal (its size, a resize); attach to a container's stdio
// without and with a terminal; port-forward to a port the pod serves on
// its own 127.0.0.1 while the node's 127.0.0.1 serves another on the same
// port, and to a port nothing serves. Through a SPDY client as kubelet's:
// a terminal's stdin without detach keys (exec and attach), the exit
// status in the status stream. Through the gRPC client: the URLs'
// shape (http://127.0.0.1:<port>/exec|attach|portforward/<token>), one
// use per URL, the errors of bad requests; the server stops with the
// daemon.
func TestCRIStreaming(t *testing.T) {
	requireDockerCLI(t)
	crictl := crictlBin(t)
	buildShim(t)
	// No CNI configuration: the pod has a network namespace of its own
	// with its loopback only, which is all port-forward needs.
	// The streaming server on a port the test picks (the default, port 0,
	// is one chosen at start).
	streamPort := freePort(t)
	env, dir := hullDaemon(t, "--cni-conf-dir", t.TempDir(), "--cri-stream-address", fmt.Sprintf("127.0.0.1:%d", streamPort))
	sock := filepath.Join(dir, "run", "cri.sock")
	cri, conn := criClients(t, crictl, sock)
	loadBusybox(t, env, dir)
	rtc := rt(conn)
	ctx := context.Background()
	base := []string{"--config", "/dev/null", "-r", "unix://" + sock, "-i", "unix://" + sock, "--timeout", "60s"}
	// crictlOut runs crictl with stdin and answers its stdout, stderr and
	// exit status.
	crictlOut := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return runEnv(t, os.Environ(), stdin, crictl, append(base, args...)...)
	}

	podJSON := filepath.Join(dir, "pod.json")
	os.WriteFile(podJSON, []byte(`{"metadata":{"name":"s1","namespace":"e2e","uid":"uid-s1"},"linux":{}}`), 0o644)
	pod := strings.TrimSpace(cri(0, "runp", podJSON))
	newCtr := func(name, rest string) string {
		t.Helper()
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, []byte(fmt.Sprintf(`{"metadata":{"name":%q},"image":{"image":"e2e/busybox:1"},"linux":{},%s}`, name, rest)), 0o644)
		id := strings.TrimSpace(cri(0, "create", pod, p, podJSON))
		cri(0, "start", id)
		return id
	}
	sleeper := newCtr("sleeper", `"command":["sleep","1000"]`)

	// exec: stdin, separate streams, the exit status (crictl v1.34 exits
	// 1 and names the command's status, read from the stream's status).
	if out := run(t, 0, []byte("from stdin\n"), crictl, append(base, "exec", "-i", sleeper, "cat")...); out != "from stdin\n" {
		t.Errorf("crictl exec -i cat: %q", out)
	}
	out, errOut, code := crictlOut("", "exec", sleeper, "sh", "-c", "echo out; echo err >&2; exit 3")
	if out != "out\n" || !strings.HasPrefix(errOut, "err\n") || !strings.Contains(errOut, "command terminated with exit code 3") || code != 1 {
		t.Errorf("crictl exec of exit 3: stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	if out, errOut, code := crictlOut("", "exec", sleeper, "sh", "-c", "echo fine"); out != "fine\n" || code != 0 {
		t.Errorf("crictl exec of exit 0: stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	if _, errOut, code := crictlOut("", "exec", sleeper, "no-such-command"); code == 0 || !strings.Contains(errOut, `"no-such-command": executable file not found`) {
		t.Errorf("crictl exec of a missing command: stderr %q, exit %d", errOut, code)
	}

	// exec -it in a terminal: the size the terminal has, then a resize.
	term := startInPty(t, 33, 101, crictl, append(base, "exec", "-it", sleeper, "sh")...)
	term.until("stty size\n", "33 101")
	term.send("tty; echo pty-$((6*7))\n")
	term.waitFor("pty-42")
	term.resize(40, 120)
	term.until("stty size\n", "40 120")
	term.send("exit 5\n")
	if code := term.wait(); code != 1 {
		t.Errorf("crictl exec -it of exit 5: exit %d, want 1", code)
	}
	if s := term.output(); !strings.Contains(s, "33 101") || !strings.Contains(s, "/dev/pts/") || !strings.Contains(s, "40 120") || !strings.Contains(s, "command terminated with exit code 5") {
		t.Errorf("crictl exec -it:\n%s", s)
	}

	// attach to a container's stdin and its two streams: its input
	// ends with crictl's (stdin_once), then the container.
	echoer := newCtr("echoer", `"stdin":true,"stdin_once":true,
		"command":["sh","-c","while read l; do echo got:$l; echo err:$l >&2; done; echo bye"]`)
	out, errOut, code = crictlOut("one\ntwo\n", "attach", "-i", echoer)
	if out != "got:one\ngot:two\nbye\n" || !strings.Contains(errOut, "err:one\nerr:two\n") || code != 0 {
		t.Errorf("crictl attach -i: stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	waitFor(t, func() bool { return strings.Contains(cri(0, "inspect", echoer), `"state": "CONTAINER_EXITED"`) }, "the attached container to exit")

	// attach to a container's terminal.
	shell := newCtr("shell", `"stdin":true,"tty":true,"command":["sh"]`)
	term = startInPty(t, 27, 91, crictl, append(base, "attach", "-it", shell)...)
	term.until("stty size\n", "27 91")
	term.send("echo tty-$((6*7))\n")
	term.waitFor("tty-42")
	term.send("exit\n")
	if code := term.wait(); code != 0 {
		t.Errorf("crictl attach -it: exit %d\n%s", code, term.output())
	}
	if s := term.output(); !strings.Contains(s, "27 91") {
		t.Errorf("crictl attach -it: the terminal's size is not the container's:\n%s", s)
	}
	if out := cri(0, "inspect", shell); !strings.Contains(out, `"state": "CONTAINER_EXITED"`) {
		t.Errorf("the shell did not exit with crictl attach's exit:\n%s", out)
	}

	// port-forward: the pod serves port P on its own 127.0.0.1; the node
	// serves another answer on its 127.0.0.1:P.
	port := freePort(t)
	hostL, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	hostSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the node\n") })}
	go hostSrv.Serve(hostL)
	t.Cleanup(func() { hostSrv.Close() })
	newCtr("web", fmt.Sprintf(`"command":["sh","-c","mkdir -p /www && echo the pod > /www/index.html && exec busybox httpd -f -p 127.0.0.1:%d -h /www"]`, port))
	waitFor(t, func() bool {
		r, err := rtc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: sleeper, Cmd: []string{"busybox", "wget", "-qO-", fmt.Sprintf("http://127.0.0.1:%d/", port)}, Timeout: 5})
		return err == nil && string(r.Stdout) == "the pod\n"
	}, "the pod's web server on its loopback")
	local := freePort(t)
	pf := startBackground(t, crictl, append(base, "port-forward", pod, fmt.Sprintf("%d:%d", local, port))...)
	waitFor(t, func() bool { return strings.Contains(pf.String(), "Forwarding from 127.0.0.1:") }, "crictl port-forward to listen", pf.String)
	for i := range 2 {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", local))
		if err != nil {
			t.Fatalf("GET through port-forward (%d): %v\n%s", i, err, pf.String())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "the pod\n" {
			t.Errorf("GET through port-forward (%d): %q, want the pod's answer, not the node's", i, b)
		}
	}
	// A port nothing serves in the pod: the error travels back to crictl.
	closed := freePort(t)
	local2 := freePort(t)
	pf2 := startBackground(t, crictl, append(base, "port-forward", pod, fmt.Sprintf("%d:%d", local2, closed))...)
	waitFor(t, func() bool { return strings.Contains(pf2.String(), "Forwarding from 127.0.0.1:") }, "crictl port-forward to listen", pf2.String)
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local2)); err == nil {
		c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if len(b) > 0 {
			t.Errorf("a port nothing serves in the pod answered %q", b)
		}
	}
	waitFor(t, func() bool { return strings.Contains(pf2.String(), "connection refused") }, "crictl port-forward to report the refused connection", pf2.String)

	// The protocol itself, as kubelet speaks it (SPDY, v4.channel.k8s.io):
	// a terminal's stdin reaches the process byte for byte — ctrl-p
	// ctrl-q too, where docker's sessions would detach (crictl has
	// detach keys of its own, so only a client without them shows it) —
	// and a non-zero exit status comes back in the status stream.
	ex, err := rtc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: sleeper, Tty: true, Stdin: true, Stdout: true,
		Cmd: []string{"sh", "-c", "stty raw -echo; echo go; od -An -tx1 -N3; exit 4"}})
	if err != nil {
		t.Fatal(err)
	}
	ss := openSPDY(t, ex.Url, true, true, false, true)
	ss.waitFor("go")
	ss.stdin.Write([]byte("\x10\x11a"))
	ss.waitFor("10 11 61")
	if st := ss.status(); !strings.Contains(st, `"reason":"NonZeroExitCode"`) || !strings.Contains(st, `{"reason":"ExitCode","message":"4"}`) {
		t.Errorf("the status of an exec that exits 4: %s", st)
	}
	raw := newCtr("raw", `"stdin":true,"tty":true,"command":["sh","-c","stty raw -echo; busybox touch /raw; od -An -tx1 -N3; echo done"]`)
	waitFor(t, func() bool {
		r, err := rtc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: raw, Cmd: []string{"busybox", "test", "-e", "/raw"}, Timeout: 5})
		return err == nil && r.ExitCode == 0
	}, "the raw terminal")
	at, err := rtc.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: raw, Tty: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	ss = openSPDY(t, at.Url, true, true, false, true)
	ss.stdin.Write([]byte("\x10\x11a"))
	ss.waitFor("done")
	if st := ss.status(); !strings.Contains(ss.out.String(), "10 11 61") || !strings.Contains(st, `"status":"Success"`) {
		t.Errorf("attach with ctrl-p ctrl-q: output %q, status %s", ss.out.String(), st)
	}

	// The gRPC calls: URLs of the streaming server on loopback.
	tokenURL := regexp.MustCompile(`^/(exec|attach|portforward)/[A-Za-z0-9_-]+$`)
	checkURL := func(what, raw, kind string) *url.URL {
		t.Helper()
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() != fmt.Sprint(streamPort) ||
			!tokenURL.MatchString(u.Path) || !strings.HasPrefix(u.Path, "/"+kind+"/") {
			t.Fatalf("%s URL %q (%v), want http://127.0.0.1:%d/%s/<token>", what, raw, err, streamPort, kind)
		}
		return u
	}
	ex, err = rtc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: sleeper, Cmd: []string{"true"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	exURL := checkURL("Exec", ex.Url, "exec")
	at, err = rtc.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: sleeper, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	atURL := checkURL("Attach", at.Url, "attach")
	pfr, err := rtc.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: pod, Port: []int32{int32(port)}})
	if err != nil {
		t.Fatal(err)
	}
	pfURL := checkURL("PortForward", pfr.Url, "portforward")
	if exURL.Host != atURL.Host || exURL.Host != pfURL.Host || exURL.Path == atURL.Path {
		t.Errorf("the URLs: %s %s %s", exURL, atURL, pfURL)
	}
	// A token serves once; one the server never gave is not found.
	get := func(u string) int {
		t.Helper()
		resp, err := http.Post(u, "text/plain", nil)
		if err != nil {
			t.Fatalf("POST %s: %v", u, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get(ex.Url)
	if code := get(ex.Url); code != http.StatusNotFound {
		t.Errorf("an exec URL used a second time: %d, want 404", code)
	}
	if code := get("http://" + exURL.Host + "/exec/not-a-token"); code != http.StatusNotFound {
		t.Errorf("an exec URL the server never gave: %d, want 404", code)
	}
	exited := echoer
	unknown := strings.Repeat("0", 64)
	for _, c := range []struct {
		what string
		err  error
		want codes.Code
	}{
		{"Exec of an unknown container", rpcErr(rtc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: unknown, Cmd: []string{"true"}, Stdout: true})), codes.NotFound},
		{"Exec of a pod", rpcErr(rtc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: pod, Cmd: []string{"true"}, Stdout: true})), codes.NotFound},
		{"Exec without a command", rpcErr(rtc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: sleeper, Stdout: true})), codes.InvalidArgument},
		{"Exec with a terminal and stderr", rpcErr(rtc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: sleeper, Cmd: []string{"true"}, Tty: true, Stdout: true, Stderr: true})), codes.InvalidArgument},
		{"Exec without a stream", rpcErr(rtc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: sleeper, Cmd: []string{"true"}})), codes.InvalidArgument},
		{"Exec in an exited container", rpcErr(rtc.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: exited, Cmd: []string{"true"}, Stdout: true})), codes.FailedPrecondition},
		{"Attach to an unknown container", rpcErr(rtc.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: unknown, Stdout: true})), codes.NotFound},
		{"Attach to an exited container", rpcErr(rtc.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: exited, Stdout: true})), codes.FailedPrecondition},
		{"PortForward to an unknown pod", rpcErr(rtc.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: unknown, Port: []int32{80}})), codes.NotFound},
		{"PortForward to port 0", rpcErr(rtc.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: pod, Port: []int32{0}})), codes.InvalidArgument},
	} {
		if status.Code(c.err) != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.err, c.want)
		}
	}

	// The streaming server goes with the daemon (the pod first:
	// live-restore would keep it running).
	pf.stop()
	pf2.stop()
	cri(0, "stopp", pod)
	cri(0, "rmp", pod)
	signalHullDaemon(t, dir, syscall.SIGTERM)
	if c, err := net.DialTimeout("tcp", exURL.Host, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("the streaming server %s still answers after the daemon stopped", exURL.Host)
	}
}

// spdySession is a remotecommand session opened as kubelet opens one.
type spdySession struct {
	t                   *testing.T
	conn                httpstream.Connection
	errS, stdin, stdout httpstream.Stream
	out                 sessionOutput
	copied              chan struct{}
}

// openSPDY opens a streaming URL over SPDY with the v4 protocol and the
// streams asked for (a resize stream with a terminal); it closes after
// the test.
func openSPDY(t *testing.T, rawURL string, stdin, stdout, stderr, tty bool) *spdySession {
	t.Helper()
	rt, err := spdy.NewRoundTripper(nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(httpstream.HeaderProtocolVersion, "v4.channel.k8s.io")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rt.NewConnection(resp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &spdySession{t: t, conn: conn, copied: make(chan struct{})}
	open := func(kind string) httpstream.Stream {
		h := http.Header{}
		h.Set("streamType", kind)
		st, err := conn.CreateStream(h)
		if err != nil {
			t.Fatalf("stream %s: %v", kind, err)
		}
		return st
	}
	s.errS = open("error")
	if stdin {
		s.stdin = open("stdin")
	}
	if stdout {
		s.stdout = open("stdout")
		go func() { io.Copy(&s.out, s.stdout); close(s.copied) }()
	} else {
		close(s.copied)
	}
	if stderr {
		go io.Copy(io.Discard, open("stderr"))
	}
	if tty {
		rs := open("resize")
		rs.Write([]byte(`{"Width":80,"Height":24}`))
	}
	return s
}

func (s *spdySession) waitFor(text string) {
	s.t.Helper()
	waitFor(s.t, func() bool { return strings.Contains(s.out.String(), text) }, fmt.Sprintf("%q from the session", text), s.out.String)
}

// status is the session's status (JSON) once the process is done, its
// output read.
func (s *spdySession) status() string {
	s.t.Helper()
	done := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(s.errS); done <- b }()
	select {
	case b := <-done:
		<-s.copied
		return string(b)
	case <-time.After(30 * time.Second):
		s.t.Fatalf("no status from the session within 30 s; output %q", s.out.String())
		return ""
	}
}

// rpcErr is the error of a gRPC call's two results.
func rpcErr[T any](_ T, err error) error { return err }

// sessionOutput gathers a process's output while the test reads it.
type sessionOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *sessionOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *sessionOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// bgProc is a process the test runs beside it, its stdout and stderr
// gathered.
type bgProc struct {
	sessionOutput
	cmd  *exec.Cmd
	once sync.Once
}

// stop kills the process and reaps it (once).
func (p *bgProc) stop() {
	p.once.Do(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
}

// startBackground starts name with args; it is killed after the test.
func startBackground(t *testing.T, name string, args ...string) *bgProc {
	t.Helper()
	p := &bgProc{cmd: exec.Command(name, args...)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p
}

// ptyProc is a process on a terminal of its own (a pseudo-terminal the
// test holds the master of), as crictl -t wants one.
type ptyProc struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	out    sessionOutput
	// done is closed when the master has read everything: the process
	// and its children have closed the terminal.
	done chan struct{}
	once sync.Once
	code int
}

// startInPty runs name on a new terminal of rows x cols, its controlling
// terminal; it is killed after the test.
func startInPty(t *testing.T, rows, cols uint16, name string, args ...string) *ptyProc {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close() // the process holds it now
	p := &ptyProc{t: t, master: master, cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.resize(rows, cols)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = slave, slave, slave
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { io.Copy(&p.out, master); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.wait()
	})
	return p
}

func (p *ptyProc) send(s string) {
	p.t.Helper()
	if _, err := p.master.WriteString(s); err != nil {
		p.t.Fatal(err)
	}
}

// resize sets the terminal's size: its process gets SIGWINCH.
func (p *ptyProc) resize(rows, cols uint16) {
	p.t.Helper()
	if err := unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		p.t.Fatal(err)
	}
}

func (p *ptyProc) output() string { return p.out.String() }

func (p *ptyProc) waitFor(s string) {
	p.t.Helper()
	waitFor(p.t, func() bool { return strings.Contains(p.output(), s) }, fmt.Sprintf("%q on the terminal", s), p.output)
}

// until sends line every half second until the terminal shows want: a
// terminal's size travels apart from its input, and may come after it.
func (p *ptyProc) until(line, want string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.output(), want) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%q never showed on the terminal:\n%s", want, p.output())
		}
		p.send(line)
		time.Sleep(500 * time.Millisecond)
	}
}

// wait waits (up to 30 s) for the process to exit and answers its exit
// status, its output read.
func (p *ptyProc) wait() int {
	p.once.Do(func() {
		exited := make(chan struct{})
		go func() { p.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-exited
			p.t.Errorf("%s did not exit within 30 s:\n%s", p.cmd.Path, p.output())
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		p.code = p.cmd.ProcessState.ExitCode()
	})
	return p.code
}
