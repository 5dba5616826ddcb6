package conformance

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// The cases are written with the small constructors below: a case is a
// name (area/what) and steps; a step is a raw HTTP request (post, get,
// del, put, head) or a Go SDK call (sdk), with modifiers (capture, stream,
// hijack, setup, …). Paths and JSON bodies may hold {var} placeholders:
// captures of earlier steps (each daemon has its own values), {since}
// (the case's start on that daemon, for events), {now}, and the seed
// images' ids ({img:busybox}, {img:rich}).

type obj = map[string]any

type arr = []any

// defaultVersion is the API version a case speaks unless it says.
const defaultVersion = "1.41"

type sdkFunc func(ctx context.Context, c *client.Client, x func(string) string) (any, error)

type capture struct{ name, path string }

type step struct {
	method, path string
	body         []byte
	ctype        string
	headers      map[string]string
	noExpand     bool // the body is binary: no {var} substitution

	sdkName string
	sdk     sdkFunc

	captures  []capture
	streaming bool          // read until EOF, limit bytes or timeout; the way it ended is compared
	limit     int           // streaming: stop after this many bytes (0: no limit)
	timeout   time.Duration // the whole exchange; default 60s, streams 5s
	hijack    bool          // Upgrade: tcp (attach, exec start)
	stdin     []byte        // written after a hijacked answer's headers
	pause     time.Duration // slept before the step
	bg        string        // run in the background; collect(step) takes its answer later
	collectOf string        // this step is the answer of the background step named so

	want      int            // hull-alone cases: the status this step must answer (0: any 2xx)
	setup     bool           // compare the status only: a step that prepares the case's subject
	picked    []string       // compare only these top-level fields of the answer (globs)
	msgLike   *regexp.Regexp // compare error messages by whether they match this
	asTar     bool           // the body is a tar: compare its list of entries
	volatile  []string       // extra volatile JSON paths for this step
	keep      []string       // global volatile paths compared for this step
	unordered []string       // JSON paths ("" the answer) of arrays in no defined order
}

type tcase struct {
	name    string
	version string
	steps   []*step
	// newer: run again, hull alone, at the newer versions and check the
	// answers against their swagger.
	newer      bool
	forceNewer bool   // newer even though the case starts processes
	skip       string // why the case cannot run here (a missing tool)
	// hullOnly: the case runs against hull alone, because dockerd 20.10 is
	// not the reference for it (the reason); every step must then answer
	// 2xx (or the status it wants), and the swagger check applies.
	hullOnly string
}

// onHullAlone runs the case against hull alone: dockerd 20.10 predates the
// behaviour (the reason says which dockerd has it).
func (c *tcase) onHullAlone(reason string) *tcase { c.hullOnly = reason; return c }

// tc is a case at the default version, run again at newer versions.
func tc(name string, steps ...*step) *tcase {
	return &tcase{name: name, version: defaultVersion, steps: steps, newer: true}
}

// only141 keeps a case from the newer-version runs (a slow case, or one
// whose request means something else in newer versions).
func (c *tcase) only141() *tcase { c.newer = false; return c }

// alsoNewer runs a case that starts processes at the newer versions too.
func (c *tcase) alsoNewer() *tcase { c.forceNewer = true; return c }

func req(method, path string, body any) *step {
	s := &step{method: method, path: path}
	switch b := body.(type) {
	case nil:
	case string: // raw text, sent as JSON (bad JSON cases)
		s.body, s.ctype = []byte(b), "application/json"
	case []byte:
		s.body, s.noExpand = b, true
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		s.body, s.ctype = j, "application/json"
	}
	return s
}

func get(path string) *step              { return req("GET", path, nil) }
func head(path string) *step             { return req("HEAD", path, nil) }
func del(path string) *step              { return req("DELETE", path, nil) }
func post(path string, body any) *step   { return req("POST", path, body) }
func put(path string, body []byte) *step { return req("PUT", path, body).ctypeIs("application/x-tar") }

// sdk is a Go SDK call, made against each daemon's client at the case's
// version; x expands {var} placeholders.
func sdk(name string, f sdkFunc) *step { return &step{sdkName: name, sdk: f} }

func (s *step) ctypeIs(ct string) *step { s.ctype = ct; return s }

func (s *step) header(k, v string) *step {
	if s.headers == nil {
		s.headers = map[string]string{}
	}
	s.headers[k] = v
	return s
}

