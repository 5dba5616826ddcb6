package daemon

// POST /build's context: read as dockerd's classic builder reads it, so
// that a context without its Dockerfile is refused in dockerd's words, and
// kept in a file for the builder (hull-buildkit), which reads it again as
// the build's context.

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/moby/moby/api/types/registry"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/image"
)

// defaultDockerfile is the Dockerfile's name when the build names none;
// "dockerfile" is taken too when there is no "Dockerfile", as dockerd.
const defaultDockerfile = "Dockerfile"

// MaxBuildContext bounds a build's context as sent (a tar, compressed or
// not): a bigger one is refused, 413, and nothing of it kept.
var MaxBuildContext int64 = 8 << 30

// buildContexts is where contexts wait for their build, under the exec
// root: emptied at every start.
func (d *Daemon) buildContexts() string { return filepath.Join(d.cfg.ExecRoot, "buildkit", "contexts") }

// ImageBuild is POST /build's context: r (a tar, plain or compressed) is
// read to its end looking for the Dockerfile, as dockerd's classic
// builder does, and kept in a file whose path it returns; the caller
// removes it after the build.
func (d *Daemon) ImageBuild(ctx context.Context, r io.Reader, dockerfile string) (_ string, retErr error) {
	if dockerfile == "" {
		dockerfile = defaultDockerfile
	}
	if err := os.MkdirAll(d.buildContexts(), 0o700); err != nil {
		return "", fmt.Errorf("keep the build context: %w", err)
	}
	f, err := os.CreateTemp(d.buildContexts(), "context-*.tar")
	if err != nil {
		return "", fmt.Errorf("keep the build context: %w", err)
	}
	defer func() {
		f.Close()
		if retErr != nil {
			os.Remove(f.Name())
		}
	}()
	// One byte past the bound tells that there is more.
	body := &io.LimitedReader{R: r, N: MaxBuildContext + 1}
	tee := io.TeeReader(body, f)
	tooBig := func() error {
		return fmt.Errorf("the build context is over %d bytes: %w", MaxBuildContext, errdefs.ErrLimit)
	}
	if err := checkBuildContext(ctx, tee, dockerfile); err != nil {
		// A context cut at the bound reads as a broken tar: the bound
		// is the cause.
		if body.N == 0 {
			return "", tooBig()
		}
		return "", err
	}
	// What follows the tar's end (padding) is kept too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", fmt.Errorf("read the build context: %w", err)
	}
	if body.N == 0 {
		return "", tooBig()
	}
	return f.Name(), nil
}

// checkBuildContext reads the context tar to its end and refuses, in
// dockerd's words, one that cannot be unpacked (contextTree) or lacks
// the Dockerfile.
func checkBuildContext(ctx context.Context, r io.Reader, dockerfile string) error {
	want := path.Clean("/" + dockerfile)
	found, lower := false, false
	// A context that is not a tar is refused with the reader's words
	// alone ("unexpected EOF"), as dockerd's.
	contextError := func(err error) error {
		if image.IsCorrupt(err) || errdefs.IsInvalidArgument(err) {
			return fmt.Errorf("%w: %w", errdefs.Dockerf(errdefs.ErrInvalidArgument, "%v", rootCause(err)), err)
		}
		return fmt.Errorf("read the build context: %w", err)
	}
	tr, err := image.Decompress(r)
	if err != nil {
		return contextError(err)
	}
	defer tr.Close()
	t := tar.NewReader(tr)
	tree := newContextTree()
	for {
		hdr, err := t.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return contextError(err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := tree.add(hdr); err != nil {
			return err
		}
		switch path.Clean("/" + hdr.Name) {
		case want:
			found = true
		case "/dockerfile":
			lower = true
		}
	}
	if !found && !(lower && dockerfile == defaultDockerfile) {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "Cannot locate specified Dockerfile: %s", dockerfile)
	}
	return nil
}

// AuthenticateToRegistry is POST /auth (docker login): the credentials
// are checked against their registry, as dockerd checks them.
func (d *Daemon) AuthenticateToRegistry(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error) {
	token, err := d.images.Login(ctx, auth.ServerAddress, registryOptions(auth))
	if err != nil {
		return registry.AuthResponse{}, err
	}
	return registry.AuthResponse{Status: "Login Succeeded", IdentityToken: token}, nil
}

// builderKey marks a request that came from hull's builder (hull-buildkit,
// on the daemon's private socket).
type builderKey struct{}

// BuilderContext marks ctx as the context of the builder's requests: the
// load of a built image is part of a build, and emits no load event (as
// dockerd's moby exporter creates the image without one; its tags emit
// tag events).
func BuilderContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, builderKey{}, true)
}

func fromBuilder(ctx context.Context) bool {
	v, _ := ctx.Value(builderKey{}).(bool)
	return v
}
