package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/system"

	"github.com/hullproject/hull/internal/apiversion"
)

// SystemBackend answers /version and /info.
type SystemBackend interface {
	SystemVersion(ctx context.Context) (system.VersionResponse, error)
	// SystemInfo is /info in the newest API version's shape.
	SystemInfo(ctx context.Context) (system.Info, error)
	// LegacyInfo holds the host's answers for the /info fields that newer
	// API versions dropped and moby's wire type no longer has:
	// "KernelMemory", "KernelMemoryTCP", "BridgeNfIptables",
	// "BridgeNfIp6tables". A missing key is false.
	LegacyInfo(ctx context.Context) map[string]bool
	AuthBackend
	BuildBackend
}

// builderVersion is /_ping's Builder-Version: the builder a client should
// use. hull serves no /build of its own yet, and the classic builder's
// version is what a client falls back to.
const builderVersion = "1"

func (s *Server) systemRoutes() {
	ping := func(w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
		h.Set("Pragma", "no-cache")
		h.Set("Builder-Version", builderVersion)
		// API 1.42: the swarm state, so that clients need not ask /info.
		h.Set("Swarm", "inactive")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method == http.MethodHead {
			h.Set("Content-Length", "0")
			return nil
		}
		_, err := w.Write([]byte("OK"))
		return err
	}
	s.buildRoutes()
	s.handle("GET /_ping", ping)
	s.handle("HEAD /_ping", ping)
	// dockerd answers OPTIONS on any path (CORS preflight) with 200 and no
	// body.
	s.handle("OPTIONS /", func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("GET /version", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.backend.SystemVersion(r.Context())
		if err != nil {
			return err
		}
		v.APIVersion, v.MinAPIVersion, v.Os = APIVersion, MinAPIVersion, s.OSType
		if v.Version == "" {
			v.Version = Version
		}
		return writeJSON(w, http.StatusOK, v)
	})
	s.handle("GET /info", func(w http.ResponseWriter, r *http.Request) error {
		info, err := s.backend.SystemInfo(r.Context())
		if err != nil {
			return err
		}
		sh, err := infoShape(r.Context(), info, s.backend.LegacyInfo(r.Context()))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, sh)
	})
}

// infoShape gives /info the shape of the request's API version, as
// dockerd's system router does: fields newer than the version are left
// out, fields that newer versions dropped are put back.
func infoShape(ctx context.Context, info system.Info, legacy map[string]bool) (shape, error) {
	before := func(v string) bool { return apiversion.Before(ctx, v) }
	if before("1.44") {
		// Runtimes' status arrived in 1.44.
		for k, rt := range info.Runtimes {
			info.Runtimes[k] = system.RuntimeWithStatus{Runtime: rt.Runtime}
		}
	}
	if before("1.46") {
		info.Containerd = nil
	}
	if before("1.49") {
		info.FirewallBackend = nil
	}
	if before("1.50") {
		info.DiscoveredDevices = nil
	}
	if before("1.53") {
		info.NRI = nil
	}
	sh, err := shapeOf(info)
	if err != nil {
		return nil, err
	}
	if before("1.44") {
		// CDISpecDirs arrived in 1.44.
		sh.omit("CDISpecDirs")
	}
	if before("1.25") {
		// The execution drivers went away in 1.25; older versions were
		// told so, and got the security options' names only (1.25 made
		// them key=value lists).
		sh.add(map[string]any{"ExecutionDriver": "<not supported>"})
		names := []string{}
		for _, o := range info.SecurityOptions {
			for _, kv := range strings.Split(o, ",") {
				if name, ok := strings.CutPrefix(kv, "name="); ok {
					names = append(names, name)
				}
			}
		}
		sh.set("SecurityOptions", names)
	}
	if before("1.47") {
		// Always null since the option went away (dockerd 28), and
		// omitted from 1.47 on.
		sh.add(map[string]any{"RegistryConfig": map[string]any{
			"AllowNondistributableArtifactsCIDRs":     nil,
			"AllowNondistributableArtifactsHostnames": nil,
		}})
	}
	if before("1.49") {
		// The commits' Expected: omitted from 1.49, the ID before.
		sh.add(map[string]any{
			"ContainerdCommit": map[string]any{"Expected": info.ContainerdCommit.ID},
			"RuncCommit":       map[string]any{"Expected": info.RuncCommit.ID},
			"InitCommit":       map[string]any{"Expected": info.InitCommit.ID},
		})
	}
	switch {
	case before("1.48"):
		// Read from the host until 1.48, always false in 1.48 and 1.49
		// (the module is loaded on demand since), omitted from 1.50.
		sh.add(map[string]any{"BridgeNfIptables": legacy["BridgeNfIptables"], "BridgeNfIp6tables": legacy["BridgeNfIp6tables"]})
	case before("1.50"):
		sh.add(map[string]any{"BridgeNfIptables": false, "BridgeNfIp6tables": false})
	}
	switch {
	case before("1.42"):
		sh.add(map[string]any{"KernelMemory": legacy["KernelMemory"], "KernelMemoryTCP": legacy["KernelMemoryTCP"]})
	case before("1.52"):
		// 1.42 dropped KernelMemory and left KernelMemoryTCP out where the
		// host does not support it; 1.52 dropped it.
		if legacy["KernelMemoryTCP"] {
			sh.add(map[string]any{"KernelMemoryTCP": true})
		}
	}
	return sh, nil
}
