#!/usr/bin/env bash
# test/critest/run.sh: critest v1.34.0 (cri-tools' CRI validation suite)
# against hull's CRI — or against Debian's containerd 1.6 for reference
# numbers — in one command, as root:
#
#   bash test/critest/run.sh [--runtime hull|containerd] [--focus REGEX]
#                            [--hull DIR] [--keep] [-- CRITEST-ARGS...]
#
# It builds what is missing (hull, critest into the tools cache, the test
# images' programs), then, in private mount, network, IPC and PID
# namespaces (nothing it mounts, no interface, firewall rule, shared memory
# segment or process outlives it; `mount --make-rshared /` inside, as a
# node has it): a registry on 127.0.0.1:5000 serving critest's images made
# locally (test/critest/images), a CNI bridge for the pods, the runtime
# with that registry as its mirror of registry.k8s.io, gcr.io and
# docker.io, and critest. It prints ginkgo's summary and exits non-zero
# when a spec that ran failed.
#
# Skipped, each for a reason (SKIPS below): AppArmor and SELinux (not on
# this machine's kernel), and the pull of an image by a fixed digest (no
# locally made image can have it).
#
# --hull DIR: run the hull, hull-shim and hull-monitor built in DIR
# (default: build them into bin/ with hack/lib.sh build_hull).
# --keep: leave the whole work folder. The logs (critest's, the
# runtime's, the registry's) and ginkgo's JSON report of every spec
# (critest-report.json: state, failure, skip reason) are left in
# /var/tmp/hull-critest-logs/RUNTIME. (critest's own --registry-prefix is
# no way around mirrors: it drops the images' tags, and creates containers
# by the original names.)
set -euo pipefail

SKIPS=(
  'AppArmor'   # no AppArmor in this machine's kernel (and critest loads profiles with sudo apparmor_parser)
  'SELinux'    # no SELinux in this machine's kernel
  'public image with digest should be pulled and removed'  # pulls test-image-digest@sha256:9700f9a2…: no locally made image has that digest
)

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ "${1:-}" = --inner ]; then
  # Inside the namespaces: $2 is the work folder; the rest as below.
  shift
  W=$1 runtime=$2 focus=$3 hulldir=$4
  shift 4
  mount --make-rshared /
  ip link set lo up
  # containerd keeps shim sockets and runc's state under /run/containerd
  # whatever its state folder: a tmpfs of this namespace's own.
  if [ "$runtime" = containerd ]; then
    mkdir -p /run/containerd
    mount -t tmpfs tmpfs /run/containerd
  fi
  pids=()
  stop_all() {
    set +e
    local sock=$1
    if [ -S "$sock" ] && [ -x "$CRICTL" ]; then
      "$CRICTL" -r "unix://$sock" -i "unix://$sock" --timeout 60s rmp -af >/dev/null 2>&1
      "$CRICTL" -r "unix://$sock" -i "unix://$sock" --timeout 60s rm -af >/dev/null 2>&1
    fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      kill -INT "${pids[i]}" 2>/dev/null
      wait "${pids[i]}" 2>/dev/null
    done
  }

  "$W/bin/images" -busybox "$W/busybox.tar" -standin "$W/bin/standin" -listen 127.0.0.1:5000 -ready "$W/registry.ready" >"$W/registry.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do [ -s "$W/registry.ready" ] && break; sleep 0.1; done
  [ -s "$W/registry.ready" ] || { echo "the registry did not come up:" >&2; cat "$W/registry.log" >&2; exit 1; }
  reg=http://127.0.0.1:5000

  mkdir -p "$W/net.d"
  cat >"$W/net.d/10-critest.conflist" <<EOF
{"cniVersion":"1.0.0","name":"critest","plugins":[
 {"type":"bridge","bridge":"critest0","isGateway":true,"ipMasq":true,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$W/ipam"}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}
EOF

  case $runtime in
  hull)
    sock=$W/run/cri.sock
    cat >"$W/daemon.json" <<EOF
{"registry-mirrors-per-registry": {"registry.k8s.io": ["$reg"], "gcr.io": ["$reg"], "docker.io": ["$reg"]}}
EOF
    "$hulldir/hull" -D daemon -H "unix://$W/hull.sock" --data-root "$W/root" --exec-root "$W/run" \
      --config-file "$W/daemon.json" --cni-conf-dir "$W/net.d" >"$W/runtime.log" 2>&1 &
    pids+=($!)
    ;;
  containerd)
    sock=$W/containerd/containerd.sock
    mkdir -p "$W/containerd"
    cat >"$W/containerd/config.toml" <<EOF
version = 2
root = "$W/containerd/root"
state = "$W/containerd/state"
[grpc]
  address = "$sock"
[ttrpc]
  address = "$W/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  # this machine's root lacks CAP_SYS_RESOURCE: no oom_score_adj below
  # the runtime's own (the sandbox's -998 fails otherwise)
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."registry.k8s.io"]
    endpoint = ["$reg"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."gcr.io"]
    endpoint = ["$reg"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
    endpoint = ["$reg"]
EOF
    containerd --config "$W/containerd/config.toml" >"$W/runtime.log" 2>&1 &
    pids+=($!)
    ;;
  esac
  trap 'stop_all "$sock"' EXIT
  for _ in $(seq 600); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "$runtime's CRI socket $sock did not come up:" >&2; tail -20 "$W/runtime.log" >&2; exit 1; }

  skip=$(IFS='|'; echo "${SKIPS[*]}")
  args=(-runtime-endpoint "unix://$sock" -image-endpoint "unix://$sock" -ginkgo.skip "$skip" -ginkgo.no-color
    -ginkgo.json-report "$W/critest-report.json")
  [ -n "$focus" ] && args+=(-ginkgo.focus "$focus")
  set +e
  (cd "$W" && "$CRITEST" "${args[@]}" "$@") >"$W/critest.log" 2>&1
  rc=$?
  set -e
  # ginkgo's summary: the failures, the counts.
  sed -n '/^Summarizing [0-9]* Failure/,/^$/p' "$W/critest.log"
  grep -m2 -E '^Ran [0-9]+ of [0-9]+ Specs|^(SUCCESS|FAIL)!' "$W/critest.log" || tail -30 "$W/critest.log"
  exit $rc
