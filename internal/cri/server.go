// Package cri is hull's Kubernetes Container Runtime Interface: the CRI v1
// gRPC services (runtime.v1.RuntimeService and ImageService) on one unix
// socket, over the engine's containers and images.
//
// A pod sandbox is a container of the engine running hull's infra process
// (the daemon's PodInfraImage: no pause image is pulled); the pod's
// containers are engine containers that join its network, IPC (and, when
// asked, PID) namespaces and take its hostname. What the CRI knows of a pod
// or a container (metadata, labels, annotations, log path) rides in the
// container's labels, so the engine's records are the only records: they
// survive a daemon restart with live-restore as every container does.
// Pod networking is CNI's (cni.go).
package cri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/container"
	apiimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	mnet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// MaxMessage bounds a gRPC message each way, as kubelet's client does.
const MaxMessage = 16 << 20

// ContainerBackend is what the CRI needs of the engine's containers.
type ContainerBackend interface {
	ContainerCreate(ctx context.Context, name string, cfg *container.Config, host *container.HostConfig, netCfg *mnet.NetworkingConfig) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, ref string) error
	ContainerStop(ctx context.Context, ref string, timeout *int, signal string) error
	ContainerRemove(ctx context.Context, ref string, force, volumes bool) error
	ContainerInspect(ctx context.Context, ref string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, all bool, limit int, f filters.Args) ([]container.Summary, error)
	// SetPodContainer makes a created container one of a pod: it joins
	// the UTS namespace of the infra container whose network it shares,
	// and logs to path (when not empty) in the CRI's format;
	// ReopenContainerLog reopens that log after a rotation.
	SetPodContainer(ctx context.Context, id, path string) error
	ReopenContainerLog(ctx context.Context, id string) error
	// PodInfraImage is the image of a pod's infra container.
	PodInfraImage(ctx context.Context) (string, error)
}

// ExecBackend runs processes in running containers.
type ExecBackend interface {
	ContainerExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error)
	ContainerExecStart(ctx context.Context, execID string, consoleSize *[2]uint, stdin io.Reader, stdout, stderr io.Writer) error
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error)
	ExecKill(execID string) error
}

// ImageBackend is the engine's image store.
type ImageBackend interface {
	Images(ctx context.Context) ([]apiimage.Summary, error)
	ImageInspect(ctx context.Context, name string) (apiimage.InspectResponse, map[string]any, error)
	ImagePull(ctx context.Context, name, tag, platform string, auth registry.AuthConfig, progress func(jsonstream.Message)) error
	ImageDelete(ctx context.Context, name string, force, prune bool) ([]apiimage.DeleteResponse, error)
	// ImageRemoveAll removes an image (by id) with all its references,
	// even while containers use it.
	ImageRemoveAll(ctx context.Context, id string) error
	ImageFilesystem(ctx context.Context) (mountpoint string, used, inodes uint64, err error)
}

// Backend is the engine as the CRI sees it.
type Backend interface {
	ContainerBackend
	ExecBackend
	ImageBackend
}

// Config is the CRI server's configuration.
type Config struct {
	// StateDir holds what the engine does not keep: the pods' CNI
	// results (<exec-root>/cri).
	StateDir string
	// CNIConfDir and CNIBinDirs are where CNI configurations and plugins
	// are found (/etc/cni/net.d; /opt/cni/bin and /usr/lib/cni).
	CNIConfDir string
	CNIBinDirs []string
	// Version is hull's version, answered by Version.
	Version string
}

// Server implements the CRI's RuntimeService and ImageService.
type Server struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer
	b   Backend
	cfg Config
	cni *cniNet
}

// New returns a CRI server over b.
func New(b Backend, cfg Config) (*Server, error) {
	if cfg.CNIConfDir == "" {
		cfg.CNIConfDir = "/etc/cni/net.d"
	}
	if len(cfg.CNIBinDirs) == 0 {
		cfg.CNIBinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("CRI state folder: %w", err)
	}
	return &Server{b: b, cfg: cfg, cni: &cniNet{confDir: cfg.CNIConfDir, binDirs: cfg.CNIBinDirs, cacheDir: filepath.Join(cfg.StateDir, "cni-cache")}}, nil
}

// Listen opens the CRI's unix socket at path (mode 0660), replacing a
// stale one.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("CRI socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("CRI socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Serve answers the CRI on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	g := grpc.NewServer(grpc.MaxRecvMsgSize(MaxMessage), grpc.MaxSendMsgSize(MaxMessage), grpc.UnaryInterceptor(s.intercept))
	runtimeapi.RegisterRuntimeServiceServer(g, s)
	runtimeapi.RegisterImageServiceServer(g, s)
	go func() {
		<-ctx.Done()
		g.Stop()
	}()
	slog.Info("CRI listening", "address", l.Addr().String())
	return g.Serve(l)
}

// intercept logs each call at debug level and turns the engine's error
// kinds into gRPC codes — the one place where that happens.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		slog.Debug("CRI call", "method", info.FullMethod, "error", err)
		return resp, grpcError(err)
	}
	slog.Debug("CRI call", "method", info.FullMethod)
	return resp, nil
}

func grpcError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errdefs.IsNotFound(err):
		code = codes.NotFound
	case errdefs.IsInvalidArgument(err):
		code = codes.InvalidArgument
	case errdefs.IsAlreadyExists(err):
		code = codes.AlreadyExists
	case errdefs.IsConflict(err):
		code = codes.FailedPrecondition
	case errdefs.IsNotImplemented(err):
		code = codes.Unimplemented
	case errdefs.IsUnavailable(err):
		code = codes.Unavailable
	case errdefs.IsUnauthorized(err):
		code = codes.Unauthenticated
	case errdefs.IsForbidden(err):
		code = codes.PermissionDenied
	case errdefs.IsLimit(err):
		code = codes.ResourceExhausted
	}
	return status.Error(code, errdefs.Message(err))
}
