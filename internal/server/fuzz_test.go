package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/filters"
)

// The fuzz targets of this file drive the API's request decoding through
// Server.ServeHTTP, as a client's request reaches it, over fuzzBackend:
// a backend that accepts whatever it is given. Whatever the body, the
// query and the API version, the server must answer without panicking and
// with a status below 500 (a client's error is 4xx; with a backend that
// never fails, a 5xx can only be the server's own decoding failing to
// classify bad input). What reaches the backend must survive a JSON round
// trip unchanged: the wire types are what the daemon stores and answers.

// fuzzVersions are the path prefixes a fuzzed request is sent with: none
// (the newest), the oldest and newest hull speaks, and the versions at
// which create, update, exec and network create change.
var fuzzVersions = []string{"", "1.24", "1.25", "1.40", "1.41", "1.42", "1.43", "1.44", "1.45", "1.48", "1.51", "1.52", "1.54", "1.55", "1.56"}

func fuzzPath(v uint8, p string) string {
	if s := fuzzVersions[int(v)%len(fuzzVersions)]; s != "" {
		return "/v" + s + p
	}
	return p
}

// fuzzBackend is the Backend of the fuzz targets: the methods the fuzzed
// routes call accept anything and keep what they were given; any other
// method is the nil interface's (a panic, which a fuzzed route must not
// reach).
type fuzzBackend struct {
	Backend
	got []any // what the last request handed the backend
}

func (b *fuzzBackend) ContainerCreate(_ context.Context, name string, cfg *container.Config, host *container.HostConfig, nc *network.NetworkingConfig) (container.CreateResponse, error) {
	b.got = []any{cfg, host, nc}
	return container.CreateResponse{ID: "0123456789ab"}, nil
}

func (b *fuzzBackend) ImageInspect(context.Context, string) (image.InspectResponse, map[string]any, error) {
	return image.InspectResponse{ID: "sha256:0123", Os: "linux", Architecture: "amd64"}, nil, nil
}

func (b *fuzzBackend) NetworkCreate(_ context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	b.got = []any{&req}
	return network.CreateResponse{ID: "0123456789ab"}, nil
}

func (b *fuzzBackend) ContainerExecCreate(_ context.Context, id string, cfg container.ExecCreateRequest) (string, error) {
	b.got = []any{&cfg}
	return "0123456789ab", nil
}

func (b *fuzzBackend) ContainerUpdate(_ context.Context, id string, u container.UpdateConfig) ([]string, error) {
	b.got = []any{&u}
	return nil, nil
}

func (b *fuzzBackend) ContainerList(_ context.Context, all bool, limit int, f filters.Args) ([]container.Summary, error) {
	b.got = []any{f}
	return nil, nil
}

func (b *fuzzBackend) ContainerListSize(ctx context.Context, all bool, limit int, f filters.Args) ([]container.Summary, error) {
	return b.ContainerList(ctx, all, limit, f)
}

func (b *fuzzBackend) NetworkList(_ context.Context, f filters.Args) ([]network.Inspect, error) {
	b.got = []any{f}
	return nil, nil
}

// fuzzServer is the server of a fuzz worker process, made once (routing
// a new one per input would be most of the work); its backend's got is
// reset per request. A fuzz worker runs its inputs one at a time.
var fuzzServer struct {
	once sync.Once
	s    *Server
	b    *fuzzBackend
}

// fuzzServe sends one request to the worker's server and checks the
// answer's status.
func fuzzServe(t *testing.T, method, target string, body []byte) (*fuzzBackend, *httptest.ResponseRecorder) {
	t.Helper()
	fuzzServer.once.Do(func() {
		fuzzServer.b = &fuzzBackend{}
		fuzzServer.s = New(fuzzServer.b)
	})
	b, s := fuzzServer.b, fuzzServer.s
	b.got = nil
	r := httptest.NewRequest(method, "http://hull"+"/", bytes.NewReader(body))
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("target %q: %v", target, err)
	}
	r.URL, r.RequestURI = u, target
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code >= 500 {
		t.Fatalf("%s %s with %q: %d %s", method, target, body, w.Code, w.Body.String())
	}
	return b, w
}

// checkRoundTrip checks that what the backend got encodes to JSON that
// decodes to the same value (compared by encoding again).
func checkRoundTrip(t *testing.T, got []any) {
	t.Helper()
	for _, v := range got {
		if _, ok := v.(filters.Args); ok {
			continue // not JSON: FuzzFromJSON round-trips it
		}
		if rv := reflect.ValueOf(v); rv.IsNil() {
			continue // a body of null: nothing to round-trip
		}
		a, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("encode %T: %v", v, err)
		}
		fresh := newOf(v)
		if err := json.Unmarshal(a, fresh); err != nil {
			t.Fatalf("decode %T from its own encoding %s: %v", v, a, err)
		}
		b, err := json.Marshal(fresh)
		if err != nil {
			t.Fatalf("encode %T again: %v", v, err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%T changed in a JSON round trip:\n%s\n%s", v, a, b)
		}
	}
}

