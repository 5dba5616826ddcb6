package build

// POST /build, the legacy build (docker build with DOCKER_BUILDKIT=0,
// the SDKs' ImageBuild), run as dockerd's builder-next runs it: one
// BuildKit solve of the dockerfile.v0 frontend whose context is the tar
// the client sent, fetched by BuildKit's HTTP source from a URL that only
// this process answers, and the moby exporter. Its answer is Docker's
// JSON-message stream: the steps and their output as "stream" lines, an
// "aux" with the image id, "Successfully built …" and "Successfully
// tagged …"; an error before anything was written is an HTTP error,
// after it an error message in the stream.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/distribution/reference"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	bkhttp "github.com/moby/buildkit/source/http"
	"github.com/moby/buildkit/worker/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hullproject/hull/internal/errdefs"
)

// BuildContextHeader names the file holding a relayed build's context
// (internal/server's BuildContextHeader).
const BuildContextHeader = "X-Hull-Build-Context"

// uploadHost is the host of the URLs under which legacy builds' contexts
// are served to BuildKit's HTTP source.
const uploadHost = "hull-build-context"

// uploads serves the files of legacy builds' contexts to BuildKit's HTTP
// source, and passes any other URL (ADD https://…) to the network. A
// context's URL and ETag are its digest, so that BuildKit's HTTP source
// finds a context it has seen in its cache (If-None-Match, 304) instead
// of copying it again.
type uploads struct {
	mu    sync.Mutex
	files map[string]*upload // digest (hex) -> file
	next  http.RoundTripper
}

type upload struct {
	file string
	refs int
}

// registerUploads replaces the worker's HTTP source with one whose
// transport answers the context URLs.
func registerUploads(w *base.Worker) *uploads {
	u := &uploads{files: map[string]*upload{}, next: http.DefaultTransport}
	hs, err := bkhttp.NewSource(bkhttp.Opt{CacheAccessor: w.CacheMgr, Transport: u})
	if err == nil {
		w.SourceManager.Register(hs)
		w.HTTPSource = hs
	}
	return u
}

// add serves file until the returned function is called; it returns the
// file's URL.
func (u *uploads) add(file string) (string, func(), error) {
	f, err := os.Open(file)
	if err != nil {
		return "", nil, err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", nil, err
	}
	key := hex.EncodeToString(h.Sum(nil))
	u.mu.Lock()
	up := u.files[key]
	if up == nil {
		up = &upload{file: file}
		u.files[key] = up
	}
	up.refs++
	u.mu.Unlock()
	return "http://" + uploadHost + "/" + key + "/context.tar", func() {
		u.mu.Lock()
		if up.refs--; up.refs == 0 {
			delete(u.files, key)
		}
		u.mu.Unlock()
	}, nil
}

func (u *uploads) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != uploadHost {
		return u.next.RoundTrip(req)
	}
	key, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	u.mu.Lock()
	up, ok := u.files[key]
	var file string
	if ok {
		file = up.file
	}
	u.mu.Unlock()
	resp := &http.Response{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req, Header: http.Header{}, Body: http.NoBody}
	if !ok {
		resp.StatusCode, resp.Status = http.StatusNotFound, "404 Not Found"
		return resp, nil
	}
	etag := `"` + key + `"`
	resp.Header.Set("ETag", etag)
	for _, t := range strings.Split(req.Header.Get("If-None-Match"), ",") {
		if strings.TrimSpace(t) == etag {
			resp.StatusCode, resp.Status = http.StatusNotModified, "304 Not Modified"
			return resp, nil
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	resp.StatusCode, resp.Status, resp.ContentLength = http.StatusOK, "200 OK", st.Size()
	resp.Header.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	if req.Method == http.MethodHead {
		f.Close()
		return resp, nil
	}
	resp.Body = f
	return resp, nil
}

// client is BuildKit's client of this process's own control service.
func (k *buildkit) client(ctx context.Context) (*bkclient.Client, error) {
	k.clientOnce.Do(func() {
		k.bkc, k.bkcErr = bkclient.New(context.WithoutCancel(ctx), "", bkclient.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			a, b := net.Pipe()
			go k.serveGRPC(context.WithoutCancel(ctx), b)
			return a, nil
		}))
	})
	return k.bkc, k.bkcErr
}

// legacyOptions are POST /build's query, as BuildKit's solve takes it.
type legacyOptions struct {
	tags    []string
	quiet   bool
	ref     string
	attrs   map[string]string
	imports []bkclient.CacheOptionsEntry
}

