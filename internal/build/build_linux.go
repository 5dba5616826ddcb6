package build

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/containerd/containerd/v2/core/diff/apply"
	"github.com/containerd/containerd/v2/core/images"
	ctdmetadata "github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/core/mount"
	ctdsnapshots "github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/containerd/v2/plugins/diff/walking"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/cache/metadata"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/control"
	"github.com/moby/buildkit/frontend"
	dockerfile "github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/gateway"
	"github.com/moby/buildkit/frontend/gateway/forwarder"
	"github.com/moby/buildkit/session"
	containerdsnapshot "github.com/moby/buildkit/snapshot/containerd"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/solver/bboltcachestorage"
	"github.com/moby/buildkit/util/db/boltutil"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/leaseutil"
	bkversion "github.com/moby/buildkit/version"
	"github.com/moby/buildkit/worker"
	"github.com/moby/buildkit/worker/base"
	wlabel "github.com/moby/buildkit/worker/label"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"sync"

	"github.com/hullproject/hull/internal/runtime"
)

// buildkit is a started BuildKit: the control service and what it owns.
type buildkit struct {
	sessions   *session.Manager
	controller *control.Controller
	grpc       *grpc.Server
	h2         *http2.Server
	// uploads are the contexts of legacy builds (POST /build), served
	// to BuildKit's HTTP source.
	uploads *uploads
	// hostGateway is the default bridge's gateway, for --add-host
	// NAME:host-gateway.
	hostGateway string
	// registries are the daemon's mirrors and insecure registries.
	registries Registries
	// clientOnce makes bkc, BuildKit's client of this control service,
	// which legacy builds solve through.
	clientOnce sync.Once
	bkc        *bkclient.Client
	bkcErr     error
	// running are the legacy builds under way, by buildid, for POST
	// /build/cancel.
	running solves
	// closers close, last first, what the start opened.
	closers []func() error
}

// snapshotterName is BuildKit's own overlay snapshotter's name in its
// containerd metadata.
const snapshotterName = "overlayfs"

// startBuildKit opens BuildKit's state under root and makes its control
// service: one worker (BuildKit's base worker on its own overlay
// snapshotter and content store, RUN on hull's executor), the
// dockerfile.v0 frontend, a bbolt cache and history database.
func startBuildKit(ctx context.Context, root, execRoot, daemonSock string, registries Registries) (_ *buildkit, retErr error) {
	k := &buildkit{registries: registries}
	defer func() {
		if retErr != nil {
			k.close()
		}
	}()
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("start BuildKit: %w", err)
	}
	if err := useTempDir(filepath.Join(execRoot, "tmp")); err != nil {
		return nil, fmt.Errorf("start BuildKit: %w", err)
	}
	setVersion()
	sm, err := session.NewManager()
	if err != nil {
		return nil, fmt.Errorf("start BuildKit: session manager: %w", err)
	}
	k.sessions = sm

	var api *daemonAPI
	if daemonSock != "" {
		api = newDaemonAPI(daemonSock)
	}
	wopt, err := k.workerOpt(ctx, filepath.Join(root, "worker"), execRoot, api)
	if err != nil {
		return nil, fmt.Errorf("start BuildKit: worker: %w", err)
	}
	bw, err := base.NewWorker(ctx, wopt)
	if err != nil {
		return nil, fmt.Errorf("start BuildKit: worker: %w", err)
	}
	w := newHullWorker(bw, api)
	k.uploads = registerUploads(bw)
	wc := &worker.Controller{}
	if err := wc.Add(w); err != nil {
		return nil, fmt.Errorf("start BuildKit: worker: %w", err)
	}
	k.closers = append(k.closers, wc.Close)

	// dockerfile.v0 is built in; gateway.v0 runs a frontend image
	// (# syntax=…) as a container on the same worker, as dockerd's.
	gw, err := gateway.NewGatewayFrontend(wc.Infos(), nil)
	if err != nil {
		return nil, fmt.Errorf("start BuildKit: gateway frontend: %w", err)
	}
	frontends := map[string]frontend.Frontend{
		"dockerfile.v0": forwarder.NewGatewayForwarder(wc.Infos(), dockerfile.Build),
		"gateway.v0":    gw,
	}
	cacheStore, err := bboltcachestorage.NewStore(filepath.Join(root, "cache.db"))
	if err != nil {
		return nil, fmt.Errorf("start BuildKit: cache database: %w", err)
	}
	k.closers = append(k.closers, cacheStore.Close)
	historyDB, err := boltutil.SafeOpen(filepath.Join(root, "history.db"), 0o600, &bolt.Options{
		FreelistType: bolt.FreelistMapType, NoFreelistSync: true,
	})
	if err != nil {
		return nil, fmt.Errorf("start BuildKit: history database: %w", err)
	}
	k.closers = append(k.closers, historyDB.Close)

	c, err := control.NewController(control.Opt{
		SessionManager:   sm,
		WorkerController: wc,
		Frontends:        frontends,
		CacheManager:     solver.NewCacheManager(ctx, "local", cacheStore, worker.NewCacheResultStorage(wc)),
		HistoryDB:        historyDB,
		CacheStore:       cacheStore,
		LeaseManager:     w.LeaseManager(),
		ContentStore:     w.ContentStore(),
		GarbageCollect:   w.GarbageCollect,
		// As dockerd: RUN --network=host is allowed.
		Entitlements: []string{"network.host"},
	})
	if err != nil {
		return nil, fmt.Errorf("start BuildKit: control service: %w", err)
	}
	k.controller = c
	k.closers = append(k.closers, c.Close)
	// As buildkitd's and dockerd's: an error keeps its typed details
	// (the Dockerfile's lines, a step's exit code) across gRPC.
	k.grpc = grpc.NewServer(grpc.UnaryInterceptor(grpcerrors.UnaryServerInterceptor), grpc.StreamInterceptor(grpcerrors.StreamServerInterceptor))
	c.Register(k.grpc)
	k.h2 = &http2.Server{}
	return k, nil
}

