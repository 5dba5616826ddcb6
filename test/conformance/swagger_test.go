package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Beyond API 1.41 (all dockerd 20.10 speaks) hull's answers are checked
// against the Engine API's own swagger document for the version asked,
// docs/v1.XX.yaml of github.com/moby/moby/api, with kin-openapi: the
// swagger 2.0 document is converted to OpenAPI 3, the request's operation
// found by its path template, and the answer validated with
// openapi3filter.ValidateResponse (a stream of JSON documents, document by
// document with the schema's VisitJSON).

// apiDocsDir is the docs folder of the github.com/moby/moby/api module in
// go.mod.
func apiDocsDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/moby/moby/api").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m github.com/moby/moby/api: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "docs"), nil
}

// newestDocumented is the newest API version with a swagger document.
func newestDocumented(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	best := -1
	for _, e := range entries {
		var minor int
		if n, _ := fmt.Sscanf(e.Name(), "v1.%d.yaml", &minor); n == 1 && minor > best {
			best = minor
		}
	}
	if best < 0 {
		return "", fmt.Errorf("no v1.XX.yaml in %s", dir)
	}
	return fmt.Sprintf("1.%d", best), nil
}

type swaggerRoute struct {
	template string
	re       *regexp.Regexp
	params   []string
	item     *openapi3.PathItem
}

type swaggerDoc struct {
	version   string
	doc       *openapi3.T
	routes    []swaggerRoute
	errSchema *openapi3.SchemaRef
}

var paramInTemplate = regexp.MustCompile(`\{([^}]+)\}`)

func loadSwagger(dir, version string) (*swaggerDoc, error) {
	b, err := os.ReadFile(filepath.Join(dir, "v"+version+".yaml"))
	if err != nil {
		return nil, err
	}
	var d2 openapi2.T
	if err := openapi2.UnmarshalFromData(b, &d2); err != nil {
		return nil, fmt.Errorf("swagger v%s: %w", version, err)
	}
	d3, err := openapi2conv.ToV3(&d2)
	if err != nil {
		return nil, fmt.Errorf("swagger v%s to OpenAPI 3: %w", version, err)
	}
	keepNullable(d3)
	s := &swaggerDoc{version: version, doc: d3, errSchema: d3.Components.Schemas["ErrorResponse"]}
	if s.errSchema == nil {
		return nil, fmt.Errorf("swagger v%s has no ErrorResponse", version)
	}
	for tmpl, item := range d3.Paths.Map() {
		r := swaggerRoute{template: tmpl, item: item}
		pat := regexp.QuoteMeta(tmpl)
		for _, m := range paramInTemplate.FindAllStringSubmatch(tmpl, -1) {
			r.params = append(r.params, m[1])
			// Image and plugin names hold slashes (conf/busybox).
			sub := `([^/]+)`
			if m[1] == "name" {
				sub = `(.+)`
			}
			pat = strings.Replace(pat, regexp.QuoteMeta(m[0]), sub, 1)
		}
		r.re = regexp.MustCompile("^" + pat + "$")
		s.routes = append(s.routes, r)
	}
	// Literal routes first (/containers/json before /containers/{id}).
	sort.Slice(s.routes, func(i, j int) bool {
		if len(s.routes[i].params) != len(s.routes[j].params) {
			return len(s.routes[i].params) < len(s.routes[j].params)
		}
		return s.routes[i].template < s.routes[j].template
	})
	return s, nil
}

// keepNullable applies the x-nullable the conversion left behind:
// kin-openapi's openapi2conv turns x-nullable into nullable for properties
// and items but copies additionalProperties' schemas as they are (PortMap's
// values are "type: array, x-nullable: true" in every document).
func keepNullable(d *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(r *openapi3.SchemaRef)
	walk = func(r *openapi3.SchemaRef) {
		if r == nil || r.Value == nil || seen[r.Value] {
			return
		}
		s := r.Value
		seen[s] = true
		if v, ok := s.Extensions["x-nullable"].(bool); ok {
			s.Nullable = v
		}
		for _, p := range s.Properties {
			walk(p)
		}
		for _, l := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, p := range l {
				walk(p)
			}
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
	}
	for _, r := range d.Components.Schemas {
		walk(r)
	}
	for _, item := range d.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, mt := range resp.Value.Content {
					walk(mt.Schema)
				}
			}
		}
	}
}

func (s *swaggerDoc) route(method, path string) (*routers.Route, map[string]string) {
	for _, r := range s.routes {
		m := r.re.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		op := r.item.GetOperation(method)
		if op == nil {
			continue
		}
		params := map[string]string{}
		for i, p := range r.params {
			params[p] = m[i+1]
		}
		return &routers.Route{Spec: s.doc, Path: r.template, PathItem: r.item, Method: method, Operation: op}, params
	}
	return nil, nil
}

