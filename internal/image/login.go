package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/hullproject/hull/internal/errdefs"
)

// dockerHubRegistry is where Docker Hub's credentials are checked (the
// registry of docker.io images).
const dockerHubRegistry = "registry-1.docker.io"

// Login checks credentials against the registry at serverAddress (Docker
// Hub when empty) as dockerd's POST /auth does: the registry's /v2/ is
// asked with them over HTTPS and, for a registry on loopback, plain HTTP
// next; the first endpoint that answers 200 wins. Its errors are
// dockerd's: the client's words for a registry out of reach, "login
// attempt to URL failed with status: 401 Unauthorized" for refused
// credentials. The identity token is the registry's refresh token when
// it gives one; hull's registry client keeps none, so it is "".
func Login(ctx context.Context, serverAddress string, opts RegistryOptions) (identityToken string, _ error) {
	host, err := loginHost(serverAddress)
	if err != nil {
		return "", err
	}
	schemes := []string{"https"}
	if opts.Insecure || isLoopbackHost(host) {
		schemes = append(schemes, "http")
	}
	var lastErr error
	for _, scheme := range schemes {
		err := loginV2(ctx, scheme, host, opts)
		if err == nil {
			return "", nil
		}
		if ctx.Err() != nil || errdefs.IsUnauthorized(err) {
			// Refused credentials are not tried again in plain HTTP.
			return "", err
		}
		lastErr = err
	}
	return "", lastErr
}

// loginHost is the registry host a login to serverAddress checks.
func loginHost(serverAddress string) (string, error) {
	if serverAddress == "" {
		return dockerHubRegistry, nil
	}
	addr := serverAddress
	if !strings.HasPrefix(addr, "https://") && !strings.HasPrefix(addr, "http://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("unable to parse server address: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if u.Host == "docker.io" || u.Host == "index.docker.io" {
		return dockerHubRegistry, nil
	}
	return u.Host, nil
}

// Login is the package's Login with the store's insecure registries: an
// insecure one is asked with unverified HTTPS, then plain HTTP, as
// dockerd does.
func (s *Store) Login(ctx context.Context, serverAddress string, opts RegistryOptions) (string, error) {
	if host, err := loginHost(serverAddress); err == nil && !isLoopbackHost(host) && !s.registries.secure(ctx, host) {
		opts.Insecure = true
		opts.Transport = insecureTransport(opts.transport())
	}
	return Login(ctx, serverAddress, opts)
}

// loginV2 asks scheme://host/v2/ with the credentials: a first request
// without them learns how the registry authenticates (its challenge), a
// second one carries them.
func loginV2(ctx context.Context, scheme, host string, opts RegistryOptions) error {
	endpoint := scheme + "://" + host + "/v2/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: opts.transport()}).Do(req)
	if err != nil {
		return err // Go's words are dockerd's: Get "URL": dial tcp …
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && opts.Auth == nil && opts.Username == "" &&
		strings.HasPrefix(strings.ToLower(resp.Header.Get("WWW-Authenticate")), "basic") {
		return &url.Error{Op: "Get", URL: endpoint, Err: errors.New("no basic auth credentials")}
	}
	var nopts []name.Option
	if scheme == "http" {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return fmt.Errorf("unable to parse server address: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	t, err := transport.NewWithContext(ctx, reg, opts.authenticator(), opts.transport(), nil)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
			// A token server that refuses the credentials.
			return fmt.Errorf("%v: %w", err, errdefs.ErrUnauthorized)
		}
		return err
	}
	if req, err = http.NewRequestWithContext(ctx, http.MethodGet, endpoint, http.NoBody); err != nil {
		return err
	}
	if resp, err = (&http.Client{Transport: t}).Do(req); err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("login attempt to %s failed with status: %d %s", endpoint, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}