// capture saves the value at the JSON path of the answer (or the SDK
// result) as {name}; "header:X" takes a header.
func (s *step) capture(name, path string) *step {
	s.captures = append(s.captures, capture{name, path})
	return s
}

// stream reads the answer until EOF, limit bytes (0: none) or the timeout.
func (s *step) stream(limit int, timeout time.Duration) *step {
	s.streaming, s.limit, s.timeout = true, limit, timeout
	return s
}

// hijacked is a stream asked with Upgrade: tcp, as the docker CLI attaches.
func (s *step) hijacked(stdin string, timeout time.Duration) *step {
	s.hijack, s.stdin = true, []byte(stdin)
	return s.stream(0, timeout)
}

func (s *step) asSetup() *step { s.setup = true; return s }

// background runs the step in the background (a wait or an attach made
// before the step that ends it); its answer is compared where collect puts
// it.
func (s *step) background(name string) *step { s.bg = name; return s }

// collect is the answer of background step b, taken at this point.
func collect(b *step) *step {
	c := *b
	c.bg, c.collectOf, c.pause = "", b.bg, 0
	return &c
}

func (s *step) wants(status int) *step      { s.want = status; return s }
func (s *step) pick(fields ...string) *step { s.picked = append(s.picked, fields...); return s }

// likeMessage compares the error messages only by whether both match re:
// for messages that carry another program's text (runc's, a resolver's),
// where clients look for a phrase.
func (s *step) likeMessage(re string) *step   { s.msgLike = regexp.MustCompile(re); return s }
func (s *step) tarList() *step                { s.asTar = true; return s }
func (s *step) after(d time.Duration) *step   { s.pause = d; return s }
func (s *step) vol(paths ...string) *step     { s.volatile = append(s.volatile, paths...); return s }
func (s *step) keeping(paths ...string) *step { s.keep = append(s.keep, paths...); return s }

// anyOrder marks arrays in no defined order (the answer itself when no
// path is given): they are sorted before comparison.
func (s *step) anyOrder(paths ...string) *step {
	if len(paths) == 0 {
		paths = []string{""}
	}
	s.unordered = append(s.unordered, paths...)
	return s
}
func (s *step) within(d time.Duration) *step { s.timeout = d; return s }

func (s *step) String() string {
	if s.collectOf != "" {
		return "collect " + s.collectOf
	}
	if s.sdk != nil {
		return "sdk " + s.sdkName
	}
	return s.method + " " + s.path
}

// vars are one daemon's placeholder values in one case.
type vars map[string]string

var (
	placeholder = regexp.MustCompile(`\{([A-Za-z][A-Za-z0-9_.:-]*)\}`)
	// escapedPlaceholder is a placeholder inside a query value the case
	// escaped (a filter naming {a}, or {a:12} whose colon is %3A): it is
	// replaced escaped.
	escapedPlaceholder = regexp.MustCompile(`%7B([A-Za-z](?:[A-Za-z0-9_.:-]|%3A)*)%7D`)
)

func (v vars) expand(s string) string {
	s = escapedPlaceholder.ReplaceAllStringFunc(s, func(m string) string {
		k := strings.ReplaceAll(m[3:len(m)-3], "%3A", ":")
		if val, ok := v[k]; ok {
			return url.QueryEscape(val)
		}
		return m
	})
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		k := m[1 : len(m)-1]
		if k == "now" {
			return unixTime(time.Now())
		}
		if val, ok := v[k]; ok {
			return val
		}
		return m
	})
}

func unixTime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// answer is what one daemon answered to one step.
type answer struct {
	req    string // the request as sent, for verbose output
	status int
	header http.Header
	body   []byte
	end    string // streams: "EOF", "limit" or "timeout"
	err    string // transport error, or the SDK call's error
	kind   string // the SDK error's kind (cerrdefs)
	result []byte // the SDK call's result as JSON
	sdk    bool
}

// versionedPath matches a path that names its API version.
var versionedPath = regexp.MustCompile(`^/v[0-9]`)

