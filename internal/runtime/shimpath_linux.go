package runtime

// ShimPath is the hull-shim binary containers are created with: beside
// this executable, or on PATH.
func ShimPath() (string, error) { return findShim("") }
