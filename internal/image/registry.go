package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/hullproject/hull/internal/errdefs"
)

// RegistryOptions say how to reach a registry.
type RegistryOptions struct {
	// Auth authenticates to the registry. When nil, Username and Password
	// are used if Username is set, and the registry is reached anonymously
	// otherwise.
	Auth     authn.Authenticator
	Username string
	Password string
	// Insecure speaks plain HTTP to the registry. Registries on loopback
	// (localhost, 127.0.0.0/8, ::1) and those the store's Registries name
	// insecure are reached with unverified HTTPS, then plain HTTP, as
	// dockerd does.
	Insecure bool
	// Transport carries the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

func (o RegistryOptions) authenticator() authn.Authenticator {
	switch {
	case o.Auth != nil:
		return o.Auth
	case o.Username != "":
		return &authn.Basic{Username: o.Username, Password: o.Password}
	}
	return authn.Anonymous
}

func (o RegistryOptions) transport() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	return http.DefaultTransport
}

func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (o RegistryOptions) remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(o.authenticator()),
		remote.WithTransport(o.transport()),
	}
}

// registryClient speaks to one repository of a registry with the
// credentials and scopes it was made for.
type registryClient struct {
	repo   name.Repository
	client *http.Client
}

func (o RegistryOptions) client(ctx context.Context, repo name.Repository, scopes ...string) (*registryClient, error) {
	t, err := transport.NewWithContext(ctx, repo.Registry, o.authenticator(), o.transport(), scopes)
	if err != nil {
		return nil, classifyRemote(err, "reach registry "+repo.RegistryStr())
	}
	return &registryClient{repo: repo, client: &http.Client{Transport: t}}, nil
}

func (c *registryClient) blobURL(d string) string {
	u := url.URL{
		Scheme: c.repo.Scheme(),
		Host:   c.repo.RegistryStr(),
		Path:   fmt.Sprintf("/v2/%s/blobs/%s", c.repo.RepositoryStr(), d),
	}
	return u.String()
}

// getBlob opens blob d of the repository. The caller checks what it reads.
func (c *registryClient) getBlob(ctx context.Context, d string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.blobURL(d), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, classifyRemote(err, "fetch blob "+d)
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, classifyRemote(err, "fetch blob "+d)
	}
	return resp.Body, nil
}

// hasBlob asks whether the repository has blob d.
func (c *registryClient) hasBlob(ctx context.Context, d string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.blobURL(d), nil)
	if err != nil {
		return false, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return false, classifyRemote(err, "check blob "+d)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, classifyRemote(transport.CheckError(resp, http.StatusOK), "check blob "+d)
}

// classifyRemote gives an error from a registry its kind: refused
// credentials, a missing image, a registry that answered it is busy. A
// registry that cannot be reached at all is left unclassified: dockerd
// answers it with 500 (its errdefs.Unknown), and so does hull.
func classifyRemote(err error, what string) error {
	if err == nil {
		return nil
	}
	kind := error(nil)
	var te *transport.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
	case errdefs.IsDataLoss(err), errdefs.IsNotFound(err), errdefs.IsUnauthorized(err), errdefs.IsUnavailable(err),
		errdefs.IsInvalidArgument(err), errdefs.IsNotImplemented(err):
	case errors.As(err, &te):
		kind = statusKind(te)
	case errors.Is(err, remote.ErrSchema1):
		kind = errdefs.ErrNotImplemented
	}
	if kind == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, err, kind)
}

func statusKind(te *transport.Error) error {
	for _, d := range te.Errors {
		switch d.Code {
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return errdefs.ErrUnauthorized
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return errdefs.ErrNotFound
		case transport.NameInvalidErrorCode, transport.TagInvalidErrorCode, transport.ManifestInvalidErrorCode:
			return errdefs.ErrInvalidArgument
		case transport.DigestInvalidErrorCode, transport.SizeInvalidErrorCode:
			return errdefs.ErrDataLoss
		}
	}
	switch te.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return errdefs.ErrUnauthorized
	case http.StatusNotFound:
		return errdefs.ErrNotFound
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return errdefs.ErrUnavailable
	case http.StatusBadRequest:
		return errdefs.ErrInvalidArgument
	}
	return errdefs.ErrUnavailable
}