// parseLegacy reads POST /build's parameters as dockerd does.
func parseLegacy(r *http.Request, contextURL, hostGateway string) (*legacyOptions, error) {
	q := r.URL.Query()
	o := &legacyOptions{attrs: map[string]string{}}
	for _, t := range q["t"] {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid reference format: %v", strings.TrimPrefix(err.Error(), "invalid reference format: "))
		}
		if _, ok := named.(reference.Digested); ok {
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "build tag cannot contain a digest")
		}
		o.tags = append(o.tags, reference.FamiliarString(reference.TagNameOnly(named)))
	}
	o.quiet = boolParam(q.Get("q"))
	if boolParam(q.Get("squash")) {
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "squash is only supported with experimental mode")
	}
	o.ref = q.Get("buildid")
	o.attrs["context"] = contextURL
	// The classic builder reads "# syntax=…" as a comment: the
	// frontend's own parser builds, and no frontend image is asked for.
	o.attrs["cmdline"] = ""
	if df := q.Get("dockerfile"); df != "" {
		o.attrs["filename"] = df
	}
	if t := q.Get("target"); t != "" {
		o.attrs["target"] = t
	}
	if boolParam(q.Get("nocache")) {
		o.attrs["no-cache"] = ""
	}
	if boolParam(q.Get("pull")) {
		o.attrs["image-resolve-mode"] = "pull"
	}
	switch nm := q.Get("networkmode"); nm {
	case "", "default", "bridge":
	case "host", "none":
		o.attrs["force-network-mode"] = nm
	default:
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "network mode %q not supported by buildkit", nm)
	}
	if eh := q["extrahosts"]; len(eh) > 0 {
		hosts, err := extraHosts(eh, hostGateway)
		if err != nil {
			return nil, err
		}
		o.attrs["add-hosts"] = hosts
	}
	if s := q.Get("shmsize"); s != "" && s != "0" {
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid shmsize %q", s)
		}
		o.attrs["shm-size"] = s
	}
	if p := q.Get("platform"); p != "" {
		o.attrs["platform"] = p
	}
	if s := q.Get("buildargs"); s != "" {
		var args map[string]*string
		if err := json.Unmarshal([]byte(s), &args); err != nil {
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "error reading build args: %v", err)
		}
		for k, v := range args {
			if v != nil {
				o.attrs["build-arg:"+k] = *v
			}
		}
	}
	if s := q.Get("labels"); s != "" {
		var labels map[string]string
		if err := json.Unmarshal([]byte(s), &labels); err != nil {
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "error reading labels: %v", err)
		}
		for k, v := range labels {
			o.attrs["label:"+k] = v
		}
	}
	if s := q.Get("cachefrom"); s != "" {
		var from []string
		if err := json.Unmarshal([]byte(s), &from); err != nil {
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "error reading cache-from: %v", err)
		}
		for _, ref := range from {
			o.imports = append(o.imports, bkclient.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": ref}})
		}
	}
	return o, nil
}

// extraHosts is --add-host NAME:IP (or NAME=IP) as the frontend takes it,
// NAME=IP, with host-gateway the default bridge's gateway, as dockerd's
// builder writes them.
func extraHosts(hosts []string, hostGateway string) (string, error) {
	var out []string
	for _, h := range hosts {
		i := strings.IndexAny(h, ":=")
		if i <= 0 || i == len(h)-1 {
			return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "invalid extra host %q: want NAME:IP", h)
		}
		name, ip := h[:i], h[i+1:]
		if ip == "host-gateway" {
			if hostGateway == "" {
				return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "unable to derive the IP value for host-gateway")
			}
			ip = hostGateway
		}
		out = append(out, name+"="+ip)
	}
	return strings.Join(out, ","), nil
}

func boolParam(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// build serves a relayed POST /build.
func (k *buildkit) build(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	contextURL := r.URL.Query().Get("remote")
	if file := r.Header.Get(BuildContextHeader); file != "" {
		u, done, err := k.uploads.add(file)
		if err != nil {
			return fmt.Errorf("the build context: %w", err)
		}
		defer done()
		contextURL = u
	}
	if contextURL == "" {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "the build has no context")
	}
	o, err := parseLegacy(r, contextURL, k.hostGateway)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer k.running.add(o.ref, cancel)()
	out := &jsonStream{w: w, quiet: o.quiet}
	if file := r.Header.Get(BuildContextHeader); file != "" {
		if out.steps, err = legacySteps(file, r.URL.Query().Get("dockerfile"), o.attrs); err != nil {
			return err
		}
		if out.steps != nil {
			out.begin()
		}
	}
	c, err := k.client(ctx)
	if err != nil {
		return out.fail(err)
	}
	ch := make(chan *bkclient.SolveStatus)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		out.progress(ch)
	}()
	resp, err := c.Solve(ctx, nil, bkclient.SolveOpt{
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       o.attrs,
		Exports:             []bkclient.ExportEntry{{Type: mobyExporter, Attrs: map[string]string{"name": strings.Join(o.tags, ",")}}},
		CacheImports:        o.imports,
		AllowedEntitlements: []string{"network.host"},
		Ref:                 o.ref,
	}, ch)
	<-progressDone
	if err != nil {
		out.code = exitCode(err)
		return out.fail(legacyError(err))
	}
	if out.steps != nil {
		for _, l := range out.steps.rest() {
			out.output(jsonMessage{Stream: l})
		}
	}
	id := resp.ExporterResponse[exptypes.ExporterImageDigestKey]
	if o.quiet {
		out.message(jsonMessage{Stream: id + "\n"})
		return nil
	}
	out.message(jsonMessage{Aux: map[string]string{"ID": id}})
	out.message(jsonMessage{Stream: "Successfully built " + shortID(id) + "\n"})
	for _, t := range o.tags {
		out.message(jsonMessage{Stream: "Successfully tagged " + t + "\n"})
	}
	return nil
}

