package daemon

import (
	"log/slog"
	"os"
	"strconv"
)

// defaultCompartmentPool is how many compartments of the default bridge
// network the network service keeps made ahead: enough for a few starts in
// a row; a burst beyond it makes its own as before.
const defaultCompartmentPool = 4

// compartmentPool is the size of the network service's compartment pool:
// HULL_COMPARTMENT_POOL (0 turns it off) or the default.
func compartmentPool() int {
	v, ok := os.LookupEnv("HULL_COMPARTMENT_POOL")
	if !ok {
		return defaultCompartmentPool
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		slog.Warn("HULL_COMPARTMENT_POOL is not a count; the default is used", "value", v)
		return defaultCompartmentPool
	}
	return n
}
