package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// volatilePaths are the JSON paths whose values differ between any two
// daemons, or any two runs, by nature: only their presence and JSON type
// are compared. This is the one list of them; a step adds its own with
// vol() and compares one of these with keeping(). A pattern is a glob over
// the path (* matches anything, [] stands for every array index).
var volatilePaths = []string{
	// Addresses: each daemon allocates from pools it shares with the
	// other daemon on the same host.
	"*IPAddress", "*IPPrefixLen", "*Gateway", "*MacAddress", "*IPv6Gateway", "*GlobalIPv6Address",
	"*GlobalIPv6PrefixLen", "*LinkLocalIPv6Address", "*LinkLocalIPv6PrefixLen", "*IPv4Address", "*IPv6Address",
	"*SandboxKey", "*SandboxID", "*EndpointID", "*IPAM.Config[].Subnet",
	"*HostPort", "*PublicPort", // only where the daemon picks it (publish all); explicit ports are kept by the cases
	// Processes and counters.
	"State.Pid", "Pid", "Processes", "NGoroutines", "NFd", "NEventsListener", "SystemTime",
	// Sizes of what containers wrote, and of the daemons' own stores.
	// Image sizes too: dockerd's overlay2 counts the bytes of symbolic
	// links' targets, hull's layer store the tar's file contents.
	"*SizeRw", "*SizeRootFs", "LayersSize", "*UsageData.Size", "*UsageData.RefCount",
	"Size", "VirtualSize", "[].Size", "[].VirtualSize", "Images[].Size", "Images[].VirtualSize",
	// Paths under the daemons' roots (normalised too, but their layout is the daemon's own).
	"HostnamePath", "HostsPath", "ResolvConfPath", "LogPath", "GraphDriver.Data*", "*Mountpoint", "Mounts[].Source",
	"[].Mounts[].Source",
}

// timeKeys hold times as numbers (seconds or nanoseconds since the epoch).
var timeKeys = map[string]bool{"Created": true, "time": true, "timeNano": true, "Time": true}

var (
	hex64      = regexp.MustCompile(`[0-9a-f]{64}`)
	apiBounds  = regexp.MustCompile(`(Maximum|Minimum) supported API version is \d+\.\d+`)
	timeInText = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	// unixInText is a Unix time with nanoseconds ({now}, {since}), as
	// the events endpoint repeats it in its messages.
	unixInText = regexp.MustCompile(`\b\d{10}\.\d{9}\b`)
	hex12      = regexp.MustCompile(`\b[0-9a-f]{12}\b`)
	generated  = regexp.MustCompile(`^/?[a-z]+_[a-z]+$`)
	globCache  = map[string]*regexp.Regexp{}
	indexInKey = regexp.MustCompile(`\[\d+\]`)
	psSeconds  = regexp.MustCompile(`^(Up |Exited \(\d+\) |Restarting \(\d+\) )(Less than a second|1 second|\d+ seconds)\b`)
	// keyInPath is an array element named by its key (byKey: [Id=…],
	// [Name=…]), which [] stands for as well as an index.
	keyInPath = regexp.MustCompile(`\[[A-Za-z]+=[^\]]*\]`)
)

// glob matches a path against a pattern: * is any run of characters, []
// any array index.
func glob(pattern, s string) bool {
	re, ok := globCache[pattern]
	if !ok {
		q := regexp.QuoteMeta(pattern)
		q = strings.ReplaceAll(q, `\*`, `.*`)
		q = strings.ReplaceAll(q, `\[\]`, `\[\d*\]`)
		re = regexp.MustCompile("^" + q + "$")
		globCache[pattern] = re
	}
	return re.MatchString(s)
}

// normalizer rewrites one daemon's strings so that equal meanings compare
// equal: known values become their placeholder ({c1}, {img:busybox},
// {bridge}), the daemon's roots become <data-root>, <exec-root> and
// <base>, other ids <id> and <id12>, and times made during the run <time>.
type normalizer struct {
	repl   [][2]string
	from   time.Time
	to     time.Time
	daemon string
}