// exec runs one step against d.
func exec1(ctx context.Context, d *daemon, version string, s *step, v vars) answer {
	if s.pause > 0 {
		time.Sleep(s.pause)
	}
	if s.sdk != nil {
		return execSDK(ctx, d, version, s, v)
	}
	path := v.expand(s.path)
	// A path that names its version (/v1.24/…) keeps it; /volumes does not.
	if !versionedPath.MatchString(path) && !strings.HasPrefix(path, "/_unversioned") {
		path = "/v" + version + path
	}
	path = strings.TrimPrefix(path, "/_unversioned")
	a := answer{req: s.method + " " + path}
	body := s.body
	if !s.noExpand && body != nil {
		body = []byte(v.expand(string(body)))
	}
	timeout := s.timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	conn, err := net.DialTimeout("unix", d.sock, 5*time.Second)
	if err != nil {
		a.err = err.Error()
		return a
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	r, err := http.NewRequest(s.method, "http://d"+path, bytes.NewReader(body))
	if err != nil {
		a.err = err.Error()
		return a
	}
	r.ContentLength = int64(len(body))
	if body == nil {
		r.Body = nil
	}
	if s.ctype != "" {
		r.Header.Set("Content-Type", s.ctype)
	}
	for k, val := range s.headers {
		r.Header.Set(k, v.expand(val))
	}
	if s.hijack {
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "tcp")
	}
	r.Header.Set("User-Agent", "hull-conformance")
	if err := r.Write(conn); err != nil {
		a.err = err.Error()
		return a
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, r)
	if err != nil {
		a.err = "read the answer: " + timeoutText(err)
		return a
	}
	a.status, a.header = resp.StatusCode, resp.Header
	var src io.Reader = resp.Body
	if resp.StatusCode == http.StatusSwitchingProtocols {
		src = br
	}
	if s.hijack && len(s.stdin) > 0 {
		conn.Write(s.stdin)
	}
	if s.hijack && len(s.stdin) > 0 {
		// The end of stdin, as a client whose input ends (docker attach
		// < file): a process that reads stdin sees EOF.
		if uc, ok := conn.(*net.UnixConn); ok {
			uc.CloseWrite()
		}
	}
	if s.streaming {
		a.body, a.end = readStream(src, s.limit)
		return a
	}
	a.body, err = io.ReadAll(src)
	if err != nil {
		a.err = "read the body: " + timeoutText(err)
	}
	return a
}

func timeoutText(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer before the step's timeout"
	}
	return err.Error()
}

func readStream(r io.Reader, limit int) ([]byte, string) {
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		buf.Write(chunk[:n])
		if limit > 0 && buf.Len() >= limit {
			return buf.Bytes()[:limit], "limit"
		}
		if err == io.EOF || errors.Is(err, net.ErrClosed) {
			return buf.Bytes(), "EOF"
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return buf.Bytes(), "timeout"
			}
			return buf.Bytes(), "error: " + err.Error()
		}
	}
}

func execSDK(ctx context.Context, d *daemon, version string, s *step, v vars) answer {
	a := answer{req: "sdk " + s.sdkName, sdk: true}
	c, err := d.client(version)
	if err != nil {
		a.err = err.Error()
		return a
	}
	timeout := s.timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := s.sdk(ctx, c, v.expand)
	if err != nil {
		a.err, a.kind = err.Error(), errKind(err)
	}
	if res != nil {
		a.result, err = json.Marshal(res)
		if err != nil {
			a.result = []byte(strconv.Quote("cannot marshal the result: " + err.Error()))
		}
	}
	return a
}

// errKind names the error's kind as the SDK classifies it from the status.
func errKind(err error) string {
	kinds := []struct {
		name string
		is   func(error) bool
	}{
		{"not found", cerrdefs.IsNotFound}, {"invalid argument", cerrdefs.IsInvalidArgument},
		{"conflict", cerrdefs.IsConflict}, {"already exists", cerrdefs.IsAlreadyExists},
		{"not modified", cerrdefs.IsNotModified}, {"permission denied", cerrdefs.IsPermissionDenied},
		{"unauthorized", cerrdefs.IsUnauthorized}, {"unavailable", cerrdefs.IsUnavailable},
		{"not implemented", cerrdefs.IsNotImplemented}, {"internal", cerrdefs.IsInternal},
		{"canceled", cerrdefs.IsCanceled}, {"deadline exceeded", cerrdefs.IsDeadlineExceeded},
	}
	for _, k := range kinds {
		if k.is(err) {
			return k.name
		}
	}
	return "unknown"
}

// value is the answer's body as a JSON value for comparison: one JSON
// document, a stream of them (as an array), a tar's entries, or text.
func (a answer) value(s *step) (v any, isJSON bool) {
	if a.sdk {
		if a.result == nil {
			return nil, false
		}
		return decodeJSON(a.result)
	}
	if s.asTar && a.status < 300 {
		return tarEntries(a.body), true
	}
	if len(bytes.TrimSpace(a.body)) == 0 {
		return nil, false
	}
	return decodeJSON(a.body)
}

