package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/network"
	"github.com/hullproject/hull/internal/runtime"
)

// buildSpec makes the container's OCI spec: Docker's default profile
// (runtime.DefaultSpec) with the container's process, hostname, files,
// limits and privileges.
func (d *Daemon) buildSpec(c *ctr, rootfs string, sb *network.Sandbox, addrs []netip.Addr) (*specs.Spec, error) {
	r := c.rec
	cfg, host := r.Config, r.HostConfig
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = r.ID[:12]
	}
	if host.NetworkMode == "host" {
		hostname, _ = os.Hostname()
	}
	j, err := d.resolveJoins(c)
	if err != nil {
		return nil, err
	}
	if j.netPeer != nil {
		hostname = j.hostname
	}
	if err := checkPeerSysctls(host, j.netPeer); err != nil {
		return nil, err
	}
	links, err := d.resolveLinks(c)
	if err != nil {
		return nil, err
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	sec, err := parseSecurityOpts(host.SecurityOpt)
	if err != nil {
		return nil, err
	}
	// The seccomp filter is resolved last, against the final capabilities.
	opts := runtime.SpecOptions{
		Args: append([]string{r.Path}, r.Args...), Terminal: cfg.Tty, RootPath: rootfs, Readonly: host.ReadonlyRootfs,
		Hostname: hostname, Cwd: cwd, Env: daemonEnv(hostname, cfg), NoSeccomp: true, NoNewPrivileges: sec.noNewPrivileges,
	}
	s, err := runtime.DefaultSpec(opts)
	if err != nil {
		return nil, err
	}
	if j.netPeer != nil {
		d.peerFiles(c, s, j)
	} else if err := d.containerFiles(c, s, hostname, sb, addrs, links.hosts); err != nil {
		return nil, err
	}
	if len(links.env) > 0 {
		s.Process.Env = mergeEnv(links.env, s.Process.Env)
	}
	if err := d.mountVolumes(c); err != nil {
		return nil, err
	}
	if err := addMounts(s, rootfs, c.rec.Mounts); err != nil {
		return nil, err
	}
	if err := applyUser(s, rootfs, cfg.User, host.GroupAdd, strictGroups(host.Annotations)); err != nil {
		return nil, err
	}
	if err := applyHost(s, host); err != nil {
		return nil, err
	}
	if err := applyCreateOptions(s, cfg, host); err != nil {
		return nil, err
	}
	if err := applyDevices(s, host); err != nil {
		return nil, err
	}
	applyNamespaces(s, host, j)
	applyPodUTS(s, &c.rec, j)
	applyAnnotations(s, host)
	applyCgroupParent(s, host, c.rec.ID)
	if err := applySeccomp(s, host, sec.seccomp); err != nil {
		return nil, err
	}
	if sb != nil {
		// The container joins its compartment, made by the network service.
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = sb.Path
			}
		}
	}
	if err := applyUlimits(s, d.cfg.DefaultUlimits, host.Ulimits); err != nil {
		return nil, err
	}
	if err := checkDeviceRequests(host.DeviceRequests); err != nil {
		return nil, err
	}
	return s, nil
}

// containerFiles writes /etc/hostname, /etc/hosts and /etc/resolv.conf of
// the container under its folder and bind-mounts them, as Docker does.
func (d *Daemon) containerFiles(c *ctr, s *specs.Spec, hostname string, sb *network.Sandbox, addrs []netip.Addr, linkHosts []string) error {
	dir := d.containerDir(c.rec.ID)
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
	h := c.rec.HostConfig
	var resolv []byte
	switch {
	case h.NetworkMode == "none":
	case h.NetworkMode == "host":
		resolv, _ = os.ReadFile("/etc/resolv.conf")
	default:
		resolv = []byte(d.net.ResolvConf(sb, addrStrings(h.DNS), h.DNSSearch, h.DNSOptions))
	}
	if c.rec.HostConfig.NetworkMode == "host" {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
	}
	for _, e := range c.rec.HostConfig.ExtraHosts {
		name, ip, ok := strings.Cut(e, ":")
		if !ok {
			return fmt.Errorf("invalid --add-host %q: want NAME:IP: %w", e, errdefs.ErrInvalidArgument)
		}
		hosts += ip + "\t" + name + "\n"
	}
	for _, l := range linkHosts {
		hosts += l + "\n"
	}
	// The container's own line last, as dockerd writes it.
	for _, a := range addrs {
		hosts += a.String() + "\t" + hostsNames(hostname, c.rec.Config.Domainname) + "\n"
	}
	files := map[string]string{"hostname": hostname + "\n", "hosts": hosts, "resolv.conf": string(resolv)}
	for _, name := range []string{"hostname", "hosts", "resolv.conf"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			return err
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/" + name, Type: "bind", Source: p, Options: []string{"rbind", "rprivate"}})
	}
	return nil
}

