//go:build linux

package shimapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullproject/hull/internal/errdefs"
)

// seqpacketPair is a connected SOCK_SEQPACKET pair, as shim.sock's
// connections are.
func seqpacketPair(t testing.TB) (a, b *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "seqpacket")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// openFds counts this process's open descriptors.
func openFds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// roundTrip sends v with Send and reads it back with Recv into fresh,
// and checks that both encode alike.
func roundTrip(t *testing.T, a, b *net.UnixConn, v, fresh any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode the decoded %T: %v", v, err)
	}
	if err := Send(a, v); err != nil {
		t.Fatalf("send the decoded %T: %v", v, err)
	}
	files, err := Recv(b, fresh)
	if len(files) > 0 {
		t.Fatalf("%d descriptors from a message sent without", len(files))
	}
	if err != nil {
		t.Fatalf("receive %s: %v", want, err)
	}
	got, _ := json.Marshal(fresh)
	if !bytes.Equal(want, got) {
		t.Fatalf("%T changed on the socket:\n%s\n%s", v, want, got)
	}
}

// FuzzRecv sends arbitrary messages, with up to 11 descriptors, on a
// shim.sock-like connection and reads them as the monitor reads a request
// and the client a response. No panic; every descriptor sent comes back
// or is refused with an error, and none leaks; a message that decodes is
// sent and received again unchanged; an error response keeps its kind.
func FuzzRecv(f *testing.F) {
	for _, s := range []struct {
		msg string
		fds uint8
	}{
		{`{"op":"state"}`, 0},
		{`{"op":"kill","signal":15,"redeliver":10000000000}`, 0},
		{`{"op":"kill","signal":9,"all":true}`, 0},
		{`{"op":"resize","width":120,"height":50}`, 0},
		{`{"op":"delete","force":true}`, 0},
		{`{"op":"update","resources":{"memory":{"limit":67108864},"cpu":{"shares":512,"quota":50000,"period":100000},"pids":{"limit":100}}}`, 0},
		{`{"op":"exec","process":{"terminal":true,"user":{"uid":0,"gid":0},"args":["sh"],"env":["PATH=/bin"],"cwd":"/","consoleSize":{"height":50,"width":120}},"fds":["console"]}`, 1},
		{`{"op":"exec","process":{"args":["ls"],"cwd":"/"},"fds":["stdin","stdout","stderr"]}`, 3},
		{`{"op":"attach","fds":["stdin","stdout","stderr"]}`, 3},
		{`{"state":{"ociVersion":"1.2.0","id":"abc","status":"stopped","pid":0,"bundle":"/b","created":"2026-01-02T03:04:05.123456789Z","owner":"hull","shimPid":42,"exitStatus":137}}`, 0},
		{`{"stats":{"cpuUsageNs":1,"memoryUsage":2,"memoryLimit":3,"pidsCurrent":4,"cgroup2":true,"memoryStat":{"anon":5},"blkio":{"serviceBytes":[{"major":8,"minor":0,"op":"Read","value":7}],"serviced":null,"queued":null,"serviceTime":null,"waitTime":null,"merged":null,"time":null,"sectors":null}}}`, 0},
		{`{"error":"exec in abc: the container is stopped: conflict","kind":"conflict"}`, 0},
		{`{"error":"x","kind":"bogus"}`, 0},
		{`{"exit":137,"done":true,"pids":[1,2,3],"warnings":["w"],"steps":[{"name":"create","at":"2026-01-02T03:04:05+01:00"}]}`, 0},
		{`{"status":0,"at":"2026-01-02T03:04:05Z"}`, 0},
		{`{"bundle":"/b","rootfs":"/r","created":"2026-01-02T03:04:05Z","shimPid":1,"pid":2,"owner":"o"}`, 0},
		{``, 2},
		{`{`, 1},
		{`{"op":"kill"}`, 9},
	} {
		f.Add([]byte(s.msg), s.fds)
	}
	f.Fuzz(func(t *testing.T, msg []byte, nfds uint8) {
		nfds %= 12
		a, b := seqpacketPair(t)
		defer a.Close()
		defer b.Close()
		before := openFds(t)
		for i, v := range []any{new(Request), new(Response), new(ShimRecord), new(ExitRecord), new(State)} {
			var oob []byte
			if nfds > 0 {
				fds := make([]int, nfds)
				for j := range fds {
					fds[j] = int(os.Stdin.Fd())
				}
				oob = unix.UnixRights(fds...)
			}
			if _, _, err := a.WriteMsgUnix(msg, oob, nil); err != nil {
				t.Skipf("the kernel refuses the message: %v", err)
			}
			files, err := Recv(b, v)
			for _, f := range files {
				f.Close()
			}
			if err == nil && len(files) != int(nfds) {
				t.Fatalf("%d descriptors sent, %d received without an error", nfds, len(files))
			}
			if n := openFds(t); n != before {
				t.Fatalf("%d descriptors open after the message, %d before", n, before)
			}
			if len(msg) == 0 && nfds == 0 {
				// (Go sends descriptors without data as one NUL byte.)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("an empty message: %v, want io.EOF", err)
				}
				return
			}
			if err != nil {
				continue
			}
			switch v := v.(type) {
			case *Request:
				roundTrip(t, a, b, v, new(Request))
			case *Response:
				roundTrip(t, a, b, v, new(Response))
				checkKind(t, *v)
			case *ShimRecord:
				roundTrip(t, a, b, v, new(ShimRecord))
			case *ExitRecord:
				roundTrip(t, a, b, v, new(ExitRecord))
			case *State:
				roundTrip(t, a, b, v, new(State))
			default:
				t.Fatalf("message %d: type %T", i, v)
			}
		}
	})
}

// checkKind checks that an error response's kind survives Err and
// ErrorResponse: a kind the protocol names stays, any other is dropped.
func checkKind(t *testing.T, resp Response) {
	t.Helper()
	err := resp.Err()
	if (err == nil) != (resp.Error == "") {
		t.Fatalf("Err() = %v for error %q", err, resp.Error)
	}
	if err == nil {
		return
	}
	back := ErrorResponse(err)
	if back.Error != resp.Error {
		t.Fatalf("error %q came back as %q", resp.Error, back.Error)
	}
	known := false
	for _, k := range kinds {
		if k.name == resp.Kind {
			known = true
			if !errors.Is(err, k.err) {
				t.Fatalf("kind %q: errors.Is(%v) is false", resp.Kind, k.err)
			}
		}
	}
	if known && back.Kind != resp.Kind || !known && back.Kind != "" {
		t.Fatalf("kind %q came back as %q", resp.Kind, back.Kind)
	}
	if !known && (errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) || errdefs.IsConflict(err)) {
		t.Fatalf("unknown kind %q classified: %v", resp.Kind, err)
	}
}
