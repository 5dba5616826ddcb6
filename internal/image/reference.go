package image

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

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

// parseRef parses s with docker's rules (distribution/reference, which
// dockerd uses, so a bad reference fails with dockerd's words: "invalid
// reference format", "… repository name must be lowercase"), adding
// docker.io, library/ and the tag latest where s leaves them out.
func parseRef(s string) (ref, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return ref{}, refError(err)
	}
	out := ref{domain: reference.Domain(named), path: reference.Path(named)}
	switch r := named.(type) {
	case reference.Canonical:
		out.digest = r.Digest().String()
		if !strings.HasPrefix(out.digest, "sha256:") {
			return ref{}, fmt.Errorf("reference %q: only sha256 digests are supported: %w", s, errdefs.ErrInvalidArgument)
		}
	case reference.Tagged:
		out.tag = r.Tag()
	default:
		out.tag = "latest"
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
		return ref{}, errdefs.Dockerf(errdefs.ErrInvalidArgument, "refusing to create a tag with a digest reference")
	}
	if r.familiarName() == "sha256" {
		return ref{}, errdefs.Dockerf(errdefs.ErrInvalidArgument, "refusing to create an ambiguous tag using digest algorithm as name")
	}
	return r, nil
}

// TagReference is the reference that POST /images/{name}/tag, import and
// commit make of their repo and tag parameters, normalized
// (docker.io/library/busybox:latest), refused with dockerd's words: a bad
// name or tag ("invalid tag format"), a repository of 64 hex digits, a
// digest. A tag in repo gives way to tag when both are given. (A
// repository named "sha256" is refused where the tag is made.)
func TagReference(repo, tag string) (string, error) {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return "", refError(err)
	}
	if _, ok := named.(reference.Canonical); ok {
		return "", errdefs.Dockerf(errdefs.ErrInvalidArgument, "refusing to create a tag with a digest reference")
	}
	if tag != "" {
		if named, err = reference.WithTag(reference.TrimNamed(named), tag); err != nil {
			return "", refError(err)
		}
	}
	return reference.TagNameOnly(named).String(), nil
}

// PullReference is the reference POST /images/create?fromImage= pulls, as
// dockerd makes it of fromImage and tag: tag may be a digest; an empty
// one leaves fromImage's own (latest when it has none). Errors are
// dockerd's, of kind errdefs.ErrInvalidArgument.
func PullReference(image, tag string) (string, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimSuffix(image, ":"))
	if err != nil {
		return "", refError(err)
	}
	if tag != "" {
		if dg, err := digest.Parse(tag); err == nil {
			named, err = reference.WithDigest(reference.TrimNamed(named), dg)
			if err != nil {
				return "", refError(err)
			}
		} else if named, err = reference.WithTag(named, tag); err != nil {
			return "", refError(err)
		}
	}
	return reference.TagNameOnly(named).String(), nil
}

// PushReference is the reference POST /images/{name}/push sends, as
// dockerd makes it of the name and tag (empty: the name's own, latest
// when it has none).
func PushReference(image, tag string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", refError(err)
	}
	if tag != "" {
		if named, err = reference.WithTag(named, tag); err != nil {
			return "", refError(err)
		}
	}
	return reference.TagNameOnly(named).String(), nil
}

// noSuchImage is dockerd's error for a name that names no image: "No such
// image: " and the name as dockerd normalizes it (busybox becomes
// busybox:latest, 64 hex digits sha256:…), or dockerd's error for a name
// that is not a reference.
func noSuchImage(name string) error {
	r, err := reference.ParseAnyReference(name)
	if err != nil {
		return refError(err)
	}
	if named, ok := r.(reference.Named); ok {
		r = reference.TagNameOnly(named)
	}
	return errdefs.Dockerf(errdefs.ErrNotFound, "No such image: %s", reference.FamiliarString(r))
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

// refError is distribution/reference's error as dockerd 20.10 (API 1.41)
// words it: newer versions of the library name the repository in "must be
// lowercase"; clients and the issue match the older text.
func refError(err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "invalid reference format: repository name (") && strings.HasSuffix(msg, ") must be lowercase") {
		msg = "invalid reference format: repository name must be lowercase"
	}
	return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", msg)
}
