// Package filters is the filters parameter of the Engine API's lists,
// prunes and event stream: {"key": {"value": true}, …} read as dockerd
// reads it, matched as dockerd matches it, and its errors in dockerd's
// words. It is a leaf beside errdefs, so that the API server (which
// validates nothing of the engine) and the daemon (which matches) share
// one reading of it.
//
// dockerd's words changed between 20.10 (API 1.41) and 23.0 (API 1.42):
// "Invalid filter 'x'" became "invalid filter 'x'", a filters parameter
// that is not JSON became the 400 "invalid filter", and so on. Args
// remembers the API version of the request it came with, and an error is
// worded as the first dockerd that spoke that version words it (Legacy:
// 20.10's, up to 1.41; today's moby after). Where 20.10 answered 500 to
// bad input, hull answers 400 with 20.10's words.
package filters

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hullproject/hull/internal/errdefs"
)

// Args holds each filter key with its set of values. The zero Args is
// empty and ready to use.
type Args struct {
	fields map[string]map[string]bool
	legacy bool
}

// NewArgs returns Args holding the pairs kv (key, value, key, value, …),
// worded as for the newest API version.
func NewArgs(kv ...string) Args {
	var a Args
	for i := 0; i+1 < len(kv); i += 2 {
		a.Add(kv[i], kv[i+1])
	}
	return a
}

// FromJSON reads a filters parameter sent with a request of API version
// apiVersion ("" for the newest). It takes the map of sets
// {"k":{"v":true}} — every value named counts, whatever its boolean, as
// dockerd counts it — and the older map of lists {"k":["v"]}. An empty
// string or null is no filter.
func FromJSON(s, apiVersion string) (Args, error) {
	a := Args{legacy: IsLegacy(apiVersion)}
	if s == "" {
		return a, nil
	}
	err := json.Unmarshal([]byte(s), &a.fields)
	if err == nil {
		return a, nil
	}
	var lists map[string][]string
	if json.Unmarshal([]byte(s), &lists) == nil {
		a.fields = map[string]map[string]bool{}
		for k, vs := range lists {
			a.fields[k] = map[string]bool{}
			for _, v := range vs {
				a.fields[k][v] = true
			}
		}
		return a, nil
	}
	if a.legacy {
		return Args{}, Errorf(errdefs.ErrInvalidArgument, "%s", err)
	}
	return Args{}, Errorf(errdefs.ErrInvalidArgument, "invalid filter")
}

// IsLegacy reports whether API version v (as "1.41"; "" is the newest)
// is one dockerd 20.10 spoke, whose words Args then uses.
func IsLegacy(v string) bool {
	maj, min, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	x, err1 := strconv.Atoi(maj)
	y, err2 := strconv.Atoi(min)
	return err1 == nil && err2 == nil && (x < 1 || x == 1 && y <= 41)
}

// Legacy reports whether a came with a request of API 1.41 or older.
func (a Args) Legacy() bool { return a.legacy }

// WithLegacy returns a with its errors worded for API ≤ 1.41 (legacy) or
// after.
func (a Args) WithLegacy(legacy bool) Args {
	a.legacy = legacy
	return a
}

// Len is the number of keys.
func (a Args) Len() int { return len(a.fields) }

