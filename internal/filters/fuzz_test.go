package filters

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// toJSON is a's filters parameter as the Go SDK writes it: the map of sets.
func toJSON(t *testing.T, a Args) string {
	t.Helper()
	m := map[string]map[string]bool{}
	for _, k := range a.Keys() {
		m[k] = map[string]bool{}
		for _, v := range a.Get(k) {
			m[k][v] = true
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encode %v: %v", m, err)
	}
	return string(b)
}

// FuzzFromJSON reads arbitrary filters parameters: no panic; an error is
// InvalidArgument (a 400); what is read, written back as the SDK writes
// it, reads as the same keys and values; and the readers of the values
// (Validate, Bool, Until, the matchers) do not panic and classify their
// errors too.
func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{
		`{"status":{"running":true},"label":{"a=b":true,"c":true}}`,
		`{"name":["web"],"before":["x"]}`,
		`{"dangling":{"true":true}}`,
		`{"dangling":{"true":true,"false":true}}`,
		`{"until":{"10m":true}}`,
		`{"until":{"2006-01-02T15:04:05Z":true}}`,
		`{"until":{"1700000000.123456789":true}}`,
		`{"until":{}}`,
		`{"label!":{"a":false}}`,
		`{"name":{"^w.b$":true,"(":true}}`,
		`{"a":null}`,
		`null`,
		``,
		`{`,
		`{"a":1}`,
		`{"a":{"b":true},"a":["c"]}`,
		`["a"]`,
	} {
		f.Add(s, "1.41")
		f.Add(s, "1.51")
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	f.Fuzz(func(t *testing.T, s, version string) {
		a, err := FromJSON(s, version)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("FromJSON(%q): %v is not InvalidArgument", s, err)
			}
			return
		}
		if a.Legacy() != IsLegacy(version) {
			t.Fatalf("Legacy %v for version %q", a.Legacy(), version)
		}
		b, err := FromJSON(toJSON(t, a), version)
		if err != nil {
			t.Fatalf("FromJSON of its own encoding %s: %v", toJSON(t, a), err)
		}
		if !slices.Equal(a.Keys(), b.Keys()) {
			t.Fatalf("keys %q became %q", a.Keys(), b.Keys())
		}
		for _, k := range a.Keys() {
			if !slices.Equal(a.Get(k), b.Get(k)) {
				t.Fatalf("key %q: values %q became %q", k, a.Get(k), b.Get(k))
			}
		}
		before := a.Get("x-clone")
		c := a.Clone()
		c.Add("x-clone", "\x00clone")
		if !slices.Equal(before, a.Get("x-clone")) {
			t.Fatalf("Clone shares its sets with the original")
		}
		checkKind := func(what string, err error) {
			if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("%s: %v is not InvalidArgument", what, err)
			}
		}
		checkKind("Validate", a.Validate("label", "name", "until"))
		_, err = a.Bool("dangling", false, []string{"true", "1"}, []string{"false", "0"})
		checkKind("Bool", err)
		_, err = a.Until(now)
		checkKind("Until", err)
		labels := map[string]string{"a": "b", "c": ""}
		for _, k := range a.Keys() {
			a.Match(k, "web")
			a.FuzzyMatch(k, "web")
			a.MatchKVList(k, labels)
			for _, v := range a.Get(k) {
				_, err := ParseTime(v, now, a.Legacy())
				checkKind("ParseTime", err)
			}
		}
		a.MatchLabels(labels)
	})
}

// FuzzParseTime reads arbitrary since/until values, legacy and not: no
// panic, errors InvalidArgument, and a time that parses is in UTC.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"10m", "1h30m", "0", "-5s", "", " ", "2006-01-02", "2006-01-02T15", "2006-01-02T15:04",
		"2006-01-02T15:04:05", "2006-01-02T15:04:05Z", "2006-01-02T15:04:05+07:00",
		"2006-01-02T15:04:05.999999999Z", "2006-01-02T15:04:05.5", "2006-01-02Z07:00", "2006-01-02+01:00",
		"1700000000", "1700000000.5", "1700000000.123456789012", "-1.-1", "1.x", "99999999999999999999",
		"9223372036854775807.999999999", "T:::", "--", "1-2-3-4",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	f.Fuzz(func(t *testing.T, s string, legacy bool) {
		tm, err := ParseTime(s, now, legacy)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("ParseTime(%q): %v is not InvalidArgument", s, err)
			}
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) = %v, not in UTC", s, tm)
		}
		if _, err := ParseUnix(s, legacy); err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("ParseUnix(%q): %v is not InvalidArgument", s, err)
		}
	})
}