// problem is one way an answer breaks the swagger document: where (a
// JSON path in the harness's notation, "" for the answer as a whole) and
// why.
type problem struct{ path, reason string }

func problems(texts ...string) []problem {
	var out []problem
	for _, t := range texts {
		out = append(out, problem{reason: t})
	}
	return out
}

// schemaProblems flattens kin-openapi's errors into one problem per
// value that breaks the schema.
func schemaProblems(err error) []problem {
	if me, ok := err.(openapi3.MultiError); ok {
		var out []problem
		for _, e := range me {
			out = append(out, schemaProblems(e)...)
		}
		return out
	}
	var re *openapi3filter.ResponseError
	if errors.As(err, &re) && re.Err != nil {
		if _, isMulti := re.Err.(openapi3.MultiError); isMulti {
			return schemaProblems(re.Err)
		}
		if _, isSchema := re.Err.(*openapi3.SchemaError); isSchema {
			return schemaProblems(re.Err)
		}
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		// allOf and oneOf keep the errors of their parts (with full
		// paths) in Origin: report those.
		if se.Origin != nil {
			if u, ok := errors.Unwrap(se.Origin).(interface{ Unwrap() error }); ok {
				if me, ok := u.Unwrap().(openapi3.MultiError); ok && len(me) > 0 {
					return schemaProblems(me)
				}
			}
		}
		var b strings.Builder
		for _, seg := range se.JSONPointer() {
			if _, err := strconv.Atoi(seg); err == nil {
				fmt.Fprintf(&b, "[%s]", seg)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
		}
		return []problem{{path: b.String(), reason: se.Reason}}
	}
	return []problem{{reason: oneLine(err)}}
}

// check validates one raw answer of hull to the request method path
// (path without the version prefix) and returns the problems found.
// A streamed answer (stream true: events) may hold no document at all.
func (s *swaggerDoc) check(ctx context.Context, method, rawPath string, a answer, stream bool) []problem {
	path, _, _ := strings.Cut(rawPath, "?")
	route, params := s.route(method, path)
	if route == nil {
		return nil // a route the API does not have (the unknown-route cases)
	}
	ct := a.header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	isJSON := mt == "application/json"
	if a.status >= 400 {
		if method == "HEAD" {
			return nil
		}
		if !isJSON {
			return problems(fmt.Sprintf("error answer %d is %q, not JSON", a.status, ct))
		}
		v, ok := decodeJSON(a.body)
		if !ok {
			return problems(fmt.Sprintf("error answer %d is not JSON: %s", a.status, quoteBody(string(a.body))))
		}
		if err := s.errSchema.Value.VisitJSON(plain(v), openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
			return schemaProblems(err)
		}
		return nil
	}
	resp := route.Operation.Responses.Status(a.status)
	if resp == nil {
		resp = route.Operation.Responses.Default()
	}
	if resp == nil {
		return problems(fmt.Sprintf("status %d is not documented for %s %s", a.status, method, route.Path))
	}
	if !isJSON || method == "HEAD" || resp.Value == nil {
		return nil
	}
	content := resp.Value.Content.Get("application/json")
	if content == nil || content.Schema == nil {
		return nil
	}
	r, _ := http.NewRequestWithContext(ctx, method, "http://d"+rawPath, nil)
	docs, ok := jsonDocs(a.body)
	if ok && len(docs) == 0 && stream {
		return nil
	}
	if !ok || len(docs) == 0 {
		return problems("answer is not JSON: " + quoteBody(string(a.body)))
	}
	if len(docs) > 1 {
		// A stream of JSON documents (events, progress): each one is checked.
		var out []problem
		for i, d := range docs {
			if err := content.Schema.Value.VisitJSON(plain(d), openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
				for _, p := range schemaProblems(err) {
					p.path = fmt.Sprintf("[%d]", i) + strings.TrimPrefix("."+p.path, ".")
					out = append(out, p)
				}
			}
		}
		return out
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 a.status,
		Header:                 a.header,
		Body:                   io.NopCloser(bytes.NewReader(a.body)),
		Options:                &openapi3filter.Options{MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return schemaProblems(err)
	}
	return nil
}

// plain turns json.Number into float64, which kin-openapi's schema
// validation expects.
func plain(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case interface{ Float64() (float64, error) }:
		f, _ := x.Float64()
		return f
	}
	return v
}

// oneLine shortens kin-openapi's multi-line errors (which print the whole
// schema) to the paths and reasons.
func oneLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "Error at") || strings.HasPrefix(l, "response body") || strings.HasPrefix(l, "response header") ||
			(len(parts) == 0 && l != "") {
			parts = append(parts, l)
		}
	}
	s := strings.Join(parts, "; ")
	return clip(s, 400)
}
