package conformance

// lifecycleMoreCases: start, rename, export, changes, stats and what a
// container sees of Docker's init layer, at their edges.
func lifecycleMoreCases() []*tcase {
	inspect := func(name string) *step { return get("/containers/{" + name + "}/json") }
	return []*tcase{
		// A network may be made between the create and the start: the
		// create takes a missing one, the start fails (404, exit code 128).
		tcs("container/start/network-missing", mk("a", hc(obj{"NetworkMode": "conf-nonet"})), post("/containers/{a}/start", nil),
			inspect("a").pick("State", "NetworkSettings")),
		// An empty JSON object is no host config: accepted.
		tcs("container/start/empty-object-body", mk("a", obj{"Cmd": []string{"true"}}), post("/containers/{a}/start", "{}")),
		// The names are checked before the container is looked up.
		tcs("container/rename/missing-empty", post("/containers/conf-nope/rename?name=", nil)),
		tcs("container/rename/slash", mk("a", nil), post("/containers/{a}/rename?name="+q("conf-a/x"), nil)),
		tcs("container/rename/leading-slash", mk("a", nil), post("/containers/{a}/rename?name="+q("/conf-r"), nil), inspect("a").pick("Name")),
		// Docker's init layer: /.dockerenv and the mount points are in the
		// container's file system, not in its changes.
		tcs("container/run/dockerenv", mkExited("a", nil, "stat", "-c", "%n %a %s %U %F", "/.dockerenv", "/etc/mtab"), logs("a")),
		tcs("container/export/exited", mkExited("a", nil, "true"), get("/containers/{a}/export").tarList()),
		tcs("container/changes/after-run", mkExited("a", nil, "true"), get("/containers/{a}/changes")),
		// The targets of volumes and tmpfs mounts are the container's own.
		tcs("container/changes/mount-targets", mkExited("a", obj{"Volumes": obj{"/conf-vol": obj{}},
			"HostConfig": obj{"Tmpfs": obj{"/conf-tmp": ""}, "Binds": []string{"/etc/hostname:/conf-bind/h:ro"}}}, "true"),
			get("/containers/{a}/changes").anyOrder()),
		// Without a network there are no interface counters.
		tcs("container/stats/network-none", mkRunning("a", hc(obj{"NetworkMode": "none"})),
			get("/containers/{a}/stats?stream=0&one-shot=1").vol("*stats*", "read", "preread", "num_procs", "pids_stats*")),
	}
}
