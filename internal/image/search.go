package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
)

// dockerIndex is where docker search looks for names without a registry.
const dockerIndex = "index.docker.io"

// SearchResult is one repository docker search found.
type SearchResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	StarCount   int    `json:"star_count"`
	IsOfficial  bool   `json:"is_official"`
}

// SearchOptions narrow a search: Limit is how many results the index is
// asked for (1 to 100), Filters docker search's filters (stars,
// is-official, is-automated, each as given).
type SearchOptions struct {
	RegistryOptions
	Limit   int
	Filters map[string][]string
}

// Search asks an index for repositories matching term, as dockerd does:
// Docker Hub's index (index.docker.io) for a term without a registry,
// the registry that starts the term otherwise (over plain HTTP on
// loopback), with the registry's v1 search API. Bad input (a filter, a
// limit, a term with a scheme) fails with errdefs.ErrInvalidArgument in
// dockerd's words; an index that cannot be reached fails with the HTTP
// client's error, as dockerd's does.
func Search(ctx context.Context, term string, opts SearchOptions) ([]SearchResult, error) {
	stars, official, automated := 0, "", false
	for k, vs := range opts.Filters {
		switch k {
		case "stars":
			for _, v := range vs {
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "Invalid filter 'stars=%s'", v)
				}
				stars = max(stars, n)
			}
		case "is-official", "is-automated":
			for _, v := range vs {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "Invalid filter '%s=%s'", k, v)
				}
				if k == "is-official" {
					official = strconv.FormatBool(b)
				} else {
					automated = automated || b
				}
			}
		default:
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "Invalid filter '%s'", k)
		}
	}
	limit := opts.Limit
	if limit < 1 || limit > 100 {
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "Limit %d is outside the range of [1, 100]", limit)
	}
	if strings.Contains(term, "://") {
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, `Invalid repository name (ex: "registry.domain.tld/myrepos")`)
	}
	index, remote := dockerIndex, term
	if first, rest, ok := strings.Cut(term, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		index, remote = first, rest
	}
	if index == dockerIndex {
		remote = strings.TrimPrefix(remote, "library/")
	}
	// docker.io's is-automated is deprecated and never true.
	if automated {
		return []SearchResult{}, nil
	}
	found, err := searchIndex(ctx, index, remote, limit, opts.RegistryOptions)
	if err != nil {
		return nil, err
	}
	out := []SearchResult{}
	for _, r := range found {
		if official != "" && strconv.FormatBool(r.IsOfficial) != official || r.StarCount < stars {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// searchIndex asks index's v1 search API; a registry on loopback (or
// Insecure) is asked over HTTPS and then plain HTTP, as dockerd does for
// its insecure registries.
func searchIndex(ctx context.Context, index, q string, limit int, opts RegistryOptions) ([]SearchResult, error) {
	schemes := []string{"https"}
	if opts.Insecure || isLoopbackHost(index) {
		schemes = append(schemes, "http")
	}
	var err error
	for _, scheme := range schemes {
		var res []SearchResult
		// q before n, as dockerd writes it (its errors show the URL).
		u := scheme + "://" + index + "/v1/search?q=" + url.QueryEscape(q) + "&n=" + strconv.Itoa(limit)
		if res, err = searchAt(ctx, u, opts); err == nil {
			return res, nil
		}
		var ue *url.Error
		if !errors.As(err, &ue) {
			return nil, err // the index answered: no other scheme
		}
	}
	return nil, err
}

func searchAt(ctx context.Context, u string, opts RegistryOptions) ([]SearchResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if opts.Username != "" {
		req.SetBasicAuth(opts.Username, opts.Password)
	}
	resp, err := (&http.Client{Transport: opts.transport()}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("Unexpected status code %d", resp.StatusCode)
	}
	var body struct {
		Results []SearchResult `json:"results"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("Error decoding search results: %w", err)
	}
	return body.Results, nil
}
