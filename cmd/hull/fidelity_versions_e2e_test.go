//go:build linux

package main

// Issue 12, versions: hull serves API 1.24 to 1.56 with each version's
// shapes, answers unknown routes and wrong methods as dockerd, and tells
// the truth in /info, /version and /plugins — checked side by side with a
// private dockerd (Debian's 20.10, API 1.41) where it answers, and against
// the host and moby's changelog for the newer versions.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// apiCall is one raw request to a daemon's socket.
type apiCall struct {
	sock   string
	method string
	path   string
	body   string
	header map[string]string
}

// apiAnswer is what a daemon answered.
type apiAnswer struct {
	code   int
	header http.Header
	body   []byte
}

func (a apiAnswer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("not a JSON object (%d): %s", a.code, a.body)
	}
	return m
}

func (a apiAnswer) list(t *testing.T) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal(a.body, &l); err != nil {
		t.Fatalf("not a JSON list (%d): %s", a.code, a.body)
	}
	return l
}

func (a apiAnswer) message() string {
	var m struct{ Message string }
	json.Unmarshal(a.body, &m)
	return m.Message
}

func call(t *testing.T, c apiCall) apiAnswer {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, "http://daemon"+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	cl := apiClient(c.sock)
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiAnswer{code: resp.StatusCode, header: resp.Header, body: b}
}

// sockOf is the socket the environment's DOCKER_HOST names (the last one:
// the helpers append theirs to the test's own environment).
func sockOf(env []string) string {
	sock := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "DOCKER_HOST=unix://"); ok {
			sock = v
		}
	}
	return sock
}