// applyUser resolves docker's --user (name|uid[:group|gid]) in the
// container's /etc/passwd and /etc/group as dockerd's getUser does: the
// process gets the user's primary group, the groups that list the user, and
// --group-add's (names from the container's /etc/group, or numbers), also
// when no user is named (root). strict leaves out the groups that list the
// user (a CRI container's Strict supplemental groups policy).
func applyUser(s *specs.Spec, rootfs, userSpec string, groupAdd []string, strict bool) error {
	passwdPath, _ := securejoin(rootfs, "/etc/passwd")
	groupPath, _ := securejoin(rootfs, "/etc/group")
	eu, err := user.GetExecUserPath(userSpec, nil, passwdPath, groupPath)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	u := specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid), AdditionalGids: []uint32{uint32(eu.Gid)}}
	var added []int
	if len(groupAdd) > 0 {
		if added, err = user.GetAdditionalGroupsPath(groupAdd, groupPath); err != nil {
			// dockerd 20.10's text: "Unable to find group X: no matching
			// entries in group file".
			msg := err.Error()
			if errors.Is(err, user.ErrNoGroupEntries) {
				msg = "U" + msg[1:]
			}
			return fmt.Errorf("%s: %w", msg, errdefs.ErrInvalidArgument)
		}
		slices.Sort(added)
	}
	if strict {
		eu.Sgids = nil
	}
	for _, g := range append(eu.Sgids, added...) {
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	if userSpec != "" && eu.Home != "" {
		setEnvDefault(s, "HOME", eu.Home)
	}
	s.Process.User = u
	return nil
}

// strictGroupsAnnotation, set to "Strict" among a container's annotations
// (HostConfig.Annotations, the OCI spec's), is the CRI's Strict
// supplemental groups policy: the image's /etc/group adds no group to the
// user's.
const strictGroupsAnnotation = "io.kubernetes.cri.supplemental-groups-policy"

func strictGroups(annotations map[string]string) bool {
	return annotations[strictGroupsAnnotation] == "Strict"
}

// daemonEnv is the process's environment as dockerd makes it: the default
// PATH, HOSTNAME, TERM with a terminal, then the container's variables,
// each replacing one of these or added; a name without "=" unsets the
// variable (dockerd's ReplaceOrAppendEnvValues), so the runtime, which
// refuses such an entry, never sees one.
func daemonEnv(hostname string, cfg *container.Config) []string {
	env := []string{runtime.DefaultPathEnv, "HOSTNAME=" + hostname}
	if cfg.Tty {
		env = append(env, "TERM=xterm")
	}
	return replaceOrAppendEnv(env, cfg.Env)
}

// hostsNames is the container's own line of /etc/hosts after its address,
// as libnetwork writes it: the full name and the bare host name when the
// name has a domain ("web.example.org web"), else the name.
func hostsNames(hostname, domainname string) string {
	fqdn := hostname
	if domainname != "" {
		fqdn += "." + domainname
	}
	if host, _, ok := strings.Cut(fqdn, "."); ok {
		return fqdn + " " + host
	}
	return fqdn
}

func setEnvDefault(s *specs.Spec, k, v string) {
	for _, e := range s.Process.Env {
		if strings.HasPrefix(e, k+"=") {
			return
		}
	}
	s.Process.Env = append(s.Process.Env, k+"="+v)
}

func writeBundle(dir string, s *specs.Spec) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".config.json")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "config.json"))
}