// decodeJSON decodes one JSON document, or a stream of them as an array.
func decodeJSON(b []byte) (any, bool) {
	docs, ok := jsonDocs(b)
	switch {
	case !ok || len(docs) == 0:
		return nil, false
	case len(docs) == 1:
		return docs[0], true
	}
	return docs, true
}

// jsonDocs decodes the JSON documents in b (one, or a stream).
func jsonDocs(b []byte) ([]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var docs []any
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return docs, true
		}
		if err != nil {
			return nil, false
		}
		docs = append(docs, v)
	}
}

// tarEntries lists a tar's entries (name, type, mode, size, link), sorted
// by name.
func tarEntries(b []byte) any {
	tr := tar.NewReader(bytes.NewReader(b))
	var list []any
	for {
		h, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				list = append(list, map[string]any{"error": err.Error()})
			}
			break
		}
		e := map[string]any{"name": strings.TrimPrefix(h.Name, "./"), "type": string(rune(h.Typeflag)), "mode": fmt.Sprintf("%o", h.Mode&0o7777)}
		if h.Typeflag == tar.TypeReg {
			e["size"] = json.Number(strconv.FormatInt(h.Size, 10))
		}
		if h.Linkname != "" {
			e["link"] = h.Linkname
		}
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool {
		a, _ := list[i].(map[string]any)["name"].(string)
		b, _ := list[j].(map[string]any)["name"].(string)
		return a < b
	})
	return list
}

// lookup reads the JSON path p ("Id", "[0].Id", "State.Pid") in v.
func lookup(v any, p string) (any, bool) {
	for _, seg := range splitPath(p) {
		if strings.HasPrefix(seg, "[") {
			i, err := strconv.Atoi(strings.Trim(seg, "[]"))
			l, ok := v.([]any)
			if err != nil || !ok || i >= len(l) {
				return nil, false
			}
			v = l[i]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return v, true
}

func splitPath(p string) []string {
	var segs []string
	for _, part := range strings.Split(p, ".") {
		for part != "" {
			i := strings.IndexByte(part[1:], '[')
			if i < 0 {
				segs = append(segs, part)
				break
			}
			segs = append(segs, part[:i+1])
			part = part[i+1:]
		}
	}
	return segs
}

// captureInto records the step's captures in v.
func captureInto(v vars, s *step, a answer) {
	for _, c := range s.captures {
		if h, ok := strings.CutPrefix(c.path, "header:"); ok {
			if a.header != nil && a.header.Get(h) != "" {
				v.set(c.name, a.header.Get(h))
			}
			continue
		}
		doc, ok := a.value(s)
		if !ok {
			continue
		}
		if x, ok := lookup(doc, c.path); ok {
			switch x := x.(type) {
			case string:
				v.set(c.name, x)
			case json.Number:
				v.set(c.name, x.String())
			}
		}
	}
}

// set records a value; an id also as {name:12} (short) and {name:hex}
// (without sha256:).
func (v vars) set(name, val string) {
	v[name] = val
	hex := strings.TrimPrefix(val, "sha256:")
	if len(hex) == 64 && hex64.MatchString(hex) {
		v[name+":12"] = hex[:12]
		v[name+":hex"] = hex
	}
}

// verbose is CONFORMANCE_VERBOSE=1: print every step's answers.
var verbose = os.Getenv("CONFORMANCE_VERBOSE") != ""

func (a answer) show() string {
	var b strings.Builder
	if a.sdk {
		fmt.Fprintf(&b, "%s: ", a.req)
		if a.err != "" {
			fmt.Fprintf(&b, "error (%s) %s ", a.kind, a.err)
		}
		b.WriteString(clip(string(a.result), 1500))
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %d %s", a.req, a.status, a.header.Get("Content-Type"))
	if a.err != "" {
		fmt.Fprintf(&b, " error: %s", a.err)
	}
	if a.end != "" {
		fmt.Fprintf(&b, " (stream ended: %s)", a.end)
	}
	if len(a.body) > 0 {
		body := string(a.body)
		if !isText(a.body) {
			body = fmt.Sprintf("%q", a.body)
		}
		b.WriteString(" " + clip(body, 1500))
	}
	return b.String()
}

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x09 || (c > 0x0d && c < 0x20) {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
