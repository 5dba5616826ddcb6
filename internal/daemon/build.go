package daemon

// POST /build and /auth. hull has no image builder yet (BuildKit comes
// with issue 14): a build's context is read as dockerd's classic builder
// reads it, so that a context without its Dockerfile is refused in
// dockerd's words, and a build that could run is refused as not
// implemented.

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/moby/moby/api/types/registry"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/image"
)

// defaultDockerfile is the Dockerfile's name when the build names none;
// "dockerfile" is taken too when there is no "Dockerfile", as dockerd.
const defaultDockerfile = "Dockerfile"

// ImageBuild is POST /build without a builder: the context r (a tar,
// plain or compressed) is read to its end looking for the Dockerfile.
func (d *Daemon) ImageBuild(ctx context.Context, r io.Reader, dockerfile string) error {
	if dockerfile == "" {
		dockerfile = defaultDockerfile
	}
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
	return fmt.Errorf("build: hull has no image builder yet (BuildKit comes with issue 14): %w", errdefs.ErrNotImplemented)
}

// AuthenticateToRegistry is POST /auth (docker login): the credentials
// are checked against their registry, as dockerd checks them.
func (d *Daemon) AuthenticateToRegistry(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error) {
	token, err := image.Login(ctx, auth.ServerAddress, registryOptions(auth))
	if err != nil {
		return registry.AuthResponse{}, err
	}
	return registry.AuthResponse{Status: "Login Succeeded", IdentityToken: token}, nil
}
