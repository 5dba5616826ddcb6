package main

// Lists, filters and prunes as dockerd answers them (issue 12): GET
// /containers/json, /images/json, /volumes, /networks, /events and the
// prunes, each case run against hull and, where dockerd is installed,
// against a private dockerd 20.10 (API 1.41) on the same fixture. The
// expected answers were read from dockerd; where 20.10 answers bad input
// with a 500, hull answers 400 (or 404) with dockerd's words and the case
// says what dockerd answers. Cases at API ≥ 1.42 hold today's dockerd's
// words (moby's source), checked against hull alone.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// listDaemon is a daemon under test: hull or dockerd.
type listDaemon struct {
	name string
	env  []string
	// port is the host port the fixture publishes.
	port int
}

func (d listDaemon) sock() string {
	for _, e := range d.env {
		if v, ok := strings.CutPrefix(e, "DOCKER_HOST=unix://"); ok {
			return v
		}
	}
	return ""
}

// sideBySide starts hull and, when it is installed, a private dockerd
// (HULL_TEST_NO_DOCKERD=1: hull alone); the dockerd's containers and
// networks are removed when the test ends (its bridges would outlive it).
func sideBySide(t *testing.T) []listDaemon {
	t.Helper()
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	out := []listDaemon{{name: "hull", env: append(env, "DOCKER_API_VERSION=1.41"), port: freePort(t)}}
	if os.Getenv("HULL_TEST_NO_DOCKERD") != "" {
		return out
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Log("dockerd is not installed: hull alone")
		return out
	}
	denv := dockerd(t)
	t.Cleanup(func() {
		if ids, _, _ := dockerRun(t, denv, "", "ps", "-aq"); strings.TrimSpace(ids) != "" {
			dockerRun(t, denv, "", append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		dockerRun(t, denv, "", "network", "prune", "-f")
	})
	// dockerd gets the same busybox image, by the same archive.
	docker(t, denv, "load", "-i", filepath.Join(dir, "bb.tar"))
	return append(out, listDaemon{name: "dockerd", env: denv, port: freePort(t)})
}

// apiSummary calls the API and sums the answer up: "STATUS message" for an
// error, else "STATUS" and the items — containers by name, images by tags
// (an untagged one as <none> with its labels), volumes and networks by
// name (sorted: their order is a map's in dockerd), events as type/action,
// prune reports as the names they deleted.
func apiSummary(t *testing.T, d listDaemon, method, path string) string {
	t.Helper()
	path = regexp.MustCompile(`filters=(\{[^&]*\})`).ReplaceAllStringFunc(path, func(s string) string {
		return "filters=" + url.QueryEscape(strings.TrimPrefix(s, "filters="))
	})
	req, err := http.NewRequest(method, "http://d"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := apiClient(d.sock()).Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", d.name, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var m struct{ Message string }
		json.Unmarshal(b, &m)
		return fmt.Sprintf("%d %s", resp.StatusCode, m.Message)
	}
	var items []string
	var list []map[string]any
	var obj map[string]any
	switch {
	case json.Unmarshal(b, &list) == nil:
		for _, e := range list {
			items = append(items, itemName(e))
		}
		if len(list) > 0 && list[0]["Driver"] != nil {
			slices.Sort(items)
		}
	case json.Unmarshal(b, &obj) == nil && obj["Action"] == nil:
		for _, k := range []string{"Volumes", "ContainersDeleted", "ImagesDeleted", "NetworksDeleted", "VolumesDeleted"} {
			if v, ok := obj[k]; ok {
				if v == nil {
					items = append(items, "null")
				}
				l, _ := v.([]any)
				for _, e := range l {
					if m, ok := e.(map[string]any); ok {
						items = append(items, itemName(m))
					} else {
						items = append(items, fmt.Sprint(e))
					}
				}
			}
		}
		slices.Sort(items)
	default: // an event stream
		dec := json.NewDecoder(strings.NewReader(string(b)))
		for {
			var m map[string]any
			if dec.Decode(&m) != nil {
				break
			}
			items = append(items, fmt.Sprintf("%v/%v", m["Type"], m["Action"]))
		}
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, strings.Join(items, " ")))
}

func itemName(e map[string]any) string {
	if names, ok := e["Names"].([]any); ok && len(names) > 0 {
		return strings.TrimPrefix(fmt.Sprint(names[0]), "/")
	}
	if _, ok := e["RepoTags"]; ok {
		var tags []string
		for _, x := range e["RepoTags"].([]any) {
			if s := fmt.Sprint(x); s != "<none>:<none>" {
				tags = append(tags, s)
			}
		}
		if len(tags) > 0 {
			return strings.Join(tags, ",")
		}
		var labels []string
		if l, ok := e["Labels"].(map[string]any); ok {
			for k, v := range l {
				labels = append(labels, fmt.Sprintf("%s=%v", k, v))
			}
		}
		slices.Sort(labels)
		return "<none>" + fmt.Sprint(labels)
	}
	if u, ok := e["Untagged"]; ok {
		return "untagged:" + fmt.Sprint(u)
	}
	if _, ok := e["Deleted"]; ok {
		return "deleted"
	}
	if n, ok := e["Name"]; ok {
		return fmt.Sprint(n)
	}
	b, _ := json.Marshal(e)
	return string(b)
}

// listFixture makes, through the docker CLI, the containers, images,
// volumes and networks the list cases look at.
func listFixture(t *testing.T, d listDaemon, bind string) {
	t.Helper()
	dk := func(args ...string) string { t.Helper(); return docker(t, d.env, args...) }
	dk("tag", "e2e/busybox:1", "bb:1")
	dk("rmi", "e2e/busybox:1")
	dk("network", "create", "n1")
	dk("network", "create", "--label", "a=1", "n2")
	dk("network", "create", "--label", "a=2", "n3")
	dk("volume", "create", "v1")
	dk("volume", "create", "--label", "a=1", "v2")
	dk("run", "--name", "c1", "--network", "none", "bb:1", "sh", "-c", "exit 0")
	dockerRun(t, d.env, "", "run", "--name", "c2", "--network", "none", "-l", "a=1", "-l", "b=2", "bb:1", "sh", "-c", "exit 3")
	dk("create", "--name", "c3", "--network", "none", "-l", "a=2", "bb:1", "sh", "-c", "exit 0")
	dk("run", "-d", "--name", "c4", "--network", "n1", "-p", fmt.Sprintf("%d:80", d.port), "--expose", "90",
		"-v", "v1:/data", "-v", bind+":/hosttmp", "bb:1", "sleep", "1000")
	dk("run", "-d", "--name", "c5", "--network", "none", "--health-cmd", "exit 0", "--health-interval", "1s", "bb:1", "sleep", "1000")
	dk("tag", "bb:1", "bb:2")
	dk("tag", "bb:1", "docker.io/library/other:x")
	dk("tag", "bb:1", "localhost:5000/ns/img:v1")
	// Images a second apart: dockerd orders images by whole seconds.
	time.Sleep(time.Second)
	dk("commit", "-c", "LABEL lab=yes", "-c", "LABEL k=v", "c1", "lab:1")
	time.Sleep(time.Second)
	dangling := dk("commit", "-c", "LABEL n=dangling", "c1")
	time.Sleep(time.Second)
	dk("commit", "c2", "cm:1")
	time.Sleep(time.Second)
	dk("commit", "c3")
	dk("create", "--name", "c6", "--network", "none", dangling, "sh")
	time.Sleep(time.Second)
	dk("commit", "c6", "child:1")
	waitFor(t, func() bool { return strings.Contains(dk("ps", "--filter", "name=c5"), "(healthy)") }, "c5 healthy on "+d.name)
}

// listCase is one request and the answer dockerd gives; dockerd is what
// 20.10 answers instead when it differs for a reason the case gives.
type listCase struct {
	path, want string
	dockerd    string
	// hullOnly: a case only hull answers (an API version dockerd 20.10
	// does not speak, or a fixture dockerd does not have).
	hullOnly bool
}

func TestFidelityListFilters(t *testing.T) {
	daemons := sideBySide(t)
	bind := t.TempDir()
	for _, d := range daemons {
		listFixture(t, d, bind)
	}
	const c = "/v1.41/containers/json?"
	const i = "/v1.41/images/json?"
	cases := []listCase{
		// GET /containers/json: newest first; before/since by name or full id.
		{path: c + "all=1", want: "200 c6 c5 c4 c3 c2 c1"},
		{path: c, want: "200 c5 c4"},
		{path: c + "all=1&filters={\"before\":{\"c3\":true}}", want: "200 c2 c1"},
		{path: c + "all=1&filters={\"since\":{\"/c2\":true}}", want: "200 c6 c5 c4 c3"},
		{path: c + "all=1&filters={\"before\":{\"c4\":true},\"since\":{\"c1\":true}}", want: "200 c3 c2"},
		{path: c + "filters={\"before\":{\"c4\":true}}", want: "200"},
		{path: c + "all=1&limit=1&filters={\"before\":{\"c4\":true}}", want: "200 c3"},
		{path: c + "filters={\"before\":{\"x\":true}}", want: "404 no such container x", dockerd: "500 no such container x"},
		{path: "/v1.47/containers/json?filters={\"since\":{\"x\":true}}", want: "404 No such container: x", hullOnly: true},
		// limit shows stopped containers too, as dockerd.
		{path: c + "limit=4", want: "200 c6 c5 c4 c3"},
		{path: c + "limit=0&all=1", want: "200 c6 c5 c4 c3 c2 c1"},
		{path: c + "limit=-3", want: "200 c5 c4"},
		{path: c + "limit=x", want: "400 strconv.Atoi: parsing \"x\": invalid syntax", dockerd: "500 strconv.Atoi: parsing \"x\": invalid syntax"},
		{path: c + "filters={\"name\":{\"c\":true}}&limit=1", want: "200 c6"},
		{path: c + "filters={\"exited\":{\"0\":true}}&limit=1", want: "200 c1"},
		{path: c + "filters={\"status\":{\"exited\":true}}&limit=1", want: "200 c2"},
		// name: a regular expression, with or without the slash; id: a unique prefix.
		{path: c + "all=1&filters={\"name\":{\"c[12]\":true}}", want: "200 c2 c1"},
		{path: c + "all=1&filters={\"name\":{\"^c1$\":true}}", want: "200 c1"},
		{path: c + "all=1&filters={\"name\":{\"/c1\":true}}", want: "200 c1"},
		// labels ANDed.
		{path: c + "all=1&filters={\"label\":{\"a\":true}}", want: "200 c3 c2"},
		{path: c + "all=1&filters={\"label\":{\"a\":true,\"b=2\":true}}", want: "200 c2"},
		{path: c + "all=1&filters={\"label\":{\"a=1\":true,\"a=2\":true}}", want: "200"},
		{path: c + "all=1&filters={\"label\":[\"a=2\"]}", want: "200 c3"},
		// exited only for containers that ran; status shows stopped ones.
		{path: c + "all=1&filters={\"exited\":{\"0\":true,\"3\":true}}", want: "200 c2 c1"},
		{path: c + "filters={\"status\":{\"created\":true,\"running\":true}}", want: "200 c6 c5 c4 c3"},
		{path: c + "all=1&filters={\"health\":{\"none\":true}}", want: "200 c6 c4 c3 c2 c1"},
		{path: c + "all=1&filters={\"health\":{\"healthy\":true}}", want: "200 c5"},
		// volume: by name or destination, a bind by its source.
		{path: c + "all=1&filters={\"volume\":{\"v1\":true}}", want: "200 c4"},
		{path: c + "all=1&filters={\"volume\":{\"/data\":true}}", want: "200 c4"},
		{path: c + "all=1&filters={\"volume\":{\"" + bind + "\":true}}", want: "200 c4"},
		{path: c + "all=1&filters={\"volume\":{\"/hosttmp\":true}}", want: "200 c4"},
		// network: by name or id prefix.
		{path: c + "all=1&filters={\"network\":{\"n1\":true}}", want: "200 c4"},
		{path: c + "all=1&filters={\"network\":{\"none\":true}}", want: "200 c6 c5 c3 c2 c1"},
		{path: c + "all=1&filters={\"network\":{\"n\":true}}", want: "200"},
		// publish and expose: a port, with a protocol or a range.
		{path: c + "all=1&filters={\"expose\":{\"80\":true}}", want: "200 c4"},
		{path: c + "all=1&filters={\"expose\":{\"90\":true}}", want: "200 c4"},
		{path: c + "all=1&filters={\"expose\":{\"80/udp\":true}}", want: "200"},
		{path: c + "all=1&filters={\"expose\":{\"70-85/tcp\":true}}", want: "200 c4"},
		{path: c + "all=1&filters={\"publish\":{\"80\":true}}", want: "200"},
		{path: c + "all=1&filters={\"is-task\":{\"false\":true}}", want: "200 c6 c5 c4 c3 c2 c1"},
		{path: c + "all=1&filters={\"is-task\":{\"true\":true}}", want: "200"},
		{path: c + "all=1&filters={\"isolation\":{\"x\":true}}", want: "200 c6 c5 c4 c3 c2 c1"},
		// ancestor: the image and the images made from it.
		{path: c + "all=1&filters={\"ancestor\":{\"bb:1\":true}}", want: "200 c6 c5 c4 c3 c2 c1"},
		{path: c + "all=1&filters={\"ancestor\":{\"lab:1\":true}}", want: "200"},
		// An ancestor that names no image matches nothing ("bb" alone could
		// be taken as a prefix of an image id, which dockerd matches).
		{path: c + "all=1&filters={\"ancestor\":{\"bb:9\":true}}", want: "200"},
		{path: c + "all=1&filters={\"ancestor\":{\"nope\":true}}", want: "200"},
		// Wrong filters.
		{path: c + "all=1&filters={\"x\":{\"a\":true}}", want: "400 Invalid filter 'x'"},
		{path: c + "filters={\"label!\":{\"x\":true}}", want: "400 Invalid filter 'label!'"},
		{path: c + "filters=bad", want: "400 invalid character 'b' looking for beginning of value", dockerd: "500 invalid character 'b' looking for beginning of value"},
		{path: c + "filters={\"status\":{\"x\":true}}", want: "400 Invalid filter 'status=x'"},
		{path: c + "filters={\"exited\":{\"x\":true}}", want: "400 strconv.Atoi: parsing \"x\": invalid syntax", dockerd: "500 strconv.Atoi: parsing \"x\": invalid syntax"},
		{path: c + "filters={\"health\":{\"x\":true}}", want: "400 Unrecognised filter value for health: x"},
		{path: c + "filters={\"is-task\":{\"x\":true}}", want: "400 Invalid filter 'is-task=[x]'"},
		{path: c + "filters={\"publish\":{\"a:1\":true}}", want: "400 filter for 'publish' should not contain ':': a:1", dockerd: "500 filter for 'publish' should not contain ':': a:1"},
		{path: c + "filters={\"expose\":{\"80-70\":true}}", want: "400 error while looking up for expose 80-70: Invalid range specified for the Port: 80-70",
			dockerd: "500 error while looking up for expose 80-70: Invalid range specified for the Port: 80-70"},
		// The same at API 1.47, in today's dockerd's words.
		{path: "/v1.47/containers/json?filters={\"x\":{\"a\":true}}", want: "400 invalid filter 'x'", hullOnly: true},
		{path: "/v1.47/containers/json?filters=bad", want: "400 invalid filter", hullOnly: true},
		{path: "/v1.47/containers/json?filters={\"status\":{\"x\":true}}", hullOnly: true,
			want: "400 invalid filter 'status=x': invalid value for state (x): must be one of created, running, paused, restarting, removing, exited, dead"},
		{path: "/v1.47/containers/json?filters={\"health\":{\"x\":true}}", hullOnly: true,
			want: "400 invalid filter 'health=x': invalid value for health (x): must be one of none, starting, healthy, unhealthy"},
		{path: "/v1.47/containers/json?filters={\"exited\":{\"x\":true}}", hullOnly: true, want: "400 invalid filter 'exited=x': strconv.Atoi: parsing \"x\": invalid syntax"},
		{path: "/v1.47/containers/json?filters={\"publish\":{\"x\":true}}", hullOnly: true, want: "400 error while looking up for publish x: invalid start port 'x': invalid syntax"},

		// GET /images/json: newest first; untagged parents of other images only with all.
		{path: i, want: "200 child:1 <none>[a=2] cm:1 lab:1 bb:1,bb:2,other:x,localhost:5000/ns/img:v1"},
		{path: i + "all=1", want: "200 child:1 <none>[a=2] cm:1 <none>[n=dangling] lab:1 bb:1,bb:2,other:x,localhost:5000/ns/img:v1"},
		{path: i + "filters={\"dangling\":{\"true\":true}}", want: "200 <none>[a=2]"},
		{path: i + "filters={\"dangling\":{\"false\":true}}", want: "200 child:1 cm:1 lab:1 bb:1,bb:2,other:x,localhost:5000/ns/img:v1"},
		{path: i + "filters={\"dangling\":{\"1\":true}}", want: "400 Invalid filter 'dangling=[1]'"},
		{path: i + "filters={\"reference\":{\"bb\":true}}", want: "200 bb:1,bb:2"},
		{path: i + "filters={\"reference\":{\"b*\":true}}", want: "200 bb:1,bb:2"},
		{path: i + "filters={\"reference\":{\"*:1\":true}}", want: "200 child:1 cm:1 lab:1 bb:1"},
		{path: i + "filters={\"reference\":{\"bb:2\":true,\"cm\":true}}", want: "200 cm:1 bb:2"},
		{path: i + "filters={\"reference\":{\"localhost:5000/ns/img\":true}}", want: "200 localhost:5000/ns/img:v1"},
		{path: i + "filters={\"reference\":{\"docker.io/library/other\":true}}", want: "200"},
		{path: "/v1.47/images/json?filters={\"reference\":{\"docker.io/library/other\":true}}", want: "200 other:x", hullOnly: true},
		{path: i + "filters={\"reference\":{\"[\":true}}", want: "400 syntax error in pattern", dockerd: "500 syntax error in pattern"},
		{path: i + "filters={\"label\":{\"lab=yes\":true,\"k=v\":true}}", want: "200 lab:1"},
		{path: i + "filters={\"label\":{\"lab=no\":true}}", want: "200"},
		{path: i + "filters={\"before\":{\"lab:1\":true}}", want: "200 bb:1,bb:2,other:x,localhost:5000/ns/img:v1"},
		{path: i + "filters={\"since\":{\"lab:1\":true}}", want: "200 child:1 <none>[a=2] cm:1"},
		{path: i + "filters={\"since\":{\"bb:1\":true},\"before\":{\"child:1\":true}}", want: "200 <none>[a=2] cm:1 lab:1"},
		{path: i + "filters={\"before\":{\"nope\":true}}", want: "404 No such image: nope:latest"},
		{path: i + "filters={\"since\":{\"nope:1\":true}}", want: "404 No such image: nope:1"},
		{path: i + "filters={\"x\":{\"a\":true}}", want: "400 Invalid filter 'x'"},
		{path: i + "filters={\"until\":{\"1h\":true}}", want: "400 Invalid filter 'until'"},
		{path: "/v1.47/images/json?filters={\"until\":{\"1h\":true}}", want: "200", hullOnly: true},
		{path: "/v1.47/images/json?filters={\"until\":{\"foo\":true}}", hullOnly: true,
			want: "400 invalid value for 'until' filter: failed to parse value as time or duration: invalid seconds \"foo\": invalid syntax"},
		{path: "/v1.47/images/json?filters={\"dangling\":{\"1\":true}}", want: "200 <none>[a=2]", hullOnly: true},
		{path: "/v1.40/images/json?filter=lab", want: "200 lab:1"},
		{path: i + "filter=lab", want: "200 child:1 <none>[a=2] cm:1 lab:1 bb:1,bb:2,other:x,localhost:5000/ns/img:v1"},

		// GET /volumes.
		{path: "/v1.41/volumes?filters={\"dangling\":{\"true\":true}}", want: "200 v2"},
		{path: "/v1.41/volumes?filters={\"dangling\":{\"0\":true}}", want: "200 v1"},
		{path: "/v1.41/volumes?filters={\"dangling\":{\"x\":true}}", want: "400 Invalid filter 'dangling=[x]'"},
		{path: "/v1.41/volumes?filters={\"name\":{\"^v1$\":true}}", want: "200 v1"},
		{path: "/v1.41/volumes?filters={\"driver\":{\"x\":true}}", want: "200"},
		{path: "/v1.41/volumes?filters={\"label\":{\"a=1\":true}}", want: "200 v2"},
		{path: "/v1.41/volumes?filters={\"label!\":{\"a\":true}}", want: "400 Invalid filter 'label!'"},
		{path: "/v1.41/volumes?filters=bad", want: "400 error reading volume filters: invalid character 'b' looking for beginning of value"},
		{path: "/v1.47/volumes?filters=bad", want: "400 error reading volume filters: invalid filter", hullOnly: true},

		// GET /networks (dockerd here runs without its default bridge).
		{path: "/v1.41/networks?filters={\"type\":{\"custom\":true}}", want: "200 n1 n2 n3"},
		{path: "/v1.41/networks?filters={\"type\":{\"builtin\":true}}", want: "200 bridge host none", dockerd: "200 host none"},
		{path: "/v1.41/networks?filters={\"name\":{\"^n1$\":true}}", want: "200 n1"},
		{path: "/v1.41/networks?filters={\"label\":{\"a\":true}}", want: "200 n2 n3"},
		{path: "/v1.41/networks?filters={\"label\":{\"a=2\":true},\"driver\":{\"bridge\":true}}", want: "200 n3"},
		{path: "/v1.41/networks?filters={\"scope\":{\"swarm\":true}}", want: "200"},
		// dangling: dockerd 20.10 counted a network in use as dangling
		// (its list did not see the containers); later ones do not.
		{path: "/v1.41/networks?filters={\"dangling\":{\"true\":true}}", want: "200 n2 n3", dockerd: "200 n1 n2 n3"},
		{path: "/v1.41/networks?filters={\"dangling\":{\"1\":true,\"0\":true}}", want: "400 got more than one value for filter key \"dangling\""},
		{path: "/v1.41/networks?filters={\"dangling\":{\"x\":true}}", want: "400 invalid value for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")"},
		{path: "/v1.41/networks?filters={\"type\":{\"x\":true}}", want: "400 invalid filter: 'type'='x'", dockerd: "500 invalid filter: 'type'='x'"},
		{path: "/v1.41/networks?filters={\"until\":{\"1h\":true}}", want: "400 Invalid filter 'until'"},

		// Prunes refuse a wrong filter and remove nothing.
		{path: "POST /v1.41/containers/prune?filters={\"x\":{\"a\":true}}", want: "400 Invalid filter 'x'"},
		{path: "POST /v1.41/containers/prune?filters=bad", want: "400 invalid character 'b' looking for beginning of value"},
		{path: "POST /v1.41/containers/prune?filters={\"until\":{\"foo\":true}}", want: "400 failed to parse value as time or duration: \"foo\"",
			dockerd: "500 failed to parse value as time or duration: \"foo\""},
		{path: "POST /v1.41/containers/prune?filters={\"until\":{\"1h\":true,\"2h\":true}}", want: "400 more than one until filter specified",
			dockerd: "500 more than one until filter specified"},
		{path: "POST /v1.41/containers/prune?filters={\"until\":{\"1h\":true}}", want: "200 null"},
		{path: "POST /v1.41/images/prune?filters={\"dangling\":{\"x\":true}}", want: "400 Invalid filter 'dangling=[x]'"},
		{path: "POST /v1.41/images/prune?filters={\"until\":{\"1h\":true}}", want: "200 null"},
		{path: "POST /v1.41/networks/prune?filters={\"dangling\":{\"x\":true}}", want: "400 Invalid filter 'dangling'"},
		{path: "POST /v1.41/networks/prune?filters={\"until\":{\"2030-13-01\":true}}", want: "400 parsing time \"2030-13-01\": month out of range",
			dockerd: "500 parsing time \"2030-13-01\": month out of range"},
		{path: "POST /v1.41/volumes/prune?filters={\"all\":{\"true\":true}}", want: "400 Invalid filter 'all'"},
		{path: "POST /v1.41/volumes/prune?filters={\"label\":{\"nomatch\":true}}", want: "200"},
		{path: "POST /v1.47/volumes/prune?filters={\"all\":{\"maybe\":true}}", want: "400 invalid filter 'all': strconv.ParseBool: parsing \"maybe\": invalid syntax", hullOnly: true},
		{path: "POST /v1.47/containers/prune?filters={\"until\":{\"\":true}}", want: "400 failed to parse value as time or duration: value is empty", hullOnly: true},
	}
	for _, d := range daemons {
		for _, tc := range cases {
			if tc.hullOnly && d.name != "hull" {
				continue
			}
			method, path := "GET", tc.path
			if m, p, ok := strings.Cut(path, " "); ok {
				method, path = m, p
			}
			want := tc.want
			if d.name == "dockerd" && tc.dockerd != "" {
				want = tc.dockerd
			}
			if got := apiSummary(t, d, method, path); got != want {
				t.Errorf("%s: %s %s\n got: %s\nwant: %s", d.name, method, tc.path, got, want)
			}
		}
		// Nothing went with the prunes above.
		if got := apiSummary(t, d, "GET", c+"all=1"); got != "200 c6 c5 c4 c3 c2 c1" {
			t.Errorf("%s: after the refused prunes: %s", d.name, got)
		}
	}
}

// TestFidelityContainersNewestFirst: containers made within the same
// second are listed newest first (dockerd sorts by creation time to the
// nanosecond).
func TestFidelityContainersNewestFirst(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	var want []string
	for n := range 8 {
		name := fmt.Sprintf("o%d", n)
		docker(t, env, "create", "--name", name, "--network", "none", "e2e/busybox:1", "sh")
		want = append([]string{name}, want...)
	}
	for range 3 {
		if got := docker(t, env, "ps", "-a", "--format", "{{.Names}}"); got != strings.Join(want, "\n") {
			t.Fatalf("docker ps -a:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
		}
	}
	if got := docker(t, env, "ps", "-a", "-n", "2", "--format", "{{.Names}}"); got != "o7\no6" {
		t.Errorf("docker ps -n 2: %q", got)
	}
}

// pruneScenario runs prunes with filters through the docker CLI and
// returns what remained after each.
func pruneScenario(t *testing.T, d listDaemon) []string {
	t.Helper()
	dk := func(args ...string) string { t.Helper(); return docker(t, d.env, args...) }
	var out []string
	note := func(what string, args ...string) {
		t.Helper()
		o := strings.Fields(dk(args...))
		slices.Sort(o)
		out = append(out, what+": "+strings.Join(o, " "))
	}
	dk("tag", "e2e/busybox:1", "bb:1")
	dk("rmi", "e2e/busybox:1")
	dk("create", "--name", "old1", "--network", "none", "bb:1", "sh")
	dk("create", "--name", "old2", "--network", "none", "-l", "keep=1", "bb:1", "sh")
	dk("create", "--name", "old3", "--network", "none", "-l", "env=prod", "-l", "team=x", "bb:1", "sh")
	dk("network", "create", "--label", "keep=1", "nk")
	dk("network", "create", "nold")
	time.Sleep(1100 * time.Millisecond)
	mid := time.Now()
	time.Sleep(1100 * time.Millisecond)
	dk("create", "--name", "new1", "--network", "none", "bb:1", "sh")
	dk("create", "--name", "new2", "--network", "none", "-l", "env=prod", "bb:1", "sh")
	dk("run", "-d", "--name", "run1", "--network", "none", "bb:1", "sleep", "100")
	dk("network", "create", "nnew")
	// The case: until=1h keeps what was made a second ago.
	dk("container", "prune", "-f", "--filter", "until=1h")
	note("until=1h", "ps", "-a", "--format", "{{.Names}}")
	dk("container", "prune", "-f", "--filter", fmt.Sprintf("until=%d", mid.Unix()), "--filter", "label!=keep")
	note("until=mid label!=keep", "ps", "-a", "--format", "{{.Names}}")
	dk("container", "prune", "-f", "--filter", "label=env=prod")
	note("label=env=prod", "ps", "-a", "--format", "{{.Names}}")
	dk("container", "prune", "-f", "--filter", "until="+mid.Format(time.RFC3339), "--filter", "label!=keep")
	note("until=rfc3339 label!=keep", "ps", "-a", "--format", "{{.Names}}")
	dk("network", "prune", "-f", "--filter", fmt.Sprintf("until=%d", mid.Unix()), "--filter", "label!=keep")
	note("network until=mid label!=keep", "network", "ls", "--filter", "type=custom", "--format", "{{.Name}}")
	dk("system", "prune", "-f", "--filter", "label!=keep")
	note("system prune label!=keep", "ps", "-a", "--format", "{{.Names}}")
	note("networks after", "network", "ls", "--filter", "type=custom", "--format", "{{.Name}}")
	dk("rm", "-f", "run1")
	dk("network", "rm", "nk")
	// Images: dangling ones by default; -a every unused one; until, label!.
	dk("commit", "-c", "LABEL tmp=1", "old2")
	dk("commit", "-c", "LABEL keep=1", "old2", "keep:1")
	dk("commit", "old2", "plain:1")
	imgs := []string{"images", "--format", "{{.Repository}}:{{.Tag}}"}
	dk("image", "prune", "-f", "--filter", "until=1h")
	note("image until=1h", imgs...)
	dk("image", "prune", "-f", "--filter", "label=tmp")
	note("image label=tmp", imgs...)
	dk("rm", "-f", "old2")
	dk("image", "prune", "-af", "--filter", "label!=keep")
	note("image -a label!=keep", imgs...)
	// Volumes: at API 1.41 every unused one the filters select.
	dk("volume", "create", "--label", "keep=1", "vk")
	dk("volume", "create", "vt")
	dk("volume", "prune", "-f", "--filter", "label!=keep")
	note("volume label!=keep", "volume", "ls", "-q")
	dk("volume", "rm", "vk")
	return out
}

func TestFidelityPrunes(t *testing.T) {
	want := []string{
		"until=1h: new1 new2 old1 old2 old3 run1",
		"until=mid label!=keep: new1 new2 old2 run1",
		"label=env=prod: new1 old2 run1",
		"until=rfc3339 label!=keep: new1 old2 run1",
		"network until=mid label!=keep: nk nnew",
		"system prune label!=keep: old2 run1",
		"networks after: nk",
		"image until=1h: <none>:<none> bb:1 keep:1 plain:1",
		"image label=tmp: bb:1 keep:1 plain:1",
		"image -a label!=keep: keep:1 plain:1", // a commit keeps the container's labels
		"volume label!=keep: vk",
	}
	for _, d := range sideBySide(t) {
		got := pruneScenario(t, d)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got: %q\nwant: %q", d.name, got, want)
		}
	}
}

// TestFidelityVolumePruneByVersion: from API 1.42 a volume prune takes
// anonymous volumes only unless all=true; before, every unused one.
func TestFidelityVolumePruneByVersion(t *testing.T) {
	requireDockerCLI(t)
	env, _ := hullDaemon(t)
	d := listDaemon{name: "hull", env: env}
	mk := func() {
		docker(t, env, "volume", "create", "named")
		docker(t, env, "volume", "create", "--label", "keep=1", "kept")
		docker(t, env, "volume", "create", "--label", "com.docker.volume.anonymous=", "anon")
	}
	mk()
	if got := apiSummary(t, d, "POST", "/v1.47/volumes/prune"); got != "200 anon" {
		t.Errorf("prune at 1.47: %s", got)
	}
	if got := apiSummary(t, d, "POST", "/v1.47/volumes/prune?filters={\"all\":{\"1\":true},\"label!\":{\"keep\":true}}"); got != "200 named" {
		t.Errorf("prune all=1 label!=keep at 1.47: %s", got)
	}
	if got := apiSummary(t, d, "POST", "/v1.47/volumes/prune?filters={\"all\":{\"true\":true,\"false\":true}}"); got != "400 invalid filter 'all=[false true]': only one value is expected" {
		t.Errorf("prune with two all values: %s", got)
	}
	docker(t, env, "volume", "rm", "kept")
	mk()
	if got := apiSummary(t, d, "POST", "/v1.41/volumes/prune"); got != "200 anon kept named" {
		t.Errorf("prune at 1.41: %s", got)
	}
	// The CLI negotiates the newest version: -a for named volumes.
	mk()
	docker(t, env, "volume", "prune", "-f")
	if got := docker(t, env, "volume", "ls", "-q"); got != "kept\nnamed" {
		t.Errorf("after docker volume prune: %q", got)
	}
	docker(t, env, "volume", "prune", "-af", "--filter", "label=keep")
	if got := docker(t, env, "volume", "ls", "-q"); got != "named" {
		t.Errorf("after docker volume prune -a --filter label=keep: %q", got)
	}
}

// TestFidelityImageListShapes: the image summary's fields by API version,
// as dockerd gives them.
func TestFidelityImageListShapes(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "create", "--name", "cc", "--network", "none", "e2e/busybox:1", "sh")
	parent := docker(t, env, "image", "inspect", "-f", "{{.Id}}", "e2e/busybox:1")
	child := docker(t, env, "commit", "cc")
	get := func(path string) []map[string]any {
		t.Helper()
		resp, err := apiClient(listDaemon{env: env}.sock()).Get("http://d" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || len(l) != 1 {
			t.Fatalf("%s: %v %v", path, l, err)
		}
		return l
	}
	dangling := "filters=" + url.QueryEscape(`{"dangling":{"true":true}}`)
	old := get("/v1.41/images/json?" + dangling)[0]
	if fmt.Sprint(old["RepoTags"]) != "[<none>:<none>]" || fmt.Sprint(old["RepoDigests"]) != "[<none>@<none>]" ||
		old["Containers"] != -1.0 || old["SharedSize"] != -1.0 || old["VirtualSize"] != old["Size"] || old["ParentId"] != parent || old["Id"] != child {
		t.Errorf("an untagged image at 1.41: %v", old)
	}
	tagged := get("/v1.41/images/json?filters=" + url.QueryEscape(`{"reference":{"e2e/busybox":true}}`))[0]
	if tagged["RepoDigests"] != nil || tagged["ParentId"] != "" || tagged["Labels"] != nil {
		t.Errorf("a tagged image at 1.41 (RepoDigests null, no parent, Labels null): %v", tagged)
	}
	now := get("/v1.47/images/json?shared-size=1&" + dangling)[0]
	if fmt.Sprint(now["RepoTags"]) != "[]" || fmt.Sprint(now["RepoDigests"]) != "[]" || now["VirtualSize"] != nil || now["Containers"] != -1.0 {
		t.Errorf("an untagged image at 1.47: %v", now)
	}
	if now["SharedSize"] == -1.0 || now["SharedSize"] == 0.0 {
		t.Errorf("shared-size=1: SharedSize %v (the base layer is shared with e2e/busybox:1)", now["SharedSize"])
	}
	if got := docker(t, env, "ps", "-a", "--filter", "ancestor="+parent, "--format", "{{.Names}}"); got != "cc" {
		t.Errorf("ps --filter ancestor=<parent id>: %q", got)
	}
	// An image another was made from stays, untagged, when its last tag
	// goes, and docker images shows it only with -a; by id it cannot be
	// removed; removing the child takes it along.
	docker(t, env, "rm", "cc")
	docker(t, env, "tag", child, "e2e/child:1")
	docker(t, env, "rmi", "e2e/busybox:1")
	if got := docker(t, env, "images", "--format", "{{.Repository}}"); got != "e2e/child" {
		t.Errorf("docker images: %q", got)
	}
	if got := docker(t, env, "images", "-a", "--format", "{{.Repository}} {{.ID}}"); got != "e2e/child "+child[7:19]+"\n<none> "+parent[7:19] {
		t.Errorf("docker images -a: %q", got)
	}
	if _, stderr, code := dockerRun(t, env, "", "rmi", "-f", parent); code == 0 ||
		!strings.Contains(stderr, "conflict: unable to delete "+parent[7:19]+" (cannot be forced) - image has dependent child images") {
		t.Errorf("rmi -f of the parent: %d %s", code, stderr)
	}
	out := docker(t, env, "rmi", "e2e/child:1")
	if !strings.Contains(out, "Deleted: "+child) || !strings.Contains(out, "Deleted: "+parent) {
		t.Errorf("rmi of the child:\n%s", out)
	}
	if got := docker(t, env, "images", "-aq"); got != "" {
		t.Errorf("images left: %q", got)
	}
}

// TestFidelityEventFilters: /events filters and since/until as dockerd's:
// until alone gives the kept events up to it; unknown keys are ignored.
func TestFidelityEventFilters(t *testing.T) {
	for _, d := range sideBySide(t) {
		t.Run(d.name, func(t *testing.T) {
			dk := func(args ...string) string { t.Helper(); return docker(t, d.env, args...) }
			since := time.Now().Add(-10 * time.Millisecond)
			time.Sleep(20 * time.Millisecond)
			dk("create", "--name", "ev1", "--network", "none", "-l", "a=1", "-l", "b=2", "e2e/busybox:1", "sh", "-c", "exit 0")
			dk("create", "--name", "ev2", "--network", "none", "-l", "a=2", "e2e/busybox:1", "sh", "-c", "exit 0")
			dk("start", "ev1")
			dk("wait", "ev1")
			dk("tag", "e2e/busybox:1", "ev/tagged:1")
			dk("volume", "create", "evvol")
			dk("network", "create", "evnet")
			time.Sleep(50 * time.Millisecond)
			until := time.Now()
			dk("rm", "ev1", "ev2")
			dk("volume", "rm", "evvol")
			dk("network", "rm", "evnet")
			window := fmt.Sprintf("since=%d.%09d&until=%d.%09d", since.Unix(), since.Nanosecond(), until.Unix(), until.Nanosecond())
			for _, tc := range []struct{ query, want string }{
				{`filters={"container":{"ev1":true}}`, "200 container/create container/start container/die"},
				// container (like network, volume…) takes any event whose
				// actor's id or name begins with the value.
				{`filters={"container":{"ev":true},"event":{"create":true}}`, "200 container/create container/create volume/create network/create"},
				{`filters={"type":{"container":true},"label":{"a=2":true}}`, "200 container/create"},
				{`filters={"type":{"container":true},"label":{"a":true,"b=2":true}}`, "200 container/create container/start container/die"},
				{`filters={"type":{"image":true}}`, "200 image/tag"},
				{`filters={"image":{"ev/tagged":true}}`, "200 image/tag"},
				{`filters={"volume":{"evvol":true}}`, "200 volume/create"},
				{`filters={"network":{"evnet":true}}`, "200 network/create"},
				{`filters={"type":{"volume":true},"scope":{"swarm":true}}`, "200"},
				{`filters={"type":{"volume":true},"nosuch":{"x":true}}`, "200 volume/create"},
				{`filters={"type":{"volume":true},"event":{"destroy":true}}`, "200"},
			} {
				if got := apiSummary(t, d, "GET", "/v1.41/events?"+window+"&"+tc.query); got != tc.want {
					t.Errorf("events %s\n got: %s\nwant: %s", tc.query, got, tc.want)
				}
			}
			// until alone: every kept event up to it.
			if got := apiSummary(t, d, "GET", fmt.Sprintf(`/v1.41/events?until=%d.%09d&filters={"volume":{"evvol":true}}`, until.Unix(), until.Nanosecond())); got != "200 volume/create" {
				t.Errorf("events with until alone: %s", got)
			}
			for _, tc := range []struct{ query, want, dockerd string }{
				{fmt.Sprintf("since=%d&until=%d", until.Unix(), until.Unix()-10),
					fmt.Sprintf("400 `since` time (%d) cannot be after `until` time (%d)", until.Unix(), until.Unix()-10), ""},
				{"since=abc", "400 strconv.ParseInt: parsing \"abc\": invalid syntax", "500 strconv.ParseInt: parsing \"abc\": invalid syntax"},
				{fmt.Sprintf("until=%d&filters=bad", until.Unix()), "400 invalid character 'b' looking for beginning of value",
					"500 invalid character 'b' looking for beginning of value"},
			} {
				want := tc.want
				if d.name == "dockerd" && tc.dockerd != "" {
					want = tc.dockerd
				}
				if got := apiSummary(t, d, "GET", "/v1.41/events?"+tc.query); got != want {
					t.Errorf("events %s\n got: %s\nwant: %s", tc.query, got, want)
				}
			}
			if d.name == "hull" {
				if got := apiSummary(t, d, "GET", "/v1.47/events?since=abc"); got != `400 invalid value for 'since': invalid timestamp "abc": invalid seconds "abc": invalid syntax` {
					t.Errorf("events since=abc at 1.47: %s", got)
				}
			}
		})
	}
}
