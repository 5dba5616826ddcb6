package main

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientErrorsAre4xx: wrong inputs that answered 500 or were taken
// answer 400 with a message: a JSON body sent as another Content-Type (as
// moby's CheckForJSON), a docker cp path holding a NUL byte, a volume name
// longer than a file name can be; nothing is made.
func TestClientErrorsAre4xx(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	sock := filepath.Join(dir, "hull.sock")
	docker(t, env, "create", "--name", "cp-target", "--network", "none", "e2e/busybox:1", "true")
	long := strings.Repeat("a", 300)
	for _, c := range []struct {
		call rawCall
		want string
	}{
		{rawCall{sock: sock, method: "POST", path: "/v1.52/containers/create?name=ct-text", body: `{"Image":"e2e/busybox:1","Cmd":["true"]}`,
			header: map[string]string{"Content-Type": "text/plain"}}, "unsupported Content-Type header (text/plain): must be 'application/json'"},
		{rawCall{sock: sock, method: "POST", path: "/v1.52/networks/create", body: `{"Name":"ct-net"}`,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, "unsupported Content-Type header (application/x-www-form-urlencoded)"},
		{rawCall{sock: sock, method: "POST", path: "/v1.52/volumes/create", body: `{"Name":"ct-text"}`,
			header: map[string]string{"Content-Type": "text/plain"}}, "unsupported Content-Type header (text/plain)"},
		{rawCall{sock: sock, method: "POST", path: "/v1.52/containers/create?name=ct-bad", body: `{"Image":"e2e/busybox:1"}`,
			header: map[string]string{"Content-Type": "/;;"}}, "malformed Content-Type header (/;;)"},
		{rawCall{sock: sock, method: "GET", path: "/v1.52/containers/cp-target/archive?path=" + url.QueryEscape("/etc\x00x")}, "contains a NUL byte"},
		{rawCall{sock: sock, method: "PUT", path: "/v1.52/containers/cp-target/archive?path=" + url.QueryEscape("/tmp\x00x"), body: "x",
			header: map[string]string{"Content-Type": "application/x-tar"}}, "contains a NUL byte"},
		{rawCall{sock: sock, method: "POST", path: "/v1.52/volumes/create", body: `{"Name":"` + long + `"}`}, "volume name is too long"},
	} {
		a := call(t, c.call)
		if a.code != 400 || !strings.Contains(string(a.body), c.want) {
			t.Errorf("%s %s: %d %s, want 400 %q", c.call.method, c.call.path, a.code, a.body, c.want)
		}
	}
	// A JSON body with its type, or none, still works.
	if a := call(t, rawCall{sock: sock, method: "POST", path: "/v1.52/volumes/create", body: `{"Name":"ct-ok"}`,
		header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}); a.code != 201 {
		t.Errorf("volume create with a charset: %d %s", a.code, a.body)
	}
	if out := docker(t, env, "ps", "-a", "--format", "{{.Names}}"); out != "cp-target" {
		t.Errorf("containers: %q", out)
	}
	if out := docker(t, env, "network", "ls", "-q", "--filter", "name=ct-net"); out != "" {
		t.Errorf("the refused network exists: %q", out)
	}
	if out := docker(t, env, "volume", "ls", "-q"); out != "ct-ok" {
		t.Errorf("volumes: %q", out)
	}
}
