package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	if v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{}); err != nil || v.APIVersion != "1.56" {
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

// TestDaemonSDKMore drives issue 5's operations through the Go SDK:
// stats, top, diff, pause/unpause, rename, update, cp both ways, export,
// commit, events, disk usage and prunes.
func TestDaemonSDKMore(t *testing.T) {
	buildShim(t)
	_, dir := hullDaemon(t)
	ctx := context.Background()
	cli, err := client.New(client.WithHost("unix://"+filepath.Join(dir, "hull.sock")), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	pre := filepath.Join(dir, "pre")
	run(t, 0, busyboxTar(t), hullBin, "--root", pre, "image", "import", "-", "sdk/busybox:1")
	archive := filepath.Join(dir, "bb.tar")
	hull(t, "--root", pre, "image", "save", "-o", archive, "sdk/busybox:1")
	f, _ := os.Open(archive)
	load, err := cli.ImageLoad(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(load)
	load.Close()
	f.Close()

	evs := cli.Events(ctx, client.EventsListOptions{Filters: client.Filters{"type": {"container": true}}})
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "more",
		Config: &container.Config{Image: "sdk/busybox:1", Cmd: []string{"sh", "-c", "echo x > /tmp/mark; while :; do :; done"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := created.ID
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-evs.Messages:
		if m.Action != "create" || m.Actor.ID != id {
			t.Errorf("first event: %+v", m)
		}
	case err := <-evs.Err:
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		d, err := cli.ContainerDiff(ctx, id, client.ContainerDiffOptions{})
		return err == nil && len(d.Changes) == 2 && d.Changes[1].Path == "/tmp/mark"
	}, "the diff of the running container")

	st, err := cli.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: false})
	if err != nil {
		t.Fatal(err)
	}
	var s container.StatsResponse
	json.NewDecoder(st.Body).Decode(&s)
	st.Body.Close()
	cpuDelta := s.CPUStats.CPUUsage.TotalUsage - s.PreCPUStats.CPUUsage.TotalUsage
	sysDelta := s.CPUStats.SystemUsage - s.PreCPUStats.SystemUsage
	if cpuDelta == 0 || sysDelta == 0 || s.CPUStats.OnlineCPUs == 0 || s.MemoryStats.Usage == 0 || s.PidsStats.Current == 0 {
		t.Errorf("stats of a busy container: %+v", s)
	}
	top, err := cli.ContainerTop(ctx, id, client.ContainerTopOptions{})
	if err != nil || len(top.Processes) != 1 || !slices.Contains(top.Titles, "PID") {
		t.Errorf("top: %+v %v", top, err)
	}
	if _, err := cli.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		t.Fatal(err)
	}
	if info, _ := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); !info.Container.State.Paused {
		t.Errorf("paused: %+v", info.Container.State)
	}
	if _, err := cli.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: "renamed"}); err != nil {
		t.Fatal(err)
	}
	limit := int64(64)
	if _, err := cli.ContainerUpdate(ctx, id, client.ContainerUpdateOptions{Resources: &container.Resources{PidsLimit: &limit}}); err != nil {
		t.Fatal(err)
	}

	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	tw.WriteHeader(&tar.Header{Name: "copied", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("cp\n"))
	tw.Close()
	if _, err := cli.CopyToContainer(ctx, "renamed", client.CopyToContainerOptions{DestinationPath: "/tmp", Content: &in}); err != nil {
		t.Fatal(err)
	}
	out, err := cli.CopyFromContainer(ctx, "renamed", client.CopyFromContainerOptions{SourcePath: "/tmp/copied"})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(out.Content)
	hdr, err := tr.Next()
	body, _ := io.ReadAll(tr)
	out.Content.Close()
	if err != nil || hdr.Name != "copied" || string(body) != "cp\n" || out.Stat.Name != "copied" || out.Stat.Size != 3 {
		t.Errorf("cp out: %+v %q %+v %v", hdr, body, out.Stat, err)
	}

	exp, err := cli.ContainerExport(ctx, id, client.ContainerExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	tr = tar.NewReader(exp)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
	}
	exp.Close()
	if !names["tmp/mark"] || !names["tmp/copied"] || !names["bin/busybox"] {
		t.Errorf("export has %d entries, lacks ours", len(names))
	}
	cm, err := cli.ContainerCommit(ctx, id, client.ContainerCommitOptions{Reference: "sdk/committed:1", Changes: []string{`CMD ["cat", "/tmp/copied"]`}})
	if err != nil || !strings.HasPrefix(cm.ID, "sha256:") {
		t.Fatalf("commit: %+v %v", cm, err)
	}

	if _, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	du, err := cli.DiskUsage(ctx, client.DiskUsageOptions{Containers: true, Images: true, Volumes: true})
	if err != nil {
		t.Fatal(err)
	}
	if du.Images.TotalCount != 2 {
		t.Errorf("disk usage: %+v", du.Images)
	}
	pr, err := cli.ImagePrune(ctx, client.ImagePruneOptions{Filters: client.Filters{"dangling": {"false": true}}})
	if err != nil || len(pr.Report.ImagesDeleted) == 0 {
		t.Errorf("image prune: %+v %v", pr, err)
	}
	if _, err := cli.ContainerPrune(ctx, client.ContainerPruneOptions{}); err != nil {
		t.Error(err)
	}
}
