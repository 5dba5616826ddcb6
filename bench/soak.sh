#!/usr/bin/env bash
# The soak: hundreds of containers through run, exec, logs, stats and rm
# (the Go SDK) at N-way concurrency against a private `hull daemon` with its
# own roots and live-restore, restarted between equal parts of the run
# (SIGINT, SIGKILL, then SIGKILL halfway through the last part with
# containers in flight, by default) with containers running, paused,
# exiting and created across each quiet restart, and a stats and an events
# stream open throughout. Then it prints what the daemon held before and
# after — mounts, cgroups (v1 and v2), netns, veths and bridges, nftables
# rules, shims/monitors/inits, zombies, container/layer/bundle/state/shim
# dirs, volumes, log files, sockets, files, fds, goroutines — and its RSS idle, at the
# peak and after a settle period. Exits 1 on a leak, a failed operation or
# an RSS that did not come back near idle.
#
#   bash bench/soak.sh [-n 300] [-c 16] [--restarts stop,kill,kill-busy] [--settle 10s]
#
# It needs root; it removes its work folder (/var/tmp/hull-soak.*) after.
set -euo pipefail

N=300
C=16
RESTARTS=stop,kill,kill-busy
SETTLE=10s
while (($#)); do
	case $1 in
	-n) N=${2:?-n needs a number}; shift 2 ;;
	-c) C=${2:?-c needs a number}; shift 2 ;;
	--restarts) RESTARTS=${2?--restarts needs a list}; shift 2 ;;
	--settle) SETTLE=${2:?--settle needs a duration}; shift 2 ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.."
. hack/lib.sh
need_root
install_packages
build_hull
work=$(mktemp -d /var/tmp/hull-soak.XXXXXX)
cleanup() {
	local rc=$?
	set +e
	if [ "$rc" != 0 ] && [ -f "$work/d/daemon.log" ]; then
		cp "$work/d/daemon.log" /var/tmp/hull-soak-daemon.log && echo "the daemon's log: /var/tmp/hull-soak-daemon.log"
	fi
	{ grep -o " ${work}[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/soak" ./bench/soak/cmd/soak
make_busybox_rootfs_tar "$work/rootfs.tar"
mkdir "$work/d"
"$work/soak" -hull bin/hull -dir "$work/d" -image "$work/rootfs.tar" -n "$N" -c "$C" -restarts "$RESTARTS" -settle "$SETTLE"
