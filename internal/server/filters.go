package server

import (
	"net/http"
	"strings"

	"github.com/hullproject/hull/internal/filters"
)

// requestVersion is the API version the request named in its path
// (/v1.41/…), or the newest hull speaks for an unversioned path.
// ServeHTTP strips the prefix from the URL; RequestURI keeps it.
func requestVersion(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	if _, v, ok := splitVersion(p); ok {
		return v
	}
	return APIVersion
}

// queryFilters reads the request's filters parameter, its errors worded
// for the request's API version.
func queryFilters(r *http.Request) (filters.Args, error) {
	return filters.FromJSON(r.URL.Query().Get("filters"), requestVersion(r))
}
