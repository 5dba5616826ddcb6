package daemon

// Legacy links (docker run --link db:alias, HostConfig.Links) on the
// default bridge, as dockerd keeps them: the linked container answers to
// /<parent>/<alias> too (docker ps NAMES, lookups), the parent gets an
// /etc/hosts line (alias, host name, name) and Docker's environment
// variables (ALIAS_PORT_…, ALIAS_NAME, ALIAS_ENV_…) at start, inspect shows
// /db:/web/alias, and DELETE /containers/web/alias?link=1 removes it. On a
// user-defined network a link is an alias that only the linking container
// resolves (EndpointsConfig[net].Links), in the network service's resolver.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	mnet "github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/errdefs"
)

// legacyLink is one --link of a container: the linked container (by id,
// so that a rename keeps it) under an alias.
type legacyLink struct {
	ID string `json:"id"`
	// Name is the linked container's name when the link was made, shown
	// once that container is gone (dockerd keeps showing it).
	Name  string `json:"name"`
	Alias string `json:"alias"`
}

// parseLink reads "name:alias", "name" or the "/name:/parent/alias" that
// inspect shows.
func parseLink(v string) (name, alias string, err error) {
	if v == "" {
		return "", "", fmt.Errorf("empty string specified for links: %w", errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(v, ":")
	switch {
	case len(parts) > 2:
		return "", "", fmt.Errorf("bad format for links: %s: %w", v, errdefs.ErrInvalidArgument)
	case len(parts) == 1:
		return v, v, nil
	case strings.HasPrefix(parts[0], "/"):
		return parts[0][1:], filepath.Base(parts[1]), nil
	}
	return parts[0], parts[1], nil
}

// isUserNetworkMode says whether a network mode names a user-defined
// network (not bridge, default, host, none or container:X).
func isUserNetworkMode(mode string) bool {
	switch mode {
	case "", "default", "bridge", "host", "none":
		return false
	}
	_, isContainer := containerMode(mode)
	return !isContainer && mode != "container"
}

// checkLinks resolves a new container's links at create, as dockerd: each
// names an existing container (400 otherwise), followed through its own
// network mode container:X to the container that owns the network, which
// must not use the host's. On a user-defined network mode dockerd drops
// HostConfig.Links (the docker CLI sends them as the endpoint's Links).
func (d *Daemon) checkLinks(r *record) error {
	h := r.HostConfig
	if isUserNetworkMode(string(h.NetworkMode)) {
		h.Links = nil
		return nil
	}
	r.Links = nil
	for _, v := range h.Links {
		name, alias, err := parseLink(v)
		if err != nil {
			return err
		}
		child, err := d.lookup(name)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return fmt.Errorf("could not get container for %s: No such container: %s: %w", name, name, errdefs.ErrInvalidArgument)
			}
			if name == "" {
				return fmt.Errorf("could not get container for : invalid name or ID supplied: \"\": %w", errdefs.ErrInvalidArgument)
			}
			return fmt.Errorf("could not get container for %s: %w", name, err)
		}
		owner := child
		for i := 0; i < 8; i++ {
			owner.mu.Lock()
			mode := string(owner.rec.HostConfig.NetworkMode)
			owner.mu.Unlock()
			x, ok := containerMode(mode)
			if !ok {
				if mode == "host" {
					return fmt.Errorf("conflicting options: host type networking can't be used with links. This would result in undefined behavior: %w", errdefs.ErrInvalidArgument)
				}
				break
			}
			if owner, err = d.lookup(x); err != nil {
				return fmt.Errorf("Could not get container for %s: %w", x, err)
			}
		}
		child.mu.Lock()
		l := legacyLink{ID: child.rec.ID, Name: child.rec.Name, Alias: alias}
		child.mu.Unlock()
		r.Links = slices.DeleteFunc(r.Links, func(o legacyLink) bool { return o.Alias == alias })
		r.Links = append(r.Links, l)
	}
	h.Links = linkStrings(r.Name, r.Links, nil)
	return nil
}

