package daemon

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

func TestStartsAtDaemonStart(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		policy        container.RestartPolicyMode
		max, restarts int
		code          int
		manually      bool
		neverStarted  bool
		want          bool
	}{
		{policy: "no", code: 1},
		{policy: "", code: 1},
		{policy: "always", want: true},
		{policy: "always", manually: true, want: true}, // docker stop holds it down only until the daemon restarts
		{policy: "always", neverStarted: true},         // created, never started: dockerd's HasBeenStartedBefore
		{policy: "unless-stopped", want: true},
		{policy: "unless-stopped", manually: true},
		{policy: "on-failure"},
		{policy: "on-failure", code: 137, manually: true, want: true},
		{policy: "on-failure", code: 5, max: 3, restarts: 2, want: true},
		{policy: "on-failure", code: 5, max: 3, restarts: 3},
	} {
		r := &record{HostConfig: &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: tc.policy, MaximumRetryCount: tc.max}},
			RestartCount: tc.restarts, ManuallyStopped: tc.manually, State: state{Status: container.StateExited, ExitCode: tc.code, StartedAt: started}}
		if tc.neverStarted {
			r.State.StartedAt = time.Time{}
		}
		if got := startsAtDaemonStart(r); got != tc.want {
			t.Errorf("%+v: %t, want %t", tc, got, tc.want)
		}
	}
}
