# shellcheck shell=bash
# Shared by hack/setup.sh and hack/test.sh.

step() { printf '\n==> %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "hull needs root (overlayfs mounts, namespaces): run this with sudo" >&2
    exit 1
  fi
}

# find_go (hack/go.sh): the Go that go.mod asks for or a newer one, first on
# PATH; on a machine with only an older Go (Debian's), bootstrapped from the
# Go module proxy.
# shellcheck source=hack/go.sh
. "$(dirname "${BASH_SOURCE[0]}")/go.sh"

# install_packages installs, once, the Debian packages hull uses and those
# given as arguments (the tests add the real dockerd and the distribution
# registry that hull is checked against). A first argument
# --no-install-recommends installs those without their recommended ones.
install_packages() {
  local apt_opts=()
  if [ "${1:-}" = --no-install-recommends ]; then apt_opts=("$1"); shift; fi
  # gcc, libc6-dev, pkg-config and libseccomp-dev: libcontainer's nsenter
  # is cgo, and its seccomp support needs libseccomp (build tag seccomp).
  local pkgs=(busybox-static tar ca-certificates git gcc libc6-dev pkg-config libseccomp-dev "$@")
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${apt_opts[@]}" "${missing[@]}" >/dev/null || return 1
  fi
  find_go
  export CGO_ENABLED=1
  case " ${GOFLAGS:-} " in *" -tags=seccomp "*) ;; *) export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=seccomp" ;; esac
}

# install_wine installs Wine (64-bit) and the mingw-w64 C cross compiler,
# without their recommended packages (fonts, sound, GStreamer: ~30 packages
# instead of ~110), for hack/wine.sh: hull's Windows test binaries run as
# Windows programs under Wine.
install_wine() {
  install_packages --no-install-recommends wine64 gcc-mingw-w64-x86-64-win32
}

# SHIM_BUILD_FLAGS: hull-shim is cgo (libcontainer's nsenter; tag seccomp:
# Docker's default profile through libseccomp) and linked statically, with
# Go's own user and DNS code: it starts once per container and once more as
# each container's init, and the dynamic loader cost ~0.4 ms each time.
SHIM_BUILD_FLAGS=(-tags "seccomp,netgo,osusergo" -ldflags=-extldflags=-static)

# build_hull builds hull and, beside it, hull-shim, which hull finds there,
# and hull-monitor, which hull-shim finds beside itself. hull-monitor is
# pure Go (no cgo): it stays resident beside every container, so it is kept
# small.
build_hull() {
  step "go build -o bin/hull ./cmd/hull; go build ${SHIM_BUILD_FLAGS[*]} -o bin/hull-shim ./cmd/hull-shim; CGO_ENABLED=0 go build -o bin/hull-monitor ./cmd/hull-monitor; CGO_ENABLED=0 go build -ldflags="-s -w" -o bin/hull-init ./cmd/hull-init; go build -o bin/hull-buildkit ./cmd/hull-buildkit"
  mkdir -p bin
  go build -o bin/hull ./cmd/hull
  go build "${SHIM_BUILD_FLAGS[@]}" -o bin/hull-shim ./cmd/hull-shim
  CGO_ENABLED=0 go build -o bin/hull-monitor ./cmd/hull-monitor
  # The lean container init: pure Go and small, it starts once per container.
  CGO_ENABLED=0 go build -ldflags="-s -w" -o bin/hull-init ./cmd/hull-init
  go build -o bin/hull-buildkit ./cmd/hull-buildkit
}

