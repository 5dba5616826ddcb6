package daemon

// The checks dockerd makes of a container's settings at create (and of an
// update's), in dockerd's order and with its texts word for word: clients
// match on them. They follow moby's runconfig (decode-time checks),
// daemon/container.go (verifyContainerSettings) and, per platform,
// daemon_unix.go (verifyPlatformContainerSettings: validate_linux.go).

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/errdefs"
)

// invalid classifies a dockerd text as bad input.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// exactError is a dockerd text whose words include its kind's
// ("shares: invalid argument"): it is of the kind without wrapping it, so
// the server leaves the text whole.
type exactError struct {
	msg  string
	kind error
}

func (e exactError) Error() string        { return e.msg }
func (e exactError) Is(target error) bool { return target == e.kind }

// validateCreateRequest is runconfig's check of a create request as it is
// decoded: network, UTS and isolation conflicts, QoS, real-time CPU.
func validateCreateRequest(cfg *container.Config, h *container.HostConfig) error {
	mode := h.NetworkMode
	if kind, name, _ := strings.Cut(string(mode), ":"); kind == "container" && name == "" {
		return invalid("Invalid network mode: invalid container format container:<name|id>")
	}
	if mode.IsContainer() {
		switch {
		case cfg.Hostname != "":
			return invalid("conflicting options: hostname and the network mode")
		case len(h.Links) > 0:
			return invalid("conflicting options: container type network can't be used with links. This would result in undefined behavior")
		case len(h.DNS) > 0:
			return invalid("conflicting options: dns and the network mode")
		case len(h.ExtraHosts) > 0:
			return invalid("conflicting options: custom host-to-IP mapping and the network mode")
		case len(h.PortBindings) > 0 || h.PublishAllPorts:
			return invalid("conflicting options: port publishing and the container type network mode")
		case len(cfg.ExposedPorts) > 0:
			return invalid("conflicting options: port exposing and the container type network mode")
		}
	}
	if h.UTSMode.IsHost() && cfg.Hostname != "" {
		return invalid("conflicting options: hostname and the UTS mode")
	}
	if mode.IsHost() && len(h.Links) > 0 {
		return invalid("conflicting options: host type networking can't be used with links. This would result in undefined behavior")
	}
	if err := validateIsolation(h); err != nil {
		return err
	}
	// dockerd 20.10 answers these two with 500 (unclassified errors); a
	// later dockerd and hull say 400: the input is wrong.
	if h.IOMaximumBandwidth != 0 {
		return invalid("Invalid QoS settings: %s does not support configuration of maximum bandwidth", osType)
	}
	if h.IOMaximumIOps != 0 {
		return invalid("Invalid QoS settings: %s does not support configuration of maximum IOPs", osType)
	}
	return validateRealtime(h)
}

// validateContainerConfig is dockerd's validateContainerConfig; it also
// cleans WorkingDir as dockerd stores it.
func validateContainerConfig(cfg *container.Config) error {
	if cfg == nil {
		return nil
	}
	if cfg.WorkingDir != "" {
		wd := filepath.FromSlash(cfg.WorkingDir)
		if !filepath.IsAbs(wd) && !strings.HasPrefix(wd, string(filepath.Separator)) {
			return invalid("the working directory '%s' is invalid, it needs to be an absolute path", cfg.WorkingDir)
		}
		cfg.WorkingDir = filepath.Clean(wd)
	}
	if cfg.StopSignal != "" {
		if err := checkSignal(cfg.StopSignal); err != nil {
			return err
		}
	}
	for _, e := range cfg.Env {
		if k, _, _ := strings.Cut(e, "="); k == "" {
			return invalid("invalid environment variable: %s", e)
		}
	}
	return validateHealthCheck(cfg.Healthcheck)
}

// checkSignal is moby's ParseSignal: a number other than 0, or a name with
// or without SIG.
func checkSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n == 0 {
			return invalid("Invalid signal: %s", s)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if strings.HasPrefix(name, "RTMIN") || strings.HasPrefix(name, "RTMAX") {
		if rest := name[5:]; rest == "" || validRTOffset(rest) {
			return nil
		}
	}
	for n := 1; n < 32; n++ {
		if strings.TrimPrefix(unixSignalName(syscall.Signal(n)), "SIG") == name && name != "" {
			return nil
		}
	}
	return invalid("Invalid signal: %s", s)
}

// validRTOffset: RTMIN+1…RTMIN+15, RTMAX-1…RTMAX-14 (moby's signal map).
func validRTOffset(s string) bool {
	if len(s) < 2 || s[0] != '+' && s[0] != '-' {
		return false
	}
	n, err := strconv.Atoi(s[1:])
	return err == nil && n >= 1 && n <= 15
}

