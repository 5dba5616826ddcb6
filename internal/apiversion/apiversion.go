// Package apiversion carries the Docker Engine API version a request asked
// for (its /vX.Y prefix, or the newest when it has none, as dockerd does)
// through its context, so that the API server and the engine behind it can
// give each version its own shape. It imports nothing of hull's: the server
// puts the version in, any backend may read it.
package apiversion

import (
	"context"
	"strconv"
	"strings"
)

type key struct{}

// WithVersion returns ctx carrying the request's API version v.
func WithVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, key{}, v)
}

// FromContext is the API version of the request ctx belongs to, or "" when
// it is not a request's (a caller then gives the newest shape).
func FromContext(ctx context.Context) string {
	v, _ := ctx.Value(key{}).(string)
	return v
}

// Before reports whether the request of ctx asked for a version older than
// v. A context without a version is the newest: Before is then false.
func Before(ctx context.Context, v string) bool {
	have := FromContext(ctx)
	return have != "" && Compare(have, v) < 0
}

// AtLeast reports whether the request of ctx asked for v or newer (true
// for a context without a version).
func AtLeast(ctx context.Context, v string) bool {
	return !Before(ctx, v)
}

// Compare compares two dotted versions ("1.44", "1.9", "1") numerically,
// part by part, a missing part counting as 0, as dockerd's versions package
// does: -1 when a < b, 0 when equal, 1 when a > b. A part that is not a
// number counts as 0.
func Compare(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}
