package network

import (
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// serveDNS answers the container's queries on its compartment's
// 127.0.0.11: names of containers and aliases on its user networks from the
// records, the rest forwarded to the host's resolvers (asked from the host's
// network namespace, where this process lives).
func (s *Service) serveDNS(containerID string, pc net.PacketConn, l net.Listener) []io.Closer {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) { s.answer(containerID, w, q) })
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: l, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	return []io.Closer{closerFunc(func() error { udp.Shutdown(); return pc.Close() }), closerFunc(func() error { tcp.Shutdown(); return l.Close() })}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func (s *Service) answer(containerID string, w dns.ResponseWriter, q *dns.Msg) {
	if len(q.Question) == 1 {
		qq := q.Question[0]
		if qq.Qclass == dns.ClassINET && (qq.Qtype == dns.TypeA || qq.Qtype == dns.TypeAAAA) {
			if addrs := s.Lookup(containerID, qq.Name); len(addrs) > 0 {
				m := new(dns.Msg)
				m.SetReply(q)
				m.Authoritative = true
				// A name known with no address of the family asked
				// answers empty, not forwarded (as Docker's resolver).
				for _, a := range addrs {
					hdr := dns.RR_Header{Name: qq.Name, Rrtype: qq.Qtype, Class: dns.ClassINET, Ttl: 600}
					switch {
					case qq.Qtype == dns.TypeA && a.Is4():
						m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
					case qq.Qtype == dns.TypeAAAA && a.Is6():
						m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())})
					}
				}
				w.WriteMsg(m)
				return
			}
		}
	}
	s.forward(containerID, w, q)
}

// forward asks the host's resolvers, in turn.
func (s *Service) forward(containerID string, w dns.ResponseWriter, q *dns.Msg) {
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	c := &dns.Client{Net: network, Timeout: 4 * time.Second}
	servers := hostNameservers(s.cfg.ResolvConf, true)
	if sb := s.Sandbox(containerID); sb != nil && len(sb.DNSServers) > 0 {
		servers = sb.DNSServers
	}
	for _, ns := range servers {
		r, _, err := c.Exchange(q, net.JoinHostPort(ns, "53"))
		if err == nil && r != nil {
			w.WriteMsg(r)
			return
		}
	}
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeServerFailure)
	w.WriteMsg(m)
}

// hostNameservers reads the nameservers of a resolv.conf; without
// loopback, those are left out (they cannot be reached from a container),
// and Google's public resolvers stand in when nothing is left, as Docker
// does.
func hostNameservers(path string, loopback bool) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			ip := net.ParseIP(f[1])
			if ip == nil || (!loopback && ip.IsLoopback()) {
				continue
			}
			out = append(out, f[1])
		}
	}
	if len(out) == 0 && !loopback {
		out = []string{"8.8.8.8", "8.8.4.4"}
	}
	return out
}

// ResolvConf is the container's /etc/resolv.conf: the resolver in its
// compartment on user networks, the host's (reachable) resolvers
// otherwise; dns, search and options override as docker run's --dns,
// --dns-search and --dns-option do.
func (s *Service) ResolvConf(sb *Sandbox, dnsServers, search, options []string) string {
	var b strings.Builder
	hostSearch, hostOptions := []string(nil), []string(nil)
	if raw, err := os.ReadFile(s.cfg.ResolvConf); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && (f[0] == "search" || f[0] == "domain") {
				hostSearch = f[1:]
			}
			if len(f) >= 2 && f[0] == "options" {
				hostOptions = f[1:]
			}
		}
	}
	if len(search) == 0 {
		search = hostSearch
	}
	if len(options) == 0 {
		options = hostOptions
	}
	switch {
	case sb != nil && sb.DNS:
		// --dns on a user network: the resolver forwards to them, as
		// Docker's does; the container still asks 127.0.0.11.
		b.WriteString("nameserver 127.0.0.11\n")
		if !containsPrefix(options, "ndots:") {
			options = append(options, "ndots:0")
		}
	case len(dnsServers) > 0:
		for _, ns := range dnsServers {
			b.WriteString("nameserver " + ns + "\n")
		}
	default:
		for _, ns := range hostNameservers(s.cfg.ResolvConf, false) {
			b.WriteString("nameserver " + ns + "\n")
		}
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return b.String()
}

func containsPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