// newOf returns a new zero value of the type v points to.
func newOf(v any) any {
	switch v.(type) {
	case *container.Config:
		return new(container.Config)
	case *container.HostConfig:
		return new(container.HostConfig)
	case *network.NetworkingConfig:
		return new(network.NetworkingConfig)
	case *network.CreateRequest:
		return new(network.CreateRequest)
	case *container.ExecCreateRequest:
		return new(container.ExecCreateRequest)
	case *container.UpdateConfig:
		return new(container.UpdateConfig)
	}
	panic("newOf: unknown type")
}

// FuzzContainerCreate fuzzes POST /containers/create: the body (with the
// container-wide MacAddress of the older APIs), the name and platform
// parameters, and the API version, which decides the MacAddress path.
func FuzzContainerCreate(f *testing.F) {
	for _, s := range []struct {
		v     uint8
		query string
		body  string
	}{
		// docker run -d --name web -p 8080:80 -v data:/data -e A=b busybox sleep 1 (CLI 28, API 1.51)
		{10, "name=web", `{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=b"],"Cmd":["sleep","1"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":["data:/data"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"bridge","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[50,120],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"bridge":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"02:42:ac:11:00:09","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}`},
		// API 1.41 with the container-wide MacAddress (docker 20.10's CLI)
		{4, "name=a", `{"Image":"busybox","Cmd":["sh"],"MacAddress":"02:42:ac:11:00:09","HostConfig":{"NetworkMode":"default"},"NetworkingConfig":{"EndpointsConfig":{}}}`},
		{7, "", `{"Image":"busybox","MacAddress":"02:42:ac:11:00:09","HostConfig":{"NetworkMode":"app"},"NetworkingConfig":{"EndpointsConfig":{"app":{"MacAddress":"02:42:ac:11:00:08"}}}}`},
		{11, "", `{"Image":"busybox","MacAddress":"zz"}`},
		{4, "", `{"Image":"busybox","MacAddress":"02:42:ac:11:00:09","HostConfig":{"NetworkMode":"container:x"}}`},
		{7, "", `{"Image":"busybox","HostConfig":{"NetworkMode":"a"},"NetworkingConfig":{"EndpointsConfig":{"a":null,"b":{}}}}`},
		{14, "platform=linux/amd64", `{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bind","Source":"/tmp","Target":"/x","BindOptions":{"NonRecursive":true,"CreateMountpoint":true,"ReadOnlyForceRecursive":true}},{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1024,"Mode":1777}},{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"Subpath":"s","DriverConfig":{"Name":""}}}],"VolumeDriver":"x","Annotations":{"a":"b"}}}`},
		{2, "", `{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"Interval":1000000,"StartInterval":5},"HostConfig":{"PortBindings":{"80/tcp":[],"53/udp":null}}}`},
		{0, "platform=bogus//", `{"Image":"busybox"}`},
		{0, "", `{"Image":"busybox","HostConfig":null,"NetworkingConfig":null,"Config":null}`},
		{0, "", ``},
		{0, "", `   `},
		{0, "", `[]`},
		{0, "", `{"Image":1}`},
		{0, "", `{"HostConfig":{"Memory":-1,"CpuShares":-5,"ShmSize":-1,"OomScoreAdj":5000,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}},"StopSignal":"SIGBOGUS"}`},
	} {
		f.Add(s.v, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, v uint8, query string, body []byte) {
		target := fuzzPath(v, "/containers/create") + "?" + url.Values{"name": {query}}.Encode()
		if q, err := url.ParseQuery(query); err == nil && len(q) > 0 {
			target = fuzzPath(v, "/containers/create") + "?" + q.Encode()
		}
		b, w := fuzzServe(t, http.MethodPost, target, body)
		if w.Code == http.StatusCreated {
			checkRoundTrip(t, b.got)
		}
	})
}

