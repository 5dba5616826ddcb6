package conformance

import (
	"fmt"
	"strings"
	"time"
)

// inputs13Cases: the inputs of issue 13's "inputs dockerd rejects" item and
// their kin, side by side with dockerd: each wrong value at create, and
// where dockerd creates the container, its start too (a wrong input that
// fails only at the start must fail there with a 4xx, never a 500, and
// never run as if it had not been asked for).
//
// Left out on purpose: a health check of "CMD" or "CMD-SHELL" with no
// command, and an empty Test with an Interval — dockerd 20.10 panics on
// them (health.go getEntrypointAndArgs) and takes the harness down.
func inputs13Cases() []*tcase {
	// created: the create of conf-a with host config h, then its start
	// and what inspect shows of the fields given (when dockerd creates
	// it too, both starts are compared).
	created := func(name string, cfg obj, fields ...string) *tcase {
		c := obj{"Cmd": []string{"sleep", "300"}}
		for k, v := range cfg {
			c[k] = v
		}
		steps := []*step{create("a", c), post("/containers/conf-a/start", nil)}
		if len(fields) > 0 {
			steps = append(steps, get("/containers/conf-a/json").pick(fields...))
		}
		return tcs("inputs13/"+name, steps)
	}
	hcOnly := func(name string, h obj, fields ...string) *tcase { return created(name, hc(h), fields...) }

	cases := []*tcase{
		// CPU and memory values out of range: refused at create, or taken
		// as dockerd takes them.
		hcOnly("cpu-quota-negative", obj{"CpuQuota": -5}, "HostConfig"),
		hcOnly("cpu-quota-tiny", obj{"CpuQuota": 10}),
		hcOnly("cpu-period-negative", obj{"CpuPeriod": -5}),
		hcOnly("cpu-rt-period-negative", obj{"CpuRealtimePeriod": -5}),
		hcOnly("cpu-rt-runtime-negative", obj{"CpuRealtimeRuntime": -5}),
		hcOnly("tmpfs-map-size-negative", obj{"Tmpfs": obj{"/x": "size=-1"}}),
		hcOnly("sysctl-bad-value", obj{"Sysctls": obj{"kernel.shmmax": "abc"}}),
		hcOnly("cpu-period-huge", obj{"CpuPeriod": 5000000}),
		hcOnly("shm-size-negative", obj{"ShmSize": -1}),
		hcOnly("memory-negative", obj{"Memory": -1}),
		hcOnly("memory-below-6mb", obj{"Memory": 4 << 20}),
		hcOnly("memory-swap-negative", obj{"MemorySwap": -5}, "HostConfig"),
		hcOnly("memory-swap-without-memory", obj{"MemorySwap": 64 << 20}),
		hcOnly("memory-reservation-negative", obj{"MemoryReservation": -1}, "HostConfig"),
		hcOnly("memory-reservation-tiny", obj{"MemoryReservation": 100}),
		hcOnly("memory-reservation-above-memory", obj{"Memory": 32 << 20, "MemoryReservation": 64 << 20}),
		hcOnly("memory-swappiness-200", obj{"MemorySwappiness": 200}),
		hcOnly("kernel-memory-negative", obj{"KernelMemory": -1}),
		hcOnly("kernel-memory-tiny", obj{"KernelMemory": 1000}),
		hcOnly("oom-score-adj-high", obj{"OomScoreAdj": 5000}),
		hcOnly("oom-score-adj-low", obj{"OomScoreAdj": -5000}),
		hcOnly("nano-cpus-and-quota", obj{"NanoCpus": 1000000000, "CpuQuota": 50000}),
		hcOnly("nano-cpus-negative", obj{"NanoCpus": -1}),
		hcOnly("cpuset-cpus-abc", obj{"CpusetCpus": "abc"}),
		hcOnly("cpuset-mems-abc", obj{"CpusetMems": "abc"}),
		hcOnly("blkio-weight-low", obj{"BlkioWeight": 5}),
		hcOnly("pids-limit-negative", obj{"PidsLimit": -5}, "HostConfig"),

		// Signals, restart policies, health checks.
		created("stop-signal-bogus", obj{"StopSignal": "SIGBOGUS"}),
		created("stop-signal-zero", obj{"StopSignal": "0"}),
		created("stop-signal-rt", obj{"StopSignal": "SIGRTMIN+3"}, "Config"),
		hcOnly("restart-negative-retries", obj{"RestartPolicy": obj{"Name": "on-failure", "MaximumRetryCount": -1}}),
		hcOnly("restart-always-retries", obj{"RestartPolicy": obj{"Name": "always", "MaximumRetryCount": 2}}),
		hcOnly("restart-unless-stopped-retries", obj{"RestartPolicy": obj{"Name": "unless-stopped", "MaximumRetryCount": 1}}),
		hcOnly("restart-no-retries", obj{"RestartPolicy": obj{"Name": "no", "MaximumRetryCount": 1}}),
		// dockerd takes an unknown test type (its monitor logs it and
		// never probes): no health state.
		created("health-test-bogus", obj{"Healthcheck": obj{"Test": []string{"BOGUS"}}}, "Config", "State"),
		created("health-retries-negative", obj{"Healthcheck": obj{"Test": []string{"CMD", "true"}, "Retries": -1}}),

		// Users and groups: the start fails (4xx in hull) with dockerd's words.
		created("user-missing", obj{"User": "conf-nosuchuser"}),
		created("user-negative", obj{"User": "-1"}),
		created("user-huge", obj{"User": "99999999999"}),
		created("user-group-missing", obj{"User": "root:conf-nosuchgroup"}),
		created("user-uid-gid", obj{"User": "1:2"}, "Config"),
		hcOnly("group-add-missing", obj{"GroupAdd": []string{"conf-nosuchgroup"}}),
		hcOnly("group-add-negative", obj{"GroupAdd": []string{"-1"}}),

		// Ulimits the runtime refuses (the start fails; hull says why in
		// its own words, with 400).
		hcOnly("ulimit-name-bogus", obj{"Ulimits": []obj{{"Name": "bogus", "Soft": 1, "Hard": 1}}}),
		hcOnly("ulimit-soft-negative", obj{"Ulimits": []obj{{"Name": "nproc", "Soft": -5, "Hard": 10}}}),
		hcOnly("ulimit-soft-above-hard", obj{"Ulimits": []obj{{"Name": "nofile", "Soft": 2048, "Hard": 1024}}}),

		// DNS and hosts.
		hcOnly("dns-out-of-range", obj{"Dns": []string{"999.1.1.1"}}),
		hcOnly("dns-empty", obj{"Dns": []string{""}}),
		hcOnly("extra-hosts-no-name", obj{"ExtraHosts": []string{":10.0.0.1"}}),
		hcOnly("extra-hosts-bad-ip", obj{"ExtraHosts": []string{"conf-h:notip"}}),
		hcOnly("extra-hosts-equals", obj{"ExtraHosts": []string{"conf-h=10.0.0.1"}}),

		// Ports.
		created("port-host-70000", obj{"ExposedPorts": obj{"80/tcp": obj{}}, "HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostPort": "70000"}}}}}),
		created("port-host-negative", obj{"ExposedPorts": obj{"80/tcp": obj{}}, "HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostPort": "-1"}}}}}),
		created("port-host-range-reversed", obj{"ExposedPorts": obj{"80/tcp": obj{}}, "HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostPort": "9000-8000"}}}}}),
		created("port-container-70000", obj{"HostConfig": obj{"PortBindings": obj{"70000/tcp": []obj{{"HostPort": "8080"}}}}}),
		created("port-container-word", obj{"HostConfig": obj{"PortBindings": obj{"abc/tcp": []obj{{"HostPort": "8080"}}}}}),
		created("port-container-zero", obj{"HostConfig": obj{"PortBindings": obj{"0/tcp": []obj{{"HostPort": "{port0}"}}}}}),
		created("port-bad-proto", obj{"ExposedPorts": obj{"80/bogus": obj{}}, "HostConfig": obj{"PortBindings": obj{"80/bogus": []obj{{"HostPort": "{port0}"}}}}}),
		created("port-host-ip-word", obj{"ExposedPorts": obj{"80/tcp": obj{}}, "HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostIp": "notip", "HostPort": "{port0}"}}}}}),

		// Mounts.
		hcOnly("mount-volume-no-target", obj{"Mounts": []obj{{"Type": "volume"}}}),
		hcOnly("mount-bind-no-target", obj{"Mounts": []obj{{"Type": "bind", "Source": "/tmp"}}}),
		hcOnly("mount-bind-no-source", obj{"Mounts": []obj{{"Type": "bind", "Target": "/x"}}}),
		hcOnly("mount-bind-relative-source", obj{"Mounts": []obj{{"Type": "bind", "Source": "tmp", "Target": "/x"}}}),
		hcOnly("mount-bind-relative-target", obj{"Mounts": []obj{{"Type": "bind", "Source": "/tmp", "Target": "x"}}}),
		hcOnly("mount-bind-root-target", obj{"Mounts": []obj{{"Type": "bind", "Source": "/tmp", "Target": "/"}}}),
		hcOnly("mount-bind-missing-source", obj{"Mounts": []obj{{"Type": "bind", "Source": "/conf-nonexistent", "Target": "/x"}}}),
		hcOnly("mount-type-empty", obj{"Mounts": []obj{{"Type": "", "Target": "/x"}}}),
		hcOnly("mount-type-npipe", obj{"Mounts": []obj{{"Type": "npipe", "Source": "/tmp", "Target": "/x"}}}),
		hcOnly("mount-tmpfs-source", obj{"Mounts": []obj{{"Type": "tmpfs", "Source": "/tmp", "Target": "/x"}}}),
		hcOnly("mount-tmpfs-size-negative", obj{"Mounts": []obj{{"Type": "tmpfs", "Target": "/x", "TmpfsOptions": obj{"SizeBytes": -1}}}}),
		hcOnly("mount-volume-bad-name", obj{"Mounts": []obj{{"Type": "volume", "Source": "bad/name", "Target": "/x"}}}),
		hcOnly("mount-volume-bind-options", obj{"Mounts": []obj{{"Type": "volume", "Target": "/x", "BindOptions": obj{"Propagation": "shared"}}}}),
		hcOnly("mount-bind-bad-propagation", obj{"Mounts": []obj{{"Type": "bind", "Source": "/tmp", "Target": "/x", "BindOptions": obj{"Propagation": "bogus"}}}}),
		hcOnly("tmpfs-bad-option", obj{"Tmpfs": obj{"/x": "bogus=1"}}),

		// Devices.
		hcOnly("device-relative", obj{"Devices": []obj{{"PathOnHost": "relative", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}}}),
		hcOnly("device-not-a-device", obj{"Devices": []obj{{"PathOnHost": "/etc/passwd", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}}}),
		hcOnly("device-empty", obj{"Devices": []obj{{"PathOnHost": "", "PathInContainer": "/dev/x"}}}),
		hcOnly("device-request-bogus-driver", obj{"DeviceRequests": []obj{{"Driver": "bogus", "Count": 1}}}),
		hcOnly("device-request-gpu", obj{"DeviceRequests": []obj{{"Count": -1, "Capabilities": [][]string{{"gpu"}}}}}),
		hcOnly("device-cgroup-rule-bogus", obj{"DeviceCgroupRules": []string{"bogus"}}),
		hcOnly("device-cgroup-rule-bad-access", obj{"DeviceCgroupRules": []string{"c 1:3 xyz"}}),

		// Other host options.
		hcOnly("links-bad-format", obj{"Links": []string{"a:b:c"}}),
		hcOnly("volumes-from-bad-mode", obj{"VolumesFrom": []string{"conf-nope:bogus"}}),
		hcOnly("cgroupns-bogus", obj{"CgroupnsMode": "bogus"}),
		hcOnly("runtime-bogus", obj{"Runtime": "bogus"}),
		hcOnly("sysctl-not-namespaced", obj{"Sysctls": obj{"kernel.conf-bogus": "1"}}),
		hcOnly("isolation-process", obj{"Isolation": "process"}),

		// Networks: one of none or host with another network (the docker
		// CLI's --network none --network host). API 1.41 takes one
		// endpoint only.
		tcs("inputs13/network-none-and-host", post("/containers/create?name=conf-a", obj{"Image": bb,
			"HostConfig": obj{"NetworkMode": "none"}, "NetworkingConfig": obj{"EndpointsConfig": obj{"none": obj{}, "host": obj{}}}})),

		// Exec.
		tcs("inputs13/exec-cmd-empty", mkRunning("a", nil), post("/containers/{a}/exec", obj{"Cmd": []string{}})),
		tcs("inputs13/exec-no-cmd", mkRunning("a", nil), post("/containers/{a}/exec", obj{"AttachStdout": true})),
		tcs("inputs13/exec-detach-keys-bad", mkRunning("a", nil), post("/containers/{a}/exec", obj{"Cmd": []string{"true"}, "DetachKeys": "ctrl-"})),
		tcs("inputs13/exec-user-missing", mkRunning("a", nil),
			post("/containers/{a}/exec", obj{"Cmd": []string{"true"}, "User": "conf-nosuchuser"})),

		// kill and stop with a signal.
		tcs("inputs13/kill-signal-bogus", mkRunning("a", nil), post("/containers/{a}/kill?signal=SIGBOGUS", nil)),
		tcs("inputs13/kill-signal-zero", mkRunning("a", nil), post("/containers/{a}/kill?signal=0", nil)),
		tcs("inputs13/kill-signal-99", mkRunning("a", nil), post("/containers/{a}/kill?signal=99", nil)),
		tcs("inputs13/kill-signal-rt-bad", mkRunning("a", nil), post("/containers/{a}/kill?signal="+q("RTMIN+99"), nil)),
		tcs("inputs13/kill-stopped-bogus", mk("a", nil), post("/containers/{a}/kill?signal=SIGBOGUS", nil)),
		tcs("inputs13/stop-t-word", mkRunning("a", nil), post("/containers/{a}/stop?t=abc", nil)),
		tcs("inputs13/restart-t-word", mkRunning("a", nil), post("/containers/{a}/restart?t=abc", nil)),

		// Images: references that are not.
		tcs("inputs13/commit-repo-dotdot", mk("a", nil), post("/commit?container={a}&repo="+q("../x"), nil)),
		tcs("inputs13/commit-repo-upper", mk("a", nil), post("/commit?container={a}&repo=UPPER", nil)),
		tcs("inputs13/commit-tag-dotdot", mk("a", nil), post("/commit?container={a}&repo=conf-ok&tag="+q(".."), nil)),
		tcs("inputs13/commit-tag-slash", mk("a", nil), post("/commit?container={a}&repo=conf-ok&tag="+q("a/b"), nil)),
		tcs("inputs13/pull-dotdot", post("/images/create?fromImage="+q("../../x"), nil)),
		tcs("inputs13/pull-dotdot-escaped", post("/images/create?fromImage="+q("..%2Fx"), nil)),
		tcs("inputs13/pull-tag-dotdot", post("/images/create?fromImage=conf-x&tag="+q(".."), nil)),
		tcs("inputs13/pull-upper", post("/images/create?fromImage=UPPER", nil)),
		tcs("inputs13/tag-repo-dotdot", post("/images/"+bb+"/tag?repo="+q("../x"), nil)),
		tcs("inputs13/tag-repo-colons", post("/images/"+bb+"/tag?repo="+q("a:b:c"), nil)),
		tcs("inputs13/tag-tag-dotdot", post("/images/"+bb+"/tag?repo=conf-t&tag="+q(".."), nil)),
		tcs("inputs13/tag-no-repo", post("/images/"+bb+"/tag", nil)),
		tcs("inputs13/tag-repo-hex", post("/images/"+bb+"/tag?repo="+strings.Repeat("ab", 32), nil)),
		tcs("inputs13/tag-repo-digest-name", post("/images/"+bb+"/tag?repo="+q("sha256:"+strings.Repeat("ab", 32)), nil)),

		// docker cp onto the files dockerd mounts in a container, and of
		// a folder that holds a mount.
		tcs("inputs13/cp-onto-hostname-running", mkRunning("a", nil),
			put("/containers/{a}/archive?path=/etc", tarOf([]string{"hostname"}, map[string]string{"hostname": "conf-new\n"}))),
		tcs("inputs13/cp-onto-hosts-exited", mkExited("a", nil),
			put("/containers/{a}/archive?path=/etc", tarOf([]string{"hosts"}, map[string]string{"hosts": "10.0.0.1 conf\n"}))),
		tcs("inputs13/cp-onto-resolv-conf", mkRunning("a", nil),
			put("/containers/{a}/archive?path=/", tarOf([]string{"etc/", "etc/resolv.conf"}, map[string]string{"etc/resolv.conf": "nameserver 10.0.0.1\n"}))),
		tcs("inputs13/cp-folder-with-volume", mkRunning("a", hc(obj{"Binds": []string{"conf-v:/conf-d/vol"}}), "sh", "-c", "echo v > /conf-d/vol/f; echo l > /conf-d/l; sleep 300"),
			get("/containers/{a}/archive?path=/conf-d").tarList().after(500*time.Millisecond)),
		tcs("inputs13/cp-folder-with-volume-exited", mkExited("a", hc(obj{"Binds": []string{"conf-v:/conf-d/vol"}}), "sh", "-c", "echo v > /conf-d/vol/f; echo l > /conf-d/l"),
			get("/containers/{a}/archive?path=/conf-d").tarList()),
		tcs("inputs13/cp-into-folder-with-volume", mkRunning("a", hc(obj{"Binds": []string{"conf-v:/conf-d/vol"}}), "sh", "-c", "mkdir -p /conf-d; sleep 300"),
			put("/containers/{a}/archive?path=/", tarOf([]string{"conf-d/", "conf-d/vol/", "conf-d/vol/new", "conf-d/top"}, map[string]string{"conf-d/vol/new": "n\n", "conf-d/top": "t\n"})).after(300*time.Millisecond),
			get("/containers/{a}/archive?path=/conf-d").tarList()),
	}

	// Filters that are not JSON, and keys no list knows, on every route
	// that takes filters.
	for _, r := range []struct{ name, method, path string }{
		{"images", "GET", "/images/json"}, {"volumes", "GET", "/volumes"}, {"networks", "GET", "/networks"},
		{"containers", "GET", "/containers/json"}, {"plugins", "GET", "/plugins"},
		{"events", "GET", "/events?until=1"}, {"search", "GET", "/images/search?term=conf"},
		{"container-prune", "POST", "/containers/prune"}, {"image-prune", "POST", "/images/prune"},
		{"volume-prune", "POST", "/volumes/prune"}, {"network-prune", "POST", "/networks/prune"},
		{"build-prune", "POST", "/build/prune"},
	} {
		sep := "?"
		if strings.Contains(r.path, "?") {
			sep = "&"
		}
		for _, f := range []struct{ name, value string }{{"not-json", "{bad"}, {"unknown-key", `{"bogus":{"x":true}}`}} {
			if r.name == "search" && f.name == "unknown-key" {
				continue // the search reaches the registry first (no network here)
			}
			st := req(r.method, r.path+sep+"filters="+q(f.value), nil)
			if r.name == "events" {
				st = st.stream(0, 10*time.Second)
			}
			cases = append(cases, tcs(fmt.Sprintf("inputs13/filters-%s/%s", f.name, r.name), st))
		}
	}
	// system df takes no filters (moby reads none): both ignore them.
	cases = append(cases, tcs("inputs13/filters-not-json/df", get("/system/df?filters="+q("{bad")).asSetup()).only141())
	// The build cache's own filter rules (dockerd words them as its
	// builder does).
	for name, f := range map[string]string{
		"until-and-unused-for": `{"until":{"1h":true},"unused-for":{"2h":true}}`,
		"until-two":            `{"until":{"1h":true,"2h":true}}`,
		"id-two":               `{"id":{"a":true,"b":true}}`,
		"mutable":              `{"mutable":{"a":true}}`,
		"label":                `{"label":{"a":true}}`,
		"inuse":                `{"inuse":{"a":true}}`,
		"until-ok":             `{"until":{"1h":true}}`,
	} {
		cases = append(cases, tcs("inputs13/build-prune/"+name, emptyBuildCache(), post("/build/prune?filters="+q(f), nil)))
	}
	cases = append(cases, tcs("inputs13/build-prune/keep-storage-word", emptyBuildCache(), post("/build/prune?keep-storage=abc", nil)))

	// Newer API versions, on hull alone: what moby checks there.
	v := func(version string, c *tcase) *tcase { c.version = version; return c }
	cases = append(cases,
		v("1.44", tcs("inputs13/newer/network-none-and-host", post("/containers/create?name=conf-a", obj{"Image": bb,
			"HostConfig": obj{"NetworkMode": "none"}, "NetworkingConfig": obj{"EndpointsConfig": obj{"none": obj{}, "host": obj{}}}}).wants(400)).
			onHullAlone("API 1.44 takes several endpoints at create; moby refuses none or host beside another network (daemon/container_operations.go updateNetworkSettings)")),
		v("1.44", tcs("inputs13/newer/network-host-and-bridge", post("/containers/create?name=conf-a", obj{"Image": bb,
			"HostConfig": obj{"NetworkMode": "host"}, "NetworkingConfig": obj{"EndpointsConfig": obj{"host": obj{}, "bridge": obj{}}}}).wants(400)).
			onHullAlone("API 1.44 takes several endpoints at create; moby refuses host beside another network (updateNetworkSettings)")),
		v("1.44", tcs("inputs13/newer/network-bridge-and-none", post("/containers/create?name=conf-a", obj{"Image": bb,
			"HostConfig": obj{"NetworkMode": "bridge"}, "NetworkingConfig": obj{"EndpointsConfig": obj{"bridge": obj{}, "none": obj{}}}}).wants(400)).
			onHullAlone("API 1.44 takes several endpoints at create; moby refuses none beside another network (updateNetworkSettings)")),
		v("1.43", tcs("inputs13/newer/annotations-empty-key", post("/containers/create?name=conf-a", obj{"Image": bb,
			"HostConfig": obj{"Annotations": obj{"": "x"}}}).wants(400)).
			onHullAlone("Annotations came in API 1.43; moby refuses an empty key (daemon/container.go validateHostConfig)")),
		v("1.42", tcs("inputs13/newer/stop-signal-bogus", mkRunning("a", nil), post("/containers/{a}/stop?signal=SIGBOGUS", nil).wants(400)).
			onHullAlone("stop's signal parameter came in API 1.42 (moby containerStop: errdefs.InvalidParameter)")),
		v("1.42", tcs("inputs13/newer/restart-signal-bogus", mkRunning("a", nil), post("/containers/{a}/restart?signal=SIGBOGUS", nil).wants(400)).
			onHullAlone("restart's signal parameter came in API 1.42")),
		v("1.52", tcs("inputs13/newer/exec-user-missing", mkRunning("a", nil),
			post("/containers/{a}/exec", obj{"Cmd": []string{"true"}, "User": "conf-nosuchuser"}).wants(400)).
			onHullAlone("moby 28.2 and later look the exec's user up at create (daemon/exec.go, b54a038bec)")),
	)
	return cases
}

// emptyBuildCache is a setup step that empties the build cache: hull's
// builds (image/build cases) leave BuildKit records, dockerd 20.10's
// classic builder none, and a prune case compares what it deletes.
func emptyBuildCache() *step { return post("/build/prune?all=1", nil).asSetup() }
