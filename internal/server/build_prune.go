package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// buildCacheFilters are the filters POST /build/prune takes, as moby's
// builder (daemon/internal/builder-next: its cacheFields, until,
// unused-for and the labels it accepts but ignores); mutable and immutable
// are BuildKit's own and refused.
var buildCacheFilters = []string{"id", "parent", "type", "description", "inuse", "shared", "private", "until", "unused-for", "label", "label!"}

// checkBuildPrune checks POST /build/prune's filters and sizes as dockerd
// does before it prunes, in its words; hull has no build cache, so a
// request that passes prunes nothing. Every error is of kind
// InvalidArgument (dockerd 20.10 answered 500 for some of them).
func checkBuildPrune(r *http.Request) error {
	f, err := queryFilters(r)
	if err != nil {
		if filters.IsLegacy(requestVersion(r)) {
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "could not parse filters: %s", errdefs.Message(err))
		}
		return err
	}
	if err := checkBuildCacheFilters(f, time.Now()); err != nil {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "failed to prune build cache: %s", errdefs.Message(err))
	}
	names := []string{"keep-storage"}
	if !versionLess(requestVersion(r), "1.48") {
		names = []string{"reserved-space", "keep-storage", "max-used-space", "min-free-space"}
	}
	for _, name := range names {
		if v := r.URL.Query().Get(name); v != "" {
			if _, err := strconv.Atoi(v); err != nil {
				return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s is in bytes and expects an integer, got %v: %v", name, v, err)
			}
		}
	}
	return nil
}

// checkBuildCacheFilters is the builder's check of the prune filters: the
// keys it knows, one value each, until or its older name unused-for (not
// both), a duration — or, after API 1.41, a timestamp too.
func checkBuildCacheFilters(f filters.Args, now time.Time) error {
	if err := f.Validate(buildCacheFilters...); err != nil {
		return err
	}
	until, unusedFor := f.Get("until"), f.Get("unused-for")
	if len(until) > 0 && len(unusedFor) > 0 {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "conflicting filters: %q and %q", "until", "unused-for")
	}
	key := "until"
	if len(unusedFor) > 0 {
		key, until = "unused-for", unusedFor
	}
	for _, k := range buildCacheFilters {
		if k != "label" && k != "label!" && len(f.Get(k)) > 1 {
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "filters expect only one value")
		}
	}
	if len(until) == 1 {
		if f.Legacy() {
			if _, err := time.ParseDuration(until[0]); err != nil {
				return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%q filter expects a duration (e.g., '24h'): %v", key, err)
			}
		} else if _, err := filters.ParseTime(until[0], now, false); err != nil {
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%q filter expects a duration (e.g., '24h') or a timestamp: %v", key, err)
		}
	}
	return nil
}
