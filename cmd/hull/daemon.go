package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hullproject/hull/internal/buildproc"
	"github.com/hullproject/hull/internal/daemon"
	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/server"
)

// daemonFlags are hull daemon's options; each has a daemon.json key.
type daemonFlags struct {
	hosts      []string
	dataRoot   string
	execRoot   string
	logLevel   string
	liveRestor bool
	group      string
	configFile string
	tlsVerify  bool
	tlsCACert  string
	tlsCert    string
	tlsKey     string
	ulimits    []string
	bridge     string
	// ipv6 and fixedCIDRv6 give the default bridge network IPv6.
	ipv6        bool
	fixedCIDRv6 string
	// criSocket is the Kubernetes CRI's socket (daemon_cri.go).
	criSocket string
	// criStream is where the CRI's streaming server listens (host:port).
	criStream string
	// cniConfDir and cniBinDirs are where the CRI finds CNI's
	// configurations and plugins.
	cniConfDir string
	cniBinDirs []string
	// registryMirrors, mirrorsPerRegistry and insecureRegistries are
	// daemon.json's registry-mirrors (Docker Hub's),
	// registry-mirrors-per-registry and insecure-registries;
	// mirrorFlags the --registry-mirror-per-registry host=url flags.
	registryMirrors    []string
	mirrorsPerRegistry map[string][]string
	mirrorFlags        []string
	insecureRegistries []string
	// registerService and unregisterService manage the Windows service.
	registerService, unregisterService bool
	pluginTO                           time.Duration
	// defaultUlimits is daemon.json's default-ulimits, or the flags'.
	defaultUlimits map[string]*units.Ulimit
}

func newDaemonCommand(g *globals) *cobra.Command {
	f := &daemonFlags{}
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Serve the Docker Engine API (DOCKER_HOST=" + defaultHost + ")",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.registerService || f.unregisterService {
				return manageService(f.registerService, os.Args[1:])
			}
			if err := f.merge(cmd.Flags(), g); err != nil {
				return err
			}
			return runMaybeAsService(cmd.Context(), func(ctx context.Context) error { return runDaemon(ctx, f, g) })
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.hosts, "host", "H", nil, "address to listen on: unix:///path, npipe:////./pipe/NAME (Windows) or tcp://host:port (tcp needs --tlsverify)")
	fl.BoolVar(&f.registerService, "register-service", false, "register hull daemon (with the other flags given) as a Windows service, and exit")
	fl.BoolVar(&f.unregisterService, "unregister-service", false, "remove the Windows service, and exit")
	fl.StringVar(&f.dataRoot, "data-root", defaultRoot, "folder of the daemon's persistent state")
	fl.StringVar(&f.execRoot, "exec-root", defaultExecRoot, "folder of the daemon's runtime state")
	fl.StringVarP(&f.logLevel, "log-level", "l", "info", "debug, info, warn or error")
	fl.BoolVar(&f.liveRestor, "live-restore", true, "keep containers running while the daemon is down")
	fl.StringVarP(&f.group, "group", "G", "hull", "group that owns the unix socket (mode 0660)")
	fl.StringVar(&f.configFile, "config-file", "/etc/hull/daemon.json", "daemon configuration file")
	fl.BoolVar(&f.tlsVerify, "tlsverify", false, "require TLS and a client certificate signed by --tlscacert")
	fl.StringVar(&f.tlsCACert, "tlscacert", "", "CA certificate that client certificates must chain to")
	fl.StringVar(&f.tlsCert, "tlscert", "", "the server's TLS certificate")
	fl.StringVar(&f.tlsKey, "tlskey", "", "the server's TLS key")
	fl.StringArrayVar(&f.ulimits, "default-ulimit", nil, "a default ulimit for containers (nofile=1024:2048)")
	fl.DurationVar(&f.pluginTO, "plugin-timeout", 30*time.Second, "how long a plugin may take to activate, and to answer each call")
	fl.StringVar(&f.criSocket, "cri-socket", "", "the Kubernetes CRI's socket, unix:///path (default <exec-root>/cri.sock: unix:///run/hull/cri.sock)")
	fl.StringVar(&f.criStream, "cri-stream-address", "127.0.0.1:0", "host:port of the CRI's streaming server (exec, attach, port-forward URLs); port 0: one chosen at start")
	fl.StringVar(&f.cniConfDir, "cni-conf-dir", "/etc/cni/net.d", "folder of the CNI network configurations pods are networked with")
	fl.StringSliceVar(&f.cniBinDirs, "cni-bin-dir", []string{"/opt/cni/bin", "/usr/lib/cni"}, "folders of the CNI plugins")
	fl.StringArrayVar(&f.registryMirrors, "registry-mirror", nil, "a mirror of Docker Hub, tried before it (http:// or https:// URL)")
	fl.StringArrayVar(&f.mirrorFlags, "registry-mirror-per-registry", nil, "a mirror of a registry, tried before it: HOST=URL (registry.k8s.io=http://127.0.0.1:5000)")
	fl.StringArrayVar(&f.insecureRegistries, "insecure-registry", nil, "a registry (host[:port] or CIDR) that may be reached with unverified TLS or plain HTTP")
	fl.StringVarP(&f.bridge, "bridge", "b", "", "interface of the default bridge network (default hull0; one of its own for another --exec-root)")
	fl.BoolVar(&f.ipv6, "ipv6", false, "give the default bridge network IPv6 too")
	fl.StringVar(&f.fixedCIDRv6, "fixed-cidr-v6", "", "the default bridge network's IPv6 subnet, with --ipv6 (default: a /64 of a ULA prefix derived from the engine id)")
	return cmd
}