func validateHealthCheck(hc *container.HealthConfig) error {
	if hc == nil {
		return nil
	}
	if hc.Interval != 0 && hc.Interval < container.MinimumDuration {
		return invalid("Interval in Healthcheck cannot be less than %s", container.MinimumDuration)
	}
	if hc.Timeout != 0 && hc.Timeout < container.MinimumDuration {
		return invalid("Timeout in Healthcheck cannot be less than %s", container.MinimumDuration)
	}
	if hc.Retries < 0 {
		return invalid("Retries in Healthcheck cannot be negative")
	}
	if hc.StartPeriod != 0 && hc.StartPeriod < container.MinimumDuration {
		return invalid("StartPeriod in Healthcheck cannot be less than %s", container.MinimumDuration)
	}
	if hc.StartInterval != 0 && hc.StartInterval < container.MinimumDuration {
		return invalid("StartInterval in Healthcheck cannot be less than %s", container.MinimumDuration)
	}
	return nil
}

// validateHostConfig is dockerd's validateHostConfig.
func validateHostConfig(h *container.HostConfig) error {
	if h == nil {
		return nil
	}
	if h.AutoRemove && !h.RestartPolicy.IsNone() {
		return invalid("can't create 'AutoRemove' container with restart policy")
	}
	for _, m := range h.Mounts {
		if err := validateMountConfig(&m, true); err != nil {
			return err
		}
		if err := validateTmpfsSize(&m); err != nil {
			return err
		}
	}
	for _, e := range h.ExtraHosts {
		if err := validateExtraHost(e); err != nil {
			return err
		}
	}
	if err := validateDNS(h); err != nil {
		return err
	}
	if err := validateContainerPorts(h.PortBindings); err != nil {
		return err
	}
	if err := validatePortBindings(h.PortBindings); err != nil {
		return err
	}
	if err := validateRestartPolicy(h.RestartPolicy); err != nil {
		return err
	}
	for _, c := range h.CapAdd {
		if _, err := capName(c); err != nil {
			return invalid("invalid CapAdd: unknown capability: %q", normalCapName(c))
		}
	}
	for _, c := range h.CapDrop {
		if _, err := capName(c); err != nil {
			return invalid("invalid CapDrop: unknown capability: %q", normalCapName(c))
		}
	}
	if err := validateIsolation(h); err != nil {
		return err
	}
	return validateAnnotations(h)
}

func normalCapName(c string) string {
	u := strings.ToUpper(c)
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	return u
}

// validateIsolation: Linux knows only the default isolation. dockerd 20.10
// answers 500 at decode; hull says 400.
func validateIsolation(h *container.HostConfig) error {
	if !h.Isolation.IsValid() {
		return invalid("Invalid isolation: %q - %s only supports 'default'", h.Isolation, osType)
	}
	return nil
}

func validateExtraHost(val string) error {
	name, ip, ok := strings.Cut(val, ":")
	if !ok || name == "" {
		return invalid("bad format for add-host: %q", val)
	}
	if ip != "host-gateway" && net.ParseIP(strings.TrimSpace(ip)) == nil {
		return invalid("invalid IP address in add-host: %q", ip)
	}
	return nil
}

// validatePortBindings checks the host ports (the container ports were
// parsed with the request).
func validatePortBindings(ports network.PortMap) error {
	for _, bindings := range ports {
		for _, pb := range bindings {
			if pb.HostPort == "" {
				continue
			}
			hp, _, _ := strings.Cut(pb.HostPort, "/")
			start, end, isRange := strings.Cut(hp, "-")
			a, err1 := strconv.ParseUint(start, 10, 16)
			b, err2 := a, error(nil)
			if isRange {
				b, err2 = strconv.ParseUint(end, 10, 16)
			}
			if err1 != nil || err2 != nil || b < a {
				return invalid("invalid port specification: %q", pb.HostPort)
			}
		}
	}
	return nil
}

// validateRestartPolicy holds dockerd 20.10's texts (API 1.41).
func validateRestartPolicy(p container.RestartPolicy) error {
	switch p.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped, container.RestartPolicyDisabled:
		if p.MaximumRetryCount != 0 {
			return invalid("maximum retry count cannot be used with restart policy '%s'", p.Name)
		}
	case container.RestartPolicyOnFailure:
		if p.MaximumRetryCount < 0 {
			return invalid("maximum retry count cannot be negative")
		}
	case "":
	default:
		return invalid("invalid restart policy '%s'", p.Name)
	}
	return nil
}

// errMountConfig is moby's "invalid mount config for type …" text.
func errMountConfig(m *mount.Mount, err error) error {
	return invalid("invalid mount config for type %q: %v", m.Type, err)
}

var propagationModes = map[mount.Propagation]bool{
	mount.PropagationPrivate: true, mount.PropagationRPrivate: true, mount.PropagationSlave: true,
	mount.PropagationRSlave: true, mount.PropagationShared: true, mount.PropagationRShared: true,
}

// errTargetIsRoot is moby's ErrVolumeTargetIsRoot.
var errTargetIsRoot = errors.New("invalid specification: destination can't be '/'")

