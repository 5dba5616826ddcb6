package daemon

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
	mnet "github.com/moby/moby/api/types/network"
)

func TestLinkEnv(t *testing.T) {
	ports := mnet.PortSet{}
	for _, p := range []string{"5432/tcp", "53/udp", "53/tcp", "8000/tcp", "8001/tcp", "8002/tcp"} {
		port, _ := mnet.ParsePort(p)
		ports[port] = struct{}{}
	}
	cfg := &container.Config{ExposedPorts: ports, Env: []string{"PATH=/bin", "HOME=/root", "A=b=c", "NOVALUE"}}
	got := linkEnv("/web/my-db", "172.17.0.2", cfg)
	want := []string{
		"MY_DB_PORT=tcp://172.17.0.2:53",
		"MY_DB_PORT_53_TCP=tcp://172.17.0.2:53", "MY_DB_PORT_53_TCP_ADDR=172.17.0.2", "MY_DB_PORT_53_TCP_PORT=53", "MY_DB_PORT_53_TCP_PROTO=tcp",
		"MY_DB_PORT_53_UDP=udp://172.17.0.2:53", "MY_DB_PORT_53_UDP_ADDR=172.17.0.2", "MY_DB_PORT_53_UDP_PORT=53", "MY_DB_PORT_53_UDP_PROTO=udp",
		"MY_DB_PORT_5432_TCP=tcp://172.17.0.2:5432", "MY_DB_PORT_5432_TCP_ADDR=172.17.0.2", "MY_DB_PORT_5432_TCP_PORT=5432", "MY_DB_PORT_5432_TCP_PROTO=tcp",
		"MY_DB_PORT_8000_TCP=tcp://172.17.0.2:8000", "MY_DB_PORT_8000_TCP_ADDR=172.17.0.2", "MY_DB_PORT_8000_TCP_PORT=8000", "MY_DB_PORT_8000_TCP_PROTO=tcp",
		"MY_DB_PORT_8001_TCP=tcp://172.17.0.2:8001", "MY_DB_PORT_8001_TCP_ADDR=172.17.0.2", "MY_DB_PORT_8001_TCP_PORT=8001", "MY_DB_PORT_8001_TCP_PROTO=tcp",
		"MY_DB_PORT_8002_TCP=tcp://172.17.0.2:8002", "MY_DB_PORT_8002_TCP_ADDR=172.17.0.2", "MY_DB_PORT_8002_TCP_PORT=8002", "MY_DB_PORT_8002_TCP_PROTO=tcp",
		"MY_DB_PORT_8000_TCP_START=tcp://172.17.0.2:8000", "MY_DB_PORT_8000_TCP_PORT_START=8000",
		"MY_DB_PORT_8000_TCP_END=tcp://172.17.0.2:8002", "MY_DB_PORT_8000_TCP_PORT_END=8002",
		"MY_DB_NAME=/web/my-db", "MY_DB_ENV_A=b=c",
	}
	if !slices.Equal(got, want) {
		t.Errorf("linkEnv:\n%q\nwant\n%q", got, want)
	}
}

func TestParseLink(t *testing.T) {
	for _, c := range []struct {
		in, name, alias string
		err             bool
	}{
		{"db:alias", "db", "alias", false},
		{"db", "db", "db", false},
		{"/db:/web/alias", "db", "alias", false},
		{"a:b:c", "", "", true},
		{"", "", "", true},
	} {
		n, a, err := parseLink(c.in)
		if n != c.name || a != c.alias || (err != nil) != c.err {
			t.Errorf("parseLink(%q) = %q, %q, %v", c.in, n, a, err)
		}
	}
}
