package server

import (
	"net/http"

	"github.com/hullproject/hull/internal/apiversion"
	"github.com/hullproject/hull/internal/filters"
)

// requestVersion is the API version of the request (its /vX.Y, or the
// newest hull speaks).
func requestVersion(r *http.Request) string { return apiversion.FromContext(r.Context()) }

// queryFilters reads the request's filters parameter, its errors worded
// for the request's API version.
func queryFilters(r *http.Request) (filters.Args, error) {
	return filters.FromJSON(r.URL.Query().Get("filters"), requestVersion(r))
}
