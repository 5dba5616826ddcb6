package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"
	apiimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/hullproject/hull/internal/errdefs"
)

// infraRepo is the repository of hull's pod infra image, which the CRI
// does not list as the cluster's.
const infraRepo = "hull.internal/infra"

// qualify turns the engine's familiar names (busybox:1) into the fully
// qualified ones the CRI speaks (docker.io/library/busybox:1).
func qualify(names []string) []string {
	out := []string{}
	for _, n := range names {
		if r, err := reference.ParseNormalizedNamed(n); err == nil {
			n = r.String()
		}
		out = append(out, n)
	}
	return out
}

func isInfra(tags []string) bool {
	for _, t := range tags {
		if strings.HasPrefix(t, infraRepo+":") {
			return true
		}
	}
	return false
}

// ListImages lists the store's images, by id (the config digest) with
// their fully qualified tags and digests.
func (s *Server) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	list, err := s.b.Images(ctx)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListImagesResponse{Images: []*runtimeapi.Image{}}
	for _, im := range list {
		if isInfra(im.RepoTags) {
			continue
		}
		img, err := s.imageByRef(ctx, im.ID)
		if err != nil || img == nil {
			continue // removed meanwhile
		}
		if f := req.GetFilter().GetImage().GetImage(); f != "" && !matchesImage(img, f) {
			continue
		}
		resp.Images = append(resp.Images, img)
	}
	return resp, nil
}

func matchesImage(img *runtimeapi.Image, ref string) bool {
	if img.Id == ref || strings.TrimPrefix(img.Id, "sha256:") == ref {
		return true
	}
	q := qualify([]string{ref})[0]
	for _, t := range append(append([]string{}, img.RepoTags...), img.RepoDigests...) {
		if t == q || t == ref {
			return true
		}
	}
	return false
}

// imageByRef is the image ref names (id, short id, tag or digest, the
// names fully qualified or not), nil when the store has none — or when
// ref is no name at all, as containerd finds nothing then either, or
// names hull's pod infra image.
func (s *Server) imageByRef(ctx context.Context, ref string) (*runtimeapi.Image, error) {
	img, _, err := s.imageInspect(ctx, ref)
	return img, err
}

// imageInspect is imageByRef with the engine's inspect of the image.
func (s *Server) imageInspect(ctx context.Context, ref string) (*runtimeapi.Image, *apiimage.InspectResponse, error) {
	if ref == "" {
		return nil, nil, nil
	}
	in, _, err := s.b.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if isInfra(in.RepoTags) {
		// hull's own, not the cluster's: not listed, not removed.
		return nil, nil, nil
	}
	img := &runtimeapi.Image{Id: in.ID, RepoTags: qualify(in.RepoTags), RepoDigests: qualify(in.RepoDigests), Size: uint64(in.Size)}
	if in.Config != nil {
		img.Uid, img.Username = imageUser(in.Config.User)
	}
	return img, &in, nil
}

// imageUser splits an image's USER into the uid the CRI wants as a
// number and a name otherwise.
func imageUser(u string) (*runtimeapi.Int64Value, string) {
	user, _, _ := strings.Cut(u, ":")
	if user == "" {
		return nil, ""
	}
	var n int64
	if _, err := fmt.Sscanf(user, "%d", &n); err == nil && fmt.Sprint(n) == user {
		return &runtimeapi.Int64Value{Value: n}, ""
	}
	return nil, user
}

// ImageStatus is the image by id, tag or digest: the same answer for each;
// no image (and no error) when the store has none. Verbose adds
// containerd's info: {"chainID": …, "imageSpec": the OCI image config}.
func (s *Server) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	img, in, err := s.imageInspect(ctx, req.GetImage().GetImage())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ImageStatusResponse{Image: img}
	if img != nil && req.Verbose {
		resp.Info = map[string]string{"info": verboseImageInfo(in)}
	}
	return resp, nil
}

