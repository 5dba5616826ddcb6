package soak

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Count is how many of one kind of thing the daemon holds, with a line
// for each (printed when it leaked).
type Count struct {
	Kind  string
	N     int
	Items []string
}

// Counts are what the daemon holds of every kind the soak checks, in a
// fixed order.
type Counts []Count

func (cs Counts) get(kind string) Count {
	for _, c := range cs {
		if c.Kind == kind {
			return c
		}
	}
	return Count{Kind: kind}
}

// scope says what belongs to one daemon: its folder (data root, exec
// root), the ids of the containers the soak made, and its pid.
type scope struct {
	dir      string
	root     string
	run      string
	engineID string
	ids      map[string]bool
	daemon   int
}

// tableName is the daemon's nftables table for an exec root other than
// /run/hull: "hull_" and the first 6 hex digits of the path's FNV-1a
// (internal/daemon's networkNames; the soak may not import it).
func tableName(execRoot string) string {
	h := fnv.New32a()
	h.Write([]byte(execRoot))
	return "hull_" + fmt.Sprintf("%08x", h.Sum32())[:6]
}

// bridgeName is the daemon's default bridge (networkNames again).
func bridgeName(execRoot string) string {
	return "hull" + strings.TrimPrefix(tableName(execRoot), "hull_")
}

func (s *scope) namesID(str string) bool {
	for id := range s.ids {
		if strings.Contains(str, id) {
			return true
		}
	}
	return false
}

// count takes stock of everything the daemon made that can leak.
func (s *scope) count() Counts {
	var cs Counts
	add := func(kind string, items []string) {
		sort.Strings(items)
		cs = append(cs, Count{Kind: kind, N: len(items), Items: items})
	}
	mounts, nsMounts := s.mounts()
	add("mounts under the roots", mounts)
	v1, v2 := s.cgroups()
	add("cgroups (v1 hierarchies)", v1)
	add("cgroups (v2)", v2)
	netnsFiles := s.entries(filepath.Join(s.run, "netns"))
	add("netns (files and nsfs mounts)", append(netnsFiles, nsMounts...))
	veths, bridges := s.links()
	add("veth links", veths)
	add("bridges", bridges)
	add("nftables chains+rules", s.nftables())
	procs, zombies := s.processes()
	add("processes (shims, monitors, inits)", procs)
	add("zombies of the daemon", zombies)
	add("container dirs", s.entries(filepath.Join(s.root, "containers")))
	add("layer dirs", s.entries(filepath.Join(s.root, "layers")))
	add("volumes", s.entries(filepath.Join(s.root, "volumes")))
	add("bundles", s.entries(filepath.Join(s.run, "containers")))
	add("runtime state dirs", s.entries(filepath.Join(s.run, "runtime", "state")))
	add("shim dirs", s.entries(filepath.Join(s.run, "runtime", "shims")))
	files, logs, sockets, named := s.files()
	add("log files", logs)
	add("sockets", sockets)
	add("paths naming a soak container", named)
	add("files under the roots", files)
	add("daemon fds", s.fds())
	return cs
}

// mounts lists the mount points under the soak's folder; nsfs mounts (the
// compartments' network namespaces) are listed apart as well.
func (s *scope) mounts() (all, nsfs []string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{"read mountinfo: " + err.Error()}, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp != s.dir && !strings.HasPrefix(mp, s.dir+"/") {
			continue
		}
		all = append(all, mp)
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == "nsfs" {
				nsfs = append(nsfs, mp)
			}
		}
	}
	return all, nsfs
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroups lists the cgroup folders, in every mounted hierarchy, whose name
// holds the id of a container of the soak.
func (s *scope) cgroups() (v1, v2 []string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		_, after, ok := strings.Cut(l, " - ")
		fields := strings.Fields(l)
		if !ok || len(fields) < 5 {
			continue
		}
		fstype := strings.Fields(after)[0]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		mp := unescapeMount(fields[4])
		filepath.WalkDir(mp, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if s.namesID(d.Name()) {
				if fstype == "cgroup2" {
					v2 = append(v2, p)
				} else {
					v1 = append(v1, p)
				}
				return filepath.SkipDir
			}
			return nil
		})
	}
	return v1, v2
}

// links lists the host's links of the daemon: those its alias marks as
// the daemon's (hull:<engine id>) and any on one of its bridges (a veth
// made before its alias was set).
func (s *scope) links() (veths, bridges []string) {
	ls, err := netlink.LinkList()
	if err != nil {
		return []string{"list links: " + err.Error()}, nil
	}
	ours := map[int]bool{}
	alias := "hull:" + s.engineID
	for _, l := range ls {
		a := l.Attrs()
		if l.Type() == "bridge" && (a.Alias == alias && s.engineID != "" || a.Name == bridgeName(s.run)) {
			ours[a.Index] = true
			bridges = append(bridges, a.Name)
		}
	}
	for _, l := range ls {
		a := l.Attrs()
		if l.Type() == "veth" && (a.Alias == alias && s.engineID != "" || ours[a.MasterIndex]) {
			veths = append(veths, a.Name)
		}
	}
	return veths, bridges
}

// nftables lists the chains and rules of the daemon's table (and of any
// table whose name begins with its name).
func (s *scope) nftables() []string {
	c, err := nftables.New()
	if err != nil {
		return []string{"nftables: " + err.Error()}
	}
	name := tableName(s.run)
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return []string{"list tables: " + err.Error()}
	}
	var out []string
	for _, t := range tables {
		if !strings.HasPrefix(t.Name, name) {
			continue
		}
		chains, _ := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		for _, ch := range chains {
			if ch.Table.Name != t.Name {
				continue
			}
			out = append(out, "chain "+t.Name+" "+ch.Name)
			rules, _ := c.GetRules(t, ch)
			for i := range rules {
				out = append(out, fmt.Sprintf("rule %s %s #%d", t.Name, ch.Name, i))
			}
		}
	}
	return out
}

