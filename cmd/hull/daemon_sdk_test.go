package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// TestDaemonSDK drives the daemon through the official Go SDK (it runs
// whether or not the docker CLI is installed): load, create, attach before
// start, wait, start, logs, exec, inspect, list, remove.
func TestDaemonSDK(t *testing.T) {
	buildShim(t)
	_, dir := hullDaemon(t)
	ctx := context.Background()
	cli, err := client.New(client.WithHost("unix://"+filepath.Join(dir, "hull.sock")), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{}); err != nil || v.APIVersion != "1.47" {
		t.Fatalf("version: %+v %v", v, err)
	}

	pre := filepath.Join(dir, "pre")
	run(t, 0, busyboxTar(t), hullBin, "--root", pre, "image", "import", "-", "sdk/busybox:1")
	archive := filepath.Join(dir, "bb.tar")
	hull(t, "--root", pre, "image", "save", "-o", archive, "sdk/busybox:1")
	f, _ := os.Open(archive)
	load, err := cli.ImageLoad(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := io.ReadAll(load)
	load.Close()
	f.Close()
	if !strings.Contains(string(msgs), "Loaded image: sdk/busybox:1") {
		t.Fatalf("load: %s", msgs)
	}

	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:   "sdk",
		Config: &container.Config{Image: "sdk/busybox:1", Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, Env: []string{"A=1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	att, err := cli.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	wait := cli.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		t.Fatal(err)
	}
	att.Close()
	select {
	case res := <-wait.Result:
		if res.StatusCode != 3 {
			t.Errorf("wait: %d", res.StatusCode)
		}
	case err := <-wait.Error:
		t.Fatal(err)
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("attach: %q %q", stdout.String(), stderr.String())
	}
	logs, err := cli.ContainerLogs(ctx, created.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	stdcopy.StdCopy(&stdout, &stderr, logs)
	logs.Close()
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("logs: %q %q", stdout.String(), stderr.String())
	}
	info, err := cli.ContainerInspect(ctx, "sdk", client.ContainerInspectOptions{})
	if err != nil || info.Container.State.ExitCode != 3 || info.Container.Name != "/sdk" || info.Container.State.Status != container.StateExited {
		t.Errorf("inspect: %+v %v", info.Container.State, err)
	}

	// exec in a running container
	created2, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "sdk/busybox:1", Cmd: []string{"sleep", "100"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerStart(ctx, created2.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	ex, err := cli.ExecCreate(ctx, created2.ID, client.ExecCreateOptions{Cmd: []string{"sh", "-c", "echo $HOSTNAME; exit 4"}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	ea, err := cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stdcopy.StdCopy(&stdout, io.Discard, ea.Reader)
	ea.Close()
	if stdout.String() != created2.ID[:12]+"\n" {
		t.Errorf("exec output %q", stdout.String())
	}
	if ei, err := cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{}); err != nil || ei.ExitCode != 4 || ei.Running {
		t.Errorf("exec inspect: %+v %v", ei, err)
	}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil || len(list.Items) != 2 {
		t.Errorf("list: %+v %v", list, err)
	}
	for _, id := range []string{created.ID, created2.ID} {
		if _, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Error(err)
		}
	}
	if _, err := cli.ContainerInspect(ctx, "sdk", client.ContainerInspectOptions{}); err == nil || !strings.Contains(err.Error(), "No such container: sdk") {
		t.Errorf("inspect after rm: %v", err)
	}
}