// useTempDir makes dir the process's temporary folder: BuildKit mounts
// snapshots on folders it makes there (buildkit-mount*), and a
// hull-buildkit that was killed leaves them, mounted or not. They are
// under the exec root then, and the next start unmounts and removes them.
func useTempDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		mount.UnmountRecursive(dir, syscall.MNT_DETACH)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("the temporary folder a killed hull-buildkit left: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Setenv("TMPDIR", dir)
}

// setVersion fills BuildKit's version (what buildx ls shows), which its
// own build sets at link time, from the module version hull was built
// with.
func setVersion() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	for _, m := range bi.Deps {
		if m.Path == bkversion.Package {
			bkversion.Version = m.Version
		}
	}
}

// workerOpt is the worker's setup under root: BuildKit's overlay
// snapshotter and content store in a containerd metadata database of
// their own (not hull's layers yet: issue 14), and hull's executor.
func (k *buildkit) workerOpt(ctx context.Context, root, execRoot string, api *daemonAPI) (base.WorkerOpt, error) {
	var opt base.WorkerOpt
	if err := os.MkdirAll(root, 0o700); err != nil {
		return opt, err
	}
	sn, err := overlay.NewSnapshotter(filepath.Join(root, "snapshots"), overlay.AsynchronousRemove)
	if err != nil {
		return opt, fmt.Errorf("overlay snapshotter: %w", err)
	}
	k.closers = append(k.closers, sn.Close)
	content, err := local.NewStore(filepath.Join(root, "content"))
	if err != nil {
		return opt, fmt.Errorf("content store: %w", err)
	}
	db, err := boltutil.Open(filepath.Join(root, "containerdmeta.db"), 0o644, &bolt.Options{
		FreelistType: bolt.FreelistMapType, NoFreelistSync: true,
	})
	if err != nil {
		return opt, fmt.Errorf("containerd metadata: %w", err)
	}
	k.closers = append(k.closers, db.Close)
	mdb := ctdmetadata.NewDB(db, content, map[string]ctdsnapshots.Snapshotter{snapshotterName: sn})
	if err := mdb.Init(ctx); err != nil {
		return opt, fmt.Errorf("containerd metadata: %w", err)
	}
	cs := containerdsnapshot.NewContentStore(mdb.ContentStore(), "buildkit")
	md, err := metadata.NewStore(filepath.Join(root, "metadata_v2.db"))
	if err != nil {
		return opt, fmt.Errorf("metadata: %w", err)
	}
	k.closers = append(k.closers, md.Close)
	id, err := base.ID(root)
	if err != nil {
		return opt, err
	}
	// RUN on hull's network service: the default bridge, host, none.
	networks, networkLabel, hostGateway := networkProviders(ctx, api)
	k.hostGateway = hostGateway
	lm := leaseutil.WithNamespace(ctdmetadata.NewLeaseManager(mdb), "buildkit")
	var is images.Store
	if api != nil {
		is = newHullImages(api, cs, lm)
	}
	exec := &executor{root: filepath.Join(execRoot, "executor"), rt: runtime.New(filepath.Join(execRoot, "runtime")), networks: networks}
	if err := exec.removeLeftoverSteps(ctx); err != nil {
		// Not fatal: a leftover that stays is reported and the builder
		// still starts.
		slog.WarnContext(ctx, "hull-buildkit: leftovers of an earlier run's steps", "error", err)
	}
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	return base.WorkerOpt{
		ID:   id,
		Root: root,
		Labels: map[string]string{
			wlabel.Executor:    "hull",
			wlabel.Snapshotter: snapshotterName,
			wlabel.Hostname:    hostname,
			wlabel.Network:     networkLabel,
			hostGatewayLabel:   hostGateway,
		},
		Platforms:        []ocispecs.Platform{platforms.Normalize(platforms.DefaultSpec())},
		NetworkProviders: networks,
		Executor:         exec,
		Snapshotter:      containerdsnapshot.NewSnapshotter(snapshotterName, mdb.Snapshotter(snapshotterName), "buildkit", nil),
		ContentStore:     cs,
		Applier:          apply.NewFileSystemApplier(cs),
		Differ:           walking.NewWalkingDiff(cs),
		RegistryHosts:    registryHosts(k.registries),
		LeaseManager:     lm,
		ImageStore:       is,
		GarbageCollect:   mdb.GarbageCollect,
		MetadataStore:    md,
		ContentMetadata:  db,
		MountPoolRoot:    filepath.Join(root, "cachemounts"),
	}, nil
}

func (k *buildkit) serveGRPC(ctx context.Context, conn net.Conn) error {
	k.h2.ServeConn(conn, &http2.ServeConnOpts{Context: ctx, Handler: k.grpc})
	return nil
}

func (k *buildkit) handleSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return k.sessions.HandleHTTPRequest(ctx, w, r)
}

func (k *buildkit) close() error {
	if k.bkc != nil {
		k.bkc.Close()
	}
	if k.grpc != nil {
		k.grpc.Stop()
	}
	var errs []error
	for i := len(k.closers) - 1; i >= 0; i-- {
		errs = append(errs, k.closers[i]())
	}
	return errors.Join(errs...)
}
