// Command hull-buildkit is hull's image builder: BuildKit (package
// internal/build) in a process of its own, which hull daemon starts on the
// first build request (package internal/buildproc) and relays /grpc and
// /session to. It is not meant to be run by hand.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/hullproject/hull/internal/build"
)

func main() {
	root := flag.String("root", "", "BuildKit's state (<data-root>/buildkit)")
	execRoot := flag.String("exec-root", "", "build containers' runtime state (<exec-root>/buildkit)")
	grpcSock := flag.String("grpc-socket", "", "unix socket for the control API (raw h2c connections)")
	httpSock := flag.String("http-socket", "", "unix socket for HTTP requests (/session, /build, …)")
	daemonSock := flag.String("daemon-socket", "", "the daemon's private API socket (images, networks)")
	registries := flag.String("registries", "", "the daemon's registry mirrors and insecure registries, as JSON")
	flag.Parse()
	if *root == "" || *execRoot == "" || *grpcSock == "" || *httpSock == "" {
		fmt.Fprintln(os.Stderr, "hull-buildkit: --root, --exec-root, --grpc-socket and --http-socket are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := build.New(*root, *execRoot)
	b.DaemonSocket = *daemonSock
	if *registries != "" {
		if err := json.Unmarshal([]byte(*registries), &b.Registries); err != nil {
			fmt.Fprintln(os.Stderr, "hull-buildkit: --registries:", err)
			os.Exit(2)
		}
	}
	if err := serve(ctx, b, *grpcSock, *httpSock); err != nil {
		fmt.Fprintln(os.Stderr, "hull-buildkit:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, b *build.Builder, grpcSock, httpSock string) error {
	if err := b.Start(ctx); err != nil {
		return err
	}
	defer b.Close()
	lg, err := net.Listen("unix", grpcSock)
	if err != nil {
		return err
	}
	defer lg.Close()
	ls, err := net.Listen("unix", httpSock)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := lg.Accept()
			if err != nil {
				return
			}
			go b.ServeGRPC(ctx, c)
		}
	}()
	srv := &http.Server{
		Handler:     b.Handler(),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ls) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
