package daemon

// The filters of the volume and network lists and prunes, as dockerd
// reads and applies them.

import (
	"slices"
	"strconv"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
	"github.com/hullproject/hull/internal/network"
)

// networkFilter is a network list or prune filter, checked.
type networkFilter struct {
	f filters.Args
	// byUse: only networks in use (predefined ones count) or, with
	// danglingOnly, only the others. A prune takes dangling ones.
	byUse, danglingOnly bool
	until               time.Time
}

// newNetworkFilter checks f for GET /networks, or for POST
// /networks/prune when prune is set, as dockerd does: the keys, then
// dangling, type and until.
func newNetworkFilter(f filters.Args, prune bool) (*networkFilter, error) {
	accepted := []string{"dangling", "driver", "id", "label", "name", "scope", "type"}
	if prune {
		accepted = []string{"label", "label!", "until"}
	}
	if err := f.Validate(accepted...); err != nil {
		return nil, err
	}
	nf := &networkFilter{f: f, byUse: prune, danglingOnly: prune}
	if vs := f.Get("dangling"); len(vs) > 0 {
		if len(vs) > 1 {
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, `got more than one value for filter key "dangling"`)
		}
		nf.byUse = true
		switch vs[0] {
		case "0", "false":
		case "1", "true":
			nf.danglingOnly = true
		default:
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`)
		}
	}
	for _, t := range f.Get("type") {
		if t != "builtin" && t != "custom" {
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, "invalid filter: 'type'='%s'", t)
		}
	}
	if prune {
		var err error
		if nf.until, err = f.Until(time.Now()); err != nil {
			return nil, err
		}
	}
	return nf, nil
}

// matches reports whether nw passes; inUse: a container is attached.
// The types are ORed, as dockerd 20.10 did (today's moby heeds the first
// it happens to read).
func (nf *networkFilter) matches(nw *network.Network, inUse bool) bool {
	f := nf.f
	if !f.ExactMatch("driver", nw.Driver) || !f.Match("name", nw.Name) || !f.Match("id", nw.ID) ||
		!f.MatchLabels(nw.Labels) || !f.ExactMatch("scope", "local") {
		return false
	}
	if nf.byUse {
		dangling := !nw.Predefined && !inUse
		if dangling != nf.danglingOnly {
			return false
		}
	}
	if types := f.Get("type"); len(types) > 0 && !slices.Contains(types, map[bool]string{true: "builtin", false: "custom"}[nw.Predefined]) {
		return false
	}
	return nf.until.IsZero() || !nw.Created.After(nf.until)
}

// volumeFilter is a volume list or prune filter, checked.
type volumeFilter struct {
	f filters.Args
	// dangling: 1 only volumes no container uses, -1 only used ones.
	dangling int
}

// anonymousLabel marks anonymous volumes in dockerd ≥ 23; a prune of API
// ≥ 1.42 without all=true takes only volumes that carry it (hull's
// anonymous volumes count as carrying it).
const anonymousLabel = "com.docker.volume.anonymous"

// newVolumeFilter checks f for GET /volumes, or for POST /volumes/prune
// when prune is set. A prune of API ≥ 1.42 takes anonymous volumes only
// unless all=true; before (dockerd 20.10) it took every unused one and
// knew no all.
func newVolumeFilter(f filters.Args, prune bool) (*volumeFilter, error) {
	if prune && !f.Legacy() {
		all := f.Get("all")
		switch {
		case len(all) > 1:
			return nil, filters.Errorf(errdefs.ErrInvalidArgument, "invalid filter 'all=%s': only one value is expected", all)
		case len(all) == 1:
			ok, err := strconv.ParseBool(all[0])
			if err != nil {
				return nil, filters.Errorf(errdefs.ErrInvalidArgument, "invalid filter 'all': %s", err)
			}
			if !ok {
				f = f.Clone()
				f.Add("label", anonymousLabel)
			}
		default:
			f = f.Clone()
			f.Add("label", anonymousLabel)
		}
	}
	accepted := []string{"dangling", "name", "driver", "label"}
	if prune {
		accepted = []string{"label", "label!"}
		if !f.Legacy() {
			accepted = append(accepted, "all")
		}
	}
	if err := f.Validate(accepted...); err != nil {
		return nil, err
	}
	vf := &volumeFilter{f: f}
	if f.Contains("dangling") {
		d, err := f.Bool("dangling", false, []string{"true", "1"}, []string{"false", "0"})
		if err != nil {
			return nil, err
		}
		vf.dangling = map[bool]int{true: 1, false: -1}[d]
	}
	return vf, nil
}

// matches reports whether the volume passes; used: a container mounts it.
func (vf *volumeFilter) matches(r volumeRecord, driver string, used bool) bool {
	f := vf.f
	labels := r.Labels
	if r.Anonymous {
		labels = map[string]string{anonymousLabel: ""}
		for k, v := range r.Labels {
			labels[k] = v
		}
	}
	switch {
	case vf.dangling == 1 && used, vf.dangling == -1 && !used:
		return false
	}
	return f.ExactMatch("driver", driver) && (!f.Contains("name") || f.Match("name", r.Name)) && f.MatchLabels(labels)
}
