#!/usr/bin/env bash
# The CRI benchmark: hull's CRI beside Debian's containerd 1.6 (its CRI
# plugin, runc), in one run, both driven by the same gRPC client
# (bench/cri) on the same busybox image and the same CNI configuration
# (Debian's containernetworking-plugins: bridge + host-local, a bridge and
# a subnet per runtime). Per pod: RunPodSandbox until PodSandboxStatus says
# READY; CreateContainer + StartContainer until ContainerStatus says RUNNING
# (`sleep 3600`); stop + remove of the container, then of the pod; the
# whole lifecycle. N pods each, interleaved, after one warm-up pod each,
# then R rounds of P pods at once per runtime, the runtimes taking turns
# round by round; medians, p90s and ratios (containerd ÷ hull), the CPU each
# runtime spent per pod (cgroup v1 cpuacct: daemon, shims, runc, CNI
# plugins, inits, pods), and each daemon's idle RSS (VmRSS of the daemon and
# whatever runs below it), fresh and after the runs.
#
#   bash bench/cri.sh [-n 20] [-p 10] [-r 3] [--no-install] [--debug] [--unconfined]
#                     [--only hull|containerd] [--hull PATH] [--rss-detail] [--perf FILE]
#
# --debug runs hull's daemon with -D (its creation traces and CRI calls in
# the log, kept in /var/tmp/hull-cri-bench.log); --unconfined asks both
# runtimes for Unconfined seccomp instead of RuntimeDefault; --only runs
# one runtime (for profiling); --hull times another build of hull (its
# shim and monitor beside it) instead of building bin/hull; --rss-detail prints the RSS of each process counted;
# --perf runs hull's daemon under `perf record -g` (what it starts
# followed: shims, inits, CNI plugins) into FILE and prints where the CPU
# went by process (its RSS then counts perf's).
#
# It needs root. Each daemon runs privately under a temporary folder
# (containerd's root, state, runc root and network namespaces included;
# never /var/lib/containerd), and everything is cleaned up on exit, also
# on failure or Ctrl-C: pods, processes, mounts, cgroups, bridges and
# veths, CNI leases and caches.
set -euo pipefail

RUNS=20
PAR=10
ROUNDS=3
INSTALL=1
DEBUG=0
SECCOMP=true
ONLY=
HULL=
EXTRA=()
PERF=
while (($#)); do
	case $1 in
	-n) RUNS=${2:?-n needs a number}; shift 2 ;;
	-p) PAR=${2:?-p needs a number}; shift 2 ;;
	-r) ROUNDS=${2:?-r needs a number}; shift 2 ;;
	--no-install) INSTALL=0; shift ;;
	--debug) DEBUG=1; shift ;;
	--unconfined) SECCOMP=false; shift ;;
	--only) ONLY=${2:?--only needs hull or containerd}; shift 2 ;;
	--hull) HULL=${2:?--hull needs a path}; shift 2 ;;
	--rss-detail) EXTRA+=(-rss-detail); shift ;;
	--perf) PERF=${2:?--perf needs a file}; shift 2 ;;
	-h | --help) sed -n '2,32p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.."
. hack/lib.sh
need_root
if [ "$INSTALL" = 1 ]; then
	install_packages containerd runc containernetworking-plugins
else
	install_packages
fi
for t in containerd containerd-shim-runc-v2 ctr runc; do
	command -v "$t" >/dev/null || { echo "$t is not installed (apt-get install containerd runc)" >&2; exit 1; }
done
CNI_BIN=
for d in /usr/lib/cni /opt/cni/bin; do [ -x "$d/bridge" ] && [ -x "$d/host-local" ] && { CNI_BIN=$d; break; }; done
[ -n "$CNI_BIN" ] || { echo "no CNI plugins (apt-get install containernetworking-plugins)" >&2; exit 1; }
if [ -z "$HULL" ]; then
	build_hull
	HULL=bin/hull
fi
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