// merge reads the configuration file. As dockerd does, a key set both by a
// flag and in the file is an error, and so is a key the file should not
// have.
func (f *daemonFlags) merge(fl *pflag.FlagSet, g *globals) error {
	b, err := os.ReadFile(f.configFile)
	if errors.Is(err, os.ErrNotExist) && !fl.Changed("config-file") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("configuration file: %w", err)
	}
	var file map[string]json.RawMessage
	if err := json.Unmarshal(b, &file); err != nil {
		return fmt.Errorf("configuration file %s: %v: %w", f.configFile, err, errdefs.ErrInvalidArgument)
	}
	type option struct {
		flag string
		into any
	}
	options := map[string]option{
		"debug":           {"debug", &g.debug},
		"hosts":           {"host", &f.hosts},
		"data-root":       {"data-root", &f.dataRoot},
		"exec-root":       {"exec-root", &f.execRoot},
		"log-level":       {"log-level", &f.logLevel},
		"live-restore":    {"live-restore", &f.liveRestor},
		"group":           {"group", &f.group},
		"tlsverify":       {"tlsverify", &f.tlsVerify},
		"tlscacert":       {"tlscacert", &f.tlsCACert},
		"tlscert":         {"tlscert", &f.tlsCert},
		"tlskey":          {"tlskey", &f.tlsKey},
		"default-ulimits": {"default-ulimit", &f.defaultUlimits},
		"bridge":          {"bridge", &f.bridge},
		"ipv6":            {"ipv6", &f.ipv6},
		"fixed-cidr-v6":   {"fixed-cidr-v6", &f.fixedCIDRv6},
		"cri-socket":      {"cri-socket", &f.criSocket},
		"cni-conf-dir":    {"cni-conf-dir", &f.cniConfDir},
		"cni-bin-dirs":    {"cni-bin-dir", &f.cniBinDirs},

		// The CRI's streaming server (daemon_cri.go).
		"cri-stream-address": {"cri-stream-address", &f.criStream},
	}
	// The registry keys (daemon_registries.go).
	options["registry-mirrors"] = option{"registry-mirror", &f.registryMirrors}
	options["registry-mirrors-per-registry"] = option{"registry-mirror-per-registry", &f.mirrorsPerRegistry}
	options["insecure-registries"] = option{"insecure-registry", &f.insecureRegistries}
	var unknown, conflicts []string
	for _, k := range slices.Sorted(mapKeys(file)) {
		o, ok := options[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		if fl.Changed(o.flag) || (o.flag == "debug" && g.debug) {
			conflicts = append(conflicts, fmt.Sprintf("%s: (from flag: %s, from file: %s)", k, flagValue(fl, o.flag, g), strings.TrimSpace(string(file[k]))))
			continue
		}
		if err := json.Unmarshal(file[k], o.into); err != nil {
			return fmt.Errorf("configuration file %s: %s: %v: %w", f.configFile, k, err, errdefs.ErrInvalidArgument)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("configuration file %s: the following directives don't match any configuration option: %s: %w", f.configFile, strings.Join(unknown, ", "), errdefs.ErrInvalidArgument)
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("unable to configure the daemon: the following directives are specified both as a flag and in the configuration file: %s: %w", strings.Join(conflicts, ", "), errdefs.ErrInvalidArgument)
	}
	return nil
}

func flagValue(fl *pflag.FlagSet, name string, g *globals) string {
	if name == "debug" {
		return strconv.FormatBool(g.debug)
	}
	return fl.Lookup(name).Value.String()
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func runDaemon(ctx context.Context, f *daemonFlags, g *globals) error {
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", f.logLevel, errdefs.ErrInvalidArgument)
	}
	if g.debug {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if err := checkWindowsServices(); err != nil {
		return err
	}
	hosts := f.hosts
	if len(hosts) == 0 {
		hosts = []string{defaultHost}
	}
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, h := range hosts {
		l, err := f.listen(h)
		if err != nil {
			closeAll()
			return err
		}
		listeners = append(listeners, l)
	}
	daemon.APIVersion, daemon.MinAPIVersion = server.APIVersion, server.MinAPIVersion
	for _, s := range f.ulimits {
		u, err := units.ParseUlimit(s)
		if err != nil {
			closeAll()
			return fmt.Errorf("--default-ulimit %s: %v: %w", s, err, errdefs.ErrInvalidArgument)
		}
		if f.defaultUlimits == nil {
			f.defaultUlimits = map[string]*units.Ulimit{}
		}
		f.defaultUlimits[u.Name] = u
	}
	registries, err := f.registries()
	if err != nil {
		closeAll()
		return err
	}
	d, err := daemon.New(ctx, daemon.Config{Root: f.dataRoot, ExecRoot: f.execRoot, Debug: g.debug, LiveRestore: f.liveRestor, DefaultUlimits: f.defaultUlimits, Bridge: f.bridge, IPv6: f.ipv6, FixedCIDRv6: f.fixedCIDRv6, PluginTimeout: f.pluginTO, Windows: windowsServices()})
	if err != nil {
		closeAll()
		return err
	}
	defer d.Close()
	d.SetRegistries(registries)
	// Streaming answers (events, logs -f, stats) end when the daemon stops.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	api, to := server.New(d), apiTimeouts()
	// BuildKit (hull-buildkit) starts on the first /grpc or /session
	// request, not here.
	builder := buildproc.New(filepath.Join(f.dataRoot, "buildkit"), filepath.Join(f.execRoot, "buildkit"))
	builder.Registries = builderRegistries(registries)
	defer builder.Close()
	if goruntime.GOOS == "linux" {
		// hull builds images on Linux only: elsewhere /grpc, /session
		// and /build answer that the platform has no builder.
		api.BuildKit = builder
		api.BuildCache = builder
	}
	bapi, err := startBuilderAPI(serveCtx, f.execRoot, api, d)
	if err != nil {
		closeAll()
		return err
	}
	defer bapi.close()
	if bapi != nil {
		builder.DaemonSocket = bapi.sock
	}
	// The RUN steps' network compartments go with the hull-buildkit that
	// held them, however it ended.
	builder.Exited = func() {
		if err := d.ReleaseBuildSandboxes(context.WithoutCancel(ctx)); err != nil {
			slog.Error("release the build sandboxes of hull-buildkit", "error", err)
		}
	}
	// What keeps the daemon from being idle (returnMemoryWhenIdle): the
	// Engine API's requests and the CRI's reads and writes.
	activity := new(atomic.Int64)
	waitCRI, err := startCRI(serveCtx, f, d, activity)
	if err != nil {
		closeAll()
		return err
	}
	defer waitCRI()
	api.BodyTimeout = to.body
	srv := &http.Server{Handler: returnMemoryWhenIdle(ctx, api, activity), ReadHeaderTimeout: to.header, IdleTimeout: to.idle,
		BaseContext: func(net.Listener) context.Context { return serveCtx }}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		slog.Info("API listening", "address", l.Addr().String())
		go func() { errc <- srv.Serve(l) }()
	}
	slog.Info("hull daemon started", "data-root", f.dataRoot, "live-restore", f.liveRestor, "debug", g.debug)
	select {
	case <-ctx.Done():
		slog.Info("shutting down")
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	stopServing()
	srv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// listen opens one -H address.
func (f *daemonFlags) listen(host string) (net.Listener, error) {
	proto, addr, ok := strings.Cut(host, "://")
	if !ok {
		return nil, fmt.Errorf("-H %s: want unix:///path or tcp://host:port: %w", host, errdefs.ErrInvalidArgument)
	}
	switch proto {
	case "unix":
		if err := os.MkdirAll(filepath.Dir(addr), 0o755); err != nil {
			return nil, err
		}
		if err := os.Remove(addr); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		l, err := net.Listen("unix", addr)
		if err != nil {
			return nil, err
		}
		gid := 0
		if grp, err := user.LookupGroup(f.group); err == nil {
			gid, _ = strconv.Atoi(grp.Gid)
		} else if f.group != "" {
			slog.Warn("the socket's group does not exist; it stays root's", "group", f.group)
		}
		if err := os.Chown(addr, 0, gid); err != nil {
			l.Close()
			return nil, err
		}
		if err := os.Chmod(addr, 0o660); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	case "npipe":
		return listenPipe(addr)
	case "tcp":
		if !f.tlsVerify {
			return nil, fmt.Errorf("-H %s: a TCP address needs --tlsverify with --tlscacert, --tlscert and --tlskey (the API gives root on this host): %w", host, errdefs.ErrInvalidArgument)
		}
		cfg, err := f.tlsConfig()
		if err != nil {
			return nil, err
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return tls.NewListener(l, cfg), nil
	}
	return nil, fmt.Errorf("-H %s: unknown protocol %q: %w", host, proto, errdefs.ErrInvalidArgument)
}

func (f *daemonFlags) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tlscert/--tlskey: %w", err)
	}
	ca, err := os.ReadFile(f.tlsCACert)
	if err != nil {
		return nil, fmt.Errorf("--tlscacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("--tlscacert %s: no certificate: %w", f.tlsCACert, errdefs.ErrInvalidArgument)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
}

// apiTimeouts bound what a client may hold of the daemon without sending
// anything (each held connection costs ~20 KiB: a goroutine and its
// buffers): a request's headers must arrive within 30 s, a keep-alive
// connection may idle 2 minutes between requests, and a read of a JSON
// body may wait 60 s for data. Answers that stream (logs -f, events, stats,
// wait), hijacked connections (attach, exec) and uploads (load, import,
// build, cp into a container) are not cut: the server sets no read or
// write timeout, and uploads keep unbounded bodies (server.BodyTimeout).
// HULL_TEST_HTTP_TIMEOUT, a duration, sets all three, for tests.
func apiTimeouts() (t struct{ header, idle, body time.Duration }) {
	t.header, t.idle, t.body = 30*time.Second, 2*time.Minute, time.Minute
	if v := os.Getenv("HULL_TEST_HTTP_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			t.header, t.idle, t.body = d, d, d
		} else {
			slog.Warn("HULL_TEST_HTTP_TIMEOUT is not a positive duration; ignored", "value", v)
		}
	}
	return t
}

// returnMemoryWhenIdle gives the heap that a burst of requests grew back to
// the system once the daemon has been idle for a couple of seconds, so that
// an idle daemon stays small (the Go runtime would otherwise keep it for
// minutes). Idle means no request began or ended for a whole tick: the
// requests still open then are long streams (stats, events, logs -f,
// attach) that would otherwise hold the burst's heap for as long as they
// stay open; the memory is returned once per quiet spell, not on every
// tick. changes counts the requests begun plus those ended, and whatever
// else counts as activity (the CRI's calls, daemon_cri.go).
func returnMemoryWhenIdle(ctx context.Context, h http.Handler, changes *atomic.Int64) http.Handler {
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		var seen, freed int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n := changes.Load()
			if n != seen {
				seen = n // busy during this tick
				continue
			}
			if n != freed {
				freed = n
				// Twice: what sits in a sync.Pool (gRPC's buffers)
				// outlives one collection in its victim cache.
				debug.FreeOSMemory()
				debug.FreeOSMemory()
			}
		}
	}()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		changes.Add(1)
		defer changes.Add(1)
		h.ServeHTTP(w, r)
	})
}
