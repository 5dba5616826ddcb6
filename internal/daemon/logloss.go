package daemon

import (
	"context"
	"log/slog"
)

// reportLogLoss warns in the daemon's log of the lines of container id's
// output that its shim could not write to the container's log (a full
// disk), before the shim goes: dockerd's json-file logger drops them too,
// and says so only line by line. The shim's own log (shim.log) says when
// the losses start and end while it runs, and `hull diag list` shows the
// count of a running container (LOG LOST).
func (d *Daemon) reportLogLoss(ctx context.Context, id string) {
	st, err := d.rt.State(ctx, id)
	if err != nil || st.LogDropped == 0 {
		return
	}
	slog.WarnContext(ctx, "container log lines lost: the log could not be written", "container", id, "lines", st.LogDropped)
}
