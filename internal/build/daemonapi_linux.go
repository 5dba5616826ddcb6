package build

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
)

// daemonAPI is hull-buildkit's client of the daemon's private API socket
// (the Engine API, answered by the daemon that started it): the images a
// build starts FROM are read from it, and the image it built is loaded
// and tagged through it.
type daemonAPI struct {
	c *http.Client
}

// apiVersion is the Engine API version hull-buildkit speaks to its
// daemon; the daemon serves every version up to its own.
const apiVersion = "v1.41"

func newDaemonAPI(sock string) *daemonAPI {
	return &daemonAPI{c: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns: 4,
	}}}
}

func (a *daemonAPI) do(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := "http://hull/" + apiVersion + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-tar")
	}
	return a.send(req)
}

// send sends req and turns an error answer into an error of its kind
// with the daemon's message.
func (a *daemonAPI) send(req *http.Request) (*http.Response, error) {
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the daemon's API: %v: %w", err, errdefs.ErrUnavailable)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var m struct{ Message string }
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &m) != nil || m.Message == "" {
		m.Message = strings.TrimSpace(string(b))
	}
	kind := errdefs.ErrUnavailable
	switch {
	case resp.StatusCode == http.StatusNotFound:
		kind = errdefs.ErrNotFound
	case resp.StatusCode == http.StatusConflict:
		kind = errdefs.ErrConflict
	case resp.StatusCode < 500:
		kind = errdefs.ErrInvalidArgument
	}
	return nil, errdefs.Dockerf(kind, "%s", m.Message)
}

// imageID is the id of the image ref names in the daemon's store
// (NotFound when it has none).
func (a *daemonAPI) imageID(ctx context.Context, ref string) (string, error) {
	resp, err := a.do(ctx, http.MethodGet, "/images/"+url.PathEscape(ref)+"/json", nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var img struct {
		ID string `json:"Id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&img); err != nil {
		return "", fmt.Errorf("the daemon's API: inspect %s: %w", ref, err)
	}
	return img.ID, nil
}

// save is docker save of one image, by id: an OCI image layout (with
// docker's manifest.json) whose layers are uncompressed.
func (a *daemonAPI) save(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := a.do(ctx, http.MethodGet, "/images/get", url.Values{"names": {id}}, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// load is docker load of the archive r; it returns the ids it loaded.
func (a *daemonAPI) load(ctx context.Context, r io.Reader) ([]string, error) {
	resp, err := a.do(ctx, http.MethodPost, "/images/load", url.Values{"quiet": {"1"}}, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ids []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m struct {
			Stream      string
			Error       string
			ErrorDetail struct{ Message string }
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		if m.Error != "" {
			return nil, errors.New(m.Error)
		}
		for _, line := range strings.Split(m.Stream, "\n") {
			if id, ok := strings.CutPrefix(line, "Loaded image ID: "); ok {
				ids = append(ids, id)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("the daemon's API: load: %w", err)
	}
	return ids, nil
}

// tag tags image id as repo:tag.
func (a *daemonAPI) tag(ctx context.Context, id, repo, tag string) error {
	resp, err := a.do(ctx, http.MethodPost, "/images/"+url.PathEscape(id)+"/tag", url.Values{"repo": {repo}, "tag": {tag}}, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