// TestVersionsRoutesSideBySide: routes dockerd does not have, and known
// paths asked with another method, answer dockerd's JSON 404 (without the
// API's headers); /_ping carries dockerd's headers; the version prefix is
// checked after the route; the /plugins routes answer as dockerd for a
// plugin that is not installed. Each request goes to hull and to dockerd.
func TestVersionsRoutesSideBySide(t *testing.T) {
	denv := dockerd(t)
	_, dir := hullDaemon(t)
	hs, ds := filepath.Join(dir, "hull.sock"), sockOf(denv)

	same := []apiCall{
		{method: "GET", path: "/nothere"},
		{method: "GET", path: "/v1.41/nothere"},
		{method: "GET", path: "/v1.99/nothere"},
		{method: "GET", path: "/v1.41/containers/x/nothere"},
		{method: "POST", path: "/v1.41/containers/json"},
		{method: "DELETE", path: "/v1.41/_ping"},
		{method: "PUT", path: "/v1.41/version"},
		{method: "POST", path: "/v1.41/_ping"},
		{method: "GET", path: "/containers/json/"},
		{method: "GET", path: "/v1.41//containers/json"},
		{method: "OPTIONS", path: "/v1.41/containers/json"},
		{method: "GET", path: "/v1.41/plugins"},
		{method: "GET", path: `/v1.41/plugins?filters={"capability":{"volumedriver":true}}`},
		{method: "GET", path: `/v1.41/plugins?filters={"enabled":{"true":true}}`},
		{method: "GET", path: "/v1.41/plugins/foo/json"},
		{method: "GET", path: "/v1.41/plugins/a/b/c:1/json"},
		{method: "DELETE", path: "/v1.41/plugins/foo"},
		{method: "DELETE", path: "/v1.41/plugins/foo?force=1"},
		{method: "POST", path: "/v1.41/plugins/foo/enable?timeout=0"},
		{method: "POST", path: "/v1.41/plugins/foo/disable"},
		{method: "POST", path: "/v1.41/plugins/foo/push"},
		{method: "POST", path: "/v1.41/plugins/foo/set", body: "[]"},
		{method: "POST", path: "/v1.41/plugins/foo/upgrade?remote=foo", body: "[]"},
		{method: "POST", path: "/v1.41/plugins/foo:latest/upgrade?remote=foo", body: "[]"},
	}
	for _, c := range same {
		if p, q, ok := strings.Cut(c.path, "?"); ok {
			vals, _ := url.ParseQuery(q)
			c.path = p + "?" + vals.Encode()
		}
		hc, dc := c, c
		hc.sock, dc.sock = hs, ds
		h, d := call(t, hc), call(t, dc)
		what := c.method + " " + c.path
		if h.code != d.code {
			t.Errorf("%s: hull %d %s, dockerd %d %s", what, h.code, h.body, d.code, d.body)
			continue
		}
		if d.code >= 400 && !strings.HasPrefix(h.message(), d.message()) {
			t.Errorf("%s: hull says %q, dockerd %q", what, h.message(), d.message())
		}
		if d.code < 300 && !bytes.Equal(bytes.TrimSpace(h.body), bytes.TrimSpace(d.body)) {
			t.Errorf("%s: hull answers %s, dockerd %s", what, h.body, d.body)
		}
		if got, want := h.header.Get("Location"), d.header.Get("Location"); got != want {
			t.Errorf("%s: Location %q, dockerd's %q", what, got, want)
		}
		if d.code == 404 && d.message() == "page not found" {
			if ct := h.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", what, ct)
			}
			// dockerd's router answers before its middlewares run.
			for _, k := range []string{"Api-Version", "Ostype", "Server"} {
				if h.header.Get(k) != "" || d.header.Get(k) != "" {
					t.Errorf("%s: %s: hull %q, dockerd %q", what, k, h.header.Get(k), d.header.Get(k))
				}
			}
		}
	}
	// HEAD of a GET route is not that route for dockerd (gorilla/mux).
	for _, sock := range []string{hs, ds} {
		if a := call(t, apiCall{sock: sock, method: "HEAD", path: "/v1.41/containers/json"}); a.code != 404 {
			t.Errorf("HEAD /containers/json on %s: %d", sock, a.code)
		}
	}

	// /_ping: dockerd's headers, GET and HEAD.
	for _, m := range []string{"GET", "HEAD"} {
		h := call(t, apiCall{sock: hs, method: m, path: "/_ping"})
		d := call(t, apiCall{sock: ds, method: m, path: "/_ping"})
		if h.code != 200 || string(h.body) != string(d.body) {
			t.Errorf("%s /_ping: %d %q, dockerd %q", m, h.code, h.body, d.body)
		}
		for _, k := range []string{"Cache-Control", "Pragma", "Content-Type", "Docker-Experimental", "Ostype"} {
			if h.header.Get(k) != d.header.Get(k) {
				t.Errorf("%s /_ping %s: %q, dockerd %q", m, k, h.header.Get(k), d.header.Get(k))
			}
		}
		if m == "HEAD" && h.header.Get("Content-Length") != "0" {
			t.Errorf("HEAD /_ping Content-Length %q", h.header.Get("Content-Length"))
		}
		// Newer than dockerd 20.10: the newest version hull speaks, the
		// builder it recommends, the swarm state (API 1.42).
		if h.header.Get("Api-Version") != "1.56" || h.header.Get("Builder-Version") == "" || h.header.Get("Swarm") != "inactive" {
			t.Errorf("%s /_ping: %v", m, h.header)
		}
	}

	// The version prefix: too new and too old in dockerd's words, for a
	// route that exists; the oldest and newest served.
	for path, want := range map[string]string{
		"/v1.57/version": "client version 1.57 is too new. Maximum supported API version is 1.56",
		"/v1.23/version": "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version",
	} {
		a := call(t, apiCall{sock: hs, method: "GET", path: path})
		if a.code != 400 || !strings.HasPrefix(a.message(), want) || a.header.Get("Api-Version") != "1.56" {
			t.Errorf("GET %s: %d %s %v", path, a.code, a.body, a.header)
		}
	}
	for _, v := range []string{"1.24", "1.41", "1.44", "1.52", "1.56"} {
		if a := call(t, apiCall{sock: hs, method: "GET", path: "/v" + v + "/version"}); a.code != 200 {
			t.Errorf("GET /v%s/version: %d %s", v, a.code, a.body)
		}
	}

	// Plugins hull cannot install: the checks first, then 501.
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/plugins/privileges", 400},
		{"GET", "/plugins/privileges?remote=foo", 501},
		{"POST", "/plugins/pull", 400},
		{"POST", "/plugins/pull?remote=foo", 501},
		{"POST", "/plugins/create", 400},
		{"POST", "/plugins/create?name=foo", 501},
		{"POST", "/plugins/foo/enable", 400},
		{"GET", "/plugins?filters=%7B%22bogus%22%3A%7B%22x%22%3Atrue%7D%7D", 400},
	} {
		if a := call(t, apiCall{sock: hs, method: c.method, path: c.path}); a.code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, a.code, a.body, c.code)
		}
	}
}

