package conformance

import (
	"bytes"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
)

// allCases is the table: every area's cases. A case that starts no
// process (create, inspect, list, the read-only routes) is also run against
// hull alone at the newer versions, unless it says only141.
func allCases(seed []byte) []*tcase {
	var all []*tcase
	for _, area := range [][]*tcase{
		systemCases(), containerCreateCases(), containerCases(), execCases(), imageCases(seed),
		networkCases(), volumeCases(), archiveCases(), eventCases(), inputs13Cases(),
	} {
		all = append(all, area...)
	}
	for _, c := range all {
		if c.newer && !c.forceNewer {
			c.newer = !startsProcesses(c)
		}
	}
	return all
}

// startsProcesses tells whether a case runs a container or an exec: such
// cases are slower, and their newer-version runs add little.
func startsProcesses(c *tcase) bool {
	for _, s := range c.steps {
		if s.sdk != nil {
			if strings.Contains(s.sdkName, "start") || strings.Contains(s.sdkName, "wait") || strings.Contains(s.sdkName, "exec") {
				return true
			}
			continue
		}
		for _, w := range []string{"/start", "/wait", "/attach", "/restart", "/kill", "/exec"} {
			if strings.Contains(s.path, w) {
				return true
			}
		}
	}
	return false
}

// Helpers that make the cases short. A container is named conf-NAME and
// its id captured as {NAME}.

const bb = imgBusybox

// tcs is tc with steps given as *step or []*step.
func tcs(name string, parts ...any) *tcase {
	var steps []*step
	for _, p := range parts {
		switch x := p.(type) {
		case *step:
			steps = append(steps, x)
		case []*step:
			steps = append(steps, x...)
		default:
			panic(fmt.Sprintf("case %s: a step of type %T", name, p))
		}
	}
	return tc(name, steps...)
}

// withImage returns cfg with Image set to bb unless it has one.
func withImage(cfg obj) obj {
	out := obj{"Image": bb}
	for k, v := range cfg {
		out[k] = v
	}
	return out
}

// create is the create request of container conf-NAME (captured as
// {NAME}); it is the case's subject, compared in full.
func create(name string, cfg obj) *step {
	return post("/containers/create?name=conf-"+name, withImage(cfg)).capture(name, "Id")
}

// mk creates container conf-NAME as a setup step.
func mk(name string, cfg obj) *step { return create(name, cfg).asSetup() }

// mkRunning creates and starts conf-NAME running cmd (default: sleep).
func mkRunning(name string, cfg obj, cmd ...string) []*step {
	if len(cmd) == 0 {
		cmd = []string{"sleep", "300"}
	}
	c := obj{"Cmd": cmd}
	for k, v := range cfg {
		c[k] = v
	}
	return []*step{mk(name, c), start(name)}
}

// mkExited creates, starts and waits for conf-NAME running cmd.
func mkExited(name string, cfg obj, cmd ...string) []*step {
	if len(cmd) == 0 {
		cmd = []string{"true"}
	}
	return append(mkRunning(name, cfg, cmd...), post("/containers/{"+name+"}/wait", nil).asSetup())
}

func start(name string) *step {
	return post("/containers/{"+name+"}/start", nil).asSetup()
}

func q(s string) string { return url.QueryEscape(s) }

// filters is a filters query value: filters("label", "a=b", "status", "exited").
func filters(kv ...string) string {
	m := map[string]map[string]bool{}
	for i := 0; i+1 < len(kv); i += 2 {
		if m[kv[i]] == nil {
			m[kv[i]] = map[string]bool{}
		}
		m[kv[i]][kv[i+1]] = true
	}
	var parts []string
	for k, vs := range m {
		var inner []string
		for v := range vs {
			inner = append(inner, fmt.Sprintf("%q:true", v))
		}
		parts = append(parts, fmt.Sprintf("%q:{%s}", k, strings.Join(inner, ",")))
	}
	return "filters=" + q("{"+strings.Join(parts, ",")+"}")
}

// tarOf is a tar of files (name → content; a name ending in / is a
// folder), in the order given by names.
func tarOf(names []string, files map[string]string) []byte {
	var entries []tarEntry
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			entries = append(entries, tarEntry{name: n, mode: 0o755, typ: '5'})
			continue
		}
		entries = append(entries, tarEntry{name: n, mode: 0o644, typ: '0', body: []byte(files[n])})
	}
	return layerTar(entries)
}

// compress compresses b with the named tool (gzip, bzip2, xz, zstd); ok is
// false when the tool is missing here.
func compress(tool string, b []byte) ([]byte, bool) {
	cmd := exec.Command(tool, "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	return out, err == nil
}

// compressedCase is a case whose body is b compressed with tool; it is
// skipped (and said so) where the tool is missing. dockerd 20.10 does not
// take zstd input (moby's go-archive does since v23, and issue 12 asks it
// of hull): the zstd cases run against hull alone.
func compressedCase(name, tool string, b []byte, steps func(body []byte) []*step) *tcase {
	body, ok := compress(tool, b)
	c := tcs(name, steps(body))
	if !ok {
		c.skip = tool + " is not installed"
	}
	if tool == "zstd" {
		c.onHullAlone("dockerd 20.10 predates zstd input; moby 23 and later decompress it")
	}
	return c
}
