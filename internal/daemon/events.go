package daemon

// Events: what happened to containers, images and volumes, in Docker's
// shape, kept for `since` (the last 1024) and sent to subscribers
// (GET /events, docker events).

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"

	"github.com/hullproject/hull/internal/filters"
	"github.com/hullproject/hull/internal/image"
)

const keptEvents = 1024

type eventBus struct {
	mu     sync.Mutex
	recent []events.Message
	subs   map[chan events.Message]struct{}
}

func (b *eventBus) publish(m events.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recent = append(b.recent, m)
	if len(b.recent) > keptEvents {
		b.recent = b.recent[len(b.recent)-keptEvents:]
	}
	for ch := range b.subs {
		select {
		case ch <- m:
		default: // a subscriber that does not keep up loses events
		}
	}
}

// event records one event about a container (its name and image as
// attributes, with its labels, as Docker gives them).
func (d *Daemon) containerEvent(c *ctr, action events.Action, extra ...string) {
	attrs := map[string]string{"name": c.rec.Name, "image": c.rec.ImageRef}
	for k, v := range c.rec.Config.Labels {
		attrs[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i]] = extra[i+1]
	}
	d.emit(events.ContainerEventType, action, c.rec.ID, attrs)
}

// imageEvent records an event about image id as dockerd's LogImageEvent
// does: the image's labels (while it exists) and name (a reference, or
// the id itself) as attributes.
func (d *Daemon) imageEvent(ctx context.Context, id, name string, action events.Action) {
	var labels map[string]string
	if img, err := d.images.Get(ctx, id); err == nil {
		labels = img.Config.Labels
	}
	d.imageEventLabels(id, name, action, labels)
}

// imageEventLabels is imageEvent with the labels read before: an untag
// event carries the labels of an image that may be gone by then.
func (d *Daemon) imageEventLabels(id, name string, action events.Action, labels map[string]string) {
	attrs := maps.Clone(labels)
	if attrs == nil {
		attrs = map[string]string{}
	}
	if name != "" {
		attrs["name"] = name
	}
	d.emit(events.ImageEventType, action, id, attrs)
}

// volumeMountEvents records a mount (at start) or unmount (at exit) event
// for each volume c mounts, as dockerd's setupMounts and UnmountVolumes
// do; bind mounts and tmpfs have none.
func (d *Daemon) volumeMountEvents(c *ctr, action events.Action) {
	for _, m := range c.rec.Mounts {
		if m.Type != mount.TypeVolume {
			continue
		}
		driver := m.Driver
		if driver == "" {
			driver = "local"
		}
		attrs := map[string]string{"driver": driver, "container": c.rec.ID}
		if action == events.ActionMount {
			attrs["destination"] = m.Destination
			attrs["read/write"] = strconv.FormatBool(m.RW)
			attrs["propagation"] = string(m.Propagation)
		}
		d.emit(events.VolumeEventType, action, m.Name, attrs)
	}
}

func (d *Daemon) emit(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	d.events.publish(events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()})
}

// Events is GET /events: the kept events from since to until (when
// either is set), then, unless until has passed, the new ones until ctx
// ends or until passes. The filters are dockerd's (type, event,
// container, image, volume, network, daemon, plugin, scope, label, …);
// as dockerd, it takes any key and ignores those it does not know.
func (d *Daemon) Events(ctx context.Context, since, until time.Time, f filters.Args, emit func(events.Message) error) error {
	match := func(m events.Message) bool { return eventMatches(f, m) }
	ch := make(chan events.Message, 256)
	d.events.mu.Lock()
	var backlog []events.Message
	if !since.IsZero() || !until.IsZero() {
		for _, m := range d.events.recent {
			if t := time.Unix(0, m.TimeNano); (since.IsZero() || !t.Before(since)) && (until.IsZero() || !t.After(until)) {
				backlog = append(backlog, m)
			}
		}
	}
	if d.events.subs == nil {
		d.events.subs = map[chan events.Message]struct{}{}
	}
	d.events.subs[ch] = struct{}{}
	d.events.mu.Unlock()
	defer func() {
		d.events.mu.Lock()
		delete(d.events.subs, ch)
		d.events.mu.Unlock()
	}()
	for _, m := range backlog {
		if match(m) {
			if err := emit(m); err != nil {
				return err
			}
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		if time.Until(until) <= 0 {
			return nil
		}
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case m := <-ch:
			if match(m) {
				if err := emit(m); err != nil {
					return err
				}
			}
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// eventMatches applies the /events filters as dockerd's events.Filter:
// each key must match. container, daemon, network, plugin, volume (and
// the swarm kinds) match an event whose actor id or name begins with a
// value; image matches the image of an event (its id, its name, or the
// name without its tag); event an action exactly, or its first part for
// health_status, exec_create and exec_start; label needs every value
// among the attributes.
func eventMatches(f filters.Args, m events.Message) bool {
	action := string(m.Action)
	matchAction := f.ExactMatch("event", action)
	if slices.ContainsFunc(f.Get("event"), func(v string) bool {
		return v == "health_status" || v == "exec_create" || v == "exec_start"
	}) {
		matchAction = f.FuzzyMatch("event", action)
	}
	if !matchAction || !f.ExactMatch("type", string(m.Type)) || f.Contains("scope") && !f.ExactMatch("scope", m.Scope) {
		return false
	}
	for _, t := range []events.Type{events.DaemonEventType, events.ContainerEventType, events.PluginEventType, events.VolumeEventType,
		events.NetworkEventType, events.ServiceEventType, events.NodeEventType, events.SecretEventType, events.ConfigEventType} {
		if !f.FuzzyMatch(string(t), m.Actor.ID) && !f.FuzzyMatch(string(t), m.Actor.Attributes["name"]) {
			return false
		}
	}
	nameAttr := "image"
	if m.Type == events.ImageEventType {
		nameAttr = "name"
	}
	name := m.Actor.Attributes[nameAttr]
	if !f.ExactMatch("image", m.Actor.ID) && !f.ExactMatch("image", name) &&
		!f.ExactMatch("image", withoutTag(m.Actor.ID)) && !f.ExactMatch("image", withoutTag(name)) {
		return false
	}
	return !f.Contains("label") || f.MatchKVList("label", m.Actor.Attributes)
}

// withoutTag is a reference's familiar name (busybox for
// docker.io/library/busybox:latest); anything else as it is.
func withoutTag(s string) string {
	forms := image.ReferenceForms(s)
	if len(forms) < 2 {
		return s
	}
	return forms[1]
}
