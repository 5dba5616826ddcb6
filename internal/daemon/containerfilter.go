package daemon

// The filters of GET /containers/json, checked and folded in dockerd's
// order (so that the first bad value reported is the one dockerd
// reports), then applied per container.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	mnet "github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// psFilters are the keys GET /containers/json accepts.
var psFilters = []string{"ancestor", "before", "exited", "id", "isolation", "label", "name", "status", "health",
	"since", "volume", "network", "is-task", "publish", "expose"}

// containerFilter is a ps filter with its values checked and its names
// resolved.
type containerFilter struct {
	f filters.Args
	// all: a status filter shows stopped containers too.
	all    bool
	exited []int
	// isTask: is-task=true (hull runs no swarm tasks, so nothing matches).
	isTask bool
	// before and since are the ids of the containers they name.
	before, since string
	// ids are the containers an id filter names by unique prefix; nil
	// without one.
	ids map[string]bool
	// ancestors are the images an ancestor filter names and their
	// descendants; nil without one.
	ancestors       map[string]bool
	publish, expose map[string]bool
}

// listFilter checks f against recs (every container) as dockerd's
// foldFilter does.
func (d *Daemon) listFilter(ctx context.Context, recs []record, f filters.Args) (*containerFilter, error) {
	if err := f.Validate(psFilters...); err != nil {
		return nil, err
	}
	lf := &containerFilter{f: f}
	for _, v := range f.Get("exited") {
		code, err := strconv.Atoi(v)
		if err != nil {
			if f.Legacy() {
				return nil, filters.Errorf(errdefs.ErrInvalidArgument, "%s", err)
			}
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, "invalid filter 'exited=%s': %s", v, err)
		}
		lf.exited = append(lf.exited, code)
	}
	for _, v := range f.Get("status") {
		if err := container.ValidateContainerState(container.ContainerState(v)); err != nil {
			if f.Legacy() {
				return nil, f.Invalid("status", v)
			}
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, "invalid filter 'status=%s': %s", v, err)
		}
		lf.all = true
	}
	var err error
	if lf.isTask, err = f.Bool("is-task", false, []string{"true"}, []string{"false"}); err != nil {
		return nil, err
	}
	for _, v := range f.Get("health") {
		if err := container.ValidateHealthStatus(container.HealthStatus(v)); err != nil {
			if f.Legacy() {
				return nil, filters.Errorf(errdefs.ErrInvalidArgument, "Unrecognised filter value for health: %s", v)
			}
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, "invalid filter 'health=%s': %s", v, err)
		}
	}
	for _, v := range f.Get("before") {
		if lf.before, err = containerByIDOrName(recs, v, f.Legacy()); err != nil {
			return nil, err
		}
	}
	for _, v := range f.Get("since") {
		if lf.since, err = containerByIDOrName(recs, v, f.Legacy()); err != nil {
			return nil, err
		}
	}
	if ids := f.Get("id"); len(ids) > 0 {
		lf.ids = map[string]bool{}
		for _, v := range ids {
			if id := uniquePrefix(recs, v); id != "" {
				lf.ids[id] = true
			}
		}
	}
	if f.Contains("ancestor") {
		lf.ancestors = d.imageFamilies(ctx, f.Get("ancestor"))
	}
	if lf.publish, err = portFilter(f, "publish"); err != nil {
		return nil, err
	}
	if lf.expose, err = portFilter(f, "expose"); err != nil {
		return nil, err
	}
	return lf, nil
}

// containerByIDOrName is a before or since value: a full id, or a name
// that one container holds. dockerd takes no id prefix here.
func containerByIDOrName(recs []record, v string, legacy bool) (string, error) {
	name := strings.TrimPrefix(v, "/")
	found := ""
	for _, r := range recs {
		if r.ID == v {
			return r.ID, nil
		}
		if r.Name == name {
			if found != "" {
				found = "" // two containers: as dockerd, not found
				break
			}
			found = r.ID
		}
	}
	if found != "" {
		return found, nil
	}
	if legacy {
		return "", filters.Errorf(errdefs.ErrNotFound, "no such container %s", v)
	}
	return "", filters.Errorf(errdefs.ErrNotFound, "No such container: %s", v)
}

// uniquePrefix is the id of the one container whose id begins with p;
// empty when none does or several do (dockerd's truncated index refuses
// an ambiguous prefix).
func uniquePrefix(recs []record, p string) string {
	if p == "" {
		return ""
	}
	found := ""
	for _, r := range recs {
		if strings.HasPrefix(r.ID, p) {
			if found != "" {
				return ""
			}
			found = r.ID
		}
	}
	return found
}

