package conformance

import (
	"context"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// hc is a create body with only a HostConfig.
func hc(h obj) obj { return obj{"HostConfig": h} }

// containerCreateCases: POST /containers/create validates as dockerd and
// inspect shows dockerd's defaults.
func containerCreateCases() []*tcase {
	inspect := func(name string) *step { return get("/containers/{" + name + "}/json") }
	return append([]*tcase{
		// Happy paths and inspect's defaults.
		tcs("container/create/minimal", create("a", nil)),
		tcs("container/create/inspect", mk("a", nil), inspect("a")),
		// Below 1.40 dockerd shows IpcMode "shareable" as the default.
		func() *tcase {
			c := tcs("container/create/inspect-v1.39", mk("a", nil), inspect("a").pick("HostConfig"))
			c.version = "1.39"
			return c.only141()
		}(),
		tcs("container/create/inspect-by-name", mk("a", nil), get("/containers/conf-a/json")),
		tcs("container/create/inspect-by-short-id", mk("a", nil), get("/containers/{a:12}/json")),
		tcs("container/create/inspect-size", mk("a", nil), get("/containers/{a}/json?size=1")),
		tcs("container/create/no-name", post("/containers/create", obj{"Image": bb}).capture("a", "Id"), inspect("a")),
		tcs("container/create/rich-image", mk("a", obj{"Image": imgRich}), inspect("a")),
		tcs("container/create/image-by-id", post("/containers/create?name=conf-a", obj{"Image": "{img:busybox}"}).capture("a", "Id"), inspect("a").pick("Image", "Config")),
		tcs("container/create/image-by-short-id", post("/containers/create?name=conf-a", obj{"Image": "{img:busybox:12}"}).capture("a", "Id"), inspect("a").pick("Image", "Config")),
		tcs("container/create/full-config", mk("a", obj{
			"Hostname": "conf-host", "Domainname": "example.org", "User": "nobody", "Env": []string{"A=1", "B="},
			"Cmd": []string{"sh", "-c", "true"}, "WorkingDir": "/tmp", "Labels": obj{"l1": "v1"}, "StopSignal": "SIGUSR1",
			"StopTimeout": 3, "Tty": true, "OpenStdin": true, "StdinOnce": true, "AttachStdin": true,
			"ExposedPorts": obj{"9000/tcp": obj{}},
			"HostConfig": obj{"Memory": 64 << 20, "CpuShares": 512, "PidsLimit": 50, "ReadonlyRootfs": true,
				"CapAdd": []string{"NET_ADMIN"}, "CapDrop": []string{"MKNOD"}, "Dns": []string{"10.0.0.53"},
				"DnsSearch": []string{"example.org"}, "ExtraHosts": []string{"conf-h:10.0.0.9"}, "Init": true,
				"RestartPolicy": obj{"Name": "on-failure", "MaximumRetryCount": 2}, "SecurityOpt": []string{"no-new-privileges"},
				"Ulimits": []obj{{"Name": "nofile", "Soft": 1024, "Hard": 2048}}, "GroupAdd": []string{"65534"},
				"Sysctls": obj{"net.ipv4.ip_forward": "1"}, "Tmpfs": obj{"/conf-tmp": "size=1m"}},
		}), inspect("a")),
		tcs("container/create/working-dir-cleaned", mk("a", obj{"WorkingDir": "/tmp/../var//x/"}), inspect("a").pick("Config")),
		tcs("container/create/working-dir-relative", create("a", obj{"WorkingDir": "rel"})),
		tcs("container/create/volumes-anonymous", mk("a", obj{"Volumes": obj{"/conf-vol": obj{}}}), inspect("a").pick("Mounts", "Config"),
			get("/volumes").vol("Volumes[].Name", "Volumes[].CreatedAt")),
		tcs("container/create/rich-volume", mk("a", obj{"Image": imgRich}), inspect("a").pick("Mounts")),
		tcs("container/create/binds", mk("a", hc(obj{"Binds": []string{"/etc/hostname:/conf-h:ro", "conf-bv:/conf-v"}})),
			inspect("a").pick("Mounts", "HostConfig").anyOrder("Mounts")),
		tcs("container/create/mounts", mk("a", hc(obj{"Mounts": []obj{
			{"Type": "volume", "Source": "conf-mv", "Target": "/conf-mv", "VolumeOptions": obj{"Labels": obj{"k": "v"}}},
			{"Type": "tmpfs", "Target": "/conf-t", "TmpfsOptions": obj{"SizeBytes": 1 << 20}},
			{"Type": "bind", "Source": "/etc", "Target": "/conf-etc", "ReadOnly": true},
		}})), inspect("a").pick("Mounts", "HostConfig").anyOrder("Mounts")), // dockerd lists mounts from a map: in no order
		tcs("container/create/cpu-shares-negative", create("a", hc(obj{"CpuShares": -1}))),
		tcs("container/create/port-bindings", mk("a", obj{"ExposedPorts": obj{"80/tcp": obj{}},
			"HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostIp": "127.0.0.1", "HostPort": "{port0}"}}}}}),
			inspect("a").pick("HostConfig", "NetworkSettings", "Config").keeping("*HostPort")),
		tcs("container/create/mac-address", mk("a", obj{"MacAddress": "02:42:ac:11:00:99"}), inspect("a").pick("Config", "NetworkSettings").keeping("*MacAddress")),
		tcs("container/create/network-none", mk("a", hc(obj{"NetworkMode": "none"})), inspect("a").pick("HostConfig", "NetworkSettings")),
		tcs("container/create/network-host", mk("a", hc(obj{"NetworkMode": "host"})), inspect("a").pick("HostConfig", "NetworkSettings", "Config")),
		tcs("container/create/labels-from-image", mk("a", obj{"Image": imgRich, "Labels": obj{"org.conf.image": "mine"}}), inspect("a").pick("Config")),
		tcs("container/create/cmd-empty-string", create("a", obj{"Cmd": []string{""}})),
		tcs("container/create/entrypoint-reset", mk("a", obj{"Image": imgRich, "Entrypoint": []string{""}}), inspect("a").pick("Config", "Path", "Args")),
		tcs("container/create/sdk", sdk("ContainerCreate", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "conf-a", Config: &container.Config{Image: bb, Cmd: []string{"true"}}})
		}).capture("a", "ID"), inspect("a").pick("Name", "Config")),

		// Wrong input.
		tcs("container/create/bad-json", post("/containers/create", "{")),
		tcs("container/create/empty-body", post("/containers/create", "")),
		tcs("container/create/wrong-type", post("/containers/create", `{"Image":"conf/busybox","Cmd":"true"}`)),
		tcs("container/create/no-image", post("/containers/create", obj{})),
		tcs("container/create/missing-image", post("/containers/create", obj{"Image": "conf/nope:1"})),
		tcs("container/create/missing-image-digest", post("/containers/create", obj{"Image": "conf/nope@sha256:0000000000000000000000000000000000000000000000000000000000000000"})),
		tcs("container/create/invalid-reference", post("/containers/create", obj{"Image": "Conf/UPPER"})),
		tcs("container/create/bad-name", post("/containers/create?name="+q("bad name"), obj{"Image": bb})),
		tcs("container/create/bad-name-slash", post("/containers/create?name="+q("a/b"), obj{"Image": bb})),
		tcs("container/create/name-taken", mk("a", nil), create("a", nil)),
		tcs("container/create/env-empty-name", create("a", obj{"Env": []string{"=foo"}})),
		tcs("container/create/env-empty", create("a", obj{"Env": []string{""}})),
		tcs("container/create/env-no-value", mk("a", obj{"Env": []string{"JUSTNAME"}}), inspect("a").pick("Config")),
		tcs("container/create/tmpfs-relative", create("a", hc(obj{"Tmpfs": obj{"rel": ""}}))),
		tcs("container/create/tmpfs-root", create("a", hc(obj{"Tmpfs": obj{"/": ""}}))),
		tcs("container/create/tmpfs-bad-option", create("a", hc(obj{"Tmpfs": obj{"/t": "size=lots"}}))),
		tcs("container/create/volumesfrom-missing", create("a", hc(obj{"VolumesFrom": []string{"conf-nope"}}))),
		tcs("container/create/volumesfrom-ok", mk("a", obj{"Volumes": obj{"/conf-v": obj{}}}), create("b", hc(obj{"VolumesFrom": []string{"conf-a:ro"}})),
			inspect("b").pick("Mounts", "HostConfig")),
		tcs("container/create/links-missing", create("a", hc(obj{"Links": []string{"conf-nope:db"}}))),
		tcs("container/create/links-ok", mk("a", nil), create("b", hc(obj{"Links": []string{"conf-a:db"}})), inspect("b").pick("HostConfig")),
		tcs("container/create/autoremove-restart", create("a", hc(obj{"AutoRemove": true, "RestartPolicy": obj{"Name": "always"}}))),
		tcs("container/create/restart-bad-name", create("a", hc(obj{"RestartPolicy": obj{"Name": "sometimes"}}))),
		tcs("container/create/restart-always-retries", create("a", hc(obj{"RestartPolicy": obj{"Name": "always", "MaximumRetryCount": 3}}))),
		tcs("container/create/restart-negative-retries", create("a", hc(obj{"RestartPolicy": obj{"Name": "on-failure", "MaximumRetryCount": -1}}))),
		tcs("container/create/platform-mismatch", post("/containers/create?name=conf-a&platform="+q("linux/arm64"), obj{"Image": bb})),
		tcs("container/create/platform-bad", post("/containers/create?name=conf-a&platform="+q("not/a/plat/form"), obj{"Image": bb})),
		tcs("container/create/health-interval-negative", create("a", obj{"Healthcheck": obj{"Test": []string{"CMD", "true"}, "Interval": -1}})),
		tcs("container/create/health-interval-tiny", create("a", obj{"Healthcheck": obj{"Test": []string{"CMD", "true"}, "Interval": 1000}})),
		tcs("container/create/health-timeout-tiny", create("a", obj{"Healthcheck": obj{"Test": []string{"CMD", "true"}, "Timeout": 1000}})),
		tcs("container/create/health-retries-negative", create("a", obj{"Healthcheck": obj{"Test": []string{"CMD", "true"}, "Retries": -2}})),
		tcs("container/create/health-start-period-tiny", create("a", obj{"Healthcheck": obj{"Test": []string{"CMD", "true"}, "StartPeriod": 5}})),
		tcs("container/create/health-none", mk("a", obj{"Image": imgRich, "Healthcheck": obj{"Test": []string{"NONE"}}}), inspect("a").pick("Config", "State")),
		tcs("container/create/pid-container-missing", create("a", hc(obj{"PidMode": "container:conf-nope"}))),
		tcs("container/create/ipc-container-missing", create("a", hc(obj{"IpcMode": "container:conf-nope"}))),
		tcs("container/create/ipc-bogus", create("a", hc(obj{"IpcMode": "bogus"}))),
		tcs("container/create/pid-bogus", create("a", hc(obj{"PidMode": "bogus"}))),
		tcs("container/create/ipc-container-stopped", mk("a", nil), create("b", hc(obj{"IpcMode": "container:conf-a"}))),
		tcs("container/create/network-container-missing", create("a", hc(obj{"NetworkMode": "container:conf-nope"}))),
		tcs("container/create/network-missing", create("a", hc(obj{"NetworkMode": "conf-nonet"}))),
		tcs("container/create/network-container-with-ports", mk("a", nil), create("b", obj{"ExposedPorts": obj{"80/tcp": obj{}},
			"HostConfig": obj{"NetworkMode": "container:conf-a", "PortBindings": obj{"80/tcp": []obj{{"HostPort": "{port1}"}}}}})),
		tcs("container/create/memory-too-low", create("a", hc(obj{"Memory": 1024}))),
		tcs("container/create/memory-swap-below-memory", create("a", hc(obj{"Memory": 64 << 20, "MemorySwap": 32 << 20}))),
		tcs("container/create/cpu-period-bad", create("a", hc(obj{"CpuPeriod": 100}))),
		tcs("container/create/nano-cpus-and-period", create("a", hc(obj{"NanoCpus": 1000000000, "CpuPeriod": 100000}))),
		tcs("container/create/nano-cpus-too-many", create("a", hc(obj{"NanoCpus": 1000000000000}))),
		tcs("container/create/cpuset-bad", create("a", hc(obj{"CpusetCpus": "99999"}))),
		tcs("container/create/port-bad-host-port", create("a", obj{"ExposedPorts": obj{"80/tcp": obj{}},
			"HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostPort": "notaport"}}}}})),
		tcs("container/create/port-bad-proto", create("a", obj{"ExposedPorts": obj{"80/xyz": obj{}}})),
		tcs("container/create/mount-bind-missing-source", create("a", hc(obj{"Mounts": []obj{{"Type": "bind", "Source": "/nonexistent-conf", "Target": "/x"}}}))),
		tcs("container/create/mount-relative-target", create("a", hc(obj{"Mounts": []obj{{"Type": "volume", "Target": "rel"}}}))),
		tcs("container/create/mount-bad-type", create("a", hc(obj{"Mounts": []obj{{"Type": "bogus", "Target": "/x"}}}))),
		tcs("container/create/mount-duplicate-target", create("a", hc(obj{"Mounts": []obj{{"Type": "tmpfs", "Target": "/x"}, {"Type": "tmpfs", "Target": "/x"}}}))),
		tcs("container/create/binds-bad-spec", create("a", hc(obj{"Binds": []string{"a:b:c:d"}}))),
		tcs("container/create/binds-relative-target", create("a", hc(obj{"Binds": []string{"/tmp:rel"}}))),
		tcs("container/create/binds-bad-mode", create("a", hc(obj{"Binds": []string{"/tmp:/x:bogus"}}))),
		// dockerd looks for a missing plugin for 15 s: these run once.
		tcs("container/create/log-driver-bogus", create("a", hc(obj{"LogConfig": obj{"Type": "bogus"}}))).only141(),
		tcs("container/create/log-opt-bogus", create("a", hc(obj{"LogConfig": obj{"Type": "json-file", "Config": obj{"nope": "1"}}}))),
		tcs("container/create/stop-signal-bogus", create("a", obj{"StopSignal": "SIGFOO"})),
		tcs("container/create/cap-add-bogus", create("a", hc(obj{"CapAdd": []string{"NOT_A_CAP"}}))),
		tcs("container/create/extra-hosts-bad", create("a", hc(obj{"ExtraHosts": []string{"nocolon"}}))),
		tcs("container/create/dns-bad", create("a", hc(obj{"Dns": []string{"not-an-ip"}}))),
		tcs("container/create/ulimit-bad", create("a", hc(obj{"Ulimits": []obj{{"Name": "nofile", "Soft": 2048, "Hard": 1024}}}))),
		tcs("container/create/shm-size-negative", create("a", hc(obj{"ShmSize": -1}))),
		tcs("container/create/oom-score-bad", create("a", hc(obj{"OomScoreAdj": 5000}))),
		tcs("container/create/isolation-bogus", create("a", hc(obj{"Isolation": "hyperv"}))),
		tcs("container/create/devices-missing", create("a", hc(obj{"Devices": []obj{{"PathOnHost": "/dev/nonexistent-conf", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}}}))),
		tcs("container/create/sdk-missing-image", sdk("ContainerCreate", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "conf/nope:1"}})
		})),
		// A range past 8192 CPUs is refused before it is expanded (CVE-2018-20699).
		tcs("container/create/cpuset-huge-range", create("a", hc(obj{"CpusetCpus": "1-9223372036854775807"}))),
		tcs("container/create/cpuset-bad-format", create("a", hc(obj{"CpusetCpus": "a-b"}))),
		tcs("container/create/cpuset-trailing-comma", create("a", hc(obj{"CpusetCpus": "0,"}))),
		tcs("container/create/cpuset-mems-missing", create("a", hc(obj{"CpusetMems": "5"}))),
	}, lifecycleMoreCases()...)
}
