package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/image"
)

// ImageImport is POST /images/create?fromSrc=: an image of the root file
// system tar r (src "-") or of the one an http(s) URL gives, as dockerd
// makes it. Every parameter is checked before anything is read. A URL's
// download is reported as dockerd reports it ("Downloading from URL",
// then "Importing" with its progress); the new image's id is the last
// message (the only one for "-").
func (d *Daemon) ImageImport(ctx context.Context, src string, r io.Reader, repo, tag, message, platform string, changes []string, progress func(jsonstream.Message)) error {
	ref, err := image.ImportReference(repo, tag)
	if err != nil {
		return err
	}
	if _, _, _, err := image.ImportPlatform(platform); err != nil {
		return err
	}
	if err := image.ApplyChanges(&image.Config{}, changes); err != nil {
		return err
	}
	opts := image.ImportOptions{Repo: ref, Changes: changes, Message: message, Source: src, Platform: platform}
	if src != "-" {
		u, body, size, err := fetchImportURL(ctx, src)
		if err != nil {
			return err
		}
		defer body.Close()
		opts.Source = u
		progress(jsonstream.Message{Status: "Downloading from " + u})
		r = &importProgress{r: body, size: size, send: progress}
	}
	id, err := d.images.Import(ctx, r, opts)
	if err != nil {
		return tarError(err)
	}
	if src != "-" {
		// What follows the tar is read too, as dockerd's layer store
		// reads its input to the end: the download's last progress.
		io.Copy(io.Discard, r)
	}
	// dockerd's events: the tag (when the import names one), then the
	// import, named by the new image's id.
	if ref != "" {
		name := ref
		if fam, err := image.FamiliarString(ref); err == nil {
			name = fam
		}
		d.imageEvent(ctx, id, name, events.ActionTag)
	}
	d.imageEvent(ctx, id, id, events.ActionImport)
	progress(jsonstream.Message{Status: id})
	return nil
}

// importProgress reports the download of an import's URL as dockerd's
// progress reader does: "Importing" with the bytes read and the length
// (-1 when the server did not give it), after every 512 KiB (or 1% of the
// length, if less) but at most every 100 ms, when the length is reached,
// and at the end.
type importProgress struct {
	r                   io.Reader
	size                int64
	current, lastUpdate int64
	lastSent            time.Time
	send                func(jsonstream.Message)
	ended               bool // the end was reported
}

func (p *importProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if p.ended {
		return n, err
	}
	p.current += int64(n)
	every := int64(512 << 10)
	if p.size > 0 {
		every = min(every, int64(0.01*float64(p.size)))
	}
	if p.current-p.lastUpdate > every || err != nil {
		// The end, also when it comes with the last bytes (Go's HTTP body
		// gives both at once): reported once.
		last := err != nil
		p.ended = last
		if now := time.Now(); last || p.current == p.size || now.Sub(p.lastSent) >= 100*time.Millisecond {
			p.lastSent = now
			p.send(jsonstream.Message{Status: "Importing", Progress: &jsonstream.Progress{Current: p.current, Total: p.size}})
		}
		p.lastUpdate = p.current
	}
	return n, err
}

// fetchImportURL starts the download of an import's URL as dockerd does:
// a source without a scheme is taken as http://; an answer of 400 and
// above is an error with its status and body, classified by the status
// (404 not found, 401 unauthorized, 403 forbidden, 400 bad input). It
// returns the URL as fetched, the body and its length (-1 unknown).
func fetchImportURL(ctx context.Context, src string) (string, io.ReadCloser, int64, error) {
	if !strings.Contains(src, "://") {
		src = "http://" + src
	}
	u, err := url.Parse(src)
	if err != nil {
		return "", nil, 0, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", nil, 0, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// Go's words are dockerd's ("Get \"URL\": dial tcp …"). A URL
		// that cannot be fetched at all is the client's; a host that does
		// not answer, dockerd's 500.
		var ue *url.Error
		if errors.As(err, &ue) && (strings.Contains(ue.Err.Error(), "unsupported protocol scheme") || strings.Contains(ue.Err.Error(), "no Host in request URL")) {
			return "", nil, 0, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err)
		}
		return "", nil, 0, err
	}
	if resp.StatusCode < 400 {
		return u.String(), resp.Body, resp.ContentLength, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	msg := fmt.Sprintf("failed to GET %s with status %s", u, resp.Status)
	if err != nil {
		return "", nil, 0, fmt.Errorf("%s: error reading body", msg)
	}
	msg += ": " + string(bytes.TrimSpace(body))
	switch resp.StatusCode {
	case http.StatusNotFound:
		return "", nil, 0, errdefs.Dockerf(errdefs.ErrNotFound, "%s", msg)
	case http.StatusBadRequest:
		return "", nil, 0, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", msg)
	case http.StatusUnauthorized:
		return "", nil, 0, errdefs.Dockerf(errdefs.ErrUnauthorized, "%s", msg)
	case http.StatusForbidden:
		return "", nil, 0, errdefs.Dockerf(errdefs.ErrForbidden, "%s", msg)
	}
	return "", nil, 0, errors.New(msg)
}

// ImageSearch is GET /images/search: the index's answer, as dockerd
// gives it (is_automated is always false, as Docker Hub's is deprecated).
func (d *Daemon) ImageSearch(ctx context.Context, term string, limit int, filters map[string][]string, auth registry.AuthConfig) ([]registry.SearchResult, error) {
	found, err := image.Search(ctx, term, image.SearchOptions{RegistryOptions: registryOptions(auth), Limit: limit, Filters: filters})
	if err != nil {
		return nil, err
	}
	out := make([]registry.SearchResult, 0, len(found))
	for _, r := range found {
		out = append(out, registry.SearchResult{Name: r.Name, Description: r.Description, StarCount: r.StarCount, IsOfficial: r.IsOfficial})
	}
	return out, nil
}
