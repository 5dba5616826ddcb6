package conformance

import (
	"context"
	"time"

	"github.com/moby/moby/client"
)

// execIn creates an exec of cmd in container NAME, captured as {e}.
func execIn(name string, cfg obj, cmd ...string) *step {
	body := obj{"Cmd": cmd, "AttachStdout": true, "AttachStderr": true}
	for k, v := range cfg {
		body[k] = v
	}
	return post("/containers/{"+name+"}/exec", body).capture("e", "Id")
}

// execRun starts exec {e} attached and reads its output.
func execRun(body obj) *step {
	if body == nil {
		body = obj{"Detach": false, "Tty": false}
	}
	return post("/exec/{e}/start", body).hijacked("", 15*time.Second)
}

func execInspect() *step { return get("/exec/{e}/json") }

func execCases() []*tcase {
	return []*tcase{
		tcs("exec/create/ok", mkRunning("a", nil), execIn("a", nil, "true"), execInspect()),
		tcs("exec/run/output", mkRunning("a", nil), execIn("a", nil, "sh", "-c", "echo out; sleep 0.2; echo err >&2").asSetup(), execRun(nil), execInspect()),
		tcs("exec/run/exit-code", mkRunning("a", nil), execIn("a", nil, "sh", "-c", "exit 5").asSetup(), execRun(nil), execInspect().pick("ExitCode", "Running")),
		tcs("exec/run/missing-binary", mkRunning("a", nil), execIn("a", nil, "/nonexistent").asSetup(), execRun(nil).likeMessage("no such file"),
			execInspect().after(200*time.Millisecond).pick("ExitCode", "Running")),
		tcs("exec/run/not-executable", mkRunning("a", nil), execIn("a", nil, "/etc/passwd").asSetup(), execRun(nil).likeMessage("permission denied"),
			execInspect().after(200*time.Millisecond).pick("ExitCode", "Running")),
		tcs("exec/run/tty", mkRunning("a", nil), execIn("a", obj{"Tty": true}, "echo", "tty").asSetup(), execRun(obj{"Detach": false, "Tty": true})),
		tcs("exec/run/start-tty-differs", mkRunning("a", nil), execIn("a", nil, "echo", "framed").asSetup(), execRun(obj{"Detach": false, "Tty": true})),
		tcs("exec/run/env-workdir-user", mkRunning("a", nil), execIn("a", obj{"Env": []string{"X=1"}, "WorkingDir": "/etc", "User": "nobody"}, "sh", "-c", "echo $X $(pwd) $(id -u)").asSetup(),
			execRun(nil)),
		tcs("exec/run/group-add-inherited", mkRunning("a", hc(obj{"GroupAdd": []string{"65534"}})), execIn("a", nil, "id", "-G").asSetup(), execRun(nil)),
		tcs("exec/run/stdin", mkRunning("a", nil), execIn("a", obj{"AttachStdin": true}, "cat").asSetup(),
			post("/exec/{e}/start", obj{"Detach": false}).hijacked("piped\n", 15*time.Second)),
		tcs("exec/run/detached", mkRunning("a", nil), execIn("a", nil, "sh", "-c", "exit 3").asSetup(), post("/exec/{e}/start", obj{"Detach": true}),
			execInspect().after(500*time.Millisecond).pick("ExitCode", "Running")),
		tcs("exec/run/twice", mkRunning("a", nil), execIn("a", nil, "true").asSetup(), execRun(nil).asSetup(), post("/exec/{e}/start", obj{"Detach": true})),
		tcs("exec/inspect/running", mkRunning("a", nil), execIn("a", nil, "sleep", "5").asSetup(), post("/exec/{e}/start", obj{"Detach": true}).asSetup(),
			execInspect().after(300*time.Millisecond)),
		tcs("exec/list-in-inspect", mkRunning("a", nil), execIn("a", nil, "true").asSetup(), get("/containers/{a}/json").pick("ExecIDs")),
		tcs("exec/create/stopped", mkExited("a", nil), execIn("a", nil, "true")),
		tcs("exec/create/created", mk("a", nil), execIn("a", nil, "true")),
		tcs("exec/create/paused", mkRunning("a", nil), post("/containers/{a}/pause", nil).asSetup(), execIn("a", nil, "true")),
		tcs("exec/create/no-cmd", mkRunning("a", nil), post("/containers/{a}/exec", obj{"AttachStdout": true})),
		tcs("exec/create/empty-cmd", mkRunning("a", nil), post("/containers/{a}/exec", obj{"Cmd": []string{}})),
		tcs("exec/create/missing-container", post("/containers/conf-nope/exec", obj{"Cmd": []string{"true"}})),
		tcs("exec/create/bad-json", mkRunning("a", nil), post("/containers/{a}/exec", "{")),
		tcs("exec/create/bad-user", mkRunning("a", nil), execIn("a", obj{"User": "nosuchuser"}, "true").asSetup(), execRun(nil).likeMessage("nosuchuser"),
			execInspect().after(200*time.Millisecond).pick("ExitCode", "Running")),
		tcs("exec/start/missing", post("/exec/conf-nope/start", obj{"Detach": true})),
		tcs("exec/start/bad-json", mkRunning("a", nil), execIn("a", nil, "true").asSetup(), post("/exec/{e}/start", "{")),
		tcs("exec/start/container-stopped-since", mkRunning("a", nil), execIn("a", nil, "true").asSetup(), post("/containers/{a}/kill", nil).asSetup(),
			wait("a").asSetup(), post("/exec/{e}/start", obj{"Detach": true})),
		tcs("exec/inspect/missing", get("/exec/conf-nope/json")),
		tcs("exec/resize/missing", post("/exec/conf-nope/resize?h=10&w=10", nil)),
		tcs("exec/resize/not-running", mkRunning("a", nil), execIn("a", obj{"Tty": true}, "true").asSetup(), post("/exec/{e}/resize?h=10&w=10", nil)),
		tcs("exec/resize/running-tty", mkRunning("a", nil), execIn("a", obj{"Tty": true}, "sleep", "5").asSetup(),
			post("/exec/{e}/start", obj{"Detach": true, "Tty": true}).asSetup(), post("/exec/{e}/resize?h=10&w=10", nil).after(300*time.Millisecond)),
		tcs("exec/resize/running-no-tty", mkRunning("a", nil), execIn("a", nil, "sleep", "5").asSetup(),
			post("/exec/{e}/start", obj{"Detach": true}).asSetup(), post("/exec/{e}/resize?h=10&w=10", nil).after(300*time.Millisecond)),
		tcs("exec/resize/ended", mkRunning("a", nil), execIn("a", obj{"Tty": true}, "true").asSetup(),
			post("/exec/{e}/start", obj{"Detach": true, "Tty": true}).asSetup(), post("/exec/{e}/resize?h=10&w=10", nil).after(500*time.Millisecond)),
		tcs("exec/resize/failed", mkRunning("a", nil), execIn("a", nil, "/nonexistent").asSetup(),
			post("/exec/{e}/start", obj{"Detach": true}).asSetup(), post("/exec/{e}/resize?h=10&w=10", nil).after(300*time.Millisecond)),
		// A resize sent before the start waits for it (the docker CLI
		// sends one right after the start).
		func() *tcase {
			rs := post("/exec/{e}/resize?h=10&w=10", nil).within(15 * time.Second).background("rs")
			return tcs("exec/resize/before-start", mkRunning("a", nil), execIn("a", obj{"Tty": true}, "sleep", "3").asSetup(), rs,
				post("/exec/{e}/start", obj{"Detach": true, "Tty": true}).after(500*time.Millisecond).asSetup(), collect(rs))
		}(),
		tcs("exec/sdk/inspect", mkRunning("a", nil), sdk("ExecCreate", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ExecCreate(ctx, x("{a}"), client.ExecCreateOptions{Cmd: []string{"true"}})
		}).capture("e", "ID"), sdk("ExecInspect", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ExecInspect(ctx, x("{e}"), client.ExecInspectOptions{})
		})),
		tcs("exec/sdk/missing-container", sdk("ExecCreate", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ExecCreate(ctx, "conf-nope", client.ExecCreateOptions{Cmd: []string{"true"}})
		})),
	}
}