// processes lists the processes of the daemon other than itself: those
// whose command line names the soak's folder (shims, monitors) or whose
// cgroup names a soak container (inits, exec'd processes); and the
// daemon's zombie children.
func (s *scope) processes() (procs, zombies []string) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	for _, p := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(p))
		if pid == self || pid == s.daemon {
			continue
		}
		comm, state, ppid, ok := procStat(p)
		if !ok {
			continue
		}
		if state == "Z" && ppid == s.daemon && s.daemon != 0 {
			zombies = append(zombies, fmt.Sprintf("%d %s", pid, comm))
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		cg, _ := os.ReadFile(filepath.Join(p, "cgroup"))
		if bytes.Contains(cmdline, []byte(s.dir+"/")) || s.namesID(string(cg)) {
			procs = append(procs, fmt.Sprintf("%d %s", pid, comm))
		}
	}
	return procs, zombies
}

// entries lists a folder's entries.
func (s *scope) entries(dir string) []string {
	des, _ := os.ReadDir(dir)
	var out []string
	for _, d := range des {
		out = append(out, filepath.Join(dir, d.Name()))
	}
	return out
}

// files walks the data and exec roots: every path, the log files, the
// sockets, and the paths that hold the id of a soak container.
func (s *scope) files() (all, logs, sockets, named []string) {
	for _, top := range []string{s.root, s.run} {
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() && isMountPoint(p) && p != top {
				// A container's merged root or a compartment: counted as a
				// mount, not walked.
				all = append(all, p)
				return filepath.SkipDir
			}
			all = append(all, p)
			if strings.HasSuffix(p, ".log") {
				logs = append(logs, p)
			}
			if d.Type()&fs.ModeSocket != 0 {
				sockets = append(sockets, p)
			}
			if s.namesID(p) {
				named = append(named, p)
			}
			return nil
		})
	}
	return all, logs, sockets, named
}

func isMountPoint(p string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(p, &st) != nil || unix.Lstat(filepath.Dir(p), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// fds lists the daemon's open file descriptors. Two handles a library
// opens once, at its first use, and keeps for the life of the process are
// named as such (keptOnPurpose): opencontainers/cgroups' handle on
// /sys/fs/cgroup (its openat2 root) and filepath-securejoin's handle on a
// private procfs mount (fsopen's "subset=pid" proc, detached, so its path
// reads "/"). A daemon restarted in the soak opens them when it first
// removes a cgroup or resolves a /proc path itself, which the first one
// may not have done before the soak took stock.
func (s *scope) fds() []string {
	if s.daemon == 0 {
		return nil
	}
	des, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.daemon))
	var out []string
	for _, d := range des {
		p := fmt.Sprintf("/proc/%d/fd/%s", s.daemon, d.Name())
		l, _ := os.Readlink(p)
		var fs unix.Statfs_t
		switch {
		case l == "/sys/fs/cgroup":
			l += libraryHandle
		case l == "/" && unix.Statfs(p, &fs) == nil && fs.Type == unix.PROC_SUPER_MAGIC:
			l = "/ (procfs)" + libraryHandle
		}
		out = append(out, d.Name()+" "+l)
	}
	return out
}

// libraryHandle marks an fd a library keeps open for the process's life.
const libraryHandle = " (a library's handle, kept)"

// rss reads a process's resident set size in bytes (0 when it is gone).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// removeNetwork removes the daemon's default bridge and nftables table,
// which stay after it stops (as Docker's do).
func removeNetwork(execRoot string) {
	if l, err := netlink.LinkByName(bridgeName(execRoot)); err == nil {
		netlink.LinkDel(l)
	}
	if c, err := nftables.New(); err == nil {
		t := &nftables.Table{Name: tableName(execRoot), Family: nftables.TableFamilyIPv4}
		c.AddTable(t)
		c.DelTable(t)
		c.Flush()
	}
}

// monitorZombies lists the zombie children of container id's monitor
// that are still there half a second later (an exec's helper just gone
// is reaped by then): a monitor that lives as long as its container must
// reap what is reparented to it.
func monitorZombies(id string) []string {
	find := func() (mon int, zombies map[int]string) {
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		zombies = map[int]string{}
		parents := map[int]int{}
		for _, p := range dirs {
			pid, _ := strconv.Atoi(filepath.Base(p))
			comm, state, ppid, ok := procStat(p)
			if !ok {
				continue
			}
			if state == "Z" {
				parents[pid] = ppid
				zombies[pid] = comm
				continue
			}
			if comm == "hull-monitor" {
				if cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline")); bytes.Contains(cmdline, []byte(`"id":"`+id+`"`)) {
					mon = pid
				}
			}
		}
		for pid := range zombies {
			if parents[pid] != mon || mon == 0 {
				delete(zombies, pid)
			}
		}
		return mon, zombies
	}
	mon, first := find()
	if len(first) == 0 {
		return nil
	}
	time.Sleep(500 * time.Millisecond)
	_, again := find()
	var out []string
	for pid, comm := range again {
		if _, ok := first[pid]; ok {
			out = append(out, fmt.Sprintf("%d %s (monitor %d)", pid, comm, mon))
		}
	}
	sort.Strings(out)
	return out
}

// procStat reads a process's name, state and parent from its folder under
// /proc ("pid (comm) state ppid …"); ok is false when it is gone.
func procStat(dir string) (comm, state string, ppid int, ok bool) {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return "", "", 0, false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return "", "", 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return "", "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return string(stat[bytes.IndexByte(stat, '(')+1 : i]), f[0], ppid, true
}