// linkStrings is HostConfig.Links as dockerd shows it: /child:/parent/alias,
// the child by its current name (names) when it still exists.
func linkStrings(parent string, links []legacyLink, names map[string]string) []string {
	if len(links) == 0 {
		return nil
	}
	out := make([]string, 0, len(links))
	for _, l := range links {
		name := l.Name
		if n, ok := names[l.ID]; ok {
			name = n
		}
		out = append(out, "/"+name+":/"+parent+"/"+l.Alias)
	}
	return out
}

// hostConfigView is r's HostConfig as inspect shows it: the links with
// the names their containers have now.
func (d *Daemon) hostConfigView(r *record) *container.HostConfig {
	if len(r.Links) == 0 || r.HostConfig == nil {
		return r.HostConfig
	}
	h := *r.HostConfig
	names := map[string]string{}
	for _, l := range r.Links {
		if c, err := d.lookup(l.ID); err == nil && c.rec.ID == l.ID {
			c.mu.Lock()
			names[l.ID] = c.rec.Name
			c.mu.Unlock()
		}
	}
	h.Links = linkStrings(r.Name, r.Links, names)
	return &h
}

// linkNames are, for each container, the names it has as others' links
// (/web/db): docker ps shows them after its own.
func (d *Daemon) linkNames() map[string][]string {
	d.mu.Lock()
	cs := make([]*ctr, 0, len(d.ctrs))
	for _, c := range d.ctrs {
		cs = append(cs, c)
	}
	d.mu.Unlock()
	out := map[string][]string{}
	for _, c := range cs {
		c.mu.Lock()
		for _, l := range c.rec.Links {
			out[l.ID] = append(out[l.ID], "/"+c.rec.Name+"/"+l.Alias)
		}
		c.mu.Unlock()
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// linkTargetLocked finds the container that /parent/alias names, or nil.
// Preconditions: d.mu is held (the parent's mu is only tried: the caller
// may hold a container's).
func (d *Daemon) linkTargetLocked(ref string) *ctr {
	parent, alias, ok := strings.Cut(strings.TrimPrefix(ref, "/"), "/")
	if !ok || alias == "" || strings.Contains(alias, "/") {
		return nil
	}
	p := d.ctrs[d.names[parent]]
	if p == nil || !tryLock(&p.mu, peerWait) {
		return nil
	}
	var id string
	for _, l := range p.rec.Links {
		if l.Alias == alias {
			id = l.ID
		}
	}
	p.mu.Unlock()
	return d.ctrs[id]
}

// ContainerRemoveLink is DELETE /containers/{parent}/{alias}?link=1: the
// link goes from the parent (its /etc/hosts line too, when it runs).
func (d *Daemon) ContainerRemoveLink(ctx context.Context, name string) error {
	name = "/" + strings.TrimPrefix(name, "/")
	parentName, alias := filepath.Split(name)
	if parentName == "/" {
		// As dockerd: the child's own name is not a link (dockerd answers
		// 500; a request that cannot be done is a conflict).
		if _, err := d.lookup(name); err != nil {
			return err
		}
		return fmt.Errorf("Conflict, cannot remove the default link name of the container: %w", errdefs.ErrConflict)
	}
	parentName = strings.TrimSuffix(parentName, "/")
	p, err := d.lookup(parentName)
	if err != nil {
		return fmt.Errorf("Cannot get parent %s for link name %s: %w", parentName, name, errdefs.ErrNotFound)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.IndexFunc(p.rec.Links, func(l legacyLink) bool { return l.Alias == alias })
	if i < 0 {
		return fmt.Errorf("No such container: %s: %w", strings.TrimPrefix(name, "/"), errdefs.ErrNotFound)
	}
	p.rec.Links = slices.Delete(slices.Clone(p.rec.Links), i, i+1)
	h := *p.rec.HostConfig
	h.Links = linkStrings(p.rec.Name, p.rec.Links, nil)
	p.rec.HostConfig = &h
	if err := d.save(&p.rec); err != nil {
		return err
	}
	if p.rec.State.Status == container.StateRunning || p.rec.State.Status == container.StatePaused {
		editHosts(filepath.Join(d.containerDir(p.rec.ID), "hosts"), alias, "")
	}
	return nil
}

// linkSetup is what a starting container gets from its links: the
// environment and the /etc/hosts lines.
type linkSetup struct {
	env   []string
	hosts []string
}

// resolveLinks checks c's links at start as dockerd does — each linked
// container on the default bridge and running — and gives the environment
// and hosts lines of a container on the default bridge. Preconditions:
// c.mu is held.
func (d *Daemon) resolveLinks(c *ctr) (linkSetup, error) {
	var out linkSetup
	if len(c.rec.Links) == 0 {
		return out, nil
	}
	mode := networkMode(c.rec.HostConfig)
	onBridge := (mode == "bridge" || mode == "default") && !c.rec.NetworkModeDetached
	links := slices.Clone(c.rec.Links)
	slices.SortFunc(links, func(a, b legacyLink) int { return strings.Compare(a.Alias, b.Alias) })
	for _, l := range links {
		linkName := "/" + c.rec.Name + "/" + l.Alias
		child, err := d.peer(l.ID)
		if err != nil || child.ID != l.ID {
			if errdefs.IsNotFound(err) || err == nil {
				return out, fmt.Errorf("Cannot link to a non running container: /%s AS %s: %w", l.Name, linkName, errdefs.ErrConflict)
			}
			return out, err
		}
		owner := child
		for i := 0; i < 8; i++ {
			x, ok := containerMode(string(owner.HostConfig.NetworkMode))
			if !ok {
				break
			}
			if owner, err = d.peer(x); err != nil {
				return out, fmt.Errorf("Cannot link to a non running container: /%s AS %s: %w", child.Name, linkName, errdefs.ErrConflict)
			}
		}
		if !onDefaultBridge(&owner) {
			return out, fmt.Errorf("Cannot link to /%s, as it does not belong to the default network: %w", child.Name, errdefs.ErrInvalidArgument)
		}
		if !peerRunning(child) || !peerRunning(owner) {
			return out, fmt.Errorf("Cannot link to a non running container: /%s AS %s: %w", child.Name, linkName, errdefs.ErrConflict)
		}
		if !onBridge {
			continue
		}
		ip := d.bridgeAddress(owner.ID)
		if ip == "" {
			return out, fmt.Errorf("container %s not attached to default bridge network: %w", child.ID, errdefs.ErrConflict)
		}
		names := l.Alias + " " + hostnameOf(&owner)
		if l.Alias != child.Name {
			names += " " + child.Name
		}
		out.hosts = append(out.hosts, ip+"\t"+names)
		out.env = append(out.env, linkEnv(linkName, ip, child.Config)...)
	}
	return out, nil
}

// onDefaultBridge says whether a container asks for the default bridge.
func onDefaultBridge(r *record) bool {
	for _, er := range containerNetworks(r) {
		if er.Network == "bridge" {
			return true
		}
	}
	return false
}

// bridgeAddress is a container's address on the default bridge, or "".
func (d *Daemon) bridgeAddress(id string) string {
	nw, err := d.net.Network("bridge")
	if err != nil {
		return ""
	}
	for _, ep := range d.net.Endpoints(id) {
		if ep.NetworkID == nw.ID && ep.Addr.IsValid() {
			return ep.Addr.Addr().String()
		}
	}
	return ""
}

// hostnameOf is a container's host name as its /etc/hostname has it.
func hostnameOf(r *record) string {
	if r.Config != nil && r.Config.Hostname != "" {
		return r.Config.Hostname
	}
	return r.ID[:12]
}

// linkEnv are Docker's variables for a link named name (/parent/alias) to
// a container at ip: ALIAS_PORT (the first port), ALIAS_PORT_<n>_<PROTO>
// and its _ADDR, _PORT, _PROTO for each exposed port, _START/_END for
// runs of consecutive ports, ALIAS_NAME, and ALIAS_ENV_<k> for the linked
// container's environment but HOME and PATH. Ports go by number, TCP
// first, as dockerd 20.10 sorts them.
func linkEnv(name, ip string, cfg *container.Config) []string {
	alias := strings.ReplaceAll(strings.ToUpper(filepath.Base(name)), "-", "_")
	var ports []mnet.Port
	var env []string
	if cfg != nil {
		for p := range cfg.ExposedPorts {
			ports = append(ports, p)
		}
	}
	slices.SortFunc(ports, func(a, b mnet.Port) int {
		if a.Num() != b.Num() {
			return int(a.Num()) - int(b.Num())
		}
		if (a.Proto() == mnet.TCP) != (b.Proto() == mnet.TCP) {
			if a.Proto() == mnet.TCP {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a.Proto()), string(b.Proto()))
	})
	url := func(p mnet.Port) string { return fmt.Sprintf("%s://%s:%d", p.Proto(), ip, p.Num()) }
	prefix := func(p mnet.Port) string {
		return fmt.Sprintf("%s_PORT_%d_%s", alias, p.Num(), strings.ToUpper(string(p.Proto())))
	}
	for i := 0; i < len(ports); {
		// A run: consecutive numbers of one protocol.
		j := i
		for j+1 < len(ports) && ports[j+1].Num() == ports[j].Num()+1 && ports[j+1].Proto() == ports[j].Proto() {
			j++
		}
		if i == 0 {
			env = append(env, alias+"_PORT="+url(ports[0]))
		}
		for _, p := range ports[i : j+1] {
			env = append(env, prefix(p)+"="+url(p), prefix(p)+"_ADDR="+ip,
				prefix(p)+"_PORT="+strconv.Itoa(int(p.Num())), prefix(p)+"_PROTO="+string(p.Proto()))
		}
		if j > i {
			start, end := ports[i], ports[j]
			env = append(env, prefix(start)+"_START="+url(start), prefix(start)+"_PORT_START="+strconv.Itoa(int(start.Num())),
				prefix(start)+"_END="+url(end), prefix(start)+"_PORT_END="+strconv.Itoa(int(end.Num())))
		}
		i = j + 1
	}
	env = append(env, alias+"_NAME="+name)
	if cfg != nil {
		for _, kv := range cfg.Env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "HOME" || k == "PATH" {
				continue
			}
			env = append(env, alias+"_ENV_"+k+"="+v)
		}
	}
	return env
}

// updateParentHosts points the /etc/hosts lines of the running containers
// linked to child (by an alias) at its new address, as dockerd does when a
// linked container starts again. Preconditions: child's mu may be held.
func (d *Daemon) updateParentHosts(child *record) {
	ip := d.bridgeAddress(child.ID)
	if ip == "" {
		return
	}
	if !tryLock(&d.mu, glanceWait) {
		return
	}
	cs := make([]*ctr, 0, len(d.ctrs))
	for _, c := range d.ctrs {
		if c.rec.ID != child.ID {
			cs = append(cs, c)
		}
	}
	d.mu.Unlock()
	for _, p := range cs {
		if !tryLock(&p.mu, glanceWait) {
			continue
		}
		id, running := p.rec.ID, peerRunning(p.rec)
		var aliases []string
		for _, l := range p.rec.Links {
			if l.ID == child.ID {
				aliases = append(aliases, l.Alias)
			}
		}
		p.mu.Unlock()
		if !running {
			continue
		}
		for _, a := range aliases {
			editHosts(filepath.Join(d.containerDir(id), "hosts"), a, ip)
		}
	}
}

// editHosts gives the line of a hosts file whose first name is alias the
// address ip, or removes it when ip is "". The file is rewritten in place:
// it is bind-mounted into a running container.
func editHosts(path, alias, ip string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.SplitAfter(string(b), "\n")
	changed := false
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 || f[1] != alias {
			continue
		}
		changed = true
		if ip == "" {
			lines[i] = ""
		} else {
			_, rest, _ := strings.Cut(strings.TrimRight(line, "\n"), "\t")
			lines[i] = ip + "\t" + rest + "\n"
		}
	}
	if changed {
		os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644)
	}
}