# make_busybox_rootfs_tar OUT: a minimal root file system of Debian's
# busybox-static, with one link per applet.
make_busybox_rootfs_tar() {
  local out=$1 d
  d=$(mktemp -d)
  mkdir -p "$d/bin" "$d/etc" "$d/tmp" "$d/root"
  cp /bin/busybox "$d/bin/busybox"
  for a in $("$d/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$d/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$d/etc/passwd"
  printf 'root:x:0:\n' >"$d/etc/group"
  chmod 1777 "$d/tmp"
  tar -C "$d" --numeric-owner -cf "$out" .
  rm -rf "$d"
}

# make_two_layer_archive OUT: a docker save tarball (docker-archive) of two
# layers — the busybox root file system and a layer that adds /etc/motd —
# written by hand, to show an image whose layers form a chain.
make_two_layer_archive() {
  local out=$1 d
  d=$(mktemp -d)
  make_busybox_rootfs_tar "$d/l1.tar"
  mkdir -p "$d/l2/etc"
  echo "hello from the second layer" >"$d/l2/etc/motd"
  tar -C "$d/l2" --numeric-owner --mtime=@1700000000 -cf "$d/l2.tar" etc
  local id1 id2
  id1=$(sha256sum "$d/l1.tar" | cut -d' ' -f1)
  id2=$(sha256sum "$d/l2.tar" | cut -d' ' -f1)
  mkdir -p "$d/a/$id1" "$d/a/$id2"
  mv "$d/l1.tar" "$d/a/$id1/layer.tar"
  mv "$d/l2.tar" "$d/a/$id2/layer.tar"
  cat >"$d/a/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z",
 "config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},
 "rootfs":{"type":"layers","diff_ids":["sha256:$id1","sha256:$id2"]},
 "history":[{"created":"2026-01-01T00:00:00Z","created_by":"busybox-static root file system"},
            {"created":"2026-01-01T00:00:00Z","created_by":"add /etc/motd"}]}
JSON
  local cid
  cid=$(sha256sum "$d/a/config.json" | cut -d' ' -f1)
  mv "$d/a/config.json" "$d/a/$cid.json"
  printf '[{"Config":"%s.json","RepoTags":["busybox:quickstart"],"Layers":["%s/layer.tar","%s/layer.tar"]}]\n' \
    "$cid" "$id1" "$id2" >"$d/a/manifest.json"
  tar -C "$d/a" -cf "$out" .
  rm -rf "$d"
}

# Tools that take minutes to build are built once from the Go module proxy
# and kept here (a CI machine that keeps /var/cache builds them once).
TOOLS_CACHE=${HULL_TOOLS_CACHE:-/var/cache/hull-tools}

# install_buildx builds the buildx CLI plugin (TestBuildxOnHull drives hull's
# BuildKit with it) from the Go module proxy, once, into the tools cache,
# and points the tests at it (HULL_TEST_BUILDX). It is not installed where
# the docker CLI finds plugins: the other tests keep the CLI's classic
# `docker build`.
BUILDX_VERSION=v0.38.2
install_buildx() {
  local dir="$TOOLS_CACHE/buildx-$BUILDX_VERSION"
  # Its version is stamped as buildx's own release does (compose refuses a
  # buildx that says v0.0.0).
  if ! "$dir/buildx" version 2>/dev/null | grep -qF " $BUILDX_VERSION"; then
    step "build docker buildx $BUILDX_VERSION from the Go module proxy (once; kept in $TOOLS_CACHE)"
    mkdir -p "$dir"
    CGO_ENABLED=0 GOFLAGS= GOBIN="$dir" go install -ldflags "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION" \
      "github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION" || return 1
  fi
  export HULL_TEST_BUILDX="$dir/buildx"
}

# install_crictl builds crictl (cri-tools, the CRI's command line client;
# TestCRIWithCrictl drives hull's CRI socket with it) from the Go module
# proxy, once, into the tools cache, and points the tests at it
# (HULL_TEST_CRICTL). GONOSUMDB: the checksum database may refuse the k8s.io
# and sigs.k8s.io modules.
CRICTL_VERSION=v1.34.0
install_crictl() {
  local dir="$TOOLS_CACHE/crictl-$CRICTL_VERSION"
  if ! "$dir/crictl" --version 2>/dev/null | grep -qF "$CRICTL_VERSION"; then
    step "build crictl $CRICTL_VERSION from the Go module proxy (once; kept in $TOOLS_CACHE)"
    mkdir -p "$dir"
    CGO_ENABLED=0 GOFLAGS= GONOSUMDB='k8s.io/*,sigs.k8s.io/*' GOBIN="$dir" go install \
      -ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
      "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" || return 1
  fi
  export HULL_TEST_CRICTL="$dir/crictl"
}