// hostInfoFields are the /info fields that the host decides: hull and
// dockerd on the same host must agree on them.
var hostInfoFields = []string{"MemTotal", "MemoryLimit", "SwapLimit", "KernelMemory", "KernelMemoryTCP", "CpuCfsPeriod",
	"CpuCfsQuota", "CPUShares", "CPUSet", "PidsLimit", "OomKillDisable", "IPv4Forwarding", "BridgeNfIptables",
	"BridgeNfIp6tables", "CgroupDriver", "CgroupVersion", "NCPU", "KernelVersion", "OperatingSystem", "OSVersion",
	"OSType", "Architecture", "IndexServerAddress", "Name", "Swarm", "ExperimentalBuild", "HttpProxy", "HttpsProxy", "NoProxy"}

// TestVersionsInfoSideBySide: /info tells what the host gives, field by
// field as dockerd on the same host at API 1.41, and each newer version's
// shape; /version is dockerd's shape; the docker CLI prints both.
func TestVersionsInfoSideBySide(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	denv := dockerd(t)
	env, dir := hullDaemon(t)
	hs, ds := filepath.Join(dir, "hull.sock"), sockOf(denv)

	h := call(t, apiCall{sock: hs, method: "GET", path: "/v1.41/info"}).json(t)
	d := call(t, apiCall{sock: ds, method: "GET", path: "/v1.41/info"}).json(t)
	for _, k := range hostInfoFields {
		hv, hok := h[k]
		dv, dok := d[k]
		if hok != dok || fmt.Sprint(hv) != fmt.Sprint(dv) {
			t.Errorf("/info %s: hull %v (%v), dockerd %v (%v)", k, hv, hok, dv, dok)
		}
	}
	// dockerd 20.10 warns of bridge-nf-call-iptables, which newer ones do
	// not (API 1.47's changelog): compare the rest.
	var dw []any
	if l, ok := d["Warnings"].([]any); ok {
		for _, w := range l {
			if !strings.Contains(fmt.Sprint(w), "bridge-nf-call") {
				dw = append(dw, w)
			}
		}
	}
	if hw, _ := h["Warnings"].([]any); fmt.Sprint(hw) != fmt.Sprint(dw) {
		t.Errorf("/info Warnings: hull %v, dockerd %v", hw, dw)
	}
	// The security options dockerd 20.10 lists, seccomp's profile named as
	// newer dockerds name it ("builtin" was "default").
	var dso []string
	for _, o := range d["SecurityOptions"].([]any) {
		dso = append(dso, strings.Replace(fmt.Sprint(o), "profile=default", "profile=builtin", 1))
	}
	if hso := fmt.Sprint(h["SecurityOptions"]); hso != fmt.Sprint(dso) {
		t.Errorf("/info SecurityOptions: hull %v, dockerd %v", hso, dso)
	}
	hr, dr := h["RegistryConfig"].(map[string]any), d["RegistryConfig"].(map[string]any)
	if fmt.Sprint(hr["IndexConfigs"]) != fmt.Sprint(dr["IndexConfigs"]) || fmt.Sprint(hr["Mirrors"]) != fmt.Sprint(dr["Mirrors"]) {
		t.Errorf("/info RegistryConfig: hull %v, dockerd %v", hr, dr)
	}
	if !strings.Contains(fmt.Sprint(hr["InsecureRegistryCIDRs"]), "127.0.0.0/8") {
		t.Errorf("/info InsecureRegistryCIDRs: %v", hr["InsecureRegistryCIDRs"])
	}

	// The host's own files say the same.
	mem, _ := os.ReadFile("/proc/meminfo")
	var kb int64
	fmt.Sscanf(strings.SplitN(string(mem), "\n", 2)[0], "MemTotal: %d kB", &kb)
	if got := int64(h["MemTotal"].(float64)); got != kb*1024 {
		t.Errorf("MemTotal %d, /proc/meminfo %d kB", got, kb)
	}
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if h["IPv4Forwarding"] != (strings.TrimSpace(string(fwd)) == "1") {
		t.Errorf("IPv4Forwarding %v, ip_forward %q", h["IPv4Forwarding"], fwd)
	}
	if h["NCPU"].(float64) != float64(runtime.NumCPU()) {
		t.Errorf("NCPU %v", h["NCPU"])
	}

	// hull's own: its runtime, its id, its plugins and log driver.
	shim := filepath.Join(filepath.Dir(hullBin), "hull-shim")
	rts, _ := h["Runtimes"].(map[string]any)
	if h["DefaultRuntime"] != "hull" || len(rts) != 1 || fmt.Sprint(rts["hull"]) != fmt.Sprint(map[string]any{"path": shim}) {
		t.Errorf("Runtimes %v, DefaultRuntime %v (hull-shim at %s)", rts, h["DefaultRuntime"], shim)
	}
	id, _ := os.ReadFile(filepath.Join(dir, "root", "engine-id"))
	if h["ID"] != strings.TrimSpace(string(id)) {
		t.Errorf("ID %v, engine-id %q", h["ID"], id)
	}
	plugins, _ := h["Plugins"].(map[string]any)
	if fmt.Sprint(plugins["Volume"]) != "[local]" || fmt.Sprint(plugins["Network"]) != "[bridge host null]" || fmt.Sprint(plugins["Log"]) != "[json-file]" || plugins["Authorization"] != nil {
		t.Errorf("Plugins %v", plugins)
	}
	if h["LoggingDriver"] != "json-file" || h["DockerRootDir"] != filepath.Join(dir, "root") || h["LiveRestoreEnabled"] != true {
		t.Errorf("LoggingDriver %v DockerRootDir %v LiveRestoreEnabled %v", h["LoggingDriver"], h["DockerRootDir"], h["LiveRestoreEnabled"])
	}
	// A remote network driver that a network uses is a network plugin.
	specDir := filepath.Join(dir, "run", "plugins")
	startTestPlugin(t, specDir, "vnet", "good")
	// As dockerd: listed while a network uses it.
	docker(t, env, "network", "create", "-d", "vnet", "--subnet", "10.89.0.0/24", "vnetwork")
	t.Cleanup(func() { dockerRun(t, env, "", "network", "rm", "vnetwork") })
	if p := call(t, apiCall{sock: hs, method: "GET", path: "/info"}).json(t)["Plugins"].(map[string]any); fmt.Sprint(p["Network"]) != "[bridge host null vnet]" {
		t.Errorf("Plugins.Network with a remote driver in use: %v", p["Network"])
	}
	docker(t, env, "network", "create", "-d", "vnet", "--subnet", "10.90.0.0/24", "vgone")
	docker(t, env, "network", "rm", "vgone")
	if p := call(t, apiCall{sock: hs, method: "GET", path: "/info"}).json(t)["Plugins"].(map[string]any); fmt.Sprint(p["Network"]) != "[bridge host null vnet]" {
		t.Errorf("Plugins.Network after one of two networks of the remote driver went: %v", p["Network"])
	}

	// Each version's fields.
	for _, c := range []struct {
		version      string
		have, absent []string
	}{
		{"1.41", []string{"KernelMemory", "BridgeNfIptables", "BridgeNfIp6tables"}, []string{"FirewallBackend"}},
		{"1.43", []string{"BridgeNfIptables"}, []string{"KernelMemory", "FirewallBackend"}},
		{"1.49", []string{"BridgeNfIptables", "FirewallBackend"}, []string{"KernelMemory"}},
		{"1.50", []string{"FirewallBackend", "CDISpecDirs"}, []string{"KernelMemory", "BridgeNfIptables"}},
		{"1.52", []string{"FirewallBackend"}, []string{"KernelMemory", "KernelMemoryTCP", "BridgeNfIptables"}},
		{"1.56", []string{"FirewallBackend", "CgroupVersion"}, []string{"KernelMemory", "KernelMemoryTCP", "BridgeNfIptables", "BridgeNfIp6tables"}},
	} {
		m := call(t, apiCall{sock: hs, method: "GET", path: "/v" + c.version + "/info"}).json(t)
		for _, k := range c.have {
			if _, ok := m[k]; !ok {
				t.Errorf("/v%s/info lacks %s", c.version, k)
			}
		}
		for _, k := range c.absent {
			if _, ok := m[k]; ok {
				t.Errorf("/v%s/info has %s: %v", c.version, k, m[k])
			}
		}
		commit := fmt.Sprint(m["ContainerdCommit"])
		if hasExpected := strings.Contains(commit, "Expected"); hasExpected != (c.version < "1.49") {
			t.Errorf("/v%s/info ContainerdCommit %s", c.version, commit)
		}
		if c.version >= "1.48" && c.version < "1.50" && m["BridgeNfIptables"] != false {
			t.Errorf("/v%s/info BridgeNfIptables %v: always false from 1.48", c.version, m["BridgeNfIptables"])
		}
	}

	// /version: dockerd's shape, hull's versions.
	hv := call(t, apiCall{sock: hs, method: "GET", path: "/v1.41/version"}).json(t)
	dv := call(t, apiCall{sock: ds, method: "GET", path: "/v1.41/version"}).json(t)
	for k := range dv {
		if _, ok := hv[k]; !ok && k != "BuildTime" && k != "GitCommit" {
			t.Errorf("/version lacks %s (dockerd: %v)", k, dv[k])
		}
	}
	comps, _ := hv["Components"].([]any)
	engine, _ := comps[0].(map[string]any)
	details, _ := engine["Details"].(map[string]any)
	if hv["ApiVersion"] != "1.56" || hv["MinAPIVersion"] != "1.24" || engine["Name"] != "Engine" || details["ApiVersion"] != "1.56" || details["MinAPIVersion"] != "1.24" || details["KernelVersion"] != dv["KernelVersion"] || details["Os"] != "linux" {
		t.Errorf("/version: %s", call(t, apiCall{sock: hs, method: "GET", path: "/version"}).body)
	}
	if out := docker(t, env, "version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{(index .Server.Components 0).Name}}"); out != "1.56 1.24 Engine" {
		t.Errorf("docker version: %q", out)
	}
	cli, err := client.New(client.WithHost("unix://"+hs), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if v, err := cli.ServerVersion(context.Background(), client.ServerVersionOptions{}); err != nil || v.APIVersion != "1.56" || v.MinAPIVersion != "1.24" {
		t.Errorf("SDK ServerVersion: %+v %v", v, err)
	}
	out := docker(t, env, "info")
	for _, want := range []string{"Runtimes: hull", "Default Runtime: hull", "Network: bridge host null vnet", "Log: json-file", "Cgroup Version: " + fmt.Sprint(h["CgroupVersion"])} {
		if !strings.Contains(out, want) {
			t.Errorf("docker info lacks %q:\n%s", want, out)
		}
	}
	if out := docker(t, env, "plugin", "ls", "--format", "{{.Name}}"); out != "" {
		t.Errorf("docker plugin ls: %q", out)
	}
	if _, stderr, code := dockerRun(t, env, "", "plugin", "inspect", "foo"); code == 0 || !strings.Contains(stderr, `plugin "foo" not found`) {
		t.Errorf("docker plugin inspect foo: %d %s", code, stderr)
	}
	// A remote driver no network uses any more is not listed.
	docker(t, env, "network", "rm", "vnetwork")
	if p := call(t, apiCall{sock: hs, method: "GET", path: "/info"}).json(t)["Plugins"].(map[string]any); fmt.Sprint(p["Network"]) != "[bridge host null]" {
		t.Errorf("Plugins.Network once no network uses the remote driver: %v", p["Network"])
	}
}

// TestVersionsShapes: what a request's version changes, on one daemon —
// the fields of container, image and network answers, system df's shape,
// events' fields and Content-Type, what create and the image routes take.
func TestVersionsShapes(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	hs := filepath.Join(dir, "hull.sock")
	img := "e2e/busybox:1"
	get := func(path string) apiAnswer { return call(t, apiCall{sock: hs, method: "GET", path: path}) }

	docker(t, env, "network", "create", "vn")
	t.Cleanup(func() { dockerRun(t, env, "", "network", "rm", "vn") })
	hid := docker(t, env, "run", "-d", "--name", "healthy", "--health-cmd", "true", "--health-interval", "1s", img, "sleep", "1000")
	docker(t, env, "run", "-d", "--name", "onvn", "--network", "vn", img, "sleep", "1000")
	waitFor(t, func() bool { return strings.Contains(docker(t, env, "ps", "--filter", "name=healthy"), "(healthy)") }, "the health check")

	// Container summaries: Health from 1.52.
	for v, want := range map[string]bool{"1.51": false, "1.52": true, "1.56": true} {
		var found bool
		for _, c := range get("/v" + v + "/containers/json").list(t) {
			if c["Id"] == hid {
				_, found = c["Health"]
			}
		}
		if found != want {
			t.Errorf("/v%s/containers/json: Health %v, want %v", v, found, want)
		}
	}
	// Container inspect: the bridge's endpoint in NetworkSettings' own
	// fields before 1.52; a user network's aliases with the short id
	// before 1.45.
	for v, want := range map[string]bool{"1.41": true, "1.51": true, "1.52": false} {
		ns := get("/v" + v + "/containers/healthy/json").json(t)["NetworkSettings"].(map[string]any)
		if _, ok := ns["IPAddress"]; ok != want {
			t.Errorf("/v%s inspect NetworkSettings.IPAddress: %v, want %v (%v)", v, ok, want, ns)
		}
		if want && (ns["IPAddress"] == "" || ns["MacAddress"] == "" || ns["Gateway"] == "") {
			t.Errorf("/v%s inspect NetworkSettings: %v", v, ns)
		}
	}
	for v, want := range map[string]bool{"1.44": true, "1.45": false} {
		c := get("/v" + v + "/containers/onvn/json").json(t)
		ep := c["NetworkSettings"].(map[string]any)["Networks"].(map[string]any)["vn"].(map[string]any)
		short := c["Id"].(string)[:12]
		if got := strings.Contains(fmt.Sprint(ep["Aliases"]), short); got != want {
			t.Errorf("/v%s inspect Aliases %v: short id %v, want %v", v, ep["Aliases"], got, want)
		}
	}

	// Networks: list items without Containers from 1.52 (an empty object
	// before); inspect's Status (IPAM statistics) from 1.52.
	for v, want := range map[string]bool{"1.51": true, "1.52": false} {
		for _, n := range get("/v" + v + "/networks").list(t) {
			if _, ok := n["Containers"]; ok != want {
				t.Errorf("/v%s/networks %v: Containers %v, want %v", v, n["Name"], ok, want)
			}
		}
	}
	if _, ok := get("/v1.51/networks/vn").json(t)["Status"]; ok {
		t.Error("/v1.51/networks/vn has Status")
	}
	st := get("/v1.52/networks/vn").json(t)
	subnet := st["IPAM"].(map[string]any)["Config"].([]any)[0].(map[string]any)["Subnet"].(string)
	sub, _ := st["Status"].(map[string]any)["IPAM"].(map[string]any)["Subnets"].(map[string]any)[subnet].(map[string]any)
	// network, broadcast, gateway and one container.
	if sub["IPsInUse"] != 4.0 || sub["DynamicIPsAvailable"] == nil {
		t.Errorf("/v1.52/networks/vn Status: %v", st["Status"])
	}
	bits, _ := strconv.Atoi(subnet[strings.IndexByte(subnet, '/')+1:])
	if want := float64(uint64(1)<<(32-bits)) - 4; sub["DynamicIPsAvailable"] != want {
		t.Errorf("DynamicIPsAvailable %v, want %v", sub["DynamicIPsAvailable"], want)
	}

	// Image inspect: VirtualSize before 1.44, the legacy builder's
	// Container before 1.45, Parent and Comment always before 1.52.
	for v, c := range map[string][2][]string{
		"1.43": {{"VirtualSize", "Container", "ContainerConfig", "Parent", "Comment", "DockerVersion"}, nil},
		"1.45": {{"Parent", "Comment", "Author"}, {"VirtualSize", "Container"}},
		"1.52": {nil, {"VirtualSize", "Container", "Parent", "DockerVersion"}},
	} {
		m := get("/v" + v + "/images/" + img + "/json").json(t)
		for _, k := range c[0] {
			if _, ok := m[k]; !ok {
				t.Errorf("/v%s image inspect lacks %s", v, k)
			}
		}
		for _, k := range c[1] {
			if _, ok := m[k]; ok {
				t.Errorf("/v%s image inspect has %s", v, k)
			}
		}
	}
	if a := get("/v1.49/images/" + img + "/json?manifests=1&platform=" + url.QueryEscape(`{"os":"linux","architecture":"amd64"}`)); a.code != 400 || !strings.HasPrefix(a.message(), "conflicting options: manifests and platform options cannot both be set") {
		t.Errorf("inspect with manifests and platform: %d %s", a.code, a.body)
	}

	// system df: the type parameter from 1.42; the legacy shape before
	// 1.52, both in 1.52 unless verbose, counts and sizes from 1.52.
	keys := func(a apiAnswer) string {
		var out []string
		for k := range a.json(t) {
			out = append(out, k)
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	for path, want := range map[string]string{
		"/v1.41/system/df":                           "BuildCache Containers Images LayersSize Volumes",
		"/v1.41/system/df?type=volume":               "BuildCache Containers Images LayersSize Volumes",
		"/v1.44/system/df?type=volume":               "Volumes",
		"/v1.51/system/df?type=container&type=image": "Containers Images LayersSize",
		"/v1.52/system/df":                           "BuildCache BuildCacheUsage ContainerUsage Containers ImageUsage Images LayersSize VolumeUsage Volumes",
		"/v1.52/system/df?verbose=1":                 "BuildCacheUsage ContainerUsage ImageUsage VolumeUsage",
		"/v1.56/system/df?verbose=1&type=container":  "ContainerUsage",
	} {
		if got := keys(get(path)); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	if a := get("/v1.42/system/df?type=bogus"); a.code != 400 || !strings.HasPrefix(a.message(), "unknown object type: bogus") {
		t.Errorf("df type=bogus: %d %s", a.code, a.body)
	}
	cu := get("/v1.52/system/df?verbose=1&type=container").json(t)["ContainerUsage"].(map[string]any)
	if cu["ActiveCount"] != 2.0 || cu["TotalCount"] != 2.0 || len(cu["Items"].([]any)) != 2 {
		t.Errorf("ContainerUsage: %v", cu)
	}
	if out := docker(t, env, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"); !strings.Contains(out, "Containers 2 2") || !strings.Contains(out, "Images 1 1") {
		t.Errorf("docker system df:\n%s", out)
	}

	// Events: the fields removed in 1.22 until 1.52; Content-Type by
	// version and by Accept.
	until := fmt.Sprint(time.Now().Unix() + 1)
	q := "/events?since=0&until=" + until + "&filters=%7B%22container%22%3A%7B%22healthy%22%3Atrue%7D%7D"
	for v, c := range map[string]struct {
		ct     string
		legacy bool
	}{"1.41": {"application/json", true}, "1.51": {"application/json", true}, "1.52": {"application/jsonl", false}} {
		a := get("/v" + v + q)
		first, _, _ := bytes.Cut(a.body, []byte("\n"))
		var m map[string]any
		json.Unmarshal(first, &m)
		if a.header.Get("Content-Type") != c.ct || (m["status"] == "create") != c.legacy || (m["from"] == img) != c.legacy || m["Action"] != "create" {
			t.Errorf("/v%s/events: %s %s", v, a.header.Get("Content-Type"), first)
		}
	}
	a := call(t, apiCall{sock: hs, method: "GET", path: "/v1.52" + q, header: map[string]string{"Accept": "application/json-seq"}})
	if a.header.Get("Content-Type") != "application/json-seq" || len(a.body) == 0 || a.body[0] != 0x1e {
		t.Errorf("events as json-seq: %s %q", a.header.Get("Content-Type"), a.body)
	}
	a = call(t, apiCall{sock: hs, method: "GET", path: "/v1.41" + q, header: map[string]string{"Accept": "application/x-ndjson"}})
	if a.header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("events as ndjson: %s", a.header.Get("Content-Type"))
	}

	// Logs: multiplexed-stream announced from 1.42, raw before.
	for v, want := range map[string]string{"1.41": "application/vnd.docker.raw-stream", "1.42": "application/vnd.docker.multiplexed-stream"} {
		if ct := get("/v" + v + "/containers/healthy/logs?stdout=1").header.Get("Content-Type"); ct != want {
			t.Errorf("/v%s logs Content-Type %q", v, ct)
		}
	}

	// create: the platform the image must match (from 1.41).
	post := func(path, body string) apiAnswer {
		return call(t, apiCall{sock: hs, method: "POST", path: path, body: body})
	}
	body := `{"Image":"` + img + `","Cmd":["true"]}`
	a = post("/v1.41/containers/create?platform=linux/arm64", body)
	if a.code != 404 || !strings.HasPrefix(a.message(), "image with reference "+img+" was found but does not match the specified platform: wanted linux/arm64, actual: linux/"+runtime.GOARCH) {
		t.Errorf("create for linux/arm64: %d %s", a.code, a.body)
	}
	if a = post("/v1.41/containers/create?platform=linux/"+runtime.GOARCH, body); a.code != 201 {
		t.Errorf("create for the image's platform: %d %s", a.code, a.body)
	}
	if a = post("/v1.40/containers/create?platform=linux/arm64", body); a.code != 201 {
		t.Errorf("create with a platform before 1.41 (ignored): %d %s", a.code, a.body)
	}
	if a = post("/v1.41/containers/create?platform=a/b/c/d", body); a.code != 400 {
		t.Errorf("create with a bad platform: %d %s", a.code, a.body)
	}
	// The docker CLI reads the 404 as a missing image and pulls, as it
	// does against dockerd.
	if _, stderr, code := dockerRun(t, env, "", "create", "--platform", "linux/arm64", img); code == 0 || !strings.Contains(stderr, "Unable to find image '"+img+"' locally") {
		t.Errorf("docker create --platform linux/arm64: %d %s", code, stderr)
	}
	// Several endpoints only from 1.44; an empty list of port bindings
	// backfilled, with 1.52's warning.
	two := `{"Image":"` + img + `","Cmd":["true"],"NetworkingConfig":{"EndpointsConfig":{"bridge":{},"vn":{}}}}`
	if a = post("/v1.43/containers/create", two); a.code != 400 || !strings.HasPrefix(a.message(), "Container cannot be created with multiple network endpoints") {
		t.Errorf("two endpoints at 1.43: %d %s", a.code, a.body)
	}
	a = post("/v1.52/containers/create", `{"Image":"`+img+`","Cmd":["true"],"ExposedPorts":{"80/tcp":{}},"HostConfig":{"PortBindings":{"80/tcp":[]}}}`)
	if a.code != 201 || !strings.Contains(string(a.body), "Following container port(s) have an empty list of port-bindings: 80/tcp") {
		t.Errorf("empty port bindings at 1.52: %d %s", a.code, a.body)
	}

	// save, history and delete take the image's platform (JSON) from
	// their version on; another is refused, several before 1.52.
	arm := url.QueryEscape(`{"os":"linux","architecture":"arm64"}`)
	mine := url.QueryEscape(`{"os":"linux","architecture":"` + runtime.GOARCH + `"}`)
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/v1.48/images/" + img + "/get?platform=" + arm, 404},
		{"GET", "/v1.47/images/" + img + "/get?platform=" + arm, 200},
		{"GET", "/v1.48/images/" + img + "/get?platform=" + mine, 200},
		{"GET", "/v1.51/images/get?names=" + img + "&platform=" + mine + "&platform=" + arm, 400},
		{"GET", "/v1.48/images/" + img + "/history?platform=" + arm, 404},
		{"GET", "/v1.48/images/" + img + "/history?platform=" + mine, 200},
		{"GET", "/v1.48/images/" + img + "/history?platform=%7B%7D", 400},
		{"POST", "/v1.51/images/load?platform=" + mine + "&platform=" + arm, 400},
		{"DELETE", "/v1.50/images/" + img + "?platforms=" + arm, 404},
	} {
		if a := call(t, apiCall{sock: hs, method: c.method, path: c.path}); a.code != c.code {
			t.Errorf("%s %s: %d %.200s, want %d", c.method, c.path, a.code, a.body, c.code)
		}
	}
	if out := docker(t, env, "image", "inspect", "-f", "{{.Id}}", img); !strings.HasPrefix(out, "sha256:") {
		t.Errorf("the image went: %q", out)
	}
}
