package daemon

// Events: what happened to containers, images and volumes, in Docker's
// shape, kept for `since` (the last 1024) and sent to subscribers
// (GET /events, docker events).

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
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

func (d *Daemon) emit(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	d.events.publish(events.Message{Type: typ, Action: action, Actor: events.Actor{ID: id, Attributes: attrs},
		Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()})
}

// Events is GET /events: the kept events since `since`, then (unless
// until is in the past) the new ones until ctx ends or until passes.
// filters are docker's: type, container, image, volume, network, event, label.
func (d *Daemon) Events(ctx context.Context, since, until time.Time, filters map[string][]string, emit func(events.Message) error) error {
	match := func(m events.Message) bool {
		in := func(k string, ok func(string) bool) bool {
			vals := filters[k]
			if len(vals) == 0 {
				return true
			}
			for _, v := range vals {
				if ok(v) {
					return true
				}
			}
			return false
		}
		return in("type", func(v string) bool { return string(m.Type) == v }) &&
			in("event", func(v string) bool { return string(m.Action) == v || strings.HasPrefix(string(m.Action), v+":") }) &&
			in("container", func(v string) bool {
				return m.Type == events.ContainerEventType && (strings.HasPrefix(m.Actor.ID, v) || m.Actor.Attributes["name"] == v)
			}) &&
			in("image", func(v string) bool { return m.Actor.Attributes["image"] == v || m.Actor.ID == v }) &&
			in("volume", func(v string) bool { return m.Type == events.VolumeEventType && m.Actor.ID == v }) &&
			in("network", func(v string) bool {
				return m.Type == events.NetworkEventType && (strings.HasPrefix(m.Actor.ID, v) || m.Actor.Attributes["name"] == v)
			}) &&
			in("label", func(v string) bool {
				k, val, has := strings.Cut(v, "=")
				got, ok := m.Actor.Attributes[k]
				return ok && (!has || got == val)
			})
	}
	ch := make(chan events.Message, 256)
	d.events.mu.Lock()
	var backlog []events.Message
	if !since.IsZero() {
		for _, m := range d.events.recent {
			if t := time.Unix(0, m.TimeNano); !t.Before(since) && (until.IsZero() || !t.After(until)) {
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