// imageFamilies are the images refs name and every image made from them
// (committed from a container of one, and so on). A ref that names no
// image adds nothing, as with dockerd, which only logs it.
func (d *Daemon) imageFamilies(ctx context.Context, refs []string) map[string]bool {
	out := map[string]bool{}
	list, err := d.images.List(ctx)
	if err != nil {
		slog.WarnContext(ctx, "list images for the ancestor filter", "error", err)
		return out
	}
	children := map[string][]string{}
	for _, im := range list {
		if im.ParentID != "" {
			children[im.ParentID] = append(children[im.ParentID], im.ID)
		}
	}
	var add func(id string)
	add = func(id string) {
		if out[id] {
			return
		}
		out[id] = true
		for _, c := range children[id] {
			add(c)
		}
	}
	for _, ref := range refs {
		id, err := d.images.Resolve(ctx, ref)
		if err != nil {
			slog.DebugContext(ctx, "ancestor filter names no image", "image", ref, "error", err)
			continue
		}
		add(id)
	}
	return out
}

// portFilter reads the publish or expose values — a port or a range,
// with a protocol or tcp — as the set of port/proto they cover.
func portFilter(f filters.Args, key string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range f.Get(key) {
		if strings.Contains(v, ":") {
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, "filter for '%s' should not contain ':': %s", key, v)
		}
		if f.Legacy() {
			proto, start, end, err := legacyPortRange(v)
			if err != nil {
				return nil, filters.Errorf(errdefs.ErrInvalidArgument, "error while looking up for %s %s: %s", key, v, err)
			}
			for p := start; p <= end; p++ {
				out[fmt.Sprintf("%d/%s", p, proto)] = true
			}
			continue
		}
		pr, err := mnet.ParsePortRange(v)
		if err != nil {
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, "error while looking up for %s %s: %s", key, v, err)
		}
		for p := range pr.All() {
			out[p.String()] = true
		}
	}
	return out, nil
}

// legacyPortRange reads port[-port][/proto] as dockerd 20.10 did
// (go-connections' nat.SplitProtoPort and ParsePortRange), with its
// errors.
func legacyPortRange(v string) (proto string, start, end uint64, err error) {
	proto, ports := "tcp", v
	if parts := strings.Split(v, "/"); len(parts) > 1 {
		ports = parts[0]
		if parts[1] != "" {
			proto = parts[1]
		}
	}
	if v == "" || ports == "" {
		return "", 0, 0, fmt.Errorf("Empty string specified for ports.")
	}
	if !strings.Contains(ports, "-") {
		start, err = strconv.ParseUint(ports, 10, 16)
		return proto, start, start, err
	}
	parts := strings.Split(ports, "-")
	if start, err = strconv.ParseUint(parts[0], 10, 16); err != nil {
		return "", 0, 0, err
	}
	if end, err = strconv.ParseUint(parts[1], 10, 16); err != nil {
		return "", 0, 0, err
	}
	if end < start {
		return "", 0, 0, fmt.Errorf("Invalid range specified for the Port: %s", ports)
	}
	return proto, start, end, nil
}

// idMatch applies the id filter.
func (lf *containerFilter) idMatch(id string) bool {
	return lf.ids == nil || lf.ids[id]
}

// matches applies the filters dockerd checks after the limit: exited,
// status, health, volume, ancestor, network, publish and expose.
func (lf *containerFilter) matches(r *record, s *container.Summary) bool {
	f := lf.f
	if len(lf.exited) > 0 {
		if isRunning(r.State.Status) || r.State.StartedAt.IsZero() || !slices.Contains(lf.exited, r.State.ExitCode) {
			return false
		}
	}
	if !f.Match("status", string(r.State.Status)) {
		return false
	}
	health := string(container.NoHealthcheck)
	if r.Health != nil {
		health = string(r.Health.Status)
	}
	if !f.ExactMatch("health", health) {
		return false
	}
	if f.Contains("volume") && !slices.ContainsFunc(f.Get("volume"), func(v string) bool {
		return slices.ContainsFunc(r.Mounts, func(m mountPoint) bool {
			return m.Destination == v || m.Name == v || m.Name == "" && m.Source == v
		})
	}) {
		return false
	}
	if lf.ancestors != nil && !lf.ancestors[r.Image] {
		return false
	}
	if f.Contains("network") && !slices.ContainsFunc(f.Get("network"), func(v string) bool {
		if s.NetworkSettings == nil {
			return false
		}
		if _, ok := s.NetworkSettings.Networks[v]; ok {
			return true
		}
		for _, es := range s.NetworkSettings.Networks {
			if es != nil && strings.HasPrefix(es.NetworkID, v) {
				return true
			}
		}
		return false
	}) {
		return false
	}
	if len(lf.publish) > 0 || len(lf.expose) > 0 {
		return slices.ContainsFunc(s.Ports, func(p container.PortSummary) bool {
			return lf.publish[fmt.Sprintf("%d/%s", p.PublicPort, p.Type)] || lf.expose[fmt.Sprintf("%d/%s", p.PrivatePort, p.Type)]
		})
	}
	return true
}