func newNormalizer(d *daemon, captured vars, global map[string]string, runStart time.Time) *normalizer {
	n := &normalizer{from: runStart.Add(-10 * time.Minute), to: time.Now().Add(10 * time.Minute), daemon: d.name}
	add := func(val, name string) {
		if len(val) < 3 || strings.Contains(name, ":12}") || strings.Contains(name, ":hex}") {
			return // the short forms are added below with their id
		}
		n.repl = append(n.repl, [2]string{val, name})
		hex := strings.TrimPrefix(val, "sha256:")
		if hex64.MatchString(hex) && len(hex) == 64 {
			if hex != val {
				n.repl = append(n.repl, [2]string{hex, strings.TrimSuffix(name, "}") + ":hex}"})
			}
			n.repl = append(n.repl, [2]string{hex[:12], strings.TrimSuffix(name, "}") + ":12}"})
		}
	}
	for k, v := range global {
		add(v, "{"+k+"}")
	}
	for k, v := range captured {
		add(v, "{"+k+"}")
	}
	for k, v := range d.fixed {
		add(v, "{"+k+"}")
	}
	n.repl = append(n.repl, [2]string{d.dataRoot, "<data-root>"}, [2]string{d.execRoot, "<exec-root>"}, [2]string{d.base, "<base>"},
		// The Go SDK names the socket, escaped, in some of its errors.
		[2]string{strings.ReplaceAll(d.sock, "/", "%2F"), "<socket>"})
	sort.SliceStable(n.repl, func(i, j int) bool { return len(n.repl[i][0]) > len(n.repl[j][0]) })
	return n
}

func (n *normalizer) str(s string) string {
	for _, r := range n.repl {
		if strings.Contains(s, r[0]) {
			s = replaceToken(s, r[0], r[1])
		}
	}
	s = hex64.ReplaceAllString(s, "<id>")
	// The versions each daemon serves differ by construction (system/version
	// compares them, with allowed.txt's reason); in messages the rest of
	// the text is compared.
	s = apiBounds.ReplaceAllString(s, "$1 supported API version is <v>")
	s = hex12.ReplaceAllString(s, "<id12>")
	// Times made during the run (log timestamps, a stat's mtime in a
	// message) become <time>; fixed ones (the seed's) stay.
	s = timeInText.ReplaceAllStringFunc(s, func(m string) string {
		if t, err := time.Parse(time.RFC3339Nano, m); err == nil && n.inWindow(t) {
			return "<time>"
		}
		return m
	})
	s = unixInText.ReplaceAllStringFunc(s, func(m string) string {
		sec, frac, _ := strings.Cut(m, ".")
		i, _ := strconv.ParseInt(sec, 10, 64)
		ns, _ := strconv.ParseInt(frac, 10, 64)
		if n.inWindow(time.Unix(i, ns)) {
			return "<time>"
		}
		return m
	})
	return s
}

// value normalises a JSON value at path.
func (n *normalizer) value(path string, v any) any {
	switch x := v.(type) {
	case string:
		s := n.str(x)
		if last := lastKey(path); (last == "Name" || last == "Names") && generated.MatchString(s) {
			return "<generated-name>"
		}
		if lastKey(path) == "Status" {
			// docker ps's "Exited (3) 1 second ago" counts each daemon's
			// own pace: seconds become <seconds>, the rest is compared.
			s = psSeconds.ReplaceAllString(s, "$1<seconds>")
		}
		return s
	case json.Number:
		if timeKeys[lastKey(path)] {
			if i, err := x.Int64(); err == nil && (n.inWindow(time.Unix(i, 0)) || n.inWindow(time.Unix(0, i))) {
				return "<time>"
			}
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = n.value(path+"[]", e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[n.str(k)] = n.value(path+"."+k, e)
		}
		return out
	}
	return v
}

// replaceToken replaces old by repl where old stands alone: not inside a
// longer word, number or address ("172.17.0.1" is not replaced inside
// "172.17.0.149").
func replaceToken(s, old, repl string) string {
	inWord := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		if (i > 0 && inWord(s[i-1]) && inWord(old[0])) || (end < len(s) && inWord(s[end]) && inWord(old[len(old)-1])) {
			b.WriteString(s[:end])
		} else {
			b.WriteString(s[:i] + repl)
		}
		s = s[end:]
	}
}

func (n *normalizer) inWindow(t time.Time) bool { return t.After(n.from) && t.Before(n.to) }

