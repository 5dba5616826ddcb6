package cri

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
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

// imageByRef is the image ref names (id, tag or digest), nil when the
// store has none.
func (s *Server) imageByRef(ctx context.Context, ref string) (*runtimeapi.Image, error) {
	if ref == "" {
		return nil, fmt.Errorf("no image named: %w", errdefs.ErrInvalidArgument)
	}
	in, _, err := s.b.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	img := &runtimeapi.Image{Id: in.ID, RepoTags: qualify(in.RepoTags), RepoDigests: qualify(in.RepoDigests), Size: uint64(in.Size)}
	if in.Config != nil {
		img.Uid, img.Username = imageUser(in.Config.User)
	}
	return img, nil
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
// no image (and no error) when the store has none.
func (s *Server) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	img, err := s.imageByRef(ctx, req.GetImage().GetImage())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ImageStatusResponse{Image: img}
	if img != nil && req.Verbose {
		resp.Info = map[string]string{"info": fmt.Sprintf(`{"id":%q}`, img.Id)}
	}
	return resp, nil
}

// PullImage pulls by tag or digest, with the request's credentials, and
// answers the image's id.
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

// RemoveImage removes the image by id, tag or digest with all its tags;
// an image the store does not have is no error.
func (s *Server) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	img, err := s.imageByRef(ctx, req.GetImage().GetImage())
	if err != nil {
		return nil, err
	}
	if img == nil {
		return &runtimeapi.RemoveImageResponse{}, nil
	}
	if _, err := s.b.ImageDelete(ctx, img.Id, true, true); err != nil && !errdefs.IsNotFound(err) {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
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
