package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConformance runs every case against a private dockerd and a private
// hull daemon, side by side, and the cases marked newer against hull alone
// at newer API versions with the swagger check. It prints one DIFF line per
// difference and a summary line starting with "conformance:"; it fails on
// a difference allowed.txt does not explain in a case known.txt does not
// list, on a known.txt case that passes now, and (in a full run) on stale
// entries of either file.
func TestConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (both daemons mount overlayfs and make namespaces); run the tests as root")
	}
	for _, b := range []string{"dockerd", "docker"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s is not installed (Debian's docker.io gives it): the harness compares hull with the real dockerd", b)
		}
	}
	archive, err := seedArchive()
	if err != nil {
		t.Skip(err)
	}
	// The daemons' networks turn forwarding on; the host gets back what
	// it had.
	t.Cleanup(keepForwarding())
	cases := allCases(archive)
	checkNames(t, cases)
	full := true
	if pat := os.Getenv("CONFORMANCE_RUN"); pat != "" {
		re, err := regexp.Compile(pat)
		if err != nil {
			t.Fatalf("CONFORMANCE_RUN: %v", err)
		}
		full = false
		runFilter = re
	}
	allowed, err := readAllowed("allowed.txt")
	if err != nil {
		t.Fatal(err)
	}
	known, err := readKnown("known.txt")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := apiDocsDir()
	if err != nil {
		t.Fatal(err)
	}
	newest, err := newestDocumented(docs)
	if err != nil {
		t.Fatal(err)
	}

	started := time.Now()
	bin, err := buildHull(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	removeStaleRuns(func(dir string) { removeTree(t, dir) })
	makeDockerPluginDir(t)
	base, err := os.MkdirTemp("/var/tmp", "hconf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(t, base) })
	if err := os.WriteFile(filepath.Join(base, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "bridge"), []byte(confBridge), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := createBridge(confBridge, confBridgeAddr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteLink(confBridge) })
	dd, err := startDockerd(base + "/dockerd")
	t.Cleanup(func() {
		dd.stop()
		if t.Failed() && verbose {
			t.Logf("dockerd's log:\n%s", dd.logTail())
		}
	})
	if err != nil {
		t.Skipf("dockerd does not start here: %v", err)
	}
	hd, err := startHull(bin, base+"/hull")
	t.Cleanup(func() {
		hd.stop()
		removeHullNetwork(hd.execRoot)
		if t.Failed() && verbose {
			t.Logf("hull's log:\n%s", hd.logTail())
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	// Each daemon's legacy volume plugin (plugin_test.go).
	for _, d := range []*daemon{dd, hd} {
		stop, err := serveVolumePlugin(d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}

	// A file server on the loopback for the imports from a URL (fromSrc).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/import.tar" {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/x-tar")
		w.Write(importTar)
	}))
	t.Cleanup(srv.Close)

	// A registry on the loopback for docker login (/auth) and pulls:
	// basic authentication, user conf, password conf-pw; it holds
	// conf/pulled:1, the seed's conf/busybox.
	reg := httptest.NewServer(registryWithBasicAuth("conf", "conf-pw"))
	t.Cleanup(reg.Close)
	if err := pushSeed(archive, imgBusybox, strings.TrimPrefix(reg.URL, "http://"), "conf/pulled:1", "conf", "conf-pw"); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	r := &runner{t: t, dockerd: dd, hull: hd, archive: archive, global: map[string]string{"srv": srv.URL, "reg": strings.TrimPrefix(reg.URL, "http://"), "port0": strconv.Itoa(confPortBase), "port1": strconv.Itoa(confPortBase + 1), "port2": strconv.Itoa(confPortBase + 2), "port3": strconv.Itoa(confPortBase + 3)}, start: started, took: map[string]time.Duration{}, reference: map[string][]answer{}, rerun: map[string]func(){}}
	if err := r.seed(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*daemon{dd, hd} {
		if err := d.defaultBridgeAddrs(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hullVersion := r.hullAPIVersion(ctx)
	r.hullMax = hullVersion
	newer := []string{"1.44", "1.52", newest}
	newer = slices.Compact(newer)

	skipped := 0
	for _, c := range cases {
		if c.skip != "" {
			fmt.Printf("conformance: skipped %s: %s\n", c.name, c.skip)
			skipped++
			continue
		}
		switch {
		case c.hullOnly != "":
			r.alone(ctx, c, c.version)
		case versionLE(c.version, defaultVersion):
			r.sideBySide(ctx, c)
			if c.newer {
				for _, v := range newer {
					r.alone(ctx, c, v)
				}
			}
		default:
			r.alone(ctx, c, c.version)
		}
	}

	// The verdict.
	explain(r.diffs, allowed)
	failing := map[string]bool{}
	for _, d := range r.diffs {
		if d.allowed == "" {
			failing[d.caseName] = true
		}
	}
	// A run whose verdict disagrees with known.txt runs once more: one that
	// fails (or passes) only once is a race, reported as flaky but not
	// failing the test; one that does the same again stands.
	var flakyLines []string
	for _, name := range r.ran {
		k := knownFor(name, known)
		if failing[name] == (k != nil) || (k != nil && k.flaky()) {
			continue
		}
		again, diffs := r.retry(name, allowed)
		if again == failing[name] {
			continue
		}
		first := "failed"
		shown := r.diffs
		if !failing[name] {
			first, shown = "passed", diffs
		}
		line := fmt.Sprintf("%s %s, then %s on a second run", name, first, map[bool]string{true: "failed", false: "passed"}[again])
		for _, d := range shown {
			if d.caseName == name && d.allowed == "" {
				line += "\n  " + d.String()
			}
		}
		flakyLines = append(flakyLines, line)
		failing[name] = knownFor(name, known) != nil // as known.txt expects
	}
	allowedCount := 0
	for _, d := range r.diffs {
		if d.allowed != "" {
			allowedCount++
			if verbose {
				fmt.Printf("ALLOWED %s (%s)\n", d, d.allowed)
			}
			continue
		}
		fmt.Println(d)
	}
	var passed, failed, unexpected int
	var fixedLines, unexpectedLines []string
	for _, name := range r.ran {
		k := knownFor(name, known)
		if failing[name] {
			failed++
			if k == nil {
				unexpected++
				unexpectedLines = append(unexpectedLines, name)
			} else {
				k.failing++
			}
			continue
		}
		passed++
		if k != nil && k.flaky() {
			k.failing++ // a race known to go both ways: it matched
		} else if k != nil {
			k.passing = append(k.passing, name)
		}
	}
	for _, k := range known {
		for _, name := range k.passing {
			if k.casePat == name {
				fixedLines = append(fixedLines, fmt.Sprintf("%s passes now: remove it from known.txt (line %d)", name, k.line))
			} else {
				fixedLines = append(fixedLines, fmt.Sprintf("%s passes now: known.txt line %d (%s) is too broad, list the cases that still fail", name, k.line, k.casePat))
			}
		}
	}
	var stale []string
	if full {
		for _, k := range known {
			if k.failing == 0 && len(k.passing) == 0 {
				stale = append(stale, fmt.Sprintf("known.txt line %d (%s) matches no case", k.line, k.casePat))
			}
		}
		for _, a := range allowed {
			if a.used == 0 {
				stale = append(stale, fmt.Sprintf("allowed.txt line %d (%s %s) matches no difference", a.line, a.casePat, a.path))
			}
		}
	}
	for _, l := range unexpectedLines {
		fmt.Printf("conformance: unexpected failure (not in known.txt): %s\n", l)
		for _, d := range r.diffs {
			if d.caseName == l && d.allowed == "" {
				fmt.Printf("conformance:   %s\n", d)
			}
		}
	}
	for _, l := range fixedLines {
		fmt.Printf("conformance: fixed: %s\n", l)
	}
	for _, l := range flakyLines {
		fmt.Printf("conformance: flaky: %s\n", strings.ReplaceAll(l, "\n", "\nconformance: "))
	}
	for _, l := range stale {
		fmt.Printf("conformance: stale: %s\n", l)
	}
	fmt.Printf("conformance: %d passed, %d failed (%d known, %d unexpected), %d fixed, %d stale, %d flaky, %d skipped; %d differences allowed by allowed.txt; %d cases side by side with dockerd at API %s, %d runs of hull alone at API %s with the swagger check; hull serves API %s; %s\n",
		passed, failed, failed-unexpected, unexpected, len(fixedLines), len(stale), len(flakyLines), skipped, allowedCount, r.sideCount, defaultVersion,
		r.aloneCount, strings.Join(newer, ", "), hullVersion, time.Since(started).Round(time.Second))
	if os.Getenv("CONFORMANCE_WRITE_KNOWN") != "" {
		if !full {
			t.Errorf("CONFORMANCE_WRITE_KNOWN needs a full run (no CONFORMANCE_RUN)")
		} else if err := writeKnown("known.txt", known, failing, r.ran, r.diffs); err != nil {
			t.Error(err)
		} else {
			fmt.Println("conformance: known.txt rewritten: review the new notes")
		}
	}
	slow := slices.SortedFunc(maps.Keys(r.took), func(a, b string) int { return int(r.took[b] - r.took[a]) })
	var slowest []string
	for _, n := range slow[:min(len(slow), 10)] {
		slowest = append(slowest, fmt.Sprintf("%s %s", n, r.took[n].Round(100*time.Millisecond)))
	}
	var sideTime, aloneTime time.Duration
	for n, d := range r.took {
		if strings.Contains(n, "@") {
			aloneTime += d
		} else {
			sideTime += d
		}
	}
	fmt.Printf("conformance: time side by side %s, hull alone %s; slowest cases: %s\n", sideTime.Round(time.Second), aloneTime.Round(time.Second), strings.Join(slowest, ", "))
	if unexpected > 0 || len(fixedLines) > 0 || len(stale) > 0 {
		t.Errorf("conformance: %d unexpected failures, %d fixed cases still in known.txt, %d stale entries (the lines above say which)", unexpected, len(fixedLines), len(stale))
	}
}

var runFilter *regexp.Regexp

func checkNames(t *testing.T, cases []*tcase) {
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("two cases are named %s", c.name)
		}
		seen[c.name] = true
		if len(c.steps) == 0 {
			t.Fatalf("case %s has no steps", c.name)
		}
	}
}

func versionLE(a, b string) bool {
	var am, an, bm, bn int
	fmt.Sscanf(a, "%d.%d", &am, &an)
	fmt.Sscanf(b, "%d.%d", &bm, &bn)
	return am < bm || am == bm && an <= bn
}

type runner struct {
	t             *testing.T
	dockerd, hull *daemon
	archive       []byte
	seedSet       *seedSet
	global        map[string]string // the seed images' ids, equal on both daemons
	start         time.Time
	diffs         []diff
	ran           []string // names of the cases run (name or name@version)
	sideCount     int
	aloneCount    int
	hullMax       string // the newest API version hull serves
	took          map[string]time.Duration
	reference     map[string][]answer // dockerd's answers, by case
	rerun         map[string]func()   // runs a case again, by its run's name
	retrying      bool
	retryDiffs    []diff
}

// seed loads the seed archive into both daemons and checks that the ids
// are equal.
func (r *runner) seed(ctx context.Context) error {
	for _, d := range []*daemon{r.dockerd, r.hull} {
		if err := d.load(ctx, r.archive); err != nil {
			return err
		}
	}
	ids := map[string]map[string]string{}
	for _, d := range []*daemon{r.dockerd, r.hull} {
		list, err := d.images(ctx)
		if err != nil {
			return err
		}
		ids[d.name] = map[string]string{}
		for _, im := range list {
			for _, tag := range im.RepoTags {
				ids[d.name][tag] = im.Id
			}
		}
	}
	r.seedSet = &seedSet{ids: map[string]bool{}, tags: map[string]string{}}
	for tag, key := range map[string]string{imgBusybox: "img:busybox", imgAlias: "img:busybox", imgRich: "img:rich"} {
		did, hid := ids["dockerd"][tag], ids["hull"][tag]
		if did == "" || did != hid {
			return fmt.Errorf("seed image %s: id %q in dockerd, %q in hull: the seed must load with equal ids", tag, did, hid)
		}
		r.global[key] = did
		r.seedSet.ids[did] = true
		r.seedSet.tags[tag] = did
	}
	// The layers of the seed images are equal values too.
	var inspect struct{ RootFS struct{ Layers []string } }
	if err := r.dockerd.api(ctx, "GET", "/images/"+imgRich+"/json", nil, "", &inspect); err != nil {
		return err
	}
	for i, l := range inspect.RootFS.Layers {
		r.global[fmt.Sprintf("layer:%d", i+1)] = l
	}
	return nil
}

func (r *runner) hullAPIVersion(ctx context.Context) string {
	resp, err := r.hull.http.Get("http://d/_ping")
	if err != nil {
		return "?"
	}
	resp.Body.Close()
	return resp.Header.Get("Api-Version")
}

// runOn runs the case's steps on d at version, then brings d back to its
// seeded state.
func (r *runner) runOn(ctx context.Context, c *tcase, d *daemon, version string) ([]answer, vars) {
	// A request of the last case that outlived its step's timeout (a slow
	// create under load) may have made a container after that case's
	// cleanup: it would stand in this case's way.
	if n := d.removeStrayContainers(ctx); n > 0 {
		fmt.Printf("CLEANUP before %s on %s: %d container(s) a late request of an earlier case made\n", c.name, d.name, n)
	}
	v := vars{"since": unixTime(time.Now())}
	for k, val := range r.global {
		v.set(k, val)
	}
	captured := vars{}
	var answers []answer
	pending := map[string]chan answer{}
	for _, s := range c.steps {
		var a answer
		switch {
		case s.bg != "":
			ch := make(chan answer, 1)
			pending[s.bg] = ch
			snapshot := maps.Clone(v)
			go func() { ch <- exec1(ctx, d, version, s, snapshot) }()
			time.Sleep(200 * time.Millisecond) // let the request reach the daemon first
			a = answer{req: "background " + s.String()}
		case s.collectOf != "":
			select {
			case a = <-pending[s.collectOf]:
			case <-time.After(90 * time.Second):
				a = answer{req: s.String(), err: "the background step did not end"}
			}
		default:
			a = exec1(ctx, d, version, s, v)
		}
		answers = append(answers, a)
		before := len(v)
		captureInto(v, s, a)
		if len(v) != before {
			captureInto(captured, s, a)
		}
	}
	errs := d.removeAll(ctx, r.seedSet)
	for _, err := range errs {
		if errors.Is(err, errSeedGone) {
			if err := d.load(ctx, r.archive); err != nil {
				r.t.Fatalf("reload the seed images into %s after %s: %v", d.name, c.name, err)
			}
			continue
		}
		fmt.Printf("CLEANUP after %s on %s: %v\n", c.name, d.name, err)
	}
	return answers, captured
}

func wantText(want int) string {
	if want == 0 {
		return "2xx"
	}
	return strconv.Itoa(want)
}

// dockerdNull tells whether dockerd answered null at 1.41 at the path a
// swagger problem names: the evidence allowed.txt needs for a swagger
// document that is stricter than dockerd itself.
func (r *runner) dockerdNull(caseName string, step int, path string) bool {
	answers, ok := r.reference[caseName]
	if !ok || step >= len(answers) {
		return false
	}
	doc, ok := answers[step].value(&step0)
	if !ok {
		return false
	}
	if path == "" {
		return doc == nil // the whole answer was null
	}
	return nullAtAnyIndex(doc, splitPath(path))
}

// nullAtAnyIndex tells whether v holds null at the path segs, an array
// index standing for any element: the lists of the two daemons need not
// hold the same number of elements (a prune of API 1.44 keeps what one of
// 1.41 removes), and a field's null is the evidence wherever it stands.
func nullAtAnyIndex(v any, segs []string) bool {
	if len(segs) == 0 {
		return v == nil
	}
	if strings.HasPrefix(segs[0], "[") {
		l, _ := v.([]any)
		return slices.ContainsFunc(l, func(e any) bool { return nullAtAnyIndex(e, segs[1:]) })
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	e, ok := m[segs[0]]
	return ok && nullAtAnyIndex(e, segs[1:])
}

var step0 step

// sideBySide runs a case on both daemons and compares every step.
func (r *runner) sideBySide(ctx context.Context, c *tcase) {
	if runFilter != nil && !runFilter.MatchString(c.name) {
		return
	}
	if !r.retrying {
		r.sideCount++
		r.ran = append(r.ran, c.name)
		r.rerun[c.name] = func() { r.sideBySide(ctx, c) }
	}
	t0 := time.Now()
	defer func() { r.took[c.name] = time.Since(t0) }()
	da, dv := r.runOn(ctx, c, r.dockerd, c.version)
	r.reference[c.name] = da
	ha, hv := r.runOn(ctx, c, r.hull, c.version)
	nd := newNormalizer(r.dockerd, dv, r.global, r.start)
	nh := newNormalizer(r.hull, hv, r.global, r.start)
	for i, s := range c.steps {
		if verbose {
			fmt.Printf("  %s step %d dockerd %s\n", c.name, i+1, da[i].show())
			fmt.Printf("  %s step %d hull    %s\n", c.name, i+1, ha[i].show())
		}
		cmp := &comparer{caseName: c.name, stepNo: i + 1, step: s, nd: nd, nh: nh}
		cmp.compareAnswers(da[i], ha[i])
		r.report(cmp.diffs)
	}
	if verbose {
		fmt.Printf("case %s took %s\n", c.name, time.Since(t0).Round(time.Millisecond))
	}
}

func (r *runner) report(diffs []diff) {
	if r.retrying {
		r.retryDiffs = append(r.retryDiffs, diffs...)
		return
	}
	r.diffs = append(r.diffs, diffs...)
}

// retry runs a case again (by its run's name) and tells whether it failed.
func (r *runner) retry(name string, allowed []*allowedEntry) (failed bool, diffs []diff) {
	r.retrying, r.retryDiffs = true, nil
	r.rerun[name]()
	r.retrying = false
	explain(r.retryDiffs, allowed)
	for _, d := range r.retryDiffs {
		if d.allowed == "" {
			return true, r.retryDiffs
		}
	}
	return false, r.retryDiffs
}

var swaggerCache = map[string]*swaggerDoc{}

// alone runs a case on hull alone at version and checks each answer
// against that version's swagger document.
func (r *runner) alone(ctx context.Context, c *tcase, version string) {
	name := c.name + "@" + version
	if c.hullOnly != "" {
		name = c.name
	}
	if runFilter != nil && !runFilter.MatchString(name) && !runFilter.MatchString(c.name) {
		return
	}
	doc, ok := swaggerCache[version]
	if !ok {
		dir, err := apiDocsDir()
		if err == nil {
			doc, err = loadSwagger(dir, version)
		}
		if err != nil {
			r.t.Fatalf("swagger for %s: %v", version, err)
		}
		swaggerCache[version] = doc
	}
	if !r.retrying {
		r.aloneCount++
		r.ran = append(r.ran, name)
		r.rerun[name] = func() { r.alone(ctx, c, version) }
	}
	if !versionLE(version, r.hullMax) {
		r.report([]diff{{caseName: name, step: 1, path: "version", hull: "serves API " + r.hullMax + " at most", alone: true}})
		return
	}
	if _, ok := r.reference[c.name]; !ok && c.hullOnly == "" && versionLE(c.version, defaultVersion) {
		// CONFORMANCE_RUN left out the side-by-side run: dockerd's answers
		// are still the evidence for swagger-null (dockerdNull), so that a
		// subset judges as the full run does.
		r.reference[c.name], _ = r.runOn(ctx, c, r.dockerd, c.version)
	}
	t0 := time.Now()
	answers, _ := r.runOn(ctx, c, r.hull, version)
	r.took[name] = time.Since(t0)
	for i, a := range answers {
		if verbose {
			fmt.Printf("  %s step %d hull %s\n", name, i+1, a.show())
		}
		var diffs []diff
		problem := func(path, text string) {
			diffs = append(diffs, diff{caseName: name, step: i + 1, path: path, hull: text, alone: true})
		}
		if s := c.steps[i]; c.hullOnly != "" && !a.sdk && s.bg == "" {
			if want := s.want; (want == 0 && (a.status < 200 || a.status >= 300)) || (want != 0 && a.status != want) {
				problem("status", fmt.Sprintf("%d %s, want %s (%s)", a.status, clip(strings.TrimSpace(string(a.body)), 200), wantText(s.want), c.hullOnly))
			}
		}
		switch {
		case a.err != "" && !a.sdk:
			problem("transport", a.err)
		case a.sdk:
			if strings.Contains(a.err, "is too new") {
				problem("version", "refused: "+a.err)
			} else if a.kind == "internal" || a.kind == "unknown" && a.err != "" {
				problem("error", fmt.Sprintf("(%s) %s", a.kind, a.err))
			}
		case a.status >= 500:
			problem("status", fmt.Sprintf("%d %s", a.status, clip(strings.TrimSpace(string(a.body)), 300)))
		case a.status == 400 && strings.Contains(string(a.body), "is too new"):
			problem("version", "refused: "+strings.TrimSpace(string(a.body)))
		default:
			path := strings.TrimPrefix(a.req, c.steps[i].method+" ")
			path = strings.TrimPrefix(path, "/v"+version)
			for _, p := range doc.check(ctx, c.steps[i].method, path, a, c.steps[i].streaming) {
				kind := "swagger:"
				if p.reason == "Value is not nullable" && r.dockerdNull(c.name, i, p.path) {
					// dockerd answered null at the same place: the swagger
					// document is stricter than dockerd (allowed.txt names
					// these paths one by one).
					kind = "swagger-null:"
				}
				problem(strings.TrimSuffix(kind+p.path, ":"), p.reason)
			}
		}
		r.report(diffs)
	}
}