func lastKey(path string) string {
	path = strings.TrimRight(path, "[]")
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func show(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return clip(strings.TrimSpace(b.String()), 300)
}

const absent = "<absent>"

// diff is one difference between the daemons' answers.
type diff struct {
	caseName string
	step     int
	path     string
	dockerd  string
	hull     string
	allowed  string // the allowed.txt reason, when it explains the difference
	alone    bool   // hull alone, at a newer version: hull holds the problem
}

func (d diff) String() string {
	if d.alone {
		return fmt.Sprintf("DIFF %s step %d: %s: hull %s", d.caseName, d.step, d.path, d.hull)
	}
	return fmt.Sprintf("DIFF %s step %d: %s: dockerd %s | hull %s", d.caseName, d.step, d.path, d.dockerd, d.hull)
}

// comparer compares one step's two answers.
type comparer struct {
	caseName string
	stepNo   int
	step     *step
	nd, nh   *normalizer
	diffs    []diff
}

// maxDiffsPerStep bounds the lines one step can print.
const maxDiffsPerStep = 60

func (c *comparer) add(path, d, h string) {
	if len(c.diffs) == maxDiffsPerStep {
		c.diffs = append(c.diffs, diff{caseName: c.caseName, step: c.stepNo, path: "…", dockerd: "more differences", hull: "not shown"})
	}
	if len(c.diffs) > maxDiffsPerStep {
		return
	}
	c.diffs = append(c.diffs, diff{caseName: c.caseName, step: c.stepNo, path: path, dockerd: d, hull: h})
}

func (c *comparer) volatile(path string) bool {
	p := indexInKey.ReplaceAllString(path, "[]")
	// A pattern may name an element by its key or stand for every one.
	ps := []string{p, keyInPath.ReplaceAllString(p, "[]")}
	matches := func(pattern string) bool { return glob(pattern, ps[0]) || glob(pattern, ps[1]) }
	for _, k := range c.step.keep {
		if matches(k) {
			return false
		}
	}
	for _, list := range [][]string{volatilePaths, c.step.volatile} {
		for _, v := range list {
			if matches(v) {
				return true
			}
		}
	}
	return false
}

// compareAnswers compares dockerd's answer d with hull's h.
func (c *comparer) compareAnswers(d, h answer) {
	if c.step.bg != "" {
		return // compared where it is collected
	}
	if d.sdk {
		c.compareSDK(d, h)
		return
	}
	if d.err != "" || h.err != "" {
		if c.nd.str(d.err) != c.nh.str(h.err) {
			c.add("transport", quoteOr(d.err, "none"), quoteOr(h.err, "none"))
		}
		if d.err != "" && h.err != "" {
			return
		}
	}
	if d.status != h.status {
		kind := "status"
		if d.status == http.StatusInternalServerError && h.status >= 400 && h.status < 500 {
			// dockerd 20.10 leaves many errors of bad input unclassified
			// (500); hull answers every wrong input with a 4xx. Its own kind,
			// so that allowed.txt can say so once; the message is still
			// compared.
			kind = "status-5xx-as-4xx"
		}
		c.add(kind, strconv.Itoa(d.status), strconv.Itoa(h.status))
		if (d.status >= 400) != (h.status >= 400) {
			c.add("message", errorText(c.nd, d), errorText(c.nh, h))
			return
		}
	}
	if c.step.setup {
		if d.status >= 400 && h.status >= 400 && errorText(c.nd, d) != errorText(c.nh, h) {
			c.add("message", errorText(c.nd, d), errorText(c.nh, h))
		}
		return
	}
	c.compareHeaders(d, h)
	if d.status >= 400 && h.status >= 400 && c.step.msgLike != nil {
		if dm, hm := likeText(c.step, errorText(c.nd, d)), likeText(c.step, errorText(c.nh, h)); dm != hm {
			c.add("message", dm, hm)
		}
		return
	}
	if c.step.streaming {
		if d.end != h.end {
			c.add("stream-end", d.end, h.end)
		}
	}
	dv, dj := d.value(c.step)
	hv, hj := h.value(c.step)
	switch {
	case dj && hj:
		dv, hv = c.nd.value("", pickFields(c.step, dv)), c.nh.value("", pickFields(c.step, hv))
		for _, p := range c.step.unordered {
			dv, hv = sortAt(dv, p), sortAt(hv, p)
		}
		c.compareJSON("", dv, hv, false)
	case !dj && !hj:
		if ds, hs := c.nd.str(string(d.body)), c.nh.str(string(h.body)); ds != hs {
			c.add("body", quoteBody(ds), quoteBody(hs))
		}
	default:
		c.add("body", bodyKind(d.body, dj), bodyKind(h.body, hj))
	}
}

func quoteOr(s, none string) string {
	if s == "" {
		return none
	}
	return strconv.Quote(s)
}

func quoteBody(s string) string {
	if s == "" {
		return "<empty>"
	}
	return clip(strconv.Quote(s), 300)
}

func bodyKind(b []byte, isJSON bool) string {
	if isJSON {
		return "JSON " + clip(string(bytes.TrimSpace(b)), 200)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "<empty>"
	}
	return "text " + quoteBody(string(b))
}

// errorText is an error answer's message, or what the other answer was.
func errorText(n *normalizer, a answer) string {
	if a.status < 400 {
		return fmt.Sprintf("<no error: %d>", a.status)
	}
	var m struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal(a.body, &m) == nil && m.Message != nil {
		return strconv.Quote(n.str(*m.Message))
	}
	return "body " + quoteBody(n.str(string(a.body)))
}

// likeText reduces a message to whether it matches the step's pattern.
func likeText(s *step, msg string) string {
	if s.msgLike == nil {
		return msg
	}
	if s.msgLike.MatchString(msg) {
		return "matches /" + s.msgLike.String() + "/"
	}
	return "does not match /" + s.msgLike.String() + "/: " + msg
}

// pickFields keeps the top-level fields of an object answer that the step
// picked; of an array answer, those of each element.
func pickFields(s *step, v any) any {
	if l, ok := v.([]any); ok && len(s.picked) > 0 {
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = pickFields(s, e)
		}
		return out
	}
	m, ok := v.(map[string]any)
	if !ok || len(s.picked) == 0 {
		return v
	}
	out := map[string]any{}
	for k, e := range m {
		for _, p := range s.picked {
			if glob(p, k) {
				out[k] = e
			}
		}
	}
	return out
}

