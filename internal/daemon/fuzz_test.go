//go:build linux

package daemon

import (
	"encoding/json"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/hullproject/hull/internal/errdefs"
)

// checkClientKind fails unless err is nil or of a kind the API answers
// with 4xx (or the 501 of what hull declares it cannot do): an
// unclassified error is a 500 for the client's input.
func checkClientKind(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || errdefs.IsInvalidArgument(err) || errdefs.IsConflict(err) || errdefs.IsNotFound(err) || errdefs.IsNotImplemented(err) {
		return
	}
	t.Fatalf("%s: %v is of no client-error kind (a 500)", what, err)
}

// FuzzCreateChecks runs the daemon's checks of a create request, in
// ContainerCreate's order, on arbitrary decoded requests, and then what a
// start makes of a request they let through: the cgroup resources and the
// published ports. No panic, and every refusal, at create or at start, is
// of a client-error kind (issue 13: inputs accepted at create that then
// failed at start with 500).
func FuzzCreateChecks(f *testing.F) {
	for _, s := range []string{
		`{"Image":"busybox","Cmd":["sh"],"HostConfig":{"NetworkMode":"bridge","PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],"53/udp":[{"HostPort":"5300-5310"}]},"PublishAllPorts":true,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"Memory":67108864,"MemorySwap":134217728,"NanoCpus":500000000,"CpuShares":512,"PidsLimit":100,"ShmSize":1048576,"OomScoreAdj":100,"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":2048}],"Sysctls":{"net.ipv4.ip_forward":"1"},"SecurityOpt":["no-new-privileges","seccomp=unconfined"],"CapAdd":["NET_ADMIN"],"LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}}},"ExposedPorts":{"80/tcp":{},"443/tcp":{}}}`,
		`{"Image":"busybox","WorkingDir":"rel","StopSignal":"SIGBOGUS","Env":["=x"],"Healthcheck":{"Test":["BOGUS"],"Interval":-1}}`,
		`{"Image":"busybox","Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1,"Timeout":1,"StartPeriod":-5}}`,
		`{"Image":"busybox","HostConfig":{"CpuShares":-1,"CpuQuota":-1,"CpuPeriod":-1,"ShmSize":-1,"OomScoreAdj":5000,"Memory":-1,"MemorySwappiness":101,"BlkioWeight":5,"RestartPolicy":{"Name":"always","MaximumRetryCount":-1}}}`,
		`{"Image":"busybox","HostConfig":{"NetworkMode":"container:","Links":["a:b"]},"Hostname":"h"}`,
		`{"Image":"busybox","HostConfig":{"NetworkMode":"host","Links":["a:b"],"UTSMode":"host"}}`,
		`{"Image":"busybox","HostConfig":{"CpusetCpus":"0-999999","CpusetMems":"x","CpuRealtimePeriod":1000,"CpuRealtimeRuntime":2000}}`,
		`{"Image":"busybox","HostConfig":{"Binds":["/:/x:rw,z,bogus"],"Mounts":[{"Type":"tmpfs","Target":"relative"},{"Type":"bind","Source":"","Target":"/x"},{"Type":"npipe","Target":"/y"}],"Tmpfs":{"/t":"size=-1"}}}`,
		`{"Image":"busybox","HostConfig":{"ExtraHosts":["a:300.0.0.1","b"],"Dns":["x"],"SecurityOpt":["apparmor","label=x","bogus=1","no-new-privileges=maybe"],"StorageOpt":{"size":"1G"},"Isolation":"hyperv"}}`,
		`{"Image":"busybox","HostConfig":{"PortBindings":{"80/sctp":[{"HostPort":"70000"}],"81/tcp":[{"HostPort":"x"}]},"LogConfig":{"Type":"bogus"}}}`,
		`{"Image":"busybox","HostConfig":{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"rel","CgroupPermissions":"xyz"}],"DeviceCgroupRules":["q 1:2 rwm"],"Ulimits":[{"Name":"bogus","Soft":2,"Hard":1}]}}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req container.CreateRequest
		if json.Unmarshal(body, &req) != nil || req.Config == nil {
			return // the server's decoding: FuzzContainerCreate
		}
		cfg, host := req.Config, req.HostConfig
		if host == nil {
			host = &container.HostConfig{}
		}
		if err := validateCreateRequest(cfg, host); err != nil {
			checkClientKind(t, "validateCreateRequest", err)
			return
		}
		if host.PidsLimit != nil && *host.PidsLimit <= 0 {
			host.PidsLimit = nil
		}
		if _, err := verifySettings(cfg, host, false); err != nil {
			checkClientKind(t, "verifySettings", err)
			return
		}
		if _, err := checkHostConfig(host); err != nil {
			checkClientKind(t, "checkHostConfig", err)
			return
		}
		adaptHostConfig(host)
		if err := validateLogConfig(&host.LogConfig); err != nil {
			checkClientKind(t, "validateLogConfig", err)
			return
		}
		if err := checkSecurityOpts(host.SecurityOpt); err != nil {
			checkClientKind(t, "checkSecurityOpts", err)
			return
		}
		// What start makes of it. (A negative CpuShares passes create and
		// is refused here, with 400, as dockerd 20.10 refuses it at start
		// with 500; moby 25 refuses it at create — issue 13's low items.)
		_, err := linuxResources(host.Resources, false)
		checkClientKind(t, "resources at start", err)
		if _, err := portBindings(&record{Config: cfg, HostConfig: host}); err != nil {
			checkClientKind(t, "portBindings at start", err)
		}
	})
}

// FuzzUpdateChecks runs docker update's checks and merge on arbitrary
// updates of a container made with a typical host config.
func FuzzUpdateChecks(f *testing.F) {
	for _, s := range []string{
		`{"Memory":67108864,"NanoCpus":500000000,"RestartPolicy":{"Name":"always"}}`,
		`{"CpuPeriod":100000,"CpuQuota":50000,"PidsLimit":-1}`,
		`{"Memory":1,"MemorySwap":-2,"KernelMemory":5,"CpuShares":-3,"BlkioWeight":2000}`,
		`{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1},"CpusetCpus":"a-b"}`,
		`{"BlkioWeightDevice":[{"Path":"/dev/sda","Weight":5}],"BlkioDeviceReadBps":[{"Path":"","Rate":1}]}`,
		`{}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, nano bool) {
		var u container.UpdateConfig
		if json.Unmarshal(body, &u) != nil {
			return
		}
		if u.PidsLimit != nil && *u.PidsLimit <= 0 {
			u.PidsLimit = ptr(int64(0))
		}
		upd := &container.HostConfig{Resources: u.Resources, RestartPolicy: u.RestartPolicy}
		if _, err := verifySettings(nil, upd, true); err != nil {
			checkClientKind(t, "verifySettings", err)
			return
		}
		h := container.HostConfig{Resources: container.Resources{Memory: 64 << 20, CPUShares: 512}}
		if nano {
			h.NanoCPUs = 1e9
		} else {
			h.CPUPeriod, h.CPUQuota = 100000, 50000
		}
		adaptHostConfig(&h)
		if err := mergeUpdate(&h, upd); err != nil {
			checkClientKind(t, "mergeUpdate", err)
			return
		}
		_, err := linuxResources(h.Resources, true)
		checkClientKind(t, "resources of a running container's update", err)
	})
}
