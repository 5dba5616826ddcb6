package build

import "net/http"

// BuildKit never starts on Windows (startBuildKit refuses), so these are
// never reached.

func (*buildkit) prune(http.ResponseWriter, *http.Request) error     { return nil }
func (*buildkit) diskUsage(http.ResponseWriter, *http.Request) error { return nil }
func (*buildkit) cancel(http.ResponseWriter, *http.Request) error    { return nil }
