package conformance

import (
	"time"
)

// events reads the events since the case began until now, with filters
// (key, value, …); the answer ends at until.
func events(kv ...string) *step {
	query := "/events?since={since}&until={now}"
	if len(kv) > 0 {
		query += "&" + filters(kv...)
	}
	return get(query).after(300*time.Millisecond).stream(0, 10*time.Second)
}

func eventCases() []*tcase {
	return []*tcase{
		tcs("events/container/lifecycle", mkRunning("a", nil), post("/containers/{a}/kill", nil).asSetup(), wait("a").asSetup(),
			del("/containers/{a}").asSetup(), events("container", "conf-a")),
		tcs("events/container/stop", mkRunning("a", nil), post("/containers/{a}/stop?t=1", nil).within(30*time.Second).asSetup(), events("type", "container")),
		tcs("events/container/rename-pause", mkRunning("a", nil), post("/containers/{a}/pause", nil).asSetup(), post("/containers/{a}/unpause", nil).asSetup(),
			post("/containers/{a}/rename?name=conf-b", nil).asSetup(), events("type", "container")),
		tcs("events/container/filter-event", mkExited("a", nil), events("type", "container", "event", "die")),
		tcs("events/container/exit-code", mkExited("a", nil, "sh", "-c", "exit 9"), events("type", "container", "event", "die")),
		tcs("events/container/label-filter", mkExited("a", obj{"Labels": obj{"ev": "1"}}), mkExited("b", nil), events("label", "ev=1", "event", "start")),
		tcs("events/container/label-two", mkExited("a", obj{"Labels": obj{"ev": "1", "ew": "2"}}), mkExited("b", obj{"Labels": obj{"ev": "1"}}),
			events("label", "ev=1", "label", "ew", "event", "start")),
		tcs("events/container/filter-image", mkExited("a", nil), mkExited("b", obj{"Image": imgRich}), events("image", "conf/rich", "event", "start")),
		tcs("events/container/filter-image-id", mkExited("a", nil), mkExited("b", obj{"Image": imgRich}), events("image", "{img:busybox}", "event", "start")),
		tcs("events/container/filter-id-prefix", mkExited("a", nil), mkExited("b", nil), events("container", "{a:12}", "event", "die")),
		tcs("events/filter-two-types", mkExited("a", nil), events("type", "container", "type", "network", "event", "start", "event", "connect")),
		tcs("events/filter-scope", mkExited("a", nil), events("scope", "swarm")),
		tcs("events/until-long-ago", get("/events?since=0&until=1000").stream(0, 10*time.Second)),
		tcs("events/exec", mkRunning("a", nil), execIn("a", nil, "true").asSetup(), execRun(nil).asSetup(),
			events("type", "container", "event", "exec_create", "event", "exec_start", "event", "exec_die")),
		tcs("events/image/tag-untag", post("/images/"+imgBusybox+"/tag?repo=conf/ev&tag=1", nil).asSetup(), del("/images/conf/ev:1").asSetup(), events("type", "image")),
		tcs("events/image/import", post("/images/create?fromSrc=-&repo=conf/ev&tag=2", importTar).ctypeIs("application/x-tar").asSetup(), events("type", "image")),
		// The container's create makes the volume: one create event, then
		// mount at start, unmount at exit, destroy.
		tcs("events/volume/lifecycle", mkExited("a", hc(obj{"Binds": []string{"conf-v:/x"}})), del("/containers/{a}").asSetup(),
			del("/volumes/conf-v").asSetup(), events("type", "volume")),
		// A container's create that names a volume made before: dockerd
		// 20.10 sends create again (allowed.txt: moby 23 and later do not).
		tcs("events/volume/create-existing", mkVol("v", nil), mk("a", hc(obj{"Binds": []string{"conf-v:/x"}})), del("/containers/{a}").asSetup(),
			del("/volumes/conf-v").asSetup(), events("type", "volume")),
		tcs("events/volume/mount-options", mkExited("a", hc(obj{"Binds": []string{"conf-v:/x:ro"}})), mkExited("b", hc(obj{"Mounts": []obj{{"Type": "volume", "Source": "conf-w", "Target": "/y"}}})),
			events("type", "volume", "event", "mount")),
		tcs("events/network/lifecycle", mkNet("n", nil), mkRunning("a", nil), post("/networks/{n}/connect", obj{"Container": "{a}"}).asSetup(),
			post("/networks/{n}/disconnect", obj{"Container": "{a}"}).asSetup(), del("/networks/{n}").asSetup(), events("type", "network")),
		tcs("events/prune", mkExited("a", nil), post("/containers/prune", nil).asSetup(), post("/networks/prune", nil).asSetup(),
			post("/volumes/prune", nil).asSetup(), post("/images/prune", nil).asSetup(), events("event", "prune").vol("[].Actor.Attributes.reclaimed")),
		tcs("events/image/import-remove", post("/images/create?fromSrc=-&repo=conf/ev&tag=3", importTar).ctypeIs("application/x-tar").asSetup(),
			del("/images/conf/ev:3").asSetup(), events("type", "image")),
		tcs("events/network/start-on-bridge", mkExited("a", nil), events("type", "network")),
		// dockerd checks neither the keys nor the values of the events'
		// filters: the answer is a stream with no event.
		tcs("events/filter-bad-type", events("type", "bogus")),
		tcs("events/filter-unknown", events("nope", "1")),
		tcs("events/bad-since", get("/events?since=yesterday&until={now}")),
		tcs("events/bad-until", get("/events?since={since}&until=tomorrow")),
		tcs("events/filter-malformed", get("/events?since={since}&until={now}&filters="+q("{bad"))),
		tcs("events/since-rfc3339", get("/events?since=2020-01-01T00:00:00Z&until={now}")),
		tcs("events/until-before-since", get("/events?since={now}&until=1000")),
		tcs("events/stream-stays-open", get("/events?since={since}").stream(0, 2*time.Second)),
	}
}