func validateNotRoot(p string) error {
	if path.Clean(strings.ReplaceAll(p, `\`, `/`)) == "/" {
		return errTargetIsRoot
	}
	return nil
}

func validateAbsolute(p string) error {
	p = strings.ReplaceAll(p, `\`, `/`)
	if path.IsAbs(p) {
		return nil
	}
	return fmt.Errorf("invalid mount path: '%s' mount path must be absolute", p)
}

// validateMountConfig is moby's linux parser's validateMountConfigImpl.
func validateMountConfig(m *mount.Mount, bindSourceMustExist bool) error {
	if m.Target == "" {
		return errMountConfig(m, errors.New("field Target must not be empty"))
	}
	if err := validateNotRoot(m.Target); err != nil {
		return errMountConfig(m, err)
	}
	if err := validateAbsolute(m.Target); err != nil {
		return errMountConfig(m, err)
	}
	switch m.Type {
	case mount.TypeBind:
		if m.Source == "" {
			return errMountConfig(m, errors.New("field Source must not be empty"))
		}
		if o := m.BindOptions; o != nil && o.Propagation != "" && !propagationModes[o.Propagation] {
			return errMountConfig(m, fmt.Errorf("invalid propagation mode: %s", o.Propagation))
		}
		if o := m.BindOptions; o != nil && o.ReadOnlyForceRecursive {
			switch {
			case o.ReadOnlyNonRecursive:
				return errMountConfig(m, errors.New("cannot set both ReadOnlyNonRecursive and ReadOnlyForceRecursive"))
			case !m.ReadOnly:
				return errMountConfig(m, errors.New("option ReadOnlyForceRecursive requires ReadOnly"))
			case o.Propagation != "" && o.Propagation != mount.PropagationPrivate && o.Propagation != mount.PropagationRPrivate:
				return errMountConfig(m, fmt.Errorf("option ReadOnlyForceRecursive requires a private propagation, not %s", o.Propagation))
			}
		}
		if m.VolumeOptions != nil {
			return errMountConfig(m, errors.New("field VolumeOptions must not be specified"))
		}
		if err := validateAbsolute(m.Source); err != nil {
			return errMountConfig(m, err)
		}
		if bindSourceMustExist && !exists(m.Source) {
			return errMountConfig(m, fmt.Errorf("bind source path does not exist: %s", m.Source))
		}
	case mount.TypeVolume:
		if m.BindOptions != nil {
			return errMountConfig(m, errors.New("field BindOptions must not be specified"))
		}
		if m.Source == "" && m.ReadOnly {
			return errMountConfig(m, errors.New("must not set ReadOnly mode when using anonymous volumes"))
		}
		if o := m.VolumeOptions; o != nil && o.Subpath != "" {
			if m.Source == "" {
				return errMountConfig(m, errors.New("must not set Subpath when using anonymous volumes"))
			}
			if !filepath.IsLocal(o.Subpath) {
				return errMountConfig(m, errors.New("subpath must be a relative path within the volume"))
			}
		}
	case mount.TypeTmpfs:
		if m.BindOptions != nil {
			return errMountConfig(m, errors.New("field BindOptions must not be specified"))
		}
		if m.Source != "" {
			return errMountConfig(m, errors.New("field Source must not be specified"))
		}
	case mount.TypeImage:
		return fmt.Errorf("mount type %q: mounting an image is not supported by hull yet: %w", m.Type, errdefs.ErrNotImplemented)
	default:
		return errMountConfig(m, errors.New("mount type unknown"))
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// validateTmpfsDestination is moby's ValidateTmpfsMountDestination.
func validateTmpfsDestination(dest string) error {
	if err := validateNotRoot(dest); err != nil {
		return invalid("%v", err)
	}
	if err := validateAbsolute(dest); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// knownRuntimes are the runtime names a container may ask for: hull's own
// and dockerd's names for its default (runc), which is what hull runs.
var knownRuntimes = map[string]bool{"hull": true, "runc": true, "io.containerd.runc.v2": true}

// validateLogConfig is dockerd's mergeAndVerifyLogConfig for the drivers
// hull has: json-file (its log) and none.
func validateLogConfig(lc *container.LogConfig) error {
	if lc.Type == "" {
		lc.Type = "json-file"
	}
	if lc.Config == nil {
		lc.Config = map[string]string{}
	}
	switch lc.Type {
	case "json-file":
		for k := range lc.Config {
			switch k {
			case "max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag":
			default:
				return invalid("unknown log opt '%s' for json-file log driver", k)
			}
		}
	case "none":
	case "local", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries":
		return fmt.Errorf("log driver %q: hull keeps a container's log in the json-file format only: %w", lc.Type, errdefs.ErrNotImplemented)
	default:
		return invalid("error looking up logging plugin %s: plugin %q not found", lc.Type, lc.Type)
	}
	return nil
}