fi

runtime=hull focus= keep=no hulldir=
while [ $# -gt 0 ]; do
  case $1 in
  --runtime) runtime=$2; shift 2 ;;
  --focus) focus=$2; shift 2 ;;
  --keep) keep=yes; shift ;;
  --hull) hulldir=$(cd "$2" && pwd); shift 2 ;;
  --) shift; break ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
case $runtime in hull | containerd) ;; *) echo "--runtime: hull or containerd" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "test/critest/run.sh runs as root" >&2; exit 1; }

# critest_busybox_tar OUT: the busybox root file system of critest's
# images. Debian's busybox-static (make_busybox_rootfs_tar) runs its
# applets inside its shell, never through /bin: critest masks /bin/ls and
# wants `sh -c ls` to fail as the busybox image's shell does. So the shell
# is Debian's dynamic busybox (its .deb fetched once by install_critest
# into the tools cache, unpacked here, not installed) with the libraries it
# needs; without it, the static one (and the MaskedPaths spec fails).
critest_busybox_tar() {
  local out=$1 d cache=$TOOLS_CACHE/critest-$CRITEST_VERSION
  d=$(mktemp -d)
  make_busybox_rootfs_tar "$d/static.tar"
  local deb
  deb=$(ls "$cache"/busybox_*.deb 2>/dev/null | head -1)
  if [ -z "$deb" ]; then
    mv "$d/static.tar" "$out"
    rm -rf "$d"
    return
  fi
  mkdir "$d/deb" "$d/root"
  dpkg-deb -x "$deb" "$d/deb"
  tar -C "$d/root" -xf "$d/static.tar"
  rm -f "$d/root/bin/"*
  cp "$d/deb/bin/busybox" "$d/root/bin/busybox"
  for a in $("$d/root/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$d/root/bin/$a"
  done
  for l in $(ldd "$d/root/bin/busybox" | grep -o '/[^ ]*'); do
    mkdir -p "$d/root$(dirname "$l")"
    cp -L "$l" "$d/root$l"
  done
  tar -C "$d/root" --numeric-owner -cf "$out" .
  rm -rf "$d"
}

cd "$repo"
. hack/lib.sh
export CGO_ENABLED=1 GOFLAGS=-tags=seccomp
install_critest
install_crictl || echo "crictl could not be built: what critest leaves running is not removed before the runtime stops" >&2
if [ "$runtime" = hull ] && [ -z "$hulldir" ]; then
  build_hull
  hulldir=$repo/bin
elif [ "$runtime" = hull ]; then
  [ -x "$hulldir/hull" ] || { echo "no hull in $hulldir" >&2; exit 1; }
else
  command -v containerd >/dev/null || { echo "containerd is not installed (apt-get install containerd)" >&2; exit 1; }
fi
W=$(mktemp -d /var/tmp/hull-critest.XXXXXX)
logs=/var/tmp/hull-critest-logs/$runtime
cleanup() {
  rm -rf "$logs" && mkdir -p "$logs" && cp "$W"/*.log "$W"/*.json "$logs/" 2>/dev/null
  if [ "$keep" = yes ]; then
    echo "work folder kept: $W"
  else
    rm -rf "$W"
  fi
  echo "logs: $logs"
}
trap cleanup EXIT
mkdir -p "$W/bin"
step "build the test images' programs (test/critest/standin, test/critest/images)"
CGO_ENABLED=0 go build -o "$W/bin/standin" ./test/critest/standin
go build -o "$W/bin/images" ./test/critest/images
critest_busybox_tar "$W/busybox.tar"

step "critest $CRITEST_VERSION against $runtime (private mount, network, IPC and PID namespaces)"
set +e
CRITEST=$HULL_TEST_CRITEST CRICTL=${HULL_TEST_CRICTL:-} \
  unshare --mount --net --ipc --pid --fork --mount-proc bash "$0" --inner "$W" "$runtime" "$focus" "$hulldir" "$@"
rc=$?
set -e
exit $rc
