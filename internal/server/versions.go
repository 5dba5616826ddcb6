package server

// Each API version's shape of what hull serves, as dockerd's routers give
// it: moby's wire types hold the newest version's fields, and the
// functions here leave out what a request's version does not know yet and
// put back what newer versions dropped (shape.go), or refuse and reset
// the request fields a version does not have. They are called from the
// handlers; the version is the request's (apiversion.FromContext).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hullproject/hull/internal/apiversion"
	"github.com/hullproject/hull/internal/errdefs"
)

func before(ctx context.Context, v string) bool { return apiversion.Before(ctx, v) }

// containerListShape is GET /containers/json by version: annotations from
// 1.46, the image manifest's descriptor from 1.48, Health from 1.52.
func containerListShape(ctx context.Context, list []container.Summary) []container.Summary {
	for i := range list {
		if before(ctx, "1.46") {
			list[i].HostConfig.Annotations = nil
		}
		if before(ctx, "1.48") {
			list[i].ImageManifestDescriptor = nil
		}
		if before(ctx, "1.52") {
			list[i].Health = nil
		}
	}
	return list
}

// containerInspectShape is GET /containers/{id}/json by version.
func containerInspectShape(ctx context.Context, c container.InspectResponse) (any, error) {
	if c.Config == nil {
		c.Config = &container.Config{}
	}
	if before(ctx, "1.45") && c.NetworkSettings != nil {
		// Until 1.45 a user network's aliases held the short id and the
		// host name (1.44 added DNSNames for them).
		for name, ep := range c.NetworkSettings.Networks {
			if ep == nil || !container.NetworkMode(name).IsUserDefined() {
				continue
			}
			for _, a := range []string{shortID(c.ID), c.Config.Hostname} {
				if a != "" && !slices.Contains(ep.Aliases, a) {
					ep.Aliases = append(ep.Aliases, a)
				}
			}
		}
	}
	if before(ctx, "1.48") {
		c.ImageManifestDescriptor = nil
	}
	if !before(ctx, "1.52") {
		return c, nil
	}
	sh, err := shapeOf(c)
	if err != nil {
		return nil, err
	}
	containerInspectLegacy(ctx, sh)
	return sh, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// containerCreateVersion makes a create request what the request's version
// means for its networks and ports, as dockerd's create route does before
// the daemon sees it: fields a version does not have are reset,
// combinations it refuses are refused. body is the request as sent (for
// the container-wide MacAddress, which moby's types no longer have). It
// returns the warnings dockerd adds to the answer. The version rules of
// the mounts, the annotations and the health check are not here: the
// create checks apply them (adaptCreate).
func containerCreateVersion(ctx context.Context, body []byte, req *container.CreateRequest) ([]string, error) {
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	if req.NetworkingConfig == nil {
		req.NetworkingConfig = &network.NetworkingConfig{}
	}
	hc, nc := req.HostConfig, req.NetworkingConfig
	if before(ctx, "1.44") {
		if len(nc.EndpointsConfig) > 1 {
			names := make([]string, 0, len(nc.EndpointsConfig))
			for k := range nc.EndpointsConfig {
				names = append(names, k)
			}
			return nil, fmt.Errorf("Container cannot be created with multiple network endpoints: %s: %w", strings.Join(names, ", "), errdefs.ErrInvalidArgument)
		}
	}
	if before(ctx, "1.48") {
		// All endpoints had the same priority for the default gateway.
		for _, ep := range nc.EndpointsConfig {
			if ep != nil {
				ep.GwPriority = 0
			}
		}
	}
	var warnings []string
	if !before(ctx, "1.48") && hc.VolumeDriver != "" {
		for _, m := range hc.Mounts {
			if m.Type == mount.TypeVolume && (m.VolumeOptions == nil || m.VolumeOptions.DriverConfig == nil || m.VolumeOptions.DriverConfig.Name == "") {
				warnings = append(warnings, "WARNING: the container-wide volume-driver configuration is ignored for volumes specified via 'mount'. Use '--mount type=volume,volume-driver=...' instead")
				break
			}
		}
	}
	// An empty list of bindings publishes the port on a host port of the
	// daemon's choosing (backfilled, as dockerd does); 1.52 warns that a
	// later version will drop them.
	var empty []string
	for port, b := range hc.PortBindings {
		if len(b) > 0 {
			continue
		}
		if !before(ctx, "1.52") {
			empty = append(empty, port.String())
		}
		hc.PortBindings[port] = []network.PortBinding{{}}
	}
	if len(empty) > 0 {
		slices.Sort(empty)
		warnings = append(warnings, fmt.Sprintf("Following container port(s) have an empty list of port-bindings: %s. Such bindings will be discarded in a future version.", strings.Join(empty, ", ")))
	}
	return warnings, nil
}

// createPlatform reads create's platform parameter (1.41 and newer):
// "os[/arch[/variant]]", as dockerd parses it.
func createPlatform(r *http.Request) (*ocispec.Platform, error) {
	v := r.URL.Query().Get("platform")
	if v == "" || before(r.Context(), "1.41") {
		return nil, nil
	}
	p, err := platforms.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	return &p, nil
}

// checkImagePlatform answers dockerd's 404 (in dockerd 20.10's words, the
// reference daemon's) when the image name names does not match the
// platform asked for: its platform is the image config's, and one without
// a variant matches any variant, as dockerd's image store matches.
func (s *Server) checkImagePlatform(ctx context.Context, name string, p *ocispec.Platform) error {
	if p == nil {
		return nil
	}
	img, _, err := s.backend.ImageInspect(ctx, name)
	if err != nil {
		return err
	}
	have := ocispec.Platform{OS: img.Os, Architecture: img.Architecture, Variant: img.Variant}
	if platformMatches(*p, have) {
		return nil
	}
	return errdefs.Dockerf(errdefs.ErrNotFound, "image with reference %s was found but does not match the specified platform: wanted %s, actual: %s",
		name, platforms.Format(*p), platforms.Format(have))
}

// platformMatches is dockerd's matcher for an image's platform: the
// wanted platform or one it runs (arm/v6 on arm/v7), an image without a
// variant matching any variant of its architecture.
func platformMatches(want, have ocispec.Platform) bool {
	if platforms.Only(want).Match(have) {
		return true
	}
	if have.Variant != "" {
		return false
	}
	w := platforms.Normalize(want)
	w.Variant = ""
	return platforms.Only(w).Match(have)
}

// imagePlatforms reads the platform parameters of image save, load,
// history and push: JSON OCI platforms, from the version given; several
// only from 1.52. Before from they are ignored, as dockerd does.
func imagePlatforms(r *http.Request, from string, several bool) ([]ocispec.Platform, error) {
	vals := r.URL.Query()["platform"]
	if len(vals) == 0 || before(r.Context(), from) {
		return nil, nil
	}
	switch {
	case !several:
		vals = vals[:1]
	case len(vals) > 1 && before(r.Context(), "1.52"):
		return nil, fmt.Errorf("multiple platform parameters are not supported in this API version; use API version 1.52 or later: %w", errdefs.ErrInvalidArgument)
	}
	var out []ocispec.Platform
	for _, v := range vals {
		p, err := decodePlatform(v)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, nil
}

// decodePlatform reads a JSON-encoded OCI platform as dockerd does.
func decodePlatform(v string) (*ocispec.Platform, error) {
	var p ocispec.Platform
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return nil, fmt.Errorf("failed to parse platform: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if p.OS == "" && p.Architecture == "" && (p.Variant != "" || p.OSVersion != "" || len(p.OSFeatures) > 0) {
		return nil, fmt.Errorf("optional platform fields provided, but OS and Architecture are missing: %w", errdefs.ErrInvalidArgument)
	}
	if p.OS == "" || p.Architecture == "" {
		return nil, fmt.Errorf("both OS and Architecture must be provided: %w", errdefs.ErrInvalidArgument)
	}
	return &p, nil
}

// checkSavePlatform: an image saved for a platform must be of it (hull's
// store, as dockerd's graph-driver store, holds one platform per image):
// else dockerd's "no suitable export target".
func (s *Server) checkSavePlatform(ctx context.Context, names []string, ps []ocispec.Platform) error {
	if len(ps) == 0 {
		return nil
	}
	if len(ps) > 1 {
		return fmt.Errorf("multiple platforms not supported for this image store: %w", errdefs.ErrInvalidArgument)
	}
	for _, n := range names {
		img, _, err := s.backend.ImageInspect(ctx, n)
		if err != nil {
			return err
		}
		if !platforms.OnlyStrict(ps[0]).Match(ocispec.Platform{OS: img.Os, Architecture: img.Architecture, Variant: img.Variant}) {
			return fmt.Errorf("no suitable export target found for platform %s: %w", platforms.FormatAll(ps[0]), errdefs.ErrNotFound)
		}
	}
	return nil
}

// imageInspectQuery reads image inspect's manifests (1.48) and platform
// (1.49) parameters; both at once are refused.
func imageInspectQuery(r *http.Request) (*ocispec.Platform, error) {
	ctx := r.Context()
	manifests := r.URL.Query().Get("manifests") != "" && !before(ctx, "1.48") && boolValue(r, "manifests")
	var p *ocispec.Platform
	if v := r.URL.Query().Get("platform"); v != "" && !before(ctx, "1.49") {
		var err error
		if p, err = decodePlatform(v); err != nil {
			return nil, err
		}
	}
	if manifests && p != nil {
		return nil, fmt.Errorf("conflicting options: manifests and platform options cannot both be set: %w", errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// networkListShape is GET /networks by version: the list items are
// summaries from 1.52; before, they had the inspect's shape with an empty
// Containers.
func networkListShape(ctx context.Context, list []network.Inspect) any {
	if before(ctx, "1.52") {
		for i := range list {
			list[i].Containers = map[string]network.EndpointResource{}
			list[i].Services = nil
			list[i].Status = nil
		}
		return list
	}
	out := make([]network.Summary, 0, len(list))
	for _, n := range list {
		out = append(out, network.Summary{Network: n.Network})
	}
	return out
}

// networkInspectShape is GET /networks/{id} by version: Status (IPAM
// statistics) from 1.52.
func networkInspectShape(ctx context.Context, n network.Inspect) network.Inspect {
	if before(ctx, "1.52") {
		n.Status = nil
	}
	return n
}

// networkCreateVersion resets what a version does not have: EnableIPv4
// arrived in 1.48.
func networkCreateVersion(ctx context.Context, req *network.CreateRequest) {
	if before(ctx, "1.48") {
		req.EnableIPv4 = nil
	}
}

// networkConnectVersion: an endpoint's MacAddress on connect is applied
// from 1.54 (ignored before, as dockerd did).
func networkConnectVersion(ctx context.Context, req *network.ConnectRequest) {
	if before(ctx, "1.54") && req.EndpointConfig != nil {
		req.EndpointConfig.MacAddress = nil
	}
}

// stopSignal is stop's and restart's signal parameter, from 1.42.
func stopSignal(r *http.Request) string {
	if before(r.Context(), "1.42") {
		return ""
	}
	return r.URL.Query().Get("signal")
}

// streamContentType is the Content-Type of an attach, logs or exec
// stream: multiplexed (stdcopy frames) without a TTY, from 1.42; raw
// before, whatever the framing.
func streamContentType(ctx context.Context, tty bool) string {
	if !tty && !before(ctx, "1.42") {
		return "application/vnd.docker.multiplexed-stream"
	}
	return "application/vnd.docker.raw-stream"
}

// execCreateVersion: an exec's ConsoleSize is honoured from 1.42.
func execCreateVersion(ctx context.Context, req *container.ExecCreateRequest) {
	if before(ctx, "1.42") {
		req.ConsoleSize = nil
	}
}

// execStartVersion: so is exec start's.
func execStartVersion(ctx context.Context, req *container.ExecStartRequest) {
	if before(ctx, "1.42") || !req.Tty {
		req.ConsoleSize = nil
	}
}

// updateVersion resets update fields a version does not have: the
// per-device blkio rules before 1.55 (PidsLimit before 1.40 is reset by
// the update checks, adaptUpdate).
func updateVersion(ctx context.Context, u *container.UpdateConfig) {
	if before(ctx, "1.55") {
		u.BlkioWeightDevice = nil
		u.BlkioDeviceReadBps = nil
		u.BlkioDeviceWriteBps = nil
		u.BlkioDeviceReadIOps = nil
		u.BlkioDeviceWriteIOps = nil
	}
}

// statsVersion: stats carry os_type from 1.52.
func statsVersion(ctx context.Context, st *container.StatsResponse) {
	if before(ctx, "1.52") {
		st.OSType = ""
	}
}

// oneShot is stats' one-shot parameter, from 1.41.
func oneShot(r *http.Request) bool {
	return !before(r.Context(), "1.41") && boolValue(r, "one-shot")
}

// errNoDiskUsageType is system df's answer to a type it does not know.
func errNoDiskUsageType(t string) error {
	return fmt.Errorf("unknown object type: %s: %w", t, errdefs.ErrInvalidArgument)
}

// createRequest reads a create's body and makes it what the request's
// version means (containerCreateVersion); a platform asked for must be the
// image's. It returns the warnings the answer gets.
func (s *Server) createRequest(w http.ResponseWriter, r *http.Request) (*container.CreateRequest, []string, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, nil, fmt.Errorf("the request body is over %d bytes: %w", maxJSONBody, errdefs.ErrLimit)
		}
		return nil, nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		// moby's runconfig decoder's words (dockerd 20.10 answered 500 "EOF").
		return nil, nil, fmt.Errorf("invalid JSON: %v: %w", io.EOF, errdefs.ErrInvalidArgument)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req createRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return nil, nil, err
	}
	platform, err := createPlatform(r)
	if err != nil {
		return nil, nil, err
	}
	warnings, err := containerCreateVersion(r.Context(), body, &req.CreateRequest)
	if err != nil {
		return nil, nil, err
	}
	warning, err := migrateMACAddress(apiversion.FromContext(r.Context()), &req)
	if err != nil {
		return nil, nil, err
	}
	if warning != "" {
		warnings = append(warnings, warning)
	}
	if req.Config != nil && req.Config.Image != "" {
		if err := s.checkImagePlatform(r.Context(), req.Config.Image, platform); err != nil {
			return nil, nil, err
		}
	}
	return &req.CreateRequest, warnings, nil
}

// checkImagePlatforms: history (1.48) and push (1.46) take one JSON
// platform, which the image must match.
func (s *Server) checkImagePlatforms(r *http.Request, name, from string) error {
	ps, err := imagePlatforms(r, from, false)
	if err != nil || len(ps) == 0 {
		return err
	}
	return s.checkImagePlatform(r.Context(), name, &ps[0])
}

// checkImageDeletePlatforms: image delete takes platforms from 1.50; hull's
// store holds one platform per image, which the one given must match, as
// dockerd's graph-driver store requires (several are refused).
func (s *Server) checkImageDeletePlatforms(r *http.Request, name string) error {
	vals := r.URL.Query()["platforms"]
	if len(vals) == 0 || before(r.Context(), "1.50") {
		return nil
	}
	var ps []ocispec.Platform
	for _, v := range vals {
		p, err := decodePlatform(v)
		if err != nil {
			return err
		}
		ps = append(ps, *p)
	}
	if len(ps) > 1 {
		return fmt.Errorf("multiple platforms are not supported: %w", errdefs.ErrInvalidArgument)
	}
	return s.checkImagePlatform(r.Context(), name, &ps[0])
}

// checkLoadPlatforms reads load's platforms (1.48; several from 1.52).
// hull's store takes one platform per image, as dockerd's graph-driver
// store: several are refused. One is read and checked but not applied:
// the archive's images are all loaded (dockerd loads only the matching
// ones), which needs the image store's load to filter.
func checkLoadPlatforms(r *http.Request) error {
	ps, err := imagePlatforms(r, "1.48", true)
	if err != nil {
		return err
	}
	if len(ps) > 1 {
		return fmt.Errorf("multiple platforms not supported for this image store: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}
