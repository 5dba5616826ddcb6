package conformance

import (
	"context"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// logs reads a container's stdout and stderr.
func logs(name string) *step { return get("/containers/{" + name + "}/logs?stdout=1&stderr=1") }

func wait(name string) *step {
	return post("/containers/{"+name+"}/wait", nil).within(30 * time.Second)
}

// containerCases: the lifecycle (start, stop, kill, restart, pause, rm,
// rename, wait, attach, logs, top, stats, changes, export, update, resize),
// lists and their filters, prune.
func containerCases() []*tcase {
	inspect := func(name string) *step { return get("/containers/{" + name + "}/json") }
	state := func(name string) *step { return inspect(name).pick("State", "RestartCount") }
	return []*tcase{
		// Start.
		tcs("container/start/missing", post("/containers/conf-nope/start", nil)),
		tcs("container/start/running", mkRunning("a", nil), post("/containers/{a}/start", nil)),
		tcs("container/start/with-body", mk("a", obj{"Cmd": []string{"sleep", "300"}}), post("/containers/{a}/start", obj{"Binds": []string{"/tmp:/x"}})),
		tcs("container/start/missing-binary", mk("a", obj{"Cmd": []string{"/nonexistent"}}),
			post("/containers/{a}/start", nil).likeMessage(`no such file or directory`), state("a")),
		tcs("container/start/not-executable", mk("a", obj{"Cmd": []string{"/etc/passwd"}}),
			post("/containers/{a}/start", nil).likeMessage(`permission denied`)),
		tcs("container/start/missing-user", mk("a", obj{"User": "nosuchuser", "Cmd": []string{"true"}}),
			post("/containers/{a}/start", nil).likeMessage(`nosuchuser`)),
		func() *tcase {
			// Starts of processes that exit at once, back to back: the start
			// must not lose the race with the exit (204 every time).
			var steps []*step
			for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
				steps = append(steps, mk(n, obj{"Cmd": []string{"true"}}), post("/containers/{"+n+"}/start", nil))
			}
			return tcs("container/start/short-lived", steps)
		}(),
		tcs("container/start/detach-keys", mk("a", obj{"Cmd": []string{"sleep", "300"}}), post("/containers/{a}/start?detachKeys=ctrl-p,ctrl-q", nil), state("a")),
		tcs("container/run/inspect", mkRunning("a", nil), inspect("a")),
		tcs("container/run/exited-inspect", mkExited("a", nil, "sh", "-c", "exit 3"), inspect("a")),
		tcs("container/run/rich", mkExited("a", obj{"Image": imgRich, "Cmd": nil}), logs("a"), inspect("a").pick("Path", "Args", "Config", "State")),
		tcs("container/run/tmpfs-applied", mkExited("a", hc(obj{"Tmpfs": obj{"/conf-tmp": "size=1m"}}), "sh", "-c", "grep ' /conf-tmp ' /proc/mounts | cut -d' ' -f1-3"), logs("a")),
		tcs("container/run/volume-applied", mkExited("a", obj{"Volumes": obj{"/conf-vol": obj{}}}, "sh", "-c", "grep -c ' /conf-vol ' /proc/mounts"), logs("a")),
		tcs("container/run/volume-kept-on-restart", mkExited("a", obj{"Volumes": obj{"/conf-vol": obj{}}}, "sh", "-c", "echo x >> /conf-vol/f; wc -l < /conf-vol/f"),
			start("a"), wait("a").asSetup(), logs("a")),
		tcs("container/run/domainname", mkExited("a", obj{"Hostname": "h1", "Domainname": "example.org"}, "sh", "-c", "hostname; cat /proc/sys/kernel/domainname"), logs("a")),
		tcs("container/run/group-add", mkExited("a", hc(obj{"GroupAdd": []string{"65534"}}), "id", "-G"), logs("a")),
		tcs("container/run/hostname-default", mkExited("a", nil, "hostname"), logs("a")),
		tcs("container/run/env", mkExited("a", obj{"Env": []string{"A=1", "JUSTNAME"}}, "sh", "-c", "echo \"$A/${JUSTNAME-unset}/$PATH/$HOME\""), logs("a")),
		tcs("container/run/readonly-rootfs", mkExited("a", hc(obj{"ReadonlyRootfs": true}), "sh", "-c", "touch /x 2>&1; echo $?"), logs("a")),
		tcs("container/run/working-dir-made", mkExited("a", obj{"WorkingDir": "/conf/made"}, "pwd"), logs("a")),
		tcs("container/run/user", mkExited("a", obj{"User": "nobody"}, "id"), logs("a")),
		tcs("container/run/user-uid-gid", mkExited("a", obj{"User": "1234:5678"}, "id"), logs("a")),
		tcs("container/run/extra-hosts", mkExited("a", hc(obj{"ExtraHosts": []string{"conf-h:10.0.0.9"}}), "grep", "conf-h", "/etc/hosts"), logs("a")),
		tcs("container/run/links-hosts", mkRunning("a", nil), mkExited("b", hc(obj{"Links": []string{"conf-a:db"}}), "sh", "-c", "grep -c ' db' /etc/hosts"),
			logs("b"), inspect("b").pick("HostConfig")),
		tcs("container/run/pid-container", mkRunning("a", nil, "sleep", "301"), mkExited("b", hc(obj{"PidMode": "container:conf-a"}), "sh", "-c", "ps -o args | grep -c '^sleep 301'"), logs("b")),
		tcs("container/run/ipc-container-shareable", mkRunning("a", hc(obj{"IpcMode": "shareable"})), mkExited("b", hc(obj{"IpcMode": "container:conf-a"}), "true"),
			inspect("b").pick("HostConfig", "State")),
		tcs("container/run/network-container", mkRunning("a", nil), mkExited("b", hc(obj{"NetworkMode": "container:conf-a"}), "hostname"), logs("b"),
			inspect("b").pick("HostConfig", "NetworkSettings")),
		tcs("container/run/publish", mkRunning("a", obj{"ExposedPorts": obj{"80/tcp": obj{}},
			"HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostPort": "{port3}"}}}}}, "sleep", "300"),
			inspect("a").pick("NetworkSettings", "HostConfig").keeping("*HostPort"), get("/containers/json").keeping("*HostPort", "*PublicPort")),
		tcs("container/run/publish-taken", mkRunning("a", obj{"ExposedPorts": obj{"80/tcp": obj{}},
			"HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostPort": "{port3}"}}}}}, "sleep", "300"),
			mk("b", obj{"Cmd": []string{"sleep", "300"}, "ExposedPorts": obj{"80/tcp": obj{}},
				"HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostPort": "{port3}"}}}}}),
			post("/containers/{b}/start", nil), state("b")),
		tcs("container/run/publish-all", mkRunning("a", obj{"Image": imgRich, "Entrypoint": []string{"sleep"}, "Cmd": []string{"300"},
			"HostConfig": obj{"PublishAllPorts": true}}), inspect("a").pick("NetworkSettings")),
		tcs("container/run/masked-paths", mkExited("a", nil, "sh", "-c", "cat /proc/kcore 2>&1 | head -c 20; ls /proc/acpi 2>&1 | wc -l"), logs("a")),
		tcs("container/run/exit-127", mkExited("a", nil, "sh", "-c", "nonexistent-cmd"), wait("a"), state("a")),
		tcs("container/run/autoremove", mkRunning("a", hc(obj{"AutoRemove": true}), "true"), post("/containers/{a}/wait?condition=removed", nil).within(30*time.Second),
			inspect("a")),

		// Stop, kill, restart.
		tcs("container/stop/created", mk("a", nil), post("/containers/{a}/stop", nil)),
		tcs("container/stop/missing", post("/containers/conf-nope/stop", nil)),
		tcs("container/stop/running", mkRunning("a", nil), post("/containers/{a}/stop?t=1", nil).within(30*time.Second), state("a")),
		tcs("container/stop/stopped", mkExited("a", nil), post("/containers/{a}/stop", nil)),
		tcs("container/stop/bad-timeout", mkRunning("a", nil), post("/containers/{a}/stop?t=abc", nil)),
		tcs("container/stop/trap-right-after-start", mkRunning("a", nil, "sh", "-c", "trap 'exit 99' TERM; while :; do sleep 0.1; done"),
			post("/containers/{a}/stop?t=10", nil).within(30*time.Second), wait("a")),
		tcs("container/stop/sdk", mkRunning("a", nil), sdk("ContainerStop", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			t := 1
			return c.ContainerStop(ctx, x("{a}"), client.ContainerStopOptions{Timeout: &t})
		}), state("a")),
		tcs("container/kill/running", mkRunning("a", nil), post("/containers/{a}/kill", nil), wait("a")),
		tcs("container/kill/stopped", mkExited("a", nil), post("/containers/{a}/kill", nil)),
		tcs("container/kill/missing", post("/containers/conf-nope/kill", nil)),
		tcs("container/kill/bad-signal", mkRunning("a", nil), post("/containers/{a}/kill?signal=SIGFOO", nil)),
		tcs("container/kill/signal-number", mkRunning("a", nil, "sh", "-c", "trap 'exit 12' USR1; while :; do sleep 0.1; done"),
			post("/containers/{a}/kill?signal=10", nil).after(300*time.Millisecond), wait("a")),
		tcs("container/kill/term-right-after-start", mkRunning("a", nil, "top"), post("/containers/{a}/kill?signal=TERM", nil), wait("a")),
		tcs("container/kill/kill-returns-stopped", mkRunning("a", nil), post("/containers/{a}/kill?signal=KILL", nil), state("a").vol("State.ExitCode")),
		tcs("container/restart/stopped", mkExited("a", nil, "sh", "-c", "echo run"), post("/containers/{a}/restart?t=1", nil), wait("a").asSetup(), logs("a"), state("a")),
		tcs("container/restart/running", mkRunning("a", nil), post("/containers/{a}/restart?t=1", nil).within(30*time.Second), state("a")),
		tcs("container/restart/missing", post("/containers/conf-nope/restart", nil)),
		func() *tcase {
			w := wait("a").within(15 * time.Second).background("w")
			return tcs("container/restart/releases-wait", mkRunning("a", nil), w,
				post("/containers/{a}/restart?t=0", nil).within(30*time.Second), collect(w), state("a"))
		}(),
		func() *tcase {
			at := post("/containers/{a}/attach?stream=1&stdout=1&stderr=1", nil).hijacked("", 15*time.Second).background("at")
			return tcs("container/attach/before-start", mk("a", obj{"Cmd": []string{"sh", "-c", "echo early; sleep 0.2; echo late >&2"}, "AttachStdout": true, "AttachStderr": true}),
				at, start("a"), collect(at))
		}(),
		func() *tcase {
			w := post("/containers/{a}/wait?condition=next-exit", nil).within(30 * time.Second).background("w")
			return tcs("container/wait/before-start", mk("a", obj{"Cmd": []string{"sh", "-c", "exit 6"}}), w, start("a"), collect(w))
		}(),

		tcs("container/restart/autoremove", mkRunning("a", hc(obj{"AutoRemove": true})), post("/containers/{a}/restart?t=0", nil).within(30*time.Second),
			state("a").after(300*time.Millisecond).vol("State.ExitCode")),
		// The client gives up after 300 ms; the stop goes on (TERM is
		// ignored: SIGKILL after 2 s).
		tcs("container/stop/client-hangs-up", mkRunning("a", nil, "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"),
			post("/containers/{a}/stop?t=2", nil).within(300*time.Millisecond), wait("a")).only141(),
		tcs("container/health/timeout", mkRunning("a", obj{"Healthcheck": obj{"Test": []string{"CMD-SHELL", "sleep 5"},
			"Interval": 500_000_000, "Timeout": 100_000_000, "Retries": 1}}),
			inspect("a").after(900*time.Millisecond).pick("State").vol("State.Health.Log[].Start", "State.Health.Log[].End")),
		// One probe done by the inspect and the next not begun, however
		// long an exec takes on a busy host (up to 0.4 s).
		tcs("container/health/healthy", mkRunning("a", obj{"Healthcheck": obj{"Test": []string{"CMD", "true"}, "Interval": 600_000_000}}),
			inspect("a").after(1000*time.Millisecond).pick("State").vol("State.Health.Log"),
			get("/containers/json?"+filters("health", "healthy")).after(100*time.Millisecond)),

		// Pause.
		tcs("container/pause/running", mkRunning("a", nil), post("/containers/{a}/pause", nil), state("a")),
		tcs("container/pause/paused", mkRunning("a", nil), post("/containers/{a}/pause", nil).asSetup(), post("/containers/{a}/pause", nil)),
		tcs("container/pause/stopped", mk("a", nil), post("/containers/{a}/pause", nil)),
		tcs("container/unpause/not-paused", mkRunning("a", nil), post("/containers/{a}/unpause", nil)),
		tcs("container/pause/rm-paused", mkRunning("a", nil), post("/containers/{a}/pause", nil).asSetup(), del("/containers/{a}")),
		tcs("container/pause/stop-paused", mkRunning("a", nil), post("/containers/{a}/pause", nil).asSetup(), post("/containers/{a}/stop?t=1", nil).within(30*time.Second), state("a")),
		tcs("container/pause/missing", post("/containers/conf-nope/pause", nil)),

		// Remove.
		tcs("container/rm/created", mk("a", nil), del("/containers/{a}"), inspect("a")),
		tcs("container/rm/running", mkRunning("a", nil), del("/containers/{a}")),
		tcs("container/rm/running-force", mkRunning("a", nil), del("/containers/{a}?force=1"), get("/containers/json?all=1")),
		tcs("container/rm/missing", del("/containers/conf-nope")),
		tcs("container/rm/paused-force", mkRunning("a", nil), post("/containers/{a}/pause", nil).asSetup(),
			del("/containers/{a}?force=1").within(10*time.Second), get("/containers/json?all=1")),
		tcs("container/rm/volumes", mk("a", obj{"Volumes": obj{"/conf-vol": obj{}}}), del("/containers/{a}?v=1"), get("/volumes")),
		tcs("container/rm/keeps-named-volume", mk("a", hc(obj{"Binds": []string{"conf-keep:/x"}})), del("/containers/{a}?v=1"), get("/volumes").vol("Volumes[].CreatedAt")),
		tcs("container/rm/bad-force", mk("a", nil), del("/containers/{a}?force=maybe")),
		tcs("container/rm/paused-force-state", mkRunning("a", nil), post("/containers/{a}/pause", nil).asSetup(),
			del("/containers/{a}?force=1").within(10*time.Second), get("/containers/{a}/json")),
		tcs("container/rm/sdk-missing", sdk("ContainerRemove", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ContainerRemove(ctx, "conf-nope", client.ContainerRemoveOptions{})
		})),

		// Rename.
		tcs("container/rename/ok", mk("a", nil), post("/containers/{a}/rename?name=conf-renamed", nil), inspect("a").pick("Name"), get("/containers/conf-a/json")),
		tcs("container/rename/taken", mk("a", nil), mk("b", nil), post("/containers/{a}/rename?name=conf-b", nil)),
		tcs("container/rename/same", mk("a", nil), post("/containers/{a}/rename?name=conf-a", nil)),
		tcs("container/rename/invalid", mk("a", nil), post("/containers/{a}/rename?name="+q("bad name"), nil)),
		tcs("container/rename/empty", mk("a", nil), post("/containers/{a}/rename?name=", nil)),
		tcs("container/rename/missing", post("/containers/conf-nope/rename?name=conf-x", nil)),
		tcs("container/rename/running", mkRunning("a", nil), post("/containers/{a}/rename?name=conf-r", nil), inspect("a").pick("Name")),

		// Wait.
		tcs("container/wait/exit-code", mkRunning("a", nil, "sh", "-c", "exit 7"), wait("a")),
		tcs("container/wait/created-not-running", mk("a", nil), post("/containers/{a}/wait?condition=not-running", nil).within(5*time.Second)),
		tcs("container/wait/next-exit", mkRunning("a", nil, "sh", "-c", "sleep 1; exit 4"), post("/containers/{a}/wait?condition=next-exit", nil).within(30*time.Second)),
		tcs("container/wait/removed", mkRunning("a", hc(obj{"AutoRemove": true}), "sh", "-c", "exit 5"), post("/containers/{a}/wait?condition=removed", nil).within(30*time.Second)),
		tcs("container/wait/bad-condition", mk("a", nil), post("/containers/{a}/wait?condition=bogus", nil)),
		tcs("container/wait/missing", post("/containers/conf-nope/wait", nil)),
		tcs("container/wait/sdk", mkRunning("a", nil, "sh", "-c", "exit 2"), sdk("ContainerWait", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			w := c.ContainerWait(ctx, x("{a}"), client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
			select {
			case r := <-w.Result:
				return r, nil
			case err := <-w.Error:
				return nil, err
			}
		})),

		// Attach.
		tcs("container/attach/stream-logs", mkRunning("a", obj{"AttachStdout": true, "AttachStderr": true}, "sh", "-c", "echo one; sleep 1; echo two >&2"),
			post("/containers/{a}/attach?stream=1&logs=1&stdout=1&stderr=1", nil).hijacked("", 15*time.Second)),
		tcs("container/attach/stdin", mk("a", obj{"Cmd": []string{"cat"}, "OpenStdin": true, "StdinOnce": true, "AttachStdin": true, "AttachStdout": true}),
			start("a"), post("/containers/{a}/attach?stream=1&stdin=1&stdout=1", nil).hijacked("hello\n", 15*time.Second), wait("a")),
		tcs("container/attach/tty", mkRunning("a", obj{"Tty": true}, "sh", "-c", "sleep 1; echo tty"),
			post("/containers/{a}/attach?stream=1&logs=1&stdout=1", nil).hijacked("", 15*time.Second)),
		tcs("container/attach/bad-detach-keys", mkRunning("a", nil), post("/containers/{a}/attach?stream=1&stdout=1&detachKeys=ctrl-", nil).hijacked("", 3*time.Second)),
		tcs("container/attach/missing", post("/containers/conf-nope/attach?stream=1&stdout=1", nil).hijacked("", 3*time.Second)),
		tcs("container/attach/stopped-logs", mkExited("a", nil, "echo", "done"), post("/containers/{a}/attach?logs=1&stdout=1", nil).hijacked("", 5*time.Second)),

		// Logs.
		tcs("container/logs/stdout-stderr", mkExited("a", nil, "sh", "-c", "echo out; sleep 0.2; echo err >&2"), logs("a")),
		tcs("container/logs/no-stream-chosen", mkExited("a", nil), get("/containers/{a}/logs")),
		tcs("container/logs/tail", mkExited("a", nil, "sh", "-c", "echo 1; echo 2; echo 3"), get("/containers/{a}/logs?stdout=1&tail=2")),
		tcs("container/logs/tail-bad", mkExited("a", nil, "echo", "x"), get("/containers/{a}/logs?stdout=1&tail=lots")),
		tcs("container/logs/tail-negative", mkExited("a", nil, "sh", "-c", "echo 1; echo 2"), get("/containers/{a}/logs?stdout=1&tail=-1")),
		tcs("container/logs/tail-zero", mkExited("a", nil, "sh", "-c", "echo 1; echo 2"), get("/containers/{a}/logs?stdout=1&tail=0")),
		// The tail counts the lines of both streams; the streams asked for
		// are chosen among them.
		tcs("container/logs/tail-both-streams", mkExited("a", nil, "sh", "-c", "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2"),
			get("/containers/{a}/logs?stdout=1&tail=2")),
		tcs("container/logs/tail-since", mkExited("a", nil, "sh", "-c", "echo 1; echo 2; echo 3"), get("/containers/{a}/logs?stdout=1&tail=2&since=1")),
		tcs("container/logs/since-future", mkExited("a", nil, "echo", "x"), get("/containers/{a}/logs?stdout=1&since=99999999999")),
		tcs("container/logs/until-bad", mkExited("a", nil), get("/containers/{a}/logs?stdout=1&until=x")),
		tcs("container/logs/since-bad-fraction", mkExited("a", nil), get("/containers/{a}/logs?stdout=1&since=1.x")),
		tcs("container/logs/since-bad-missing", get("/containers/conf-nope/logs?stdout=1&since=yesterday")),
		tcs("container/logs/no-stream-missing", get("/containers/conf-nope/logs")),
		// Nine digits of fraction always: with thirty lines one of them
		// ends in zero almost surely.
		tcs("container/logs/timestamps-many", mkExited("a", nil, "seq", "1", "30"), get("/containers/{a}/logs?stdout=1&timestamps=1")),
		tcs("container/logs/timestamps", mkExited("a", nil, "echo", "stamp"), get("/containers/{a}/logs?stdout=1&timestamps=1")),
		tcs("container/logs/since-bad", mkExited("a", nil), get("/containers/{a}/logs?stdout=1&since=yesterday")),
		tcs("container/logs/tty", mkExited("a", obj{"Tty": true}, "echo", "tty out"), logs("a")),
		tcs("container/logs/follow-exited", mkExited("a", nil, "echo", "f"), get("/containers/{a}/logs?stdout=1&follow=1").stream(0, 5*time.Second)),
		tcs("container/logs/follow-running", mkRunning("a", nil, "sh", "-c", "echo first; sleep 300"),
			get("/containers/{a}/logs?stdout=1&follow=1").after(500*time.Millisecond).stream(0, 2*time.Second)),
		tcs("container/logs/missing", get("/containers/conf-nope/logs?stdout=1")),
		tcs("container/logs/driver-none", mkExited("a", hc(obj{"LogConfig": obj{"Type": "none"}}), "echo", "x"), logs("a")),
		tcs("container/logs/sdk", mkExited("a", nil, "sh", "-c", "echo sdk-out"), sdk("ContainerLogs", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			r, err := c.ContainerLogs(ctx, x("{a}"), client.ContainerLogsOptions{ShowStdout: true})
			if err != nil {
				return nil, err
			}
			defer r.Close()
			b, err := io.ReadAll(r)
			return string(b), err
		})),

		// Top, stats, changes, export, resize, update.
		tcs("container/top/running", mkRunning("a", nil), get("/containers/{a}/top")),
		tcs("container/top/ps-args", mkRunning("a", nil), get("/containers/{a}/top?ps_args="+q("-o pid,comm"))),
		tcs("container/top/stopped", mkExited("a", nil), get("/containers/{a}/top")),
		tcs("container/top/missing", get("/containers/conf-nope/top")),
		tcs("container/stats/one-shot", mkRunning("a", nil), get("/containers/{a}/stats?stream=0").vol("*stats*", "read", "preread", "networks*", "num_procs", "pids_stats*")),
		tcs("container/stats/stopped", mkExited("a", nil), get("/containers/{a}/stats?stream=0").vol("read", "preread")),
		tcs("container/stats/missing", get("/containers/conf-nope/stats?stream=0")),
		tcs("container/changes/files", mkExited("a", nil, "sh", "-c", "mkdir -p /conf/d && echo x > /conf/d/f && rm /etc/group && echo y >> /etc/passwd"),
			get("/containers/{a}/changes").anyOrder()),
		tcs("container/changes/none", mk("a", nil), get("/containers/{a}/changes")),
		tcs("container/changes/missing", get("/containers/conf-nope/changes")),
		tcs("container/export/created", mk("a", nil), get("/containers/{a}/export").tarList()),
		tcs("container/export/missing", get("/containers/conf-nope/export")),
		tcs("container/resize/running-tty", mkRunning("a", obj{"Tty": true}), post("/containers/{a}/resize?h=40&w=100", nil)),
		tcs("container/resize/bad-height", mkRunning("a", obj{"Tty": true}), post("/containers/{a}/resize?h=tall&w=100", nil)),
		tcs("container/resize/stopped", mk("a", obj{"Tty": true}), post("/containers/{a}/resize?h=40&w=100", nil)),
		tcs("container/update/memory", mkRunning("a", nil), post("/containers/{a}/update", obj{"Memory": 128 << 20, "MemorySwap": 256 << 20}),
			inspect("a").pick("HostConfig")),
		tcs("container/update/cpu", mkRunning("a", nil), post("/containers/{a}/update", obj{"CpuQuota": 50000, "CpuPeriod": 100000, "CpusetCpus": "0", "CpuShares": 256}),
			inspect("a").pick("HostConfig")),
		tcs("container/update/cpu-applied", mkRunning("a", nil), post("/containers/{a}/update", obj{"CpuQuota": 50000, "CpuPeriod": 100000}).asSetup(),
			post("/containers/{a}/exec", obj{"Cmd": []string{"sh", "-c", "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"}, "AttachStdout": true}).capture("e", "Id").asSetup(),
			post("/exec/{e}/start", obj{"Detach": false}).hijacked("", 10*time.Second)),
		tcs("container/update/restart-policy", mk("a", nil), post("/containers/{a}/update", obj{"RestartPolicy": obj{"Name": "unless-stopped"}}), inspect("a").pick("HostConfig")),
		tcs("container/update/restart-on-autoremove", mk("a", hc(obj{"AutoRemove": true})), post("/containers/{a}/update", obj{"RestartPolicy": obj{"Name": "always"}})),
		tcs("container/update/missing", post("/containers/conf-nope/update", obj{"Memory": 128 << 20})),
		tcs("container/update/bad-json", mk("a", nil), post("/containers/{a}/update", "{")),
		tcs("container/update/memory-too-low", mkRunning("a", nil), post("/containers/{a}/update", obj{"Memory": 1024})),

		// Lists and filters.
		tcs("container/list/empty", get("/containers/json")),
		tcs("container/list/all", mk("a", nil), get("/containers/json?all=1")),
		tcs("container/list/running", mkRunning("a", obj{"Labels": obj{"x": "y"}}), get("/containers/json")),
		tcs("container/list/newest-first", mk("a", nil), mk("b", nil), mk("c", nil), get("/containers/json?all=1")),
		tcs("container/list/limit", mk("a", nil), mk("b", nil), get("/containers/json?all=1&limit=1")),
		tcs("container/list/size", mk("a", nil), get("/containers/json?all=1&size=1")),
		tcs("container/list/filter-status-exited", mkExited("a", nil), mk("b", nil), get("/containers/json?all=1&"+filters("status", "exited"))),
		tcs("container/list/filter-status-created", mkExited("a", nil), mk("b", nil), get("/containers/json?all=1&"+filters("status", "created"))),
		tcs("container/list/filter-status-bad", get("/containers/json?"+filters("status", "bogus"))),
		tcs("container/list/filter-name", mk("a", nil), mk("b", nil), get("/containers/json?all=1&"+filters("name", "conf-a"))),
		tcs("container/list/filter-name-regexp", mk("a", nil), mk("ab", nil), get("/containers/json?all=1&"+filters("name", "^/conf-a$"))),
		tcs("container/list/filter-id", mk("a", nil), mk("b", nil), get("/containers/json?all=1&"+filters("id", "{a}"))),
		tcs("container/list/filter-label", mk("a", obj{"Labels": obj{"k": "v"}}), mk("b", obj{"Labels": obj{"k": "w"}}), get("/containers/json?all=1&"+filters("label", "k=v"))),
		tcs("container/list/filter-label-key", mk("a", obj{"Labels": obj{"k": "v"}}), mk("b", nil), get("/containers/json?all=1&"+filters("label", "k"))),
		// Several label values are ANDed (compose lists a project's
		// containers with two).
		tcs("container/list/filter-label-two", mk("a", obj{"Labels": obj{"k": "v", "j": "w"}}), mk("b", obj{"Labels": obj{"k": "v"}}), mk("c", obj{"Labels": obj{"j": "w"}}),
			get("/containers/json?all=1&"+filters("label", "k=v", "label", "j")).pick("Id", "Names", "Labels")),
		tcs("container/list/filter-ancestor", mk("a", nil), mk("b", obj{"Image": imgRich}), get("/containers/json?all=1&"+filters("ancestor", imgRich))),
		tcs("container/list/filter-ancestor-missing", mk("a", nil), get("/containers/json?all=1&"+filters("ancestor", "conf/nope"))),
		tcs("container/list/filter-before", mk("a", nil), mk("b", nil), mk("c", nil), get("/containers/json?all=1&"+filters("before", "conf-b"))),
		tcs("container/list/filter-since", mk("a", nil), mk("b", nil), mk("c", nil), get("/containers/json?all=1&"+filters("since", "conf-a"))),
		tcs("container/list/filter-since-missing", get("/containers/json?all=1&"+filters("since", "conf-nope"))),
		tcs("container/list/filter-exited-code", mkExited("a", nil, "sh", "-c", "exit 3"), mkExited("b", nil), get("/containers/json?all=1&"+filters("exited", "3"))),
		tcs("container/list/filter-exited-bad", get("/containers/json?all=1&"+filters("exited", "x"))),
		tcs("container/list/filter-volume", mk("a", hc(obj{"Binds": []string{"conf-fv:/x"}})), mk("b", nil), get("/containers/json?all=1&"+filters("volume", "conf-fv"))),
		tcs("container/list/filter-network", mk("a", nil), mk("b", hc(obj{"NetworkMode": "none"})), get("/containers/json?all=1&"+filters("network", "none"))),
		tcs("container/list/filter-publish", mk("a", obj{"ExposedPorts": obj{"80/tcp": obj{}}, "HostConfig": obj{"PortBindings": obj{"80/tcp": []obj{{"HostPort": "{port2}"}}}}}),
			mk("b", nil), get("/containers/json?all=1&"+filters("publish", "{port2}")).keeping("*HostPort")),
		tcs("container/list/filter-expose", mk("a", obj{"ExposedPorts": obj{"80/tcp": obj{}}}), mk("b", nil), get("/containers/json?all=1&"+filters("expose", "80"))),
		tcs("container/list/filter-health", mk("a", nil), get("/containers/json?all=1&"+filters("health", "none"))),
		tcs("container/list/filter-health-bad", get("/containers/json?all=1&"+filters("health", "bogus"))),
		tcs("container/list/filter-is-task", mk("a", nil), get("/containers/json?all=1&"+filters("is-task", "false"))),
		tcs("container/list/filter-before-missing", get("/containers/json?all=1&"+filters("before", "conf-nope"))),
		tcs("container/list/filter-publish-colon", get("/containers/json?"+filters("publish", "8080:80"))),
		tcs("container/list/filter-expose-bad", get("/containers/json?"+filters("expose", "80-70"))),
		tcs("container/list/filter-expose-word", get("/containers/json?"+filters("expose", "http"))),
		tcs("container/list/filter-is-task-bad", get("/containers/json?"+filters("is-task", "maybe"))),
		tcs("container/list/filter-label-not", get("/containers/json?"+filters("label!", "k"))),
		tcs("container/list/filter-id-prefix", mk("a", nil), get("/containers/json?all=1&"+filters("id", "{a:12}")).pick("Id", "Names")),
		tcs("container/list/filter-status-two", mkExited("a", nil), mk("b", nil), mkRunning("c", nil),
			get("/containers/json?"+filters("status", "exited", "status", "created")).pick("Id", "Names", "State")),
		tcs("container/list/limit-bad", get("/containers/json?limit=many")),
		tcs("container/list/filter-unknown", get("/containers/json?"+filters("nope", "1"))),
		tcs("container/list/filter-malformed", get("/containers/json?filters="+q("{not json"))),
		tcs("container/list/filter-old-format", mk("a", nil), get("/containers/json?all=1&filters="+q(`{"name":["conf-a"]}`))),
		tcs("container/list/bad-all", get("/containers/json?all=maybe")),
		tcs("container/list/sdk", mk("a", obj{"Labels": obj{"k": "v"}}), sdk("ContainerList", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			r, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "k=v")})
			return r.Items, err
		})),

		// Prune.
		tcs("container/prune/exited", mkExited("a", nil), mk("b", nil), mkRunning("c", nil), post("/containers/prune", nil).vol("SpaceReclaimed").anyOrder("ContainersDeleted"),
			get("/containers/json?all=1")),
		tcs("container/prune/until-keeps-new", mkExited("a", nil), post("/containers/prune?"+filters("until", "1h"), nil), get("/containers/json?all=1")),
		tcs("container/prune/until-bad", post("/containers/prune?"+filters("until", "soon"), nil)),
		tcs("container/prune/label", mkExited("a", obj{"Labels": obj{"k": "v"}}), mkExited("b", nil), post("/containers/prune?"+filters("label", "k=v"), nil).vol("SpaceReclaimed"),
			get("/containers/json?all=1")),
		tcs("container/prune/label-not", mkExited("a", obj{"Labels": obj{"k": "v"}}), mkExited("b", nil), post("/containers/prune?"+filters("label!", "k=v"), nil).vol("SpaceReclaimed"),
			get("/containers/json?all=1")),
		tcs("container/prune/label-two", mkExited("a", obj{"Labels": obj{"k": "v", "j": "w"}}), mkExited("b", obj{"Labels": obj{"k": "v"}}),
			post("/containers/prune?"+filters("label", "k=v", "label", "j=w"), nil).vol("SpaceReclaimed"), get("/containers/json?all=1").pick("Id", "Names")),
		tcs("container/prune/label-not-two", mkExited("a", obj{"Labels": obj{"k": "v", "j": "w"}}), mkExited("b", obj{"Labels": obj{"k": "v"}}),
			post("/containers/prune?"+filters("label!", "k=v", "label!", "j=w"), nil).vol("SpaceReclaimed"), get("/containers/json?all=1").pick("Id", "Names")),
		tcs("container/prune/until-label", mkExited("a", obj{"Labels": obj{"k": "v"}}), mkExited("b", nil),
			post("/containers/prune?"+filters("until", "1h", "label", "k"), nil), get("/containers/json?all=1").pick("Id", "Names")),
		tcs("container/prune/until-rfc3339", mkExited("a", nil), post("/containers/prune?"+filters("until", "2020-01-01T00:00:00Z"), nil), get("/containers/json?all=1").pick("Id", "Names")),
		tcs("container/prune/until-unix", mkExited("a", nil), post("/containers/prune?"+filters("until", "{since}"), nil), get("/containers/json?all=1").pick("Id", "Names")),
		tcs("container/prune/until-two", post("/containers/prune?"+filters("until", "1h", "until", "2h"), nil)),
		tcs("container/prune/label-bad-json", post("/containers/prune?filters="+q("{bad"), nil)),
		tcs("container/prune/filter-unknown", post("/containers/prune?"+filters("nope", "1"), nil)),
	}
}
