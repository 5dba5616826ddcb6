package server

import (
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func TestMigrateMACAddress(t *testing.T) {
	mac := func(s string) network.HardwareAddr { var m network.HardwareAddr; m.UnmarshalText([]byte(s)); return m }
	for _, c := range []struct {
		name, version, legacy, mode string
		eps                         map[string]*network.EndpointSettings
		want                        map[string]string // network -> MAC after
		warn, err                   bool
	}{
		{name: "1.41 legacy to the mode's network", version: "1.41", legacy: "02:42:ac:11:00:09", want: map[string]string{"default": "02:42:ac:11:00:09"}},
		{name: "1.41 legacy to the one endpoint", version: "1.41", legacy: "02:42:ac:11:00:09", mode: "app", eps: map[string]*network.EndpointSettings{"app": {}}, want: map[string]string{"app": "02:42:ac:11:00:09"}},
		{name: "1.41 endpoint MAC ignored", version: "1.41", eps: map[string]*network.EndpointSettings{"bridge": {MacAddress: mac("02:42:ac:11:00:08")}}, want: map[string]string{"bridge": ""}},
		{name: "1.41 host", version: "1.41", legacy: "02:42:ac:11:00:09", mode: "host", err: true},
		{name: "1.41 container", version: "1.41", legacy: "02:42:ac:11:00:09", mode: "container:x", err: true},
		{name: "1.41 none ignored", version: "1.41", legacy: "02:42:ac:11:00:09", mode: "none", want: map[string]string{}},
		{name: "1.41 invalid", version: "1.41", legacy: "zz", err: true},
		{name: "1.44 endpoint MAC kept", version: "1.44", eps: map[string]*network.EndpointSettings{"bridge": {MacAddress: mac("02:42:ac:11:00:08")}}, want: map[string]string{"bridge": "02:42:ac:11:00:08"}},
		{name: "1.44 legacy migrated with a warning", version: "1.44", legacy: "02:42:ac:11:00:09", mode: "bridge", want: map[string]string{"bridge": "02:42:ac:11:00:09"}, warn: true},
		{name: "1.44 legacy differs", version: "1.44", legacy: "02:42:ac:11:00:09", mode: "bridge", eps: map[string]*network.EndpointSettings{"bridge": {MacAddress: mac("02:42:ac:11:00:08")}}, err: true},
		{name: "1.44 legacy, endpoint of another network", version: "1.44", legacy: "02:42:ac:11:00:09", mode: "bridge", eps: map[string]*network.EndpointSettings{"app": {}}, err: true},
		{name: "1.52 legacy refused", version: "1.52", legacy: "02:42:ac:11:00:09", err: true},
	} {
		req := &createRequest{MacAddress: c.legacy}
		req.Config = &container.Config{}
		req.HostConfig = &container.HostConfig{NetworkMode: container.NetworkMode(c.mode)}
		req.NetworkingConfig = &network.NetworkingConfig{EndpointsConfig: c.eps}
		warn, err := migrateMACAddress(c.version, req)
		if (err != nil) != c.err || (warn != "") != c.warn {
			t.Errorf("%s: warning %q, error %v", c.name, warn, err)
			continue
		}
		for n, want := range c.want {
			ep := req.NetworkingConfig.EndpointsConfig[n]
			if ep == nil || ep.MacAddress.String() != want {
				t.Errorf("%s: endpoint %s: %v, want MAC %q", c.name, n, ep, want)
			}
		}
	}
}