// verboseImageInfo is containerd's verbose image status: the chain id of
// the image's layers and its config as the OCI image spec writes it.
func verboseImageInfo(in *apiimage.InspectResponse) string {
	spec := ocispec.Image{
		Author:   in.Author,
		Platform: ocispec.Platform{Architecture: in.Architecture, OS: in.Os, OSVersion: in.OsVersion, Variant: in.Variant},
		RootFS:   ocispec.RootFS{Type: in.RootFS.Type},
	}
	if t, err := time.Parse(time.RFC3339Nano, in.Created); err == nil {
		spec.Created = &t
	}
	if c := in.Config; c != nil {
		spec.Config = ocispec.ImageConfig{User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir,
			Labels: c.Labels, StopSignal: c.StopSignal, Volumes: c.Volumes}
		if len(c.ExposedPorts) > 0 {
			spec.Config.ExposedPorts = map[string]struct{}{}
			for p := range c.ExposedPorts {
				spec.Config.ExposedPorts[string(p)] = struct{}{}
			}
		}
	}
	var diffIDs []digest.Digest
	for _, l := range in.RootFS.Layers {
		diffIDs = append(diffIDs, digest.Digest(l))
	}
	spec.RootFS.DiffIDs = diffIDs
	chainID := ""
	if len(diffIDs) > 0 {
		chainID = identity.ChainID(diffIDs).String()
	}
	b, err := json.Marshal(struct {
		ChainID   string        `json:"chainID"`
		ImageSpec ocispec.Image `json:"imageSpec"`
	}{chainID, spec})
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// PullImage pulls by tag or digest, with the request's credentials
// (username and password, auth, identity or registry token), through the
// daemon's registry mirrors, and answers the image's id (its config
// digest), as containerd does.
func (s *Server) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("image %q: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	named = reference.TagNameOnly(named)
	tag := ""
	if d, ok := named.(reference.Digested); ok {
		tag = d.Digest().String()
	} else if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	var auth registry.AuthConfig
	if a := req.GetAuth(); a != nil {
		auth = registry.AuthConfig{Username: a.Username, Password: a.Password, Auth: a.Auth, ServerAddress: a.ServerAddress,
			IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
	}
	if err := s.b.ImagePull(ctx, named.Name(), tag, "", auth, func(jsonstream.Message) {}); err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	img, err := s.imageByRef(ctx, named.String())
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, fmt.Errorf("pull %s: the image is not in the store after its pull: %w", ref, errdefs.ErrNotFound)
	}
	return &runtimeapi.PullImageResponse{ImageRef: img.Id}, nil
}

// RemoveImage removes the image by id, tag or digest with all its tags
// and digests, as containerd does: even while containers use it (they
// keep running on their layers, which go with the last of them); an
// image the store does not have is no error.
func (s *Server) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	img, err := s.imageByRef(ctx, req.GetImage().GetImage())
	if err != nil {
		return nil, err
	}
	if img == nil {
		return &runtimeapi.RemoveImageResponse{}, nil
	}
	if err := s.b.ImageRemoveAll(ctx, img.Id); err != nil && !errdefs.IsNotFound(err) {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

// containerImage is a container's image as ContainerStatus shows it, as
// containerd does: the image's first tag (fully qualified) or, without
// one, the image the container was created with (spec); its first repo
// digest as the reference, or its id without one (or when the image is
// gone).
func (s *Server) containerImage(ctx context.Context, id, spec string) (*runtimeapi.ImageSpec, string) {
	ref := id
	img, _ := s.imageByRef(ctx, id)
	if img != nil && len(img.RepoTags) > 0 {
		spec = img.RepoTags[0]
	}
	if img != nil && len(img.RepoDigests) > 0 {
		ref = img.RepoDigests[0]
	}
	return &runtimeapi.ImageSpec{Image: spec}, ref
}

// ImageFsInfo is the file system of the image store's layers: its mount
// point, the bytes and inodes they use.
func (s *Server) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	mp, used, inodes, err := s.b.ImageFilesystem(ctx)
	if err != nil {
		return nil, err
	}
	u := &runtimeapi.FilesystemUsage{Timestamp: time.Now().UnixNano(), FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: mp},
		UsedBytes: &runtimeapi.UInt64Value{Value: used}, InodesUsed: &runtimeapi.UInt64Value{Value: inodes}}
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{u}, ContainerFilesystems: []*runtimeapi.FilesystemUsage{u}}, nil
}
