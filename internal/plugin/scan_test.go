package plugin

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/wine"
)

// serve answers Plugin.Activate with implements on a unix socket at path.
func serve(t *testing.T, path string, implements ...string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"Implements": implements})
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

func TestAll(t *testing.T) {
	wine.Skip(t, "AF_UNIX sockets (Windows 10 1803 and later have them; the plugins listen on them here)")
	socks, specs := wine.TempDir(t), wine.TempDir(t)
	serve(t, filepath.Join(socks, "vol1.sock"), "VolumeDriver")
	os.Mkdir(filepath.Join(socks, "vol2"), 0o755)
	serve(t, filepath.Join(socks, "vol2", "vol2.sock"), "VolumeDriver", "NetworkDriver")
	serve(t, filepath.Join(socks, "net1.sock"), "NetworkDriver")
	os.WriteFile(filepath.Join(specs, "gone.spec"), []byte("unix://"+filepath.Join(socks, "nothing.sock")), 0o644)
	r := NewRegistry(Dirs{Sockets: []string{socks}, Specs: []string{specs}}, time.Second)
	if got := r.Names(); !slices.Equal(got, []string{"gone", "net1", "vol1", "vol2"}) {
		t.Errorf("Names: %v", got)
	}
	var names []string
	for _, p := range r.All(context.Background(), "VolumeDriver") {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"vol1", "vol2"}) {
		t.Errorf("All(VolumeDriver): %v", names)
	}
	// What All activated Get finds active.
	if p, err := r.Get(context.Background(), "net1", "NetworkDriver"); err != nil || p.Name != "net1" {
		t.Errorf("Get after All: %v %v", p, err)
	}
}
