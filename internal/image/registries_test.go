package image

import (
	"context"
	"slices"
	"testing"

	"github.com/hullproject/hull/internal/errdefs"
)

func TestNewRegistries(t *testing.T) {
	rs, err := NewRegistries(map[string][]string{"registry.k8s.io": {"http://127.0.0.1:5000", "https://m.example.com/"}, "index.docker.io": {"https://hub.example.com"}},
		[]string{"http://10.1.2.3:5000/"}, []string{"http://myreg.example.com:5000", "10.0.0.0/8", "10.0.0.0/8", "[::1]:5000"})
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Mirrors["registry.k8s.io"]; !slices.Equal(got, []string{"http://127.0.0.1:5000/", "https://m.example.com/"}) {
		t.Errorf("registry.k8s.io mirrors: %v", got)
	}
	if got := rs.Mirrors["docker.io"]; !slices.Equal(got, []string{"https://hub.example.com/", "http://10.1.2.3:5000/"}) {
		t.Errorf("docker.io mirrors: %v", got)
	}
	if !slices.Equal(rs.InsecureHosts, []string{"myreg.example.com:5000", "[::1]:5000"}) || len(rs.InsecureCIDRs) != 1 || rs.InsecureCIDRs[0].String() != "10.0.0.0/8" {
		t.Errorf("insecure: %v %v", rs.InsecureHosts, rs.InsecureCIDRs)
	}
	for _, bad := range []struct {
		per      map[string][]string
		hub, ins []string
		want     string
	}{
		{hub: []string{"ftp://m"}, want: `invalid mirror: unsupported scheme "ftp" in "ftp://m"`},
		{hub: []string{"m.example.com"}, want: `invalid mirror: unsupported scheme "" in "m.example.com"`},
		{hub: []string{"https://m/some/path"}, want: `invalid mirror: path, query, or fragment at end of the URI "https://m/some/path"`},
		{hub: []string{"https://u:p@m"}, want: `invalid mirror: username/password not allowed in URI "https://u:xxxxx@m"`},
		{ins: []string{"m.example.com/x"}, want: `insecure registry m.example.com/x is not valid: invalid host "m.example.com/x"`},
		{ins: []string{"ftp://m"}, want: `insecure registry ftp://m should not contain '://'`},
		{per: map[string][]string{"Not A Host": {"http://m"}}, want: `registry-mirrors-per-registry: "Not A Host" is not a registry host (host[:port])`},
	} {
		_, err := NewRegistries(bad.per, bad.hub, bad.ins)
		if err == nil || err.Error() != bad.want || !errdefs.IsInvalidArgument(err) {
			t.Errorf("NewRegistries(%v, %v, %v): %v, want %q", bad.per, bad.hub, bad.ins, err, bad.want)
		}
	}
}

func TestRegistriesEndpoints(t *testing.T) {
	rs, err := NewRegistries(map[string][]string{"registry.k8s.io": {"http://127.0.0.1:5000", "https://192.0.2.7"}}, nil, []string{"192.0.2.0/24", "myreg.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	str := func(eps []endpoint) []string {
		var out []string
		for _, e := range eps {
			s := e.String()
			if e.skipVerify {
				s += " (unverified)"
			}
			out = append(out, s)
		}
		return out
	}
	for _, c := range []struct {
		ref  string
		opts RegistryOptions
		want []string
	}{
		{"registry.k8s.io/pause:3.9", RegistryOptions{}, []string{"http://127.0.0.1:5000", "https://192.0.2.7 (unverified)", "https://registry.k8s.io"}},
		{"busybox", RegistryOptions{}, []string{"https://docker.io"}},
		{"10.1.1.1:5000/a", RegistryOptions{}, []string{"https://10.1.1.1:5000"}},
		{"192.0.2.9:5000/a", RegistryOptions{}, []string{"https://192.0.2.9:5000 (unverified)", "http://192.0.2.9:5000"}},
		{"myreg.example.com/a", RegistryOptions{}, []string{"https://myreg.example.com (unverified)", "http://myreg.example.com"}},
		{"127.0.0.1:5000/a", RegistryOptions{}, []string{"https://127.0.0.1:5000 (unverified)", "http://127.0.0.1:5000"}},
		{"example.com/a", RegistryOptions{Insecure: true}, []string{"http://example.com"}},
	} {
		r, err := parseRef(c.ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := str(rs.endpoints(ctx, r, c.opts)); !slices.Equal(got, c.want) {
			t.Errorf("endpoints of %s: %v, want %v", c.ref, got, c.want)
		}
	}
}
