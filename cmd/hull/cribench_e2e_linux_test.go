package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCRIMemoryAfterBurst: the heap a burst of CRI calls grew is given
// back once the daemon is idle, as after a burst of Engine API requests.
// Only the Engine API's requests used to count as activity, so after CRI
// calls alone the daemon kept the burst's heap until the Go runtime's
// forced GC, minutes later (bench/cri.sh read 60–78 MiB idle after its
// pods, 36 MiB fresh).
func TestCRIMemoryAfterBurst(t *testing.T) {
	buildShim(t)
	_, dir := hullDaemon(t)
	sock := filepath.Join(dir, "run", "cri.sock")
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil }, "the CRI socket "+sock)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	rss := daemonRSS(t, dir)
	ctx := context.Background()
	if _, err := rt.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	idle := rss()
	// A burst that grows the heap: containers with 8 MB of environment
	// for a pod that does not exist (each request is decoded whole, then
	// refused).
	var envs []*runtimeapi.KeyValue
	for i := range 8 << 20 / 64 {
		envs = append(envs, &runtimeapi.KeyValue{Key: fmt.Sprintf("E%d", i), Value: []byte(strings.Repeat("x", 56))})
	}
	req := &runtimeapi.CreateContainerRequest{PodSandboxId: strings.Repeat("0", 64), Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "big"}, Image: &runtimeapi.ImageSpec{Image: "no/such:image"}, Envs: envs}}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := rt.CreateContainer(ctx, req); status.Code(err) != codes.NotFound {
				t.Errorf("CreateContainer in a pod that does not exist: %v, want NotFound", err)
			}
		})
	}
	wg.Wait()
	expectMemoryBack(t, rss, idle, "a burst of CRI calls")
}

// TestStartJoiningWhileListing: a container that joins another's
// namespaces starts while containers are listed and counted (docker ps,
// docker info) without a pause. A start holds its container's lock and
// then takes the daemon's (to read the peer's record); a list and info
// held the daemon's lock while they waited for each container's, so one
// that came in between made the start give up after 10 s with 503 "the
// daemon is busy" — kubelet lists every second, and bench/cri.sh's 10
// pods at once failed so. Each path alone failed the test before.
func TestStartJoiningWhileListing(t *testing.T) {
	requireDockerCLI(t)
	buildShim(t)
	env, dir := hullDaemon(t)
	loadBusybox(t, env, dir)
	docker(t, env, "run", "-d", "--name", "infra", "--network", "none", "--ipc", "shareable", "e2e/busybox:1", "sleep", "300")
	c := apiClient(filepath.Join(dir, "hull.sock"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads sync.Map
	paths := []string{"/containers/json?all=1", "/info"}
	for i := range 3 {
		wg.Go(func() {
			n := 0
			for {
				select {
				case <-stop:
					reads.Store(i, n)
					return
				default:
				}
				resp, err := c.Get("http://hull" + paths[i%len(paths)])
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n++
			}
		})
	}
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }); wg.Wait() }
	defer halt()
	for i := range 6 {
		start := time.Now()
		out, errOut, code := dockerRun(t, env, "", "run", "-d", "--name", fmt.Sprintf("joiner%d", i), "--network", "container:infra",
			"--ipc", "container:infra", "e2e/busybox:1", "sleep", "300")
		took := time.Since(start)
		if code != 0 || took > 5*time.Second {
			t.Fatalf("docker run joining infra's namespaces, with lists and infos going on: exit %d after %s\n%s%s", code, took.Round(time.Millisecond), out, errOut)
		}
	}
	halt()
	total := 0
	reads.Range(func(_, v any) bool { total += v.(int); return true })
	t.Logf("%d lists and infos during the starts", total)
	if total < 10 {
		t.Errorf("only %d lists and infos ran during the starts: the test shows nothing", total)
	}
}
