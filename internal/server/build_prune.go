package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// buildCacheFilters are the filters POST /build/prune takes, as moby's
// builder (daemon/internal/builder-next: its cacheFields, until,
// unused-for and the labels it accepts but ignores); mutable and immutable
// are BuildKit's own and refused.
var buildCacheFilters = []string{"id", "parent", "type", "description", "inuse", "shared", "private", "until", "unused-for", "label", "label!"}

// buildCacheFields are the filters that select cache records by a field
// of theirs, passed on to BuildKit's prune.
var buildCacheFields = []string{"id", "parent", "type", "description", "inuse", "shared", "private"}

// buildPruneQuery checks POST /build/prune's filters and sizes as dockerd
// does before it prunes, in its words, and turns them into BuildKit's
// prune request (the control API's PruneRequest), as moby's builder does
// (toBuildkitPruneInfo): all; keep-duration, the until filter as the
// nanoseconds before now that are kept; reserved-space (keep-storage
// before API 1.48, and its fallback after), max-used-space and
// min-free-space; filter, the field filters joined into one BuildKit
// filter (id by prefix, the others by equality), every one to hold.
// Every error is of kind InvalidArgument (dockerd 20.10 answered 500 for
// some of them).
func buildPruneQuery(r *http.Request) (url.Values, error) {
	f, err := queryFilters(r)
	if err != nil {
		if filters.IsLegacy(requestVersion(r)) {
			return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "could not parse filters: %s", errdefs.Message(err))
		}
		return nil, err
	}
	keep, err := checkBuildCacheFilters(f, time.Now())
	if err != nil {
		return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "failed to prune build cache: %s", errdefs.Message(err))
	}
	q := r.URL.Query()
	sizes := map[string]int64{}
	names := []string{"keep-storage"}
	if !versionLess(requestVersion(r), "1.48") {
		names = []string{"reserved-space", "keep-storage", "max-used-space", "min-free-space"}
	}
	for _, name := range names {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s is in bytes and expects an integer, got %v: %v", name, v, err)
			}
			sizes[name] = int64(n)
		}
	}
	out := url.Values{}
	if boolValue(r, "all") {
		out.Set("all", "1")
	}
	if keep > 0 {
		out.Set("keep-duration", strconv.FormatInt(int64(keep), 10))
	}
	reserved := sizes["reserved-space"]
	if reserved == 0 {
		// keep-storage: the only size before 1.48, deprecated after it.
		reserved = sizes["keep-storage"]
	}
	for name, n := range map[string]int64{"reserved-space": reserved, "max-used-space": sizes["max-used-space"], "min-free-space": sizes["min-free-space"]} {
		if n != 0 {
			out.Set(name, strconv.FormatInt(n, 10))
		}
	}
	var filter []string
	for _, k := range buildCacheFields {
		if !f.Contains(k) {
			continue
		}
		switch v := f.Get(k); {
		case len(v) == 0:
			filter = append(filter, k)
		case k == "id":
			filter = append(filter, k+"~="+v[0])
		default:
			filter = append(filter, k+"=="+v[0])
		}
	}
	if len(filter) > 0 {
		sort.Strings(filter)
		out.Set("filter", strings.Join(filter, ","))
	}
	return out, nil
}

// checkBuildCacheFilters is the builder's check of the prune filters: the
// keys it knows, one value each, until or its older name unused-for (not
// both), a duration — or, after API 1.41, a timestamp too. It returns how
// long before now the records to keep were used (0: no until).
func checkBuildCacheFilters(f filters.Args, now time.Time) (time.Duration, error) {
	if err := f.Validate(buildCacheFilters...); err != nil {
		return 0, err
	}
	until, unusedFor := f.Get("until"), f.Get("unused-for")
	if len(until) > 0 && len(unusedFor) > 0 {
		return 0, errdefs.Dockerf(errdefs.ErrInvalidArgument, "conflicting filters: %q and %q", "until", "unused-for")
	}
	key := "until"
	if len(unusedFor) > 0 {
		key, until = "unused-for", unusedFor
	}
	for _, k := range buildCacheFilters {
		if k != "label" && k != "label!" && len(f.Get(k)) > 1 {
			return 0, errdefs.Dockerf(errdefs.ErrInvalidArgument, "filters expect only one value")
		}
	}
	if len(until) != 1 {
		return 0, nil
	}
	if f.Legacy() {
		d, err := time.ParseDuration(until[0])
		if err != nil {
			return 0, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%q filter expects a duration (e.g., '24h'): %v", key, err)
		}
		return d, nil
	}
	t, err := filters.ParseTime(until[0], now, false)
	if err != nil {
		return 0, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%q filter expects a duration (e.g., '24h') or a timestamp: %v", key, err)
	}
	return now.Sub(t), nil
}

// pruneError is the builder's prune error in moby's words ("failed to
// prune build cache: …"), of the kind it had.
func pruneError(err error) error {
	for _, k := range []error{errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrNotImplemented, errdefs.ErrUnavailable} {
		if errors.Is(err, k) {
			return errdefs.Dockerf(k, "failed to prune build cache: %s", errdefs.Message(err))
		}
	}
	return fmt.Errorf("failed to prune build cache: %s", errdefs.Message(err))
}
