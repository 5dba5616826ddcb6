package conformance

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestComparer checks the comparison itself, without daemons: what must be
// found is found, and what differs by nature is not reported.
func TestComparer(t *testing.T) {
	dd := &daemon{name: "dockerd", base: "/var/tmp/hconfX/dockerd", dataRoot: "/var/tmp/hconfX/dockerd/data",
		execRoot: "/var/tmp/hconfX/dockerd/exec", sock: "/var/tmp/hconfX/dockerd/api.sock", fixed: map[string]string{"bridge": "hconf0"}}
	hd := &daemon{name: "hull", base: "/var/tmp/hconfX/hull", dataRoot: "/var/tmp/hconfX/hull/data",
		execRoot: "/var/tmp/hconfX/hull/exec", sock: "/var/tmp/hconfX/hull/api.sock", fixed: map[string]string{"bridge": "hull123456"}}
	idD := strings.Repeat("a", 64)
	idH := strings.Repeat("b", 64)
	now := time.Now().UTC()
	jsonAnswer := func(status int, body string) answer {
		return answer{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(body)}
	}
	for _, tc := range []struct {
		name  string
		step  *step
		d, h  answer
		want  []string // paths reported
		dvars vars
		hvars vars
	}{
		{name: "equal after normalisation", step: get("/containers/x/json"),
			d:     jsonAnswer(200, `{"Id":"`+idD+`","Name":"/conf-a","Created":"`+now.Format(time.RFC3339Nano)+`","HostnamePath":"/var/tmp/hconfX/dockerd/data/containers/`+idD+`/hostname","Config":{"Hostname":"`+idD[:12]+`"},"Options":{"com.docker.network.bridge.name":"hconf0"}}`),
			h:     jsonAnswer(200, `{"Id":"`+idH+`","Name":"/conf-a","Created":"`+now.Add(time.Second).Format(time.RFC3339Nano)+`","HostnamePath":"/var/tmp/hconfX/hull/data/c/`+idH+`","Config":{"Hostname":"`+idH[:12]+`"},"Options":{"com.docker.network.bridge.name":"hull123456"}}`),
			dvars: vars{"a": idD}, hvars: vars{"a": idH}},
		{name: "status and message", step: post("/containers/create", nil),
			d:    jsonAnswer(400, `{"message":"invalid environment variable: =foo"}`),
			h:    jsonAnswer(201, `{"Id":"`+idH+`","Warnings":[]}`),
			want: []string{"status", "message"}},
		{name: "error text word for word", step: get("/containers/conf-nope/json"),
			d:    jsonAnswer(404, `{"message":"No such container: conf-nope"}`),
			h:    jsonAnswer(404, `{"message":"No such container: conf-nope: not found"}`),
			want: []string{"message"}},
		{name: "shape: absent, null, type, value", step: get("/info"),
			d:    jsonAnswer(200, `{"Labels":[],"KernelMemory":true,"MemTotal":100,"Name":"x","Driver":"overlay2"}`),
			h:    jsonAnswer(200, `{"Labels":null,"MemTotal":"100","Name":"x","Driver":"overlay2","CDISpecDirs":null}`),
			want: []string{"CDISpecDirs", "KernelMemory", "Labels", "MemTotal"}},
		{name: "volatile path: type only", step: get("/containers/x/json"),
			d:    jsonAnswer(200, `{"State":{"Pid":123},"NetworkSettings":{"IPAddress":"10.203.0.2"}}`),
			h:    jsonAnswer(200, `{"State":{"Pid":"456"},"NetworkSettings":{"IPAddress":"172.17.0.2"}}`),
			want: []string{"State.Pid"}},
		{name: "content type", step: get("/no/such/route"),
			d:    jsonAnswer(404, `{"message":"page not found"}`),
			h:    answer{status: 404, header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, body: []byte("404 page not found\n")},
			want: []string{"header:Content-Type", "body"}},
		{name: "unordered list matched by key", step: get("/networks").anyOrder(),
			d:    jsonAnswer(200, `[{"Name":"none","Driver":"null"},{"Name":"bridge","Driver":"bridge"}]`),
			h:    jsonAnswer(200, `[{"Name":"bridge","Driver":"bridge"},{"Name":"none","Driver":"nul"}]`),
			want: []string{"[Name=none].Driver"}},
		{name: "volatile path in an element matched by key", step: get("/images/json").anyOrder(),
			d:    jsonAnswer(200, `[{"Id":"x","Size":100,"Containers":-1},{"Id":"y","Size":200,"Containers":-1}]`),
			h:    jsonAnswer(200, `[{"Id":"y","Size":201,"Containers":-1},{"Id":"x","Size":101,"Containers":0}]`),
			want: []string{"[Id=x].Containers"}},
		{name: "ps status: seconds are each daemon's pace", step: get("/containers/json"),
			d:    jsonAnswer(200, `[{"Status":"Exited (3) 1 second ago"},{"Status":"Up 2 seconds"},{"Status":"Exited (0) 1 second ago"}]`),
			h:    jsonAnswer(200, `[{"Status":"Exited (3) Less than a second ago"},{"Status":"Up Less than a second"},{"Status":"Exited (1) 1 second ago"}]`),
			want: []string{"[2].Status"}},
		{name: "picked fields of each element", step: get("/containers/json").pick("Id", "Names"),
			d:    jsonAnswer(200, `[{"Id":"`+idD+`","Names":["/conf-a"],"HostConfig":{"NetworkMode":"default"}}]`),
			h:    jsonAnswer(200, `[{"Id":"`+idH+`","Names":["/conf-b"],"HostConfig":{"NetworkMode":"bridge"}}]`),
			want: []string{"[0].Names"}, dvars: vars{"a": idD}, hvars: vars{"a": idH}},
		{name: "unix times of the run in messages", step: get("/events"),
			d: jsonAnswer(400, fmt.Sprintf(`{"message":"%s%d.000000001) cannot be after (1000)"}`, "`since` time (", now.Unix())),
			h: jsonAnswer(400, fmt.Sprintf(`{"message":"%s%d.000000002) cannot be after (1000)"}`, "`since` time (", now.Unix()))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nd := newNormalizer(dd, tc.dvars, nil, now.Add(-time.Minute))
			nh := newNormalizer(hd, tc.hvars, nil, now.Add(-time.Minute))
			c := &comparer{caseName: "self", stepNo: 1, step: tc.step, nd: nd, nh: nh}
			c.compareAnswers(tc.d, tc.h)
			var got []string
			for _, d := range c.diffs {
				got = append(got, d.path)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("reported %q, want %q\n%v", got, tc.want, c.diffs)
			}
		})
	}
}

