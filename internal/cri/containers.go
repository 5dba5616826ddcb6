package cri

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// MaxExecOutput caps what ExecSync keeps of each stream.
const MaxExecOutput = 16 << 20

func containerName(m *runtimeapi.ContainerMetadata, pod *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{"k8s", m.GetName(), pod.GetName(), pod.GetNamespace(), pod.GetUid(), fmt.Sprint(m.GetAttempt())}, "_")
}

// CreateContainer makes a container in a pod: it joins the pod's network
// and IPC namespaces (and its PID namespace when the container asks for
// the pod's), takes the pod's hostname, and logs to the pod's log folder.
func (s *Server) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	cfg := req.GetConfig()
	if cfg == nil || cfg.Metadata == nil || cfg.Metadata.Name == "" {
		return nil, fmt.Errorf("container config without metadata or name: %w", errdefs.ErrInvalidArgument)
	}
	pod, err := s.sandbox(ctx, req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	podMeta := fromJSON[*runtimeapi.PodSandboxMetadata](pod.Config.Labels[labelMeta])
	imgRef := cfg.GetImage().GetImage()
	img, err := s.imageByRef(ctx, imgRef)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, fmt.Errorf("image %q: %w", imgRef, errdefs.ErrNotFound)
	}
	labels := map[string]string{
		labelType: typeContainer, labelPod: pod.ID, labelMeta: toJSON(cfg.Metadata), labelLabels: toJSON(cfg.Labels),
		labelAnnotations: toJSON(cfg.Annotations), labelLogPath: cfg.LogPath, labelImage: imgRef,
	}
	if u := cfg.GetImage().GetUserSpecifiedImage(); u != "" {
		labels[labelUserImage] = u
	}
	c := &container.Config{Image: img.Id, Entrypoint: cfg.Command, Cmd: cfg.Args, WorkingDir: cfg.WorkingDir, Labels: labels,
		Tty: cfg.Tty, OpenStdin: cfg.Stdin, StdinOnce: cfg.StdinOnce, AttachStdin: cfg.Stdin, AttachStdout: true, AttachStderr: true}
	if len(cfg.Command) > 0 && cfg.Args == nil {
		c.Cmd = nil
	}
	for _, kv := range cfg.Envs {
		c.Env = append(c.Env, fmt.Sprintf("%s=%s", kv.Key, kv.Value))
	}
	podNS := fromJSON[*runtimeapi.NamespaceOption](pod.Config.Labels[labelNamespaces])
	host := &container.HostConfig{NetworkMode: container.NetworkMode("container:" + pod.ID), IpcMode: container.IpcMode("container:" + pod.ID),
		Annotations: map[string]string{annotationType: "container", annotationSandboxID: pod.ID, annotationName: cfg.Metadata.Name,
			annotationPodName: podMeta.GetName(), annotationPodNS: podMeta.GetNamespace()}}
	if pod.HostConfig != nil {
		host.CgroupParent = pod.HostConfig.CgroupParent
	}
	if podNS.GetIpc() == runtimeapi.NamespaceMode_NODE {
		host.IpcMode = "host"
	}
	lx := cfg.GetLinux()
	switch lx.GetSecurityContext().GetNamespaceOptions().GetPid() {
	case runtimeapi.NamespaceMode_POD:
		host.PidMode = container.PidMode("container:" + pod.ID)
	case runtimeapi.NamespaceMode_NODE:
		host.PidMode = "host"
	}
	if sc := lx.GetSecurityContext(); sc != nil {
		host.Privileged = sc.Privileged
		host.ReadonlyRootfs = sc.ReadonlyRootfs
		if sc.Capabilities != nil {
			host.CapAdd, host.CapDrop = sc.Capabilities.AddCapabilities, sc.Capabilities.DropCapabilities
		}
		switch {
		case sc.RunAsUser != nil:
			c.User = fmt.Sprint(sc.RunAsUser.Value)
		case sc.RunAsUsername != "":
			c.User = sc.RunAsUsername
		}
		if sc.RunAsGroup != nil {
			if c.User == "" {
				return nil, fmt.Errorf("container %s: a group (run_as_group %d) without a user: %w", cfg.Metadata.Name, sc.RunAsGroup.Value, errdefs.ErrInvalidArgument)
			}
			c.User += fmt.Sprintf(":%d", sc.RunAsGroup.Value)
		}
		for _, g := range sc.SupplementalGroups {
			host.GroupAdd = append(host.GroupAdd, fmt.Sprint(g))
		}
		if sc.SupplementalGroupsPolicy == runtimeapi.SupplementalGroupsPolicy_Strict {
			// The image's /etc/group adds no group (the engine reads
			// this annotation when it resolves the user).
			host.Annotations[annotationGroupsPolicy] = "Strict"
		}
		if err := securityOpts(host, sc); err != nil {
			return nil, fmt.Errorf("container %s: %w", cfg.Metadata.Name, err)
		}
	}
	if r := lx.GetResources(); r != nil {
		host.CPUShares, host.CPUQuota, host.CPUPeriod = r.CpuShares, r.CpuQuota, r.CpuPeriod
		host.Memory, host.CpusetCpus, host.CpusetMems = r.MemoryLimitInBytes, r.CpusetCpus, r.CpusetMems
		host.MemorySwap = swapLimit(r)
		if r.OomScoreAdj != 0 {
			host.OomScoreAdj = int(r.OomScoreAdj)
		}
	}
	for _, m := range cfg.Mounts {
		if m.HostPath == "" || m.ContainerPath == "" {
			return nil, fmt.Errorf("mount %q:%q: both paths are needed: %w", m.HostPath, m.ContainerPath, errdefs.ErrInvalidArgument)
		}
		if m.RecursiveReadOnly {
			// Submounts read-only too: the engine's
			// ReadOnlyForceRecursive, which needs a read-only,
			// private mount (as containerd refuses the others).
			if !m.Readonly {
				return nil, fmt.Errorf("mount %s: a recursive read-only mount must be read-only: %w", m.ContainerPath, errdefs.ErrInvalidArgument)
			}
			if m.Propagation != runtimeapi.MountPropagation_PROPAGATION_PRIVATE {
				return nil, fmt.Errorf("mount %s: a recursive read-only mount needs private propagation, not %s: %w", m.ContainerPath, m.Propagation, errdefs.ErrInvalidArgument)
			}
			host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.HostPath, Target: m.ContainerPath, ReadOnly: true,
				BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate, ReadOnlyForceRecursive: true}})
			continue
		}
		opts := []string{}
		if m.Readonly {
			opts = append(opts, "ro")
		}
		switch m.Propagation {
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			opts = append(opts, "rslave")
		case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			opts = append(opts, "rshared")
		}
		b := m.HostPath + ":" + m.ContainerPath
		if len(opts) > 0 {
			b += ":" + strings.Join(opts, ",")
		}
		host.Binds = append(host.Binds, b)
	}
	created, err := s.b.ContainerCreate(ctx, containerName(cfg.Metadata, podMeta), c, host, nil)
	if errdefs.IsConflict(err) && strings.Contains(errdefs.Message(err), "already in use") {
		return nil, fmt.Errorf("container %s: %v: %w", containerName(cfg.Metadata, podMeta), errdefs.Message(err), errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	logPath := ""
	if dir := pod.Config.Labels[labelLogDir]; dir != "" && cfg.LogPath != "" {
		logPath = filepath.Join(dir, cfg.LogPath)
	}
	if err := s.b.SetPodContainer(ctx, created.ID, logPath); err != nil {
		s.b.ContainerRemove(context.WithoutCancel(ctx), created.ID, true, true)
		return nil, err
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: created.ID}, nil
}

// ctr is the CRI container id names; NotFound when there is none or when
// it is not a CRI container.
func (s *Server) ctr(ctx context.Context, id string) (container.InspectResponse, error) {
	if id == "" {
		return container.InspectResponse{}, fmt.Errorf("no container id: %w", errdefs.ErrInvalidArgument)
	}
	in, err := s.b.ContainerInspect(ctx, id)
	if err != nil || in.Config == nil || in.Config.Labels[labelType] != typeContainer {
		return in, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	return in, nil
}

// StartContainer starts a created container. Its log file exists when it
// answers, as kubelet and critest read it right away (the shim makes it
// at the first line only).
func (s *Server) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	in, err := s.ctr(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if p := s.logPath(ctx, in); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("start container %s: its log: %w", in.ID, err)
		}
		f.Close()
	}
	if err := s.b.ContainerStart(ctx, in.ID); err != nil {
		return nil, fmt.Errorf("start container %s: %w", in.ID, err)
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer stops a container: SIGTERM (or the image's stop signal),
// SIGKILL after the timeout. A container that does not exist is no error.
func (s *Server) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	in, err := s.ctr(ctx, req.ContainerId)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	t := int(req.Timeout)
	if err := s.stop(ctx, in.ID, t); err != nil {
		return nil, fmt.Errorf("stop container %s: %w", in.ID, err)
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

// RemoveContainer removes a container, stopping it first. A container that
// does not exist is no error.
func (s *Server) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	in, err := s.ctr(ctx, req.ContainerId)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.b.ContainerRemove(ctx, in.ID, true, true); err != nil && !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("remove container %s: %w", in.ID, err)
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func containerState(st container.ContainerState) runtimeapi.ContainerState {
	switch st {
	case container.StateCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case container.StateExited, container.StateDead:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

// ListContainers lists the CRI's containers, filtered by id (or its
// prefix), state, pod and labels.
func (s *Server) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	list, err := s.b.ContainerList(ctx, true, -1, filters.NewArgs("label", labelType+"="+typeContainer))
	if err != nil {
		return nil, err
	}
	f := req.GetFilter()
	resp := &runtimeapi.ListContainersResponse{Containers: []*runtimeapi.Container{}}
	for _, c := range list {
		l := c.Labels
		state := containerState(c.State)
		labels := fromJSON[map[string]string](l[labelLabels])
		if f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) ||
			f.GetPodSandboxId() != "" && !strings.HasPrefix(l[labelPod], f.GetPodSandboxId()) ||
			f.GetState() != nil && f.GetState().State != state || !selects(f.GetLabelSelector(), labels) {
			continue
		}
		created := time.Unix(c.Created, 0).UnixNano()
		if in, err := s.b.ContainerInspect(ctx, c.ID); err == nil {
			created = parseTime(in.Created).UnixNano()
		}
		imgSpec, imgRef := s.containerImage(ctx, c.ImageID, l[labelImage])
		imgSpec.UserSpecifiedImage = l[labelUserImage]
		resp.Containers = append(resp.Containers, &runtimeapi.Container{
			Id: c.ID, PodSandboxId: l[labelPod], Metadata: fromJSON[*runtimeapi.ContainerMetadata](l[labelMeta]),
			Image: imgSpec, ImageRef: imgRef, ImageId: c.ImageID, State: state, CreatedAt: created,
			Labels: labels, Annotations: fromJSON[map[string]string](l[labelAnnotations]),
		})
	}
	return resp, nil
}

// ContainerStatus answers a container's state, times, exit and log path.
func (s *Server) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	in, err := s.ctr(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	l := in.Config.Labels
	imgSpec, imgRef := s.containerImage(ctx, in.Image, l[labelImage])
	imgSpec.UserSpecifiedImage = l[labelUserImage]
	st := &runtimeapi.ContainerStatus{
		Id: in.ID, Metadata: fromJSON[*runtimeapi.ContainerMetadata](l[labelMeta]), CreatedAt: parseTime(in.Created).UnixNano(),
		Image: imgSpec, ImageRef: imgRef, ImageId: in.Image,
		Labels: fromJSON[map[string]string](l[labelLabels]), Annotations: fromJSON[map[string]string](l[labelAnnotations]),
	}
	st.LogPath = s.logPath(ctx, in)
	if in.State != nil {
		st.State = containerState(in.State.Status)
		if st.State != runtimeapi.ContainerState_CONTAINER_CREATED {
			st.StartedAt = parseTime(in.State.StartedAt).UnixNano()
		}
		if st.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			st.FinishedAt = parseTime(in.State.FinishedAt).UnixNano()
			st.ExitCode = int32(in.State.ExitCode)
			switch {
			case in.State.OOMKilled:
				st.Reason = "OOMKilled"
			case in.State.ExitCode == 0:
				st.Reason = "Completed"
			default:
				st.Reason = "Error"
			}
			st.Message = in.State.Error
		}
	}
	for _, m := range in.Mounts {
		prop := runtimeapi.MountPropagation_PROPAGATION_PRIVATE
		switch m.Propagation {
		case "rslave", "slave":
			prop = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
		case "rshared", "shared":
			prop = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
		}
		st.Mounts = append(st.Mounts, &runtimeapi.Mount{ContainerPath: m.Destination, HostPath: m.Source, Readonly: !m.RW, Propagation: prop})
	}
	st.Resources = containerResources(in.HostConfig)
	if in.State != nil && in.State.Running {
		st.User = processUser(in.State.Pid)
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: st}
	if req.Verbose && in.State != nil {
		resp.Info = map[string]string{"info": toJSON(map[string]any{"pid": in.State.Pid, "sandboxID": l[labelPod]})}
	}
	return resp, nil
}

// logPath is the CRI container's log file: its log path in its pod's log
// folder; "" when either is not set.
func (s *Server) logPath(ctx context.Context, in container.InspectResponse) string {
	l := in.Config.Labels
	if l[labelLogPath] == "" {
		return ""
	}
	if pod, err := s.b.ContainerInspect(ctx, l[labelPod]); err == nil && pod.Config != nil && pod.Config.Labels[labelLogDir] != "" {
		return filepath.Join(pod.Config.Labels[labelLogDir], l[labelLogPath])
	}
	return ""
}

// cappedBuffer keeps the first max bytes written to it and takes the rest
// without keeping it.
type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// ExecSync runs a command in a running container and answers its output
// (at most 16 MiB of each stream) and exit code. Past the timeout the
// process is killed and the answer is DeadlineExceeded.
func (s *Server) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	in, err := s.ctr(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if len(req.Cmd) == 0 {
		return nil, fmt.Errorf("exec: no command: %w", errdefs.ErrInvalidArgument)
	}
	execID, err := s.b.ContainerExecCreate(ctx, in.ID, container.ExecCreateRequest{Cmd: req.Cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", in.ID, err)
	}
	stdout, stderr := &cappedBuffer{max: MaxExecOutput}, &cappedBuffer{max: MaxExecOutput}
	done := make(chan error, 1)
	go func() { done <- s.b.ContainerExecStart(context.WithoutCancel(ctx), execID, nil, nil, stdout, stderr) }()
	var timeout <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(time.Duration(req.Timeout) * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err = <-done:
	case <-timeout:
		s.b.ExecKill(execID)
		<-done
		return nil, status.Errorf(codes.DeadlineExceeded, "command %q in container %s timed out after %ds", strings.Join(req.Cmd, " "), in.ID, req.Timeout)
	case <-ctx.Done():
		s.b.ExecKill(execID)
		<-done
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", in.ID, err)
	}
	ei, err := s.b.ContainerExecInspect(ctx, execID)
	if err != nil {
		return nil, err
	}
	code := int32(0)
	if ei.ExitCode != nil {
		code = int32(*ei.ExitCode)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
}

// ReopenContainerLog reopens a running container's log after kubelet moved
// it away; it answers once the new file exists.
func (s *Server) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	in, err := s.ctr(ctx, req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := s.b.ReopenContainerLog(ctx, in.ID); err != nil {
		return nil, err
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}

// stop stops a container of the engine, SIGKILL after timeout seconds; one
// that is gone or does not run is no error.
func (s *Server) stop(ctx context.Context, id string, timeout int) error {
	err := s.b.ContainerStop(ctx, id, &timeout, "")
	if err == nil || errdefs.IsNotFound(err) || errdefs.IsNotModified(err) {
		return nil
	}
	if in, ierr := s.b.ContainerInspect(ctx, id); ierr != nil || in.State == nil || !in.State.Running {
		return nil // it stopped meanwhile, or was never started
	}
	return err
}