// comparedHeaders are the headers clients rely on.
func comparedHeaders(s *step, d, h answer) []string {
	var hs []string
	if len(d.body) > 0 || len(h.body) > 0 || d.status >= 400 || strings.Contains(s.path, "/_ping") {
		hs = append(hs, "Content-Type")
	}
	if strings.Contains(s.path, "/_ping") && d.status == 200 && h.status == 200 {
		hs = append(hs, "Api-Version", "Ostype", "Docker-Experimental", "Cache-Control", "Pragma", "Builder-Version")
	}
	return hs
}

func (c *comparer) compareHeaders(d, h answer) {
	for _, k := range comparedHeaders(c.step, d, h) {
		dv, hv := headerValue(d.header, k), headerValue(h.header, k)
		if dv != hv {
			c.add("header:"+k, dv, hv)
		}
	}
	// The archive routes' stat header: base64 of a JSON document.
	const stat = "X-Docker-Container-Path-Stat"
	ds, hs := d.header.Get(stat), h.header.Get(stat)
	switch {
	case ds == "" && hs == "":
	case ds == "" || hs == "":
		c.add("header:"+stat, quoteOr(ds, absent), quoteOr(hs, absent))
	default:
		dv, hv := decodeStat(ds), decodeStat(hs)
		c.compareJSON("header:"+stat, c.nd.value("", dv), c.nh.value("", hv), false)
	}
}

func decodeStat(h string) any {
	b, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return "not base64: " + h
	}
	v, ok := decodeJSON(b)
	if !ok {
		return "not JSON: " + string(b)
	}
	return v
}

func headerValue(h http.Header, k string) string {
	if v, ok := h[http.CanonicalHeaderKey(k)]; ok {
		return strconv.Quote(strings.Join(v, ", "))
	}
	return absent
}

func (c *comparer) compareSDK(d, h answer) {
	if d.kind != h.kind {
		c.add("error.kind", quoteOr(d.kind, "none"), quoteOr(h.kind, "none"))
	}
	if dm, hm := c.nd.str(d.err), c.nh.str(h.err); dm != hm {
		if dm, hm = likeText(c.step, dm), likeText(c.step, hm); dm != hm {
			c.add("error.message", quoteOr(dm, "none"), quoteOr(hm, "none"))
		}
	}
	if c.step.setup {
		return
	}
	dv, dj := d.value(c.step)
	hv, hj := h.value(c.step)
	if dj != hj {
		c.add("result", show(dv), show(hv))
		return
	}
	if dj {
		dv, hv = c.nd.value("", pickFields(c.step, dv)), c.nh.value("", pickFields(c.step, hv))
		for _, p := range c.step.unordered {
			dv, hv = sortAt(dv, p), sortAt(hv, p)
		}
		c.compareJSON("", dv, hv, false)
	}
}

