package image

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hullproject/hull/internal/errdefs"
)

// dockerDomain is the registry of names without one, as docker writes it
// in normalized names; go-containerregistry calls it index.docker.io.
const dockerDomain = "docker.io"

// ref is an image reference in docker's normalized form: a domain, a
// path, and a tag or a digest (never both, as docker drops the tag of
// name:tag@digest).
type ref struct {
	domain string // docker.io, example.com:5000
	path   string // library/busybox
	tag    string
	digest string
}

// parseRef parses s with docker's rules, adding docker.io, library/ and
// the tag latest where s leaves them out.
func parseRef(s string) (ref, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return ref{}, fmt.Errorf("invalid reference format %q: %w", s, errdefs.ErrInvalidArgument)
	}
	r, err := name.ParseReference(s)
	if err != nil {
		return ref{}, fmt.Errorf("invalid reference format %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	out := ref{domain: r.Context().RegistryStr(), path: r.Context().RepositoryStr()}
	if out.domain == name.DefaultRegistry {
		out.domain = dockerDomain
	}
	switch r := r.(type) {
	case name.Tag:
		out.tag = r.TagStr()
	case name.Digest:
		out.digest = r.DigestStr()
		if !strings.HasPrefix(out.digest, "sha256:") {
			return ref{}, fmt.Errorf("reference %q: only sha256 digests are supported: %w", s, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

// parseTagRef parses s as a reference that can be given to an image as a
// tag: a digest reference cannot.
func parseTagRef(s string) (ref, error) {
	r, err := parseRef(s)
	if err != nil {
		return r, err
	}
	if r.digest != "" {
		return ref{}, fmt.Errorf("refusing to create a tag with a digest reference %q: %w", s, errdefs.ErrInvalidArgument)
	}
	return r, nil
}

// Name is the repository with its domain: docker.io/library/busybox.
func (r ref) Name() string { return r.domain + "/" + r.path }

// String is the normalized reference: docker.io/library/busybox:latest.
func (r ref) String() string {
	if r.digest != "" {
		return r.Name() + "@" + r.digest
	}
	return r.Name() + ":" + r.tag
}

// familiarName is the repository as docker shows it: busybox,
// someone/app, example.com/app.
func (r ref) familiarName() string {
	if r.domain != dockerDomain {
		return r.Name()
	}
	if p, ok := strings.CutPrefix(r.path, "library/"); ok && !strings.Contains(p, "/") {
		return p
	}
	return r.path
}

// Familiar is the reference as docker shows it: busybox:latest.
func (r ref) Familiar() string {
	if r.digest != "" {
		return r.familiarName() + "@" + r.digest
	}
	return r.familiarName() + ":" + r.tag
}

// withDigest is the digest reference of the same repository.
func (r ref) withDigest(d string) ref {
	return ref{domain: r.domain, path: r.path, digest: d}
}

// remote returns the reference for go-containerregistry's remote package.
func (r ref) remote(insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	nr, err := name.ParseReference(r.String(), opts...)
	if err != nil {
		return nil, fmt.Errorf("reference %s: %v: %w", r, err, errdefs.ErrInvalidArgument)
	}
	return nr, nil
}

// familiar turns a normalized reference back into docker's short form;
// a string that does not parse is returned as it is.
func familiar(normalized string) string {
	r, err := parseRef(normalized)
	if err != nil {
		return normalized
	}
	return r.Familiar()
}

// FamiliarString returns s, a reference, as docker shows it
// (docker.io/library/busybox:latest becomes busybox:latest), or an error
// of kind errdefs.ErrInvalidArgument when it does not parse.
func FamiliarString(s string) (string, error) {
	r, err := parseRef(s)
	if err != nil {
		return "", err
	}
	return r.Familiar(), nil
}