work=$(mktemp -d /var/tmp/hull-cri-bench.XXXXXX)
tag=$(($$ % 10000))
net_h="cribench-h$tag" net_c="cribench-c$tag" # CNI network names
br_h="hcribh$tag" br_c="hcribc$tag"
cg_h="/hull-cribench-$tag-hull" cg_c="/hull-cribench-$tag-containerd"
pids=()
hull_pid='' ctrd_pid=''
cleanup() {
	set +e # clean up as much as can be, whatever fails
	trap - INT TERM
	if [ -x "$work/cribench" ]; then
		local cargs=()
		[ -S "$work/hx/cri.sock" ] && cargs+=(-runtime "hull=$work/hx/cri.sock")
		[ -S "$work/ctrd/c.sock" ] && cargs+=(-runtime "containerd=$work/ctrd/c.sock")
		[ ${#cargs[@]} -eq 0 ] || timeout 120 "$work/cribench" cleanup "${cargs[@]}"
	fi
	[ -n "$hull_pid" ] && kill -INT "$hull_pid" 2>/dev/null
	[ -n "$ctrd_pid" ] && kill -TERM "$ctrd_pid" 2>/dev/null
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	# Whatever still runs from the work folder (shims, monitors,
	# containers' processes of a daemon that died): by pid.
	for p in $(grep -l -F "$work" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		[ "$p" != $$ ] && grep -q -F "$work" "/proc/$p/cmdline" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	sleep 0.2
	{ grep -o " ${work}[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	for b in "$br_h" "$br_c"; do
		for v in $(ip -o link show master "$b" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$v" 2>/dev/null; done
		ip link del "$b" 2>/dev/null
	done
	for cg in "$cg_h" "$cg_c"; do
		for d in /sys/fs/cgroup/*"$cg" /sys/fs/cgroup"$cg"; do
			[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	done
	# containerd's CNI cache (libcni's /var/lib/cni: results by network name)
	rm -rf /var/lib/cni/results/"$net_c"-* /var/lib/cni/"$net_c"
	if [ "$DEBUG" = 1 ] && [ -f "$work/hull.log" ]; then cp "$work/hull.log" /var/tmp/hull-cri-bench.log; fi
	[ -n "${CRIBENCH_KEEP:-}" ] && { echo "kept $work"; return; }
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "go build -o $work/cribench ./bench/cri"
go build -o "$work/cribench" ./bench/cri

# The images: busybox, and containerd's pause image (a static C program
# that waits for a signal); one docker-archive each, loaded by both.
image=docker.io/cribench/busybox:1
pause=docker.io/cribench/pause:1
make_busybox_rootfs_tar "$work/rootfs.tar"
"$work/cribench" archive -rootfs "$work/rootfs.tar" -ref "$image" -cmd /bin/sh -o "$work/busybox.tar"
mkdir -p "$work/pause-root"
cat >"$work/pause.c" <<'EOF'
#include <signal.h>
#include <unistd.h>
static void quit(int s) { (void)s; _exit(0); }
int main(void) { signal(SIGINT, quit); signal(SIGTERM, quit); for (;;) pause(); }
EOF
gcc -static -Os -o "$work/pause-root/pause" "$work/pause.c"
tar -C "$work/pause-root" --numeric-owner -cf "$work/pause-rootfs.tar" .
"$work/cribench" archive -rootfs "$work/pause-rootfs.tar" -ref "$pause" -entrypoint /pause -o "$work/pause.tar"

# One CNI configuration per runtime, the same but for the bridge, the
# subnet and the leases' folder.
sub=$((tag % 120 * 2))
cni_conf() { # DIR NAME BRIDGE SUBNET
	mkdir -p "$1"
	cat >"$1/10-cribench.conflist" <<EOF
{"cniVersion":"1.0.0","name":"$2","plugins":[{"type":"bridge","bridge":"$3","isGateway":true,"ipMasq":false,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"$4"}]],"dataDir":"$work/ipam/$2"}}]}
EOF
}
cni_conf "$work/cni-hull" "$net_h" "$br_h" "10.233.$sub.0/24"
cni_conf "$work/cni-containerd" "$net_c" "$br_c" "10.233.$((sub + 1)).0/24"

args=()
# The CPU each runtime spends: its daemon goes into a cpuacct cgroup below
# its pods' cgroup parent, so that the parent's cpuacct.usage counts the
# daemon, what it starts (shims, runc, CNI plugins, inits) and the pods.
# cgroup v1 only; without a cpuacct hierarchy the row is left out.
cpuacct=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuacct(,|$)/ {print $2; exit}' /proc/mounts)
account() { # NAME PID CGROUP-PARENT
	[ -n "$cpuacct" ] || return 0
	mkdir -p "$cpuacct$3/daemon"
	for p in "$2" $(pgrep -P "$2"); do echo "$p" >"$cpuacct$3/daemon/cgroup.procs"; done # perf's child too
	args+=(-cpuacct "$1=$cpuacct$3/cpuacct.usage")
}

waitsock() { # SOCKET PID LOG
	for _ in $(seq 300); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "no socket at $1; the daemon's log:" >&2
	tail -20 "$3" >&2
	return 1
}

# hull: the daemon with its CRI socket at <exec-root>/cri.sock.
if want hull; then
	step "hull daemon"
	echo '{}' >"$work/daemon.json"
	dflag=()
	[ "$DEBUG" = 1 ] && dflag=(-D)
	wrap=()
	[ -n "$PERF" ] && wrap=(perf record -q -F 499 -g -o "$PERF" --)
	# Each daemon in a session of its own: a Ctrl-C reaches the script
	# and the client, and the daemons stay up for the clean-up to remove
	# their pods.
	setsid "${wrap[@]}" "$HULL" "${dflag[@]}" daemon -H "unix://$work/hull.sock" --data-root "$work/hull" --exec-root "$work/hx" \
		--config-file "$work/daemon.json" --cni-conf-dir "$work/cni-hull" --cni-bin-dir "$CNI_BIN" 2>"$work/hull.log" &
	hull_pid=$!
	pids+=("$hull_pid")
	waitsock "$work/hx/cri.sock" "$hull_pid" "$work/hull.log"
	waitsock "$work/hull.sock" "$hull_pid" "$work/hull.log"
	DOCKER_HOST="unix://$work/hull.sock" DOCKER_API_VERSION=1.41 docker load -q -i "$work/busybox.tar" >/dev/null
	args+=(-runtime "hull=$work/hx/cri.sock" -pid "hull=$hull_pid" -cgroup-parent "hull=$cg_h")
	account hull "$hull_pid" "$cg_h"
fi

# containerd: version 2 configuration, everything under the work folder.
if want containerd; then
	step "containerd"
	c=$work/ctrd
	mkdir -p "$c"
	cat >"$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
temp = "$c/tmp"
[grpc]
  address = "$c/c.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  netns_mounts_under_state_dir = true
  # runc may not lower oom_score_adj below containerd's own here (a container
  # without CAP_SYS_RESOURCE): the pause container's -998 fails otherwise.
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$c/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$work/cni-containerd"
    max_conf_num = 1
EOF
	setsid containerd --config "$c/config.toml" >"$c/log" 2>&1 &
	ctrd_pid=$!
	pids+=("$ctrd_pid")
	waitsock "$c/c.sock" "$ctrd_pid" "$c/log"
	for a in busybox pause; do
		ctr -a "$c/c.sock" -n k8s.io images import --snapshotter overlayfs "$work/$a.tar" >/dev/null
	done
	args+=(-runtime "containerd=$c/c.sock" -pid "containerd=$ctrd_pid" -cgroup-parent "containerd=$cg_c")
	account containerd "$ctrd_pid" "$cg_c"
fi

step "the benchmark: $RUNS pods each, interleaved, then $ROUNDS rounds of $PAR at once"
echo "hull $(git rev-parse --short HEAD 2>/dev/null); $(containerd --version); $(runc --version | head -1); CNI plugins $(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null)"
"$work/cribench" run -n "$RUNS" -parallel "$PAR" -rounds "$ROUNDS" -image "$image" -seccomp="$SECCOMP" -log-root "$work/logs" \
	"${args[@]}" "${EXTRA[@]}"
echo "goal (issue 15): hull >= 2x faster than containerd (ratios >= 2.00x)"
if [ -n "$PERF" ]; then
	cleanup
	trap - EXIT
	echo; echo "hull's CPU by process (perf report -i $PERF --sort comm,dso):"
	perf report -i "$PERF" --no-children --sort comm,dso -g none --stdio 2>/dev/null | grep -v '^#' | grep . | head -20
fi