// Keys are the keys, sorted.
func (a Args) Keys() []string {
	out := make([]string, 0, len(a.fields))
	for k := range a.fields {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Contains reports whether key is given (even with no value).
func (a Args) Contains(key string) bool {
	_, ok := a.fields[key]
	return ok
}

// Get returns key's values, sorted (dockerd's order is a map's).
func (a Args) Get(key string) []string {
	out := make([]string, 0, len(a.fields[key]))
	for v := range a.fields[key] {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Add adds value to key's set.
func (a *Args) Add(key, value string) {
	if a.fields == nil {
		a.fields = map[string]map[string]bool{}
	}
	if a.fields[key] == nil {
		a.fields[key] = map[string]bool{}
	}
	a.fields[key][value] = true
}

// Clone returns a copy of a that Add does not share.
func (a Args) Clone() Args {
	c := Args{legacy: a.legacy}
	for k, vs := range a.fields {
		if c.fields == nil {
			c.fields = map[string]map[string]bool{}
		}
		c.fields[k] = map[string]bool{}
		for v := range vs {
			c.fields[k][v] = true
		}
	}
	return c
}

// Validate refuses a key that is not one of accepted, as dockerd does
// for each endpoint.
func (a Args) Validate(accepted ...string) error {
	for _, k := range a.Keys() {
		if !slices.Contains(accepted, k) {
			return a.Invalid(k, nil)
		}
	}
	return nil
}

// Invalid is dockerd's "invalid filter 'key=value'" (value printed with
// %s: a []string as [a b]; nil leaves "=value" out), of kind
// InvalidArgument.
func (a Args) Invalid(key string, value any) error {
	msg := "invalid filter"
	if a.legacy {
		msg = "Invalid filter"
	}
	msg += " '" + key
	if value != nil {
		msg += fmt.Sprintf("=%s", value)
	}
	return Errorf(errdefs.ErrInvalidArgument, "%s'", msg)
}

// ExactMatch reports whether source is one of key's values, or key has
// none.
func (a Args) ExactMatch(key, source string) bool {
	vs := a.fields[key]
	return len(vs) == 0 || vs[source]
}

// Match reports whether source is one of key's values or matches one of
// them as a regular expression (anywhere in source, as dockerd's
// regexp.MatchString), or key has none. A value that is not a valid
// expression matches only itself.
func (a Args) Match(key, source string) bool {
	if a.ExactMatch(key, source) {
		return true
	}
	for v := range a.fields[key] {
		if ok, err := regexp.MatchString(v, source); err == nil && ok {
			return true
		}
	}
	return false
}

// FuzzyMatch reports whether source is one of key's values or begins
// with one, or key has none.
func (a Args) FuzzyMatch(key, source string) bool {
	if a.ExactMatch(key, source) {
		return true
	}
	for v := range a.fields[key] {
		if strings.HasPrefix(source, v) {
			return true
		}
	}
	return false
}

// MatchKVList reports whether labels hold every one of key's values,
// "k" (present) or "k=v" (present with that value), or key has none.
// Several values are ANDed, as dockerd does for label filters.
func (a Args) MatchKVList(key string, labels map[string]string) bool {
	vs := a.fields[key]
	if len(vs) == 0 {
		return true
	}
	if len(labels) == 0 {
		return false
	}
	for v := range vs {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || hasValue && got != want {
			return false
		}
	}
	return true
}

// MatchLabels applies a prune's label and label! filters: every label
// value must match, and the label! values must not all match.
func (a Args) MatchLabels(labels map[string]string) bool {
	if !a.MatchKVList("label", labels) {
		return false
	}
	return !a.Contains("label!") || !a.MatchKVList("label!", labels)
}

// Bool reads key as a boolean: def when absent. For API ≥ 1.42 it takes
// 1, true, 0 or false and refuses both or neither, as dockerd's
// GetBoolOrDefault. Before, dockerd 20.10 checked each endpoint's own
// spellings: trues and falses, a true one winning.
func (a Args) Bool(key string, def bool, trues, falses []string) (bool, error) {
	vs, ok := a.fields[key]
	if !ok {
		return def, nil
	}
	if a.legacy {
		for _, t := range trues {
			if vs[t] {
				return true, nil
			}
		}
		for _, f := range falses {
			if vs[f] {
				return false, nil
			}
		}
		return def, a.Invalid(key, a.Get(key))
	}
	if len(vs) == 0 {
		return def, a.Invalid(key, []string{})
	}
	isTrue, isFalse := vs["1"] || vs["true"], vs["0"] || vs["false"]
	if isTrue == isFalse {
		return def, a.Invalid(key, a.Get(key))
	}
	return isTrue, nil
}

// kindError is an error of a kind whose message is exactly msg, as a
// client reads dockerd's.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// Errorf returns an error of kind (an errdefs sentinel) whose message is
// the formatted text alone: the words dockerd answers, with no kind
// appended.
func Errorf(kind error, format string, a ...any) error {
	return &kindError{msg: fmt.Sprintf(format, a...), kind: kind}
}
