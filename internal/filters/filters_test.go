package filters

import (
	"errors"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

func TestFromJSON(t *testing.T) {
	for _, tc := range []struct {
		in, version string
		keys        []string
		err         string
	}{
		{in: ``, keys: []string{}},
		{in: `null`, keys: []string{}},
		{in: `{"label":{"a":true,"b":false}}`, keys: []string{"label"}},
		{in: `{"label":["a","b"]}`, keys: []string{"label"}},
		{in: `{"label":null}`, keys: []string{"label"}},
		{in: `bad`, version: "1.41", err: "invalid character 'b' looking for beginning of value"},
		{in: `bad`, version: "1.47", err: "invalid filter"},
		{in: `[]`, version: "1.24", err: "json: cannot unmarshal array into Go value of type map[string]map[string]bool"},
		{in: `{"a":{"x":1}}`, err: "invalid filter"},
	} {
		a, err := FromJSON(tc.in, tc.version)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err || !errdefs.IsInvalidArgument(err) {
				t.Errorf("FromJSON(%q, %q) = %v, want InvalidArgument %q", tc.in, tc.version, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("FromJSON(%q): %v", tc.in, err)
			continue
		}
		if got := a.Keys(); len(got) != len(tc.keys) || len(got) > 0 && got[0] != tc.keys[0] {
			t.Errorf("FromJSON(%q) keys %v, want %v", tc.in, got, tc.keys)
		}
	}
	// A value named with false still counts, as with dockerd.
	a, _ := FromJSON(`{"label":{"a":true,"b":false}}`, "")
	if got := a.Get("label"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("Get = %v, want [a b]", got)
	}
}

func TestIsLegacy(t *testing.T) {
	for v, want := range map[string]bool{"1.41": true, "1.24": true, "1.42": false, "1.52": false, "": false, "2.0": false, "x": false} {
		if IsLegacy(v) != want {
			t.Errorf("IsLegacy(%q) = %v", v, !want)
		}
	}
}

func TestValidateAndInvalid(t *testing.T) {
	a := NewArgs("x", "1", "label", "a")
	if err := a.Validate("label"); err == nil || err.Error() != "invalid filter 'x'" {
		t.Errorf("Validate: %v", err)
	}
	if err := a.WithLegacy(true).Validate("label"); err == nil || err.Error() != "Invalid filter 'x'" {
		t.Errorf("Validate (1.41): %v", err)
	}
	if err := a.Validate("label", "x"); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := a.Invalid("dangling", []string{"a", "b"}); err.Error() != "invalid filter 'dangling=[a b]'" || !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Invalid: %v", err)
	}
}

func TestMatches(t *testing.T) {
	a := NewArgs("name", "c[12]", "id", "abc", "label", "a", "label", "b=2", "label!", "c")
	if !a.Match("name", "c1") || a.Match("name", "c3") || !a.Match("name", "xc2y") {
		t.Error("Match: a regular expression anywhere in the name")
	}
	if !a.FuzzyMatch("id", "abcdef") || a.FuzzyMatch("id", "xabc") {
		t.Error("FuzzyMatch: a prefix")
	}
	if !a.ExactMatch("missing", "x") || a.ExactMatch("id", "abcd") {
		t.Error("ExactMatch")
	}
	if !a.MatchKVList("label", map[string]string{"a": "", "b": "2"}) || a.MatchKVList("label", map[string]string{"a": "", "b": "3"}) ||
		a.MatchKVList("label", nil) {
		t.Error("MatchKVList: every value must hold")
	}
	if a.MatchLabels(map[string]string{"a": "", "b": "2", "c": "x"}) || !a.MatchLabels(map[string]string{"a": "", "b": "2"}) {
		t.Error("MatchLabels: label! excludes")
	}
	// label! with several values excludes only what matches them all, as
	// dockerd.
	b := NewArgs("label!", "x", "label!", "y")
	if !b.MatchLabels(map[string]string{"x": ""}) || b.MatchLabels(map[string]string{"x": "", "y": ""}) {
		t.Error("MatchLabels: label! values ANDed")
	}
}

func TestBool(t *testing.T) {
	trues, falses := []string{"true", "1"}, []string{"false", "0"}
	for _, tc := range []struct {
		vals   []string
		legacy bool
		want   bool
		err    string
	}{
		{vals: nil, want: true},
		{vals: []string{"1"}, want: true},
		{vals: []string{"false"}, want: false},
		{vals: []string{"true", "false"}, err: "invalid filter 'dangling=[false true]'"},
		{vals: []string{"maybe"}, err: "invalid filter 'dangling=[maybe]'"},
		{vals: []string{"maybe"}, legacy: true, err: "Invalid filter 'dangling=[maybe]'"},
		{vals: []string{"true", "false"}, legacy: true, want: true},
	} {
		var a Args
		for _, v := range tc.vals {
			a.Add("dangling", v)
		}
		got, err := a.WithLegacy(tc.legacy).Bool("dangling", true, trues, falses)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Bool(%v, legacy %v) error %v, want %q", tc.vals, tc.legacy, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Bool(%v, legacy %v) = %v, %v; want %v", tc.vals, tc.legacy, got, err, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	for _, tc := range []struct {
		in     string
		legacy bool
		want   time.Time
		err    string
	}{
		{in: "1h", want: now.Add(-time.Hour)},
		{in: "1h", legacy: true, want: now.Add(-time.Hour).Truncate(time.Second)},
		{in: "1700000000", want: time.Unix(1700000000, 0)},
		{in: "1700000000.5", want: time.Unix(1700000000, 500000000)},
		{in: "0", want: time.Unix(0, 0)},
		{in: "2025-06-01", want: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2025-06-01T10:11:12Z", want: time.Date(2025, 6, 1, 10, 11, 12, 0, time.UTC)},
		{in: "2025-06-01T10:11:12+02:00", want: time.Date(2025, 6, 1, 8, 11, 12, 0, time.UTC)},
		{in: "2025-06-01T10", want: time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)},
		{in: "foo", legacy: true, err: `failed to parse value as time or duration: "foo"`},
		{in: "foo", err: `failed to parse value as time or duration: invalid seconds "foo": invalid syntax`},
		{in: "", err: `failed to parse value as time or duration: value is empty`},
		{in: "", legacy: true, err: `failed to parse value as time or duration: ""`},
		{in: "2020-13-01", err: `parsing time "2020-13-01": month out of range`},
	} {
		got, err := ParseTime(tc.in, now, tc.legacy)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err || !errdefs.IsInvalidArgument(err) {
				t.Errorf("ParseTime(%q, %v) error %v, want %q", tc.in, tc.legacy, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q, %v) = %v, %v; want %v", tc.in, tc.legacy, got, err, tc.want)
		}
	}
	a := NewArgs("until", "1h", "until", "2h")
	if _, err := a.Until(now); err == nil || err.Error() != "more than one until filter specified" {
		t.Errorf("Until with two values: %v", err)
	}
	if u, err := (Args{}).Until(now); err != nil || !u.IsZero() {
		t.Errorf("Until without the filter: %v %v", u, err)
	}
}
