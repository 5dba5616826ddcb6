package conformance

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// volumePluginName is the legacy volume plugin each daemon finds: a
// VolumeDriver served by the test (an in-memory list of volumes, each a
// folder under the daemon's base), on a socket in the daemon's own
// /run/docker/plugins (a tmpfs of its mount namespace, reached through
// /proc/PID/root).
const volumePluginName = "conf-vp"

type volumePlugin struct {
	dir string
	mu  sync.Mutex
	// volumes by name: their options and creation time.
	volumes map[string]pluginVolume
}

type pluginVolume struct {
	opts    map[string]string
	created time.Time
}

func (p *volumePlugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string
		Opts map[string]string
	}
	json.NewDecoder(r.Body).Decode(&req)
	w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
	answer := func(v any) { json.NewEncoder(w).Encode(v) }
	mountpoint := filepath.Join(p.dir, req.Name)
	p.mu.Lock()
	defer p.mu.Unlock()
	v, exists := p.volumes[req.Name]
	describe := func(name string, v pluginVolume) map[string]any {
		return map[string]any{"Name": name, "Mountpoint": filepath.Join(p.dir, name), "CreatedAt": v.created.Format(time.RFC3339),
			"Status": map[string]any{"options": len(v.opts)}}
	}
	switch r.URL.Path {
	case "/Plugin.Activate":
		answer(map[string]any{"Implements": []string{"VolumeDriver"}})
	case "/VolumeDriver.Capabilities":
		answer(map[string]any{"Capabilities": map[string]string{"Scope": "local"}})
	case "/VolumeDriver.Create":
		if req.Opts["fail"] != "" {
			answer(map[string]string{"Err": "conf-vp refuses: " + req.Opts["fail"]})
			return
		}
		if err := os.MkdirAll(mountpoint, 0o755); err != nil {
			answer(map[string]string{"Err": err.Error()})
			return
		}
		if !exists {
			p.volumes[req.Name] = pluginVolume{opts: req.Opts, created: time.Now()}
		}
		answer(map[string]string{"Err": ""})
	case "/VolumeDriver.Get":
		if !exists {
			answer(map[string]string{"Err": "no such volume"})
			return
		}
		answer(map[string]any{"Volume": describe(req.Name, v), "Err": ""})
	case "/VolumeDriver.List":
		list := []map[string]any{}
		for name, v := range p.volumes {
			list = append(list, describe(name, v))
		}
		answer(map[string]any{"Volumes": list, "Err": ""})
	case "/VolumeDriver.Path", "/VolumeDriver.Mount":
		if !exists {
			answer(map[string]string{"Err": "no such volume"})
			return
		}
		answer(map[string]string{"Mountpoint": mountpoint, "Err": ""})
	case "/VolumeDriver.Unmount":
		answer(map[string]string{"Err": ""})
	case "/VolumeDriver.Remove":
		delete(p.volumes, req.Name)
		os.RemoveAll(mountpoint)
		answer(map[string]string{"Err": ""})
	default:
		w.WriteHeader(http.StatusNotFound)
		answer(map[string]string{"Err": "unknown call " + r.URL.Path})
	}
}

// serveVolumePlugin serves the plugin for d; stop ends it.
func serveVolumePlugin(d *daemon) (stop func(), err error) {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil, fmt.Errorf("%s is not running", d.name)
	}
	sock := filepath.Join("/proc", strconv.Itoa(d.cmd.Process.Pid), "root/run/docker/plugins", volumePluginName+".sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("listen on %s's plugin socket: %w", d.name, err)
	}
	p := &volumePlugin{dir: filepath.Join(d.base, "plugin-volumes"), volumes: map[string]pluginVolume{}}
	srv := &http.Server{Handler: p}
	go srv.Serve(l)
	return func() { srv.Close() }, nil
}