// legacyError is a solve's error with its gRPC status read as an error
// kind, and its text without the gRPC wrapping.
func legacyError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var kind error
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition:
		kind = errdefs.ErrInvalidArgument
	case codes.NotFound:
		kind = errdefs.ErrNotFound
	case codes.Canceled:
		return context.Canceled
	case codes.Unimplemented:
		kind = errdefs.ErrNotImplemented
	default:
		return fmt.Errorf("%s", st.Message())
	}
	return errdefs.Dockerf(kind, "%s", st.Message())
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// jsonMessage is one message of Docker's JSON-message stream.
type jsonMessage struct {
	Stream      string           `json:"stream,omitempty"`
	Aux         any              `json:"aux,omitempty"`
	Error       string           `json:"error,omitempty"`
	ErrorDetail *jsonErrorDetail `json:"errorDetail,omitempty"`
}

type jsonErrorDetail struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
}

// jsonStream writes a build's answer: nothing (so that an error can still
// be an HTTP status) until the first message.
type jsonStream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	started bool
	quiet   bool
	held    []jsonMessage // quiet: the output, written only with an error
	steps   *classicSteps // nil: the vertices' own names and numbers
	code    int           // a failed step's exit code, for the error's detail
}

func (s *jsonStream) message(m jsonMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.write(m)
}

func (s *jsonStream) write(m jsonMessage) {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
	}
	b, _ := json.Marshal(m)
	s.w.Write(append(b, '\r', '\n'))
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// output is a step's output: written, or held when quiet.
func (s *jsonStream) output(m jsonMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quiet {
		s.held = append(s.held, m)
		return
	}
	s.write(m)
}

// fail ends the answer with err: an HTTP error when nothing was written,
// else an error message in the stream (after the held output when
// quiet, as dockerd).
func (s *jsonStream) fail(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quiet && len(s.held) > 0 {
		for _, m := range s.held {
			s.write(m)
		}
		s.held = nil
	}
	if !s.started {
		return err
	}
	msg := errdefs.Message(err)
	s.write(jsonMessage{Error: msg, ErrorDetail: &jsonErrorDetail{Code: s.code, Message: msg}})
	return nil
}

// stepName is a Dockerfile step as the dockerfile frontend names its
// vertex: "[2/3] RUN …" or "[stage 2/3] RUN …" (the stage, the step's
// number, the stage's count, the instruction).
var stepName = regexp.MustCompile(`^\[(?:([^\]]*) )?(\d+)/(\d+)\] (.*)$`)

// progress turns BuildKit's status into "stream" lines: a line per step
// as it starts ("Step 2/3 : RUN …"), " ---> Using cache" for a cached
// one, and the steps' output.
func (s *jsonStream) progress(ch chan *bkclient.SolveStatus) {
	seen := map[string]bool{}
	for st := range ch {
		for _, v := range st.Vertexes {
			d := v.Digest.String()
			if v.Started == nil || seen[d] {
				continue
			}
			m := stepName.FindStringSubmatch(v.Name)
			if m == nil {
				continue
			}
			seen[d] = true
			lines := []string{fmt.Sprintf("Step %s/%s : %s\n", m[2], m[3], m[4])}
			if s.steps != nil {
				lines = s.steps.vertex(m[1], m[2], m[3], lines)
			}
			for _, l := range lines {
				s.output(jsonMessage{Stream: l})
			}
			if v.Cached && len(lines) > 0 {
				s.output(jsonMessage{Stream: " ---> Using cache\n"})
			}
		}
		for _, l := range st.Logs {
			if len(l.Data) > 0 {
				s.output(jsonMessage{Stream: string(l.Data)})
			}
		}
	}
}
