package daemon

import (
	"context"
	"strconv"

	"github.com/moby/moby/api/types/events"
)

// BuildCachePruned tells a prune of the build cache (POST /build/prune,
// which the builder serves) as dockerd does: a builder prune event with
// the bytes reclaimed.
func (d *Daemon) BuildCachePruned(_ context.Context, reclaimed uint64) {
	d.emit(events.BuilderEventType, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(reclaimed, 10)})
}
