// Package crashpoint ends the process at a named point of a change when
// the HULL_TEST_CRASH_AT environment variable names that point: the tests'
// way to kill the daemon in the middle of a create, a start, a remove or a
// network change, and to check that its next start cleans up.
package crashpoint

import (
	"log/slog"
	"os"
)

// At exits the process with status 70 when HULL_TEST_CRASH_AT is point.
func At(point string) {
	if os.Getenv("HULL_TEST_CRASH_AT") == point {
		slog.Error("crashing on purpose (HULL_TEST_CRASH_AT)", "point", point)
		os.Exit(70)
	}
}