// addMounts adds the container's volumes, binds and tmpfs mounts, in
// place of any default mount at the same destination. An empty volume
// gets what the image has at its mount point first (copy-up).
func addMounts(s *specs.Spec, rootfs string, ms []mountPoint) error {
	for _, m := range ms {
		if !strings.HasPrefix(m.Destination, "/") {
			// A VOLUME named without its leading / (dockerd mounts it
			// under the root too).
			m.Destination = "/" + m.Destination
		}
		s.Mounts = slices.DeleteFunc(s.Mounts, func(x specs.Mount) bool { return x.Destination == m.Destination })
		switch m.Type {
		case mount.TypeTmpfs:
			opts, err := tmpfsOptions(tmpfsMountData(m))
			if err != nil {
				return err
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: opts})
		default:
			if m.Type == mount.TypeVolume && !m.NoCopy {
				// The image's content at the mount point, resolved inside
				// the rootfs (never through a symlink out of it).
				if src, err := securejoin(rootfs, m.Destination); err == nil {
					if err := copyUp(src, m.Source); err != nil {
						return fmt.Errorf("copy the image's %s into volume %s: %w", m.Destination, m.Name, err)
					}
				}
			}
			if m.Subpath != "" {
				// Resolved inside the volume: a link there never leads out.
				src, err := securejoin(m.Source, m.Subpath)
				if err != nil {
					return fmt.Errorf("volume %s: subpath %s: %v: %w", m.Name, m.Subpath, err, errdefs.ErrInvalidArgument)
				}
				m.Source = src
			}
			prop := string(m.Propagation)
			if prop == "" {
				prop = "rprivate"
			}
			opts := []string{"rbind", prop}
			if !m.RW {
				opts = append(opts, "ro")
			}
			if m.RecursiveReadOnly {
				opts = append(opts, "rro")
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
			rootfsPropagation(s, prop)
		}
	}
	return nil
}

// rootfsPropagation makes the container's root mount shared when a bind
// mount is (shared or rshared), else slave when one is (slave or rslave),
// as dockerd does: a mount the container makes under a shared bind only
// reaches the host, and the host's only reach it under a slave bind, when
// the root it is mounted under propagates too.
func rootfsPropagation(s *specs.Spec, prop string) {
	if s.Linux == nil {
		return
	}
	switch cur := s.Linux.RootfsPropagation; prop {
	case "shared", "rshared":
		if cur != "shared" && cur != "rshared" {
			s.Linux.RootfsPropagation = "shared"
		}
	case "slave", "rslave":
		if cur != "shared" && cur != "rshared" && cur != "slave" && cur != "rslave" {
			s.Linux.RootfsPropagation = "rslave"
		}
	}
}

// securejoin resolves p under root, following symlinks as if root were
// "/", so that the result stays under root.
func securejoin(root, p string) (string, error) {
	cur := ""
	links := 0
	parts := strings.Split(strings.Trim(filepath.ToSlash(p), "/"), "/")
	for len(parts) > 0 {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir("/" + cur)[1:]
			continue
		}
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%s: too many symlinks", p)
		}
		l, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(l) {
			cur = ""
		}
		parts = append(strings.Split(strings.Trim(filepath.ToSlash(l), "/"), "/"), parts...)
	}
	return filepath.Join(root, cur), nil
}

// applyUlimits sets the process's rlimits: the daemon's defaults, then the
// container's own (docker run --ulimit), by name.
func applyUlimits(s *specs.Spec, defaults map[string]*container.Ulimit, own []*container.Ulimit) error {
	limits := map[string]*container.Ulimit{}
	for name, u := range defaults {
		if u != nil {
			limits[name] = u
		}
	}
	for _, u := range own {
		if u != nil {
			limits[u.Name] = u
		}
	}
	for _, name := range slices.Sorted(maps.Keys(limits)) {
		u := limits[name]
		// As the kernel compares them: unsigned, -1 being unlimited.
		if uint64(u.Soft) > uint64(u.Hard) {
			return fmt.Errorf("ulimit %s: soft limit %d is above the hard limit %d: %w", name, u.Soft, u.Hard, errdefs.ErrInvalidArgument)
		}
		typ := "RLIMIT_" + strings.ToUpper(name)
		if !knownRlimits[typ] {
			return fmt.Errorf("ulimit %q: not a limit (nofile, nproc, core, memlock, stack, …): %w", name, errdefs.ErrInvalidArgument)
		}
		s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == typ })
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: typ, Hard: uint64(u.Hard), Soft: uint64(u.Soft)})
	}
	return nil
}

var knownRlimits = map[string]bool{
	"RLIMIT_AS": true, "RLIMIT_CORE": true, "RLIMIT_CPU": true, "RLIMIT_DATA": true, "RLIMIT_FSIZE": true,
	"RLIMIT_LOCKS": true, "RLIMIT_MEMLOCK": true, "RLIMIT_MSGQUEUE": true, "RLIMIT_NICE": true, "RLIMIT_NOFILE": true,
	"RLIMIT_NPROC": true, "RLIMIT_RSS": true, "RLIMIT_RTPRIO": true, "RLIMIT_RTTIME": true, "RLIMIT_SIGPENDING": true, "RLIMIT_STACK": true,
}