// FuzzNetworkCreate fuzzes POST /networks/create's body and version.
func FuzzNetworkCreate(f *testing.F) {
	for _, s := range []struct {
		v    uint8
		body string
	}{
		// docker network create --subnet 10.9.0.0/24 --gateway 10.9.0.1 -o com.docker.network.bridge.name=br9 --label a=b net9 (CLI 28)
		{10, `{"Name":"net9","Driver":"bridge","Scope":"","EnableIPv4":null,"EnableIPv6":null,"IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.9.0.0/24","IPRange":"","Gateway":"10.9.0.1","AuxiliaryAddresses":{"host1":"10.9.0.5"}}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{"com.docker.network.bridge.name":"br9"},"Labels":{"a":"b"}}`},
		{4, `{"Name":"n","CheckDuplicate":true,"Driver":"bridge","EnableIPv6":false,"IPAM":{"Driver":"default","Config":[{"Subnet":"fd00::/64"}]}}`},
		{14, `{"Name":"n","EnableIPv4":false,"ConfigFrom":{"Network":"x"},"Scope":"local"}`},
		{0, `{"Name":"n","IPAM":{"Config":[{"Subnet":"300.1.1.1/99","Gateway":"x"}]}}`},
		{0, `{"Name":""}`},
		{0, `{}`},
		{0, ``},
		{0, `null`},
	} {
		f.Add(s.v, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, v uint8, body []byte) {
		b, w := fuzzServe(t, http.MethodPost, fuzzPath(v, "/networks/create"), body)
		if w.Code == http.StatusCreated {
			checkRoundTrip(t, b.got)
		}
	})
}

// FuzzExecCreate fuzzes POST /containers/{id}/exec's body and version.
func FuzzExecCreate(f *testing.F) {
	for _, s := range []struct {
		v    uint8
		body string
	}{
		// docker exec -it -u 1000 -w /tmp -e A=b web sh (CLI 28)
		{10, `{"User":"1000","Privileged":false,"Tty":true,"ConsoleSize":[50,120],"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":["A=b"],"WorkingDir":"/tmp","Cmd":["sh"]}`},
		{4, `{"AttachStdout":true,"Cmd":["ls","-l"],"ConsoleSize":[1,2]}`},
		{0, `{"Cmd":null,"ConsoleSize":[1,2,3]}`},
		{0, `{"Cmd":"ls"}`},
		{0, ``},
	} {
		f.Add(s.v, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, v uint8, body []byte) {
		b, w := fuzzServe(t, http.MethodPost, fuzzPath(v, "/containers/web/exec"), body)
		if w.Code == http.StatusCreated {
			checkRoundTrip(t, b.got)
		}
	})
}

// FuzzContainerUpdate fuzzes POST /containers/{id}/update's body and
// version.
func FuzzContainerUpdate(f *testing.F) {
	for _, s := range []struct {
		v    uint8
		body string
	}{
		// docker update --memory 64m --cpus 0.5 --restart always web (CLI 28)
		{10, `{"BlkioWeight":0,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuShares":0,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Memory":67108864,"MemoryReservation":0,"MemorySwap":0,"NanoCpus":500000000,"PidsLimit":null,"RestartPolicy":{"Name":"always","MaximumRetryCount":0}}`},
		{13, `{"PidsLimit":100,"BlkioWeightDevice":[{"Path":"/dev/sda","Weight":200}],"BlkioDeviceReadBps":[{"Path":"/dev/sda","Rate":1048576}]}`},
		{2, `{"PidsLimit":-1,"Memory":-5,"CpuQuota":-1}`},
		{0, `{"RestartPolicy":{"Name":"bogus","MaximumRetryCount":-3}}`},
		{0, ``},
	} {
		f.Add(s.v, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, v uint8, body []byte) {
		b, w := fuzzServe(t, http.MethodPost, fuzzPath(v, "/containers/web/update"), body)
		if w.Code == http.StatusOK {
			checkRoundTrip(t, b.got)
		}
	})
}

// FuzzListFilters fuzzes the filters parameter of the container and
// network lists (the same reading serves every list, prune and /events),
// with the other list parameters. A parameter the server reads is
// refused with 4xx or reaches the backend.
func FuzzListFilters(f *testing.F) {
	for _, s := range []struct {
		v       uint8
		network bool
		filters string
		limit   string
	}{
		{10, false, `{"status":{"running":true},"label":{"a=b":true}}`, ""},
		{4, false, `{"name":["web"],"before":["x"]}`, "3"},
		{0, true, `{"driver":{"bridge":true},"dangling":{"true":true}}`, ""},
		{4, true, `{"type":{"custom":false}}`, ""},
		{0, false, `{"until":{"10m":true}}`, "-1"},
		{0, false, `{`, "x"},
		{4, false, `{"a":1}`, ""},
		{0, false, `null`, ""},
		{0, false, ``, ""},
	} {
		f.Add(s.v, s.network, s.filters, s.limit)
	}
	f.Fuzz(func(t *testing.T, v uint8, network bool, fl, limit string) {
		q := url.Values{"filters": {fl}, "limit": {limit}, "all": {"1"}}
		p := "/containers/json"
		if network {
			p = "/networks"
		}
		b, w := fuzzServe(t, http.MethodGet, fuzzPath(v, p)+"?"+q.Encode(), nil)
		if w.Code == http.StatusOK && len(b.got) != 1 {
			t.Fatalf("200 without a list call")
		}
	})
}
