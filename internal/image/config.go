package image

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// Config is the part of an image config that says how to run a
// container, in the JSON shape docker uses for both the image config's
// "config" field and docker inspect's Config.
type Config struct {
	Hostname     string              `json:"Hostname,omitempty"`
	Domainname   string              `json:"Domainname,omitempty"`
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Healthcheck  *HealthConfig       `json:"Healthcheck,omitempty"`
	ArgsEscaped  bool                `json:"ArgsEscaped,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	OnBuild      []string            `json:"OnBuild,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	Shell        []string            `json:"Shell,omitempty"`
}

// HealthConfig is an image's health check, as docker writes it. Durations
// are in nanoseconds.
type HealthConfig struct {
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

// configFile is an image config (OCI image spec / docker image JSON): the
// blob whose digest is the image id. Only what hull reads or writes is
// named; an image keeps its config blob byte for byte, so fields left out
// here are not lost.
type configFile struct {
	Architecture  string    `json:"architecture"`
	Variant       string    `json:"variant,omitempty"`
	OS            string    `json:"os"`
	OSVersion     string    `json:"os.version,omitempty"`
	Created       time.Time `json:"created,omitzero"`
	Author        string    `json:"author,omitempty"`
	Comment       string    `json:"comment,omitempty"`
	DockerVersion string    `json:"docker_version,omitempty"`
	// Container and ContainerConfig are docker's deprecated record of the
	// container a commit was made of (API < 1.45 shows them).
	Container       string          `json:"container,omitempty"`
	ContainerConfig json.RawMessage `json:"container_config,omitempty"`
	Config          Config          `json:"config"`
	RootFS          rootFS          `json:"rootfs"`
	History         []historyEntry  `json:"history,omitempty"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type historyEntry struct {
	Created    time.Time `json:"created,omitzero"`
	CreatedBy  string    `json:"created_by,omitempty"`
	Author     string    `json:"author,omitempty"`
	Comment    string    `json:"comment,omitempty"`
	EmptyLayer bool      `json:"empty_layer,omitempty"`
}

// parseConfig reads an image config and checks what the store relies on:
// rootfs of type layers with valid diff ids.
func parseConfig(b []byte) (*configFile, error) {
	var c configFile
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("image config: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if c.RootFS.Type != "layers" {
		return nil, fmt.Errorf("image config: rootfs type %q, want \"layers\": %w", c.RootFS.Type, errdefs.ErrInvalidArgument)
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := ValidateDigest(d); err != nil {
			return nil, fmt.Errorf("image config: diff id: %w", err)
		}
	}
	return &c, nil
}

// chainIDs returns the chain id of every layer (OCI image spec): the
// first is its diff id, each next the digest of "<previous> <diff id>".
func chainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = chainID(out[i-1], d)
	}
	return out
}

func chainID(parent, diffID string) string {
	if parent == "" {
		return diffID
	}
	return digestOf([]byte(parent + " " + diffID))
}
