package conformance

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// registryWithBasicAuth is a registry (go-containerregistry's, in memory)
// that takes only user and password, by HTTP basic authentication, as a
// private registry on the loopback does: the one the docker login (/auth)
// and pull cases use, as {reg}.
func registryWithBasicAuth(user, password string) http.Handler {
	reg := registry.New()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
			w.Header().Set("WWW-Authenticate", `Basic realm="conformance"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}` + "\n"))
			return
		}
		reg.ServeHTTP(w, r)
	})
}

// pushSeed puts the seed image ref of the seed archive into the registry
// at host as repo (host/repo), with the registry's credentials: what the
// pull cases pull ({reg}/conf/pulled:1 is conf/busybox).
func pushSeed(archive []byte, ref, host, repo, user, password string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(archive)), nil }, &tag)
	if err != nil {
		return fmt.Errorf("the seed image %s: %w", ref, err)
	}
	dst, err := name.NewTag(host+"/"+repo, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(dst, img, remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		return fmt.Errorf("push %s to the registry: %w", ref, err)
	}
	return nil
}
