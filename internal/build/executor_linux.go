package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/containerd/containerd/v2/core/mount"
	containerdoci "github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/continuity/fs"
	bkexecutor "github.com/moby/buildkit/executor"
	"github.com/moby/buildkit/executor/oci"
	resourcestypes "github.com/moby/buildkit/executor/resources/types"
	gatewayapi "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/identity"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/network"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/runtime"
)

// executor runs a build's RUN steps as containers of hull's own compute
// service (internal/runtime: an OCI bundle run by hull-shim), with the
// spec BuildKit's oci package makes for the step.
type executor struct {
	// root holds the bundles, resolv.conf and hosts of the steps.
	root     string
	rt       *runtime.Runtime
	networks map[pb.NetMode]network.Provider
}

var _ bkexecutor.Executor = (*executor)(nil)

func (e *executor) Run(ctx context.Context, id string, rootfs bkexecutor.Mount, mounts []bkexecutor.Mount, process bkexecutor.ProcessInfo, started chan<- struct{}) (_ resourcestypes.Recorder, retErr error) {
	startedOnce := sync.OnceFunc(func() {
		if started != nil {
			close(started)
		}
	})
	defer startedOnce()
	if id == "" {
		id = identity.NewID()
	}
	meta := process.Meta
	if meta.Proxy != nil {
		return nil, fmt.Errorf("run %q: a build network proxy is not supported by hull's builder: %w", meta.Args, errdefs.ErrNotImplemented)
	}
	provider, ok := e.networks[meta.NetMode]
	if !ok {
		return nil, fmt.Errorf("run %q: network mode %s: %w", meta.Args, meta.NetMode, errdefs.ErrNotImplemented)
	}
	ns, err := provider.New(ctx, meta.Hostname, network.NamespaceOptions{})
	if err != nil {
		return nil, fmt.Errorf("run %q: network: %w", meta.Args, err)
	}
	defer ns.Close()

	if err := os.MkdirAll(e.root, 0o711); err != nil {
		return nil, err
	}
	stateRoot, err := os.OpenRoot(e.root)
	if err != nil {
		return nil, err
	}
	defer stateRoot.Close()
	resolvName, err := oci.GetResolvConf(ctx, stateRoot, nil, nil, meta.NetMode)
	if err != nil {
		return nil, fmt.Errorf("run %q: resolv.conf: %w", meta.Args, err)
	}
	hostsName, cleanHosts, err := oci.GetHostsFile(ctx, stateRoot, meta.ExtraHosts, nil, meta.Hostname)
	if err != nil {
		return nil, fmt.Errorf("run %q: hosts: %w", meta.Args, err)
	}
	if cleanHosts != nil {
		defer cleanHosts()
	}

	mountable, err := rootfs.Src.Mount(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("run %q: root file system: %w", meta.Args, err)
	}
	rootMounts, release, err := mountable.Mount()
	if err != nil {
		return nil, fmt.Errorf("run %q: root file system: %w", meta.Args, err)
	}
	if release != nil {
		defer release()
	}
	bundle := filepath.Join(e.root, id)
	if err := os.Mkdir(bundle, 0o711); err != nil {
		return nil, fmt.Errorf("run %q: bundle: %w", meta.Args, err)
	}
	defer os.RemoveAll(bundle)
	rootfsPath := filepath.Join(bundle, "rootfs")
	if err := os.Mkdir(rootfsPath, 0o700); err != nil {
		return nil, err
	}
	if err := mount.All(rootMounts, rootfsPath); err != nil {
		return nil, fmt.Errorf("run %q: mount the root file system: %w", meta.Args, err)
	}
	defer mount.Unmount(rootfsPath, 0)
	defer bkexecutor.MountStubsCleaner(context.WithoutCancel(ctx), rootfsPath, mounts, meta.RemoveMountStubsRecursive)()

	uid, gid, sgids, err := oci.GetUser(rootfsPath, meta.User)
	if err != nil {
		return nil, fmt.Errorf("run %q: user %q: %w", meta.Args, meta.User, errors.Join(err, errdefs.ErrInvalidArgument))
	}
	opts := []containerdoci.SpecOpts{oci.WithUIDGID(uid, gid, sgids)}
	if meta.ReadonlyRootFS {
		opts = append(opts, containerdoci.WithRootFSReadonly())
	}
	spec, cleanup, err := oci.GenerateSpec(ctx, meta, mounts, id, filepath.Join(e.root, resolvName), filepath.Join(e.root, hostsName), ns, "", oci.ProcessSandbox, nil, "", false, "", nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("run %q: OCI spec: %w", meta.Args, err)
	}
	defer cleanup()
	spec.Root.Path = rootfsPath
	spec.Root.Readonly = rootfs.Readonly
	spec.Process.Terminal = false
	cwd, err := fs.RootPath(rootfsPath, meta.Cwd)
	if err != nil {
		return nil, fmt.Errorf("run %q: working directory %s: %w", meta.Args, meta.Cwd, errors.Join(err, errdefs.ErrInvalidArgument))
	}
	if _, err := os.Stat(cwd); err != nil {
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return nil, fmt.Errorf("run %q: working directory %s: %w", meta.Args, meta.Cwd, err)
		}
		os.Chown(cwd, int(uid), int(gid))
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return nil, err
	}

	streams, err := newStreams(process)
	if err != nil {
		return nil, fmt.Errorf("run %q: streams: %w", meta.Args, err)
	}
	defer streams.close()
	code, err := e.rt.Run(ctx, id, bundle, runtime.CreateOptions{Stdin: streams.stdin, Stdout: streams.stdout, Stderr: streams.stderr}, func() {
		streams.started()
		startedOnce()
	})
	streams.wait()
	if err != nil && code < 0 {
		return nil, fmt.Errorf("run %q: %w", meta.Args, err)
	}
	return nil, exitError(ctx, code, err, meta.ValidExitCodes)
}