// sortAt sorts the array at path (dotted keys; "" the value itself) by
// its elements' Id, ID, Name or Names, or else their JSON.
func sortAt(v any, path string) any {
	if path != "" {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		k, rest, _ := strings.Cut(path, ".")
		if e, ok := m[k]; ok {
			out := make(map[string]any, len(m))
			for kk, vv := range m {
				out[kk] = vv
			}
			out[k] = sortAt(e, rest)
			return out
		}
		return v
	}
	l, ok := v.([]any)
	if !ok {
		return v
	}
	key := func(e any) string {
		if m, ok := e.(map[string]any); ok {
			for _, k := range []string{"Id", "ID", "Name", "Names", "name"} {
				if x, ok := m[k]; ok {
					return show(x)
				}
			}
		}
		return show(e)
	}
	out := append([]any(nil), l...)
	sort.SliceStable(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func isScalar(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return false
	}
	return true
}

// compareJSON compares normalised values: the shape (fields present, JSON
// types) everywhere, the values except at volatile paths.
func (c *comparer) compareJSON(path string, d, h any, vol bool) {
	vol = vol || c.volatile(path)
	dt, ht := jsonType(d), jsonType(h)
	if dt != ht {
		c.add(pathOr(path), show(d), show(h))
		return
	}
	switch dx := d.(type) {
	case map[string]any:
		hx := h.(map[string]any)
		keys := map[string]bool{}
		for k := range dx {
			keys[k] = true
		}
		for k := range hx {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			dv, dok := dx[k]
			hv, hok := hx[k]
			p := join(path, k)
			switch {
			case !dok:
				c.add(p, absent, show(hv))
			case !hok:
				c.add(p, show(dv), absent)
			default:
				c.compareJSON(p, dv, hv, vol)
			}
		}
	case []any:
		hx := h.([]any)
		allScalar := true
		for _, e := range append(append([]any(nil), dx...), hx...) {
			allScalar = allScalar && isScalar(e)
		}
		if allScalar {
			if len(dx) != len(hx) || (!vol && show(dx) != show(hx)) {
				c.add(pathOr(path), show(dx), show(hx))
			}
			return
		}
		if c.keyed(path) {
			if dk, hk := byKey(dx), byKey(hx); dk != nil && hk != nil {
				c.compareKeyed(path, dk, hk, vol)
				return
			}
		}
		if len(dx) != len(hx) {
			c.add(pathOr(path)+"#length", strconv.Itoa(len(dx)), strconv.Itoa(len(hx)))
		}
		for i := 0; i < len(dx) && i < len(hx); i++ {
			c.compareJSON(fmt.Sprintf("%s[%d]", path, i), dx[i], hx[i], vol)
		}
	default:
		if !vol && show(d) != show(h) {
			c.add(pathOr(path), show(d), show(h))
		}
	}
}

// keyed tells whether the array at path is in no defined order (a tar's
// entries, an anyOrder path): its elements are matched by key.
func (c *comparer) keyed(path string) bool {
	if c.step.asTar && path == "" {
		return true
	}
	for _, p := range c.step.unordered {
		if p == path {
			return true
		}
	}
	return false
}

// byKey indexes an array of objects by their name, Name, Id, ID,
// Destination or Path (a key
// that normalisation made twice, as <id>/ in a tar of two layers, is
// numbered: <id>/#2); nil when an element has none.
func byKey(l []any) map[string]any {
	out := map[string]any{}
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil
		}
		var key string
		// (a mount by its Destination, a change by its Path: unique in
		// their lists)
		for _, k := range []string{"name", "Name", "Id", "ID", "Destination", "Path"} {
			if s, ok := m[k].(string); ok {
				key = k + "=" + s
				break
			}
		}
		if key == "" {
			return nil
		}
		base := key
		for n := 2; ; n++ {
			if _, dup := out[key]; !dup {
				break
			}
			key = fmt.Sprintf("%s#%d", base, n)
		}
		out[key] = e
	}
	return out
}

func (c *comparer) compareKeyed(path string, d, h map[string]any, vol bool) {
	keys := map[string]bool{}
	for k := range d {
		keys[k] = true
	}
	for k := range h {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		p := fmt.Sprintf("%s[%s]", path, k)
		dv, dok := d[k]
		hv, hok := h[k]
		switch {
		case !dok:
			c.add(p, absent, show(hv))
		case !hok:
			c.add(p, show(dv), absent)
		default:
			c.compareJSON(p, dv, hv, vol)
		}
	}
}

func pathOr(p string) string {
	if p == "" {
		return "body"
	}
	return p
}