// TestAllowedAndKnownFiles checks that the two lists parse and that every
// known.txt entry names a case of the table (or a glob matching one).
func TestAllowedAndKnownFiles(t *testing.T) {
	if _, err := readAllowed("allowed.txt"); err != nil {
		t.Fatal(err)
	}
	known, err := readKnown("known.txt")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range allCases(nil) {
		names[c.name] = true
	}
	for _, k := range known {
		base, _, _ := strings.Cut(k.casePat, "@")
		if strings.ContainsAny(base, "*?") {
			continue
		}
		if !names[base] {
			t.Errorf("known.txt line %d: no case is named %s", k.line, base)
		}
	}
}

func TestReplaceToken(t *testing.T) {
	for _, tc := range []struct{ s, old, want string }{
		{"172.17.0.149", "172.17.0.1", "172.17.0.149"},
		{"gw 172.17.0.1, ip 172.17.0.149", "172.17.0.1", "gw <gw>, ip 172.17.0.149"},
		{"/root/overlay2/abc-init/diff", "abc", "/root/overlay2/<gw>-init/diff"},
		{"xabc abc", "abc", "xabc <gw>"},
	} {
		if got := replaceToken(tc.s, tc.old, "<gw>"); got != tc.want {
			t.Errorf("replaceToken(%q, %q) = %q, want %q", tc.s, tc.old, got, tc.want)
		}
	}
}

func TestReplaceTokenKeepsSuffixes(t *testing.T) {
	if got := replaceToken("abc.json", "abc", "{x}"); got != "{x}.json" {
		t.Errorf("got %q", got)
	}
}