# install_compose builds docker compose v2 (the CLI plugin) from its module
# on the Go module proxy, once, and installs it where the docker CLI finds
# plugins. `go install` refuses the module (its go.mod has replace
# directives), so its source is built as the main module.
COMPOSE_VERSION=v5.6.0
install_compose() {
  local bin="$TOOLS_CACHE/compose-$COMPOSE_VERSION/docker-compose"
  local plugins=/usr/local/lib/docker/cli-plugins
  if [ ! -x "$bin" ]; then
    step "build docker compose $COMPOSE_VERSION from the Go module proxy (once; kept in $TOOLS_CACHE)"
    local src work
    src=$(GOFLAGS= go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    [ -n "$src" ] || { echo "go mod download github.com/docker/compose/v5@$COMPOSE_VERSION failed" >&2; return 1; }
    work=$(mktemp -d)
    cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
    mkdir -p "$(dirname "$bin")"
    (cd "$work/src" && CGO_ENABLED=0 GOFLAGS= go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" -o "$bin.tmp" ./cmd) &&
      mv "$bin.tmp" "$bin"
    local rc=$?
    rm -rf "$work"
    [ $rc -eq 0 ] || return $rc
  fi
  mkdir -p "$plugins"
  cmp -s "$bin" "$plugins/docker-compose" || install -m 0755 "$bin" "$plugins/docker-compose"
}

# install_docker_windows cross-builds the docker CLI for Windows
# (docker.exe), once, into the tools cache, and points the Windows tests
# under Wine at it (HULL_TEST_DOCKER_EXE; hack/wine.sh). It is built in a
# copy of docker compose's module (see install_compose), whose go.mod pins
# the CLI (github.com/docker/cli, a +incompatible module: its command
# package is compiled at the Go version it is written for) and its
# dependencies; github.com/tonistiigi/go-rosetta, which the proxy does not
# serve, is replaced by hack/wine/go-rosetta (it answers whether macOS runs
# the CLI under Rosetta). A few minutes on two cores, once.
install_docker_windows() {
  local dir="$TOOLS_CACHE/docker-windows-compose-$COMPOSE_VERSION"
  if [ ! -s "$dir/docker.exe" ]; then
    step "build the docker CLI for Windows (docker.exe) at docker compose $COMPOSE_VERSION's version (once; kept in $TOOLS_CACHE)"
    local src work rc rosetta
    rosetta=$(cd "$(dirname "${BASH_SOURCE[0]}")/wine/go-rosetta" && pwd)
    src=$(GOFLAGS= go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    [ -n "$src" ] || { echo "go mod download github.com/docker/compose/v5@$COMPOSE_VERSION failed" >&2; return 1; }
    work=$(mktemp -d)
    mkdir -p "$dir"
    cp -r "$src" "$work/src" && chmod -R u+w "$work/src" &&
      (cd "$work/src" && go mod edit -replace "github.com/tonistiigi/go-rosetta=$rosetta" &&
        GOOS=windows CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
          -gcflags=github.com/docker/cli/cmd/docker=-lang=go1.24 -o "$dir/docker.exe.tmp" github.com/docker/cli/cmd/docker) &&
      mv "$dir/docker.exe.tmp" "$dir/docker.exe"
    rc=$?
    rm -rf "$work"
    [ $rc -eq 0 ] || return $rc
  fi
  export HULL_TEST_DOCKER_EXE="$dir/docker.exe"
}

# install_critest builds critest (cri-tools' CRI validation suite, a ginkgo
# test binary: `go test -c`) from the Go module proxy, once, into the tools
# cache, in a scratch module of its own, and points the tests at it
# (HULL_TEST_CRITEST; test/critest/run.sh runs it). GONOSUMDB as for crictl.
# Beside it, Debian's busybox .deb (apt-get download: not installed), whose
# shell test/critest/run.sh puts in critest's images.
CRITEST_VERSION=v1.34.0
install_critest() {
  local dir="$TOOLS_CACHE/critest-$CRITEST_VERSION"
  if [ ! -x "$dir/critest" ]; then
    step "build critest $CRITEST_VERSION from the Go module proxy (once; kept in $TOOLS_CACHE)"
    local work rc
    work=$(mktemp -d)
    mkdir -p "$dir"
    (cd "$work" && export GOFLAGS= CGO_ENABLED=0 GONOSUMDB='k8s.io/*,sigs.k8s.io/*' GOWORK=off &&
      printf 'module critestbuild\n\ngo 1.24\n' >go.mod &&
      go get -t "sigs.k8s.io/cri-tools/cmd/critest@$CRITEST_VERSION" &&
      go test -c -o "$dir/critest.tmp" sigs.k8s.io/cri-tools/cmd/critest) &&
      mv "$dir/critest.tmp" "$dir/critest"
    rc=$?
    rm -rf "$work"
    [ $rc -eq 0 ] || return $rc
  fi
  if ! ls "$dir"/busybox_*.deb >/dev/null 2>&1; then
    (cd "$dir" && { apt-get download busybox >/dev/null 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && apt-get download busybox >/dev/null 2>&1; }; }) ||
      echo "apt-get download busybox failed: critest's images get busybox-static's shell (its MaskedPaths spec fails)" >&2
  fi
  export HULL_TEST_CRITEST="$dir/critest"
}

# install_kubelet builds kubelet (Kubernetes' node agent; TestKubeletOnHull
# runs it standalone on hull's CRI socket) from the Go module proxy, once,
# into the tools cache, and points the tests at it (HULL_TEST_KUBELET).
# k8s.io/kubernetes requires its staging modules (k8s.io/api, client-go, …)
# at v0.0.0 and replaces them with folders that its module zip leaves out, so
# it is built from a scratch main module that requires it and replaces each
# of those modules with its published v0.<minor>.<patch> twin. Many minutes
# on two cores; GONOSUMDB: the checksum database may refuse k8s.io modules.
KUBELET_VERSION=v1.37.2
install_kubelet() {
  local dir="$TOOLS_CACHE/kubelet-$KUBELET_VERSION"
  if ! "$dir/kubelet" --version 2>/dev/null | grep -qF "$KUBELET_VERSION"; then
    step "build kubelet $KUBELET_VERSION from the Go module proxy (once; kept in $TOOLS_CACHE)"
    local gomod staging work minor=${KUBELET_VERSION#v1.}
    export GONOSUMDB='k8s.io/*,sigs.k8s.io/*'
    gomod=$(GOFLAGS= go mod download -json "k8s.io/kubernetes@$KUBELET_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
    [ -n "$gomod" ] || { echo "go mod download k8s.io/kubernetes@$KUBELET_VERSION failed" >&2; return 1; }
    staging=$(sed -n 's#^\t\(k8s.io/[^ ]*\) => ./staging/src/.*#\1#p' "$gomod")
    [ -n "$staging" ] || { echo "no staging modules in $gomod" >&2; return 1; }
    work=$(mktemp -d)
    {
      echo "module hull.test/kubelet"
      echo "go $(sed -n 's/^go //p' "$gomod")"
      echo "require k8s.io/kubernetes $KUBELET_VERSION"
      for m in $staging; do echo "replace $m => $m v0.$minor"; done
    } >"$work/go.mod"
    mkdir -p "$dir"
    (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBELET_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor%%.*} -X k8s.io/component-base/version.gitTreeState=clean" \
      -o "$dir/kubelet.tmp" k8s.io/kubernetes/cmd/kubelet) &&
      mv "$dir/kubelet.tmp" "$dir/kubelet"
    local rc=$?
    rm -rf "$work"
    [ $rc -eq 0 ] || return $rc
  fi
  export HULL_TEST_KUBELET="$dir/kubelet"
}
