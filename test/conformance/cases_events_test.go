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
		tcs("events/exec", mkRunning("a", nil), execIn("a", nil, "true").asSetup(), execRun(nil).asSetup(),
			events("type", "container", "event", "exec_create", "event", "exec_start", "event", "exec_die")),
		tcs("events/image/tag-untag", post("/images/"+imgBusybox+"/tag?repo=conf/ev&tag=1", nil).asSetup(), del("/images/conf/ev:1").asSetup(), events("type", "image")),
		tcs("events/image/import", post("/images/create?fromSrc=-&repo=conf/ev&tag=2", importTar).ctypeIs("application/x-tar").asSetup(), events("type", "image")),
		tcs("events/volume/lifecycle", mkVol("v", nil), mkExited("a", hc(obj{"Binds": []string{"conf-v:/x"}})), del("/containers/{a}").asSetup(),
			del("/volumes/conf-v").asSetup(), events("type", "volume")),
		tcs("events/network/lifecycle", mkNet("n", nil), mkRunning("a", nil), post("/networks/{n}/connect", obj{"Container": "{a}"}).asSetup(),
			post("/networks/{n}/disconnect", obj{"Container": "{a}"}).asSetup(), del("/networks/{n}").asSetup(), events("type", "network")),
		tcs("events/network/start-on-bridge", mkExited("a", nil), events("type", "network")),
		// A stream of events (none here): dockerd and moby take any filter.
		tcs("events/filter-bad-type", get("/events?since={since}&until={now}&"+filters("type", "bogus")).stream(0, 10*time.Second)),
		tcs("events/filter-unknown", get("/events?since={since}&until={now}&"+filters("nope", "1")).stream(0, 10*time.Second)),
		tcs("events/bad-since", get("/events?since=yesterday&until={now}")),
		tcs("events/until-before-since", get("/events?since={now}&until=1000")),
		tcs("events/stream-stays-open", get("/events?since={since}").stream(0, 2*time.Second)),
	}
}
