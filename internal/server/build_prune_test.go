package server

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/apiversion"
	"github.com/hullproject/hull/internal/errdefs"
)

// TestBuildPruneQuery: POST /build/prune's parameters as BuildKit's prune
// request, per API version, as moby's builder translates them.
func TestBuildPruneQuery(t *testing.T) {
	for _, tc := range []struct {
		name, version, query string
		want                 url.Values
		err                  string
	}{
		{name: "nothing", version: "1.41", want: url.Values{}},
		{name: "all", version: "1.41", query: "all=1", want: url.Values{"all": {"1"}}},
		{name: "all false", version: "1.41", query: "all=0", want: url.Values{}},
		{name: "keep-storage 1.41", version: "1.41", query: "keep-storage=1000", want: url.Values{"reserved-space": {"1000"}}},
		{name: "reserved-space before 1.48 is not read", version: "1.47", query: "reserved-space=5&max-used-space=x", want: url.Values{}},
		{name: "sizes 1.48", version: "1.48", query: "reserved-space=5&max-used-space=6&min-free-space=7&keep-storage=9",
			want: url.Values{"reserved-space": {"5"}, "max-used-space": {"6"}, "min-free-space": {"7"}}},
		{name: "keep-storage as reserved-space 1.48", version: "1.48", query: "keep-storage=9", want: url.Values{"reserved-space": {"9"}}},
		{name: "bad size", version: "1.48", query: "min-free-space=1k", err: `min-free-space is in bytes and expects an integer, got 1k: strconv.Atoi: parsing "1k": invalid syntax`},
		{name: "fields", version: "1.41", query: "filters=" + url.QueryEscape(`{"id":{"abc":true},"type":{"regular":true},"shared":{"true":true}}`),
			want: url.Values{"filter": {"id~=abc,shared==true,type==regular"}}},
		{name: "until duration", version: "1.41", query: "filters=" + url.QueryEscape(`{"until":{"90m":true}}`),
			want: url.Values{"keep-duration": {strconv.FormatInt(int64(90*time.Minute), 10)}}},
		{name: "unused-for", version: "1.44", query: "filters=" + url.QueryEscape(`{"unused-for":{"2h":true}}`),
			want: url.Values{"keep-duration": {strconv.FormatInt(int64(2*time.Hour), 10)}}},
		{name: "until timestamp before 1.42", version: "1.41", query: "filters=" + url.QueryEscape(`{"until":{"2020-01-01":true}}`),
			err: `failed to prune build cache: "until" filter expects a duration (e.g., '24h'): time: unknown unit "-" in duration "2020-01-01"`},
		{name: "both", version: "1.44", query: "filters=" + url.QueryEscape(`{"until":{"1h":true},"unused-for":{"1h":true}}`),
			err: `failed to prune build cache: conflicting filters: "until" and "unused-for"`},
		{name: "mutable", version: "1.44", query: "filters=" + url.QueryEscape(`{"mutable":{"true":true}}`),
			err: "failed to prune build cache: invalid filter 'mutable'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/build/prune?"+tc.query, nil)
			r = r.WithContext(apiversion.WithVersion(r.Context(), tc.version))
			got, err := buildPruneQuery(r)
			if tc.err != "" {
				if err == nil || errdefs.Message(err) != tc.err || !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("error %v, want %q (InvalidArgument)", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := got.Get("keep-duration"); d != "" && tc.want.Get("keep-duration") != "" {
				// A duration is kept from now, which has moved on a little.
				g, _ := strconv.ParseInt(d, 10, 64)
				w, _ := strconv.ParseInt(tc.want.Get("keep-duration"), 10, 64)
				if g < w || g > w+int64(time.Second) {
					t.Errorf("keep-duration %d, want %d", g, w)
				}
				got.Del("keep-duration")
				tc.want.Del("keep-duration")
			}
			if got.Encode() != tc.want.Encode() {
				t.Errorf("got %s, want %s", got.Encode(), tc.want.Encode())
			}
		})
	}
}