// exitError is BuildKit's answer for a step that exited with code.
func exitError(ctx context.Context, code int, err error, valid []int) error {
	if valid == nil && code == 0 || valid != nil && slices.Contains(valid, code) {
		return nil
	}
	exit := &gatewayapi.ExitError{ExitCode: uint32(code), Err: err}
	if ctx.Err() != nil {
		exit.Err = errors.Join(context.Cause(ctx), err)
	}
	return exit
}

func (*executor) Exec(ctx context.Context, id string, process bkexecutor.ProcessInfo) error {
	return fmt.Errorf("exec %q in build container %s: not supported by hull's builder yet (issue 14): %w", process.Meta.Args, id, errdefs.ErrNotImplemented)
}

// streams are a step's standard streams as files for the shim, copied
// from and to BuildKit's readers and writers.
type streams struct {
	stdin, stdout, stderr *os.File
	// ours are the ends the copies use, closed once the copies end.
	ours   []*os.File
	copies sync.WaitGroup
	start  []func()
}

func newStreams(p bkexecutor.ProcessInfo) (*streams, error) {
	s := &streams{}
	var err error
	if p.Stdin == nil {
		if s.stdin, err = os.Open(os.DevNull); err != nil {
			return nil, err
		}
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.stdin = r
		s.start = append(s.start, func() {
			go func() {
				io.Copy(w, p.Stdin)
				w.Close()
			}()
		})
	}
	out := func(dst io.Writer) (*os.File, error) {
		if dst == nil {
			return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.ours = append(s.ours, r)
		s.copies.Add(1)
		go func() {
			defer s.copies.Done()
			io.Copy(dst, r)
		}()
		return w, nil
	}
	if s.stdout, err = out(p.Stdout); err != nil {
		s.close()
		return nil, err
	}
	if s.stderr, err = out(p.Stderr); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *streams) started() {
	for _, f := range s.start {
		f()
	}
}

// wait closes the shim's ends of the output pipes and waits for the
// copies to drain them.
func (s *streams) wait() {
	for _, f := range []*os.File{s.stdout, s.stderr} {
		if f != nil {
			f.Close()
		}
	}
	s.copies.Wait()
}

func (s *streams) close() {
	for _, f := range append([]*os.File{s.stdin, s.stdout, s.stderr}, s.ours...) {
		if f != nil {
			f.Close()
		}
	}
}

// removeLeftoverSteps removes what a hull-buildkit that died (killed, or
// its daemon with it) left of its RUN steps: their containers still
// running under their shims, their root file systems still mounted in
// the bundles, and the bundles. It runs before the worker starts, so no
// step of this process is among them.
func (e *executor) removeLeftoverSteps(ctx context.Context) error {
	var errs []error
	states, err := e.rt.List(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("list the steps' containers: %w", err))
	}
	ids := map[string]bool{}
	for _, st := range states {
		ids[st.ID] = true
	}
	// A step killed while it was being made has a container state
	// without a shim, which List does not report.
	if ents, err := os.ReadDir(filepath.Join(e.rt.Root(), "state")); err == nil {
		for _, ent := range ents {
			ids[ent.Name()] = true
		}
	}
	for id := range ids {
		if err := e.rt.Delete(ctx, id, true); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove step container %s: %w", id, err))
		}
	}
	entries, err := os.ReadDir(e.root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, ent := range entries {
		if !ent.IsDir() {
			continue
		}
		bundle := filepath.Join(e.root, ent.Name())
		// Mounts below the root file system first (a step's binds
		// stubs live in its own namespace; these are the host's).
		mount.UnmountRecursive(filepath.Join(bundle, "rootfs"), 0)
		if err := os.RemoveAll(bundle); err != nil {
			errs = append(errs, fmt.Errorf("remove step bundle %s: %w", ent.Name(), err))
		}
	}
	return errors.Join(errs...)
}
