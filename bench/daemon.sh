#!/usr/bin/env bash
# The daemon benchmark: `docker run --rm --network none IMAGE true` through
# the docker CLI against hull's daemon and Debian's dockerd (and podman's own
# CLI when installed), same busybox image, in one run: the median of N
# sequential runs, the wall time of 10 runs in parallel, and each daemon's
# idle RSS; and docker stats --no-stream over 20 running containers.
# Then `docker run --rm IMAGE true` on the default bridge network, hull
# and dockerd (given a bridge of its own, hbench0, without iptables), each
# in a block of its own beside the same run on --network none, pairs in
# alternating order, and what the bridge adds to each (the difference of
# the two medians). Prints ratios.
#
#   bash bench/daemon.sh [-n 20] [--no-install]
#
# It needs root; it leaves nothing behind under its work folder.
set -euo pipefail

RUNS=20
INSTALL=1
while (($#)); do
	case $1 in
	-n) RUNS=${2:?-n needs a number}; shift 2 ;;
	--no-install) INSTALL=0; shift ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.."
. hack/lib.sh
need_root
if [ "$INSTALL" = 1 ]; then
	install_packages docker.io podman runc
else
	install_packages
fi
build_hull

work=$(mktemp -d /var/tmp/hull-daemon-bench.XXXXXX)
pids=()
# dockerd and podman make parent cgroups of their own; remove the ones
# that did not exist before.
mapfile -t cgroups_before < <(ls -d /sys/fs/cgroup/*/docker /sys/fs/cgroup/*/libpod_parent 2>/dev/null || true)
cleanup() {
	set +e # clean up as much as can be, whatever fails
	for sock in "$work/hull.sock" "$work/d.sock"; do
		[ -S "$sock" ] || continue
		mapfile -t ids < <(DOCKER_HOST="unix://$sock" docker ps -aq 2>/dev/null || true)
		[ ${#ids[@]} -eq 0 ] || DOCKER_HOST="unix://$sock" docker rm -f "${ids[@]}" >/dev/null 2>&1 || true
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	{ grep -o " ${work}[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	if command -v podman >/dev/null; then
		podman --root "$work/podman" --runroot "$work/podman-run" rm -af >/dev/null 2>&1 || true
		podman --root "$work/podman" --runroot "$work/podman-run" system reset -f >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
	ip link del hbench0 2>/dev/null
	for d in /sys/fs/cgroup/*/docker /sys/fs/cgroup/*/libpod_parent; do
		[ -d "$d" ] || continue
		printf '%s\n' "${cgroups_before[@]}" | grep -qxF "$d" && continue
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
}
trap cleanup EXIT

make_busybox_rootfs_tar "$work/rootfs.tar"
waitfor() { # HOST
	for _ in $(seq 300); do DOCKER_HOST=$1 DOCKER_API_VERSION=1.41 docker version >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "no daemon answered at $1" >&2
	return 1
}

declare -A hosts
echo '{}' >"$work/daemon.json"
bin/hull daemon -H "unix://$work/hull.sock" --data-root "$work/hull" --exec-root "$work/hx" \
	--config-file "$work/daemon.json" 2>"$work/hull.log" &
pids+=($!)
hull_pid=$!
waitfor "unix://$work/hull.sock"
hosts[hull]="unix://$work/hull.sock"
if command -v dockerd >/dev/null; then
	# A bridge of dockerd's own for the bridge-network runs; no iptables, so
	# that it leaves the host's firewall as it was.
	ip link add hbench0 type bridge && ip addr add 10.201.0.1/24 dev hbench0 && ip link set hbench0 up
	dockerd --data-root "$work/docker" --exec-root "$work/dx" -H "unix://$work/d.sock" --pidfile "$work/d.pid" \
		--bridge=hbench0 --iptables=false --ip-masq=false --storage-driver overlay2 >"$work/dockerd.log" 2>&1 &
	pids+=($!)
	dockerd_pid=$!
	waitfor "unix://$work/d.sock" && hosts[dockerd]="unix://$work/d.sock"
fi
contenders=(hull)
[ -n "${hosts[dockerd]:-}" ] && contenders+=(dockerd)
for c in "${contenders[@]}"; do
	DOCKER_HOST=${hosts[$c]} DOCKER_API_VERSION=1.41 docker import "$work/rootfs.tar" bench/busybox:1 >/dev/null
done
podman_cmd=()
if command -v podman >/dev/null; then
	# runc: crun, Debian's default for podman, refuses this hybrid cgroup
	# layout (v1 controllers beside a v2 hierarchy without any).
	podman_cmd=(podman --root "$work/podman" --runroot "$work/podman-run" --runtime runc --cgroup-manager cgroupfs --events-backend none)
	"${podman_cmd[@]}" import "$work/rootfs.tar" bench/busybox:1 >/dev/null 2>&1 && contenders+=(podman) || podman_cmd=()
fi

run_one() { # CONTENDER [NETWORK]
	local net=${2:-none}
	if [ "$1" = podman ]; then
		"${podman_cmd[@]}" run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 bench/busybox:1 true
	else
		DOCKER_HOST=${hosts[$1]} DOCKER_API_VERSION=1.41 docker run --rm --network "$net" bench/busybox:1 true
	fi
}
now() { date +%s%N; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A seq par rss
for c in "${contenders[@]}"; do run_one "$c" >/dev/null 2>&1 || { echo "$c cannot run the image:"; run_one "$c"; exit 1; }; done
for _ in $(seq "$RUNS"); do # interleaved
	for c in "${contenders[@]}"; do
		t0=$(now)
		run_one "$c" >/dev/null
		seq[$c]+="$((($(now) - t0) / 1000)) "
	done
done
for c in "${contenders[@]}"; do
	t0=$(now)
	for _ in $(seq 10); do run_one "$c" >/dev/null & done
	wait_all=$(jobs -p | grep -v -x -F -f <(printf '%s\n' "${pids[@]}") || true)
	for j in $wait_all; do wait "$j"; done
	par[$c]=$((($(now) - t0) / 1000))
done
# The docker CLI's own floor: `docker ps -q` against hull, the same client
# process doing next to nothing on the daemon's side, alone and 10 at once
# (on a 2-core machine the CLI's own CPU bounds what 10 runs at once take).
floor_seq=""
for _ in $(seq "$RUNS"); do
	t0=$(now)
	DOCKER_HOST=${hosts[hull]} DOCKER_API_VERSION=1.41 docker ps -q >/dev/null
	floor_seq+="$((($(now) - t0) / 1000)) "
done
t0=$(now)
for _ in $(seq 10); do DOCKER_HOST=${hosts[hull]} DOCKER_API_VERSION=1.41 docker ps -q >/dev/null & done
wait_all=$(jobs -p | grep -v -x -F -f <(printf '%s\n' "${pids[@]}") || true)
for j in $wait_all; do wait "$j"; done
floor_par=$((($(now) - t0) / 1000))
# The default bridge network (issues 6, 16): what the bridge adds to a
# run, hull's and dockerd's, each measured in a block of its own — a bridge
# run beside a --network none run, the pair's order alternating — after the
# other daemon's work has settled. Interleaved with the other daemon, a run
# shares the machine with that daemon's exits (dockerd's veth and namespace
# teardown: kernel work a bridge attach's netlink calls contend with, most
# likely for the rtnl lock), and what the bridge adds then is partly the
# other daemon's (hull 7.8 ms interleaved, 0.7–1.8 ms in blocks, one run
# apart).
declare -A bseq nseq
for c in "${contenders[@]}"; do
	[ "$c" = podman ] && continue
	run_one "$c" bridge >/dev/null 2>&1 || { echo "$c cannot run on its bridge network:"; run_one "$c" bridge; exit 1; }
done
for c in "${contenders[@]}"; do
	[ "$c" = podman ] && continue
	sleep 3
	for i in $(seq "$RUNS"); do
		order=(bridge none)
		((i % 2)) || order=(none bridge)
		for net in "${order[@]}"; do
			t0=$(now)
			run_one "$c" "$net" >/dev/null
			if [ "$net" = bridge ]; then
				bseq[$c]+="$((($(now) - t0) / 1000)) "
			else
				nseq[$c]+="$((($(now) - t0) / 1000)) "
			fi
		done
	done
done
# docker stats --no-stream over 20 running containers (issue 5).
declare -A stats
for c in "${contenders[@]}"; do
	[ "$c" = podman ] && continue
	for i in $(seq 20); do
		DOCKER_HOST=${hosts[$c]} DOCKER_API_VERSION=1.41 docker run -d --network none --name "s$i" bench/busybox:1 sleep 1000 >/dev/null
	done
	for _ in 1 2 3 4 5; do
		t0=$(now)
		DOCKER_HOST=${hosts[$c]} DOCKER_API_VERSION=1.41 docker stats --no-stream >/dev/null
		stats[$c]+="$((($(now) - t0) / 1000)) "
	done
	mapfile -t ids < <(DOCKER_HOST=${hosts[$c]} docker ps -aq)
	DOCKER_HOST=${hosts[$c]} docker rm -f "${ids[@]}" >/dev/null
done
sleep 5 # idle
rss_kb() { local s=0 p; for p in "$@"; do s=$((s + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$s"; }
rss[hull]=$(rss_kb "$hull_pid")
if [ -n "${dockerd_pid:-}" ]; then
	mapfile -t ctrd < <(pgrep -P "$dockerd_pid" containerd || true)
	rss[dockerd]=$(rss_kb "$dockerd_pid" "${ctrd[@]}")
fi

echo "hull $(git rev-parse --short HEAD 2>/dev/null); docker CLI $(docker version --format '{{.Client.Version}}' 2>/dev/null); $(dockerd --version 2>/dev/null || true); $(podman --version 2>/dev/null || true)"
printf '\n%-9s %16s %16s %14s %12s\n' contender "median run ms" "10 parallel s" "idle RSS MB" "x hull"
base=$(echo "${seq[hull]}" | median)
for c in "${contenders[@]}"; do
	m=$(echo "${seq[$c]}" | median)
	r=-
	[ -n "${rss[$c]:-}" ] && r=$(awk -v k="${rss[$c]}" 'BEGIN {printf "%.1f", k/1024}')
	printf '%-9s %16.1f %16.2f %14s %11.2fx\n' "$c" "$(awk -v a="$m" 'BEGIN{print a/1000}')" "$(awk -v a="${par[$c]}" 'BEGIN{print a/1e6}')" "$r" "$(awk -v a="$m" -v b="$base" 'BEGIN{print a/b}')"
done
printf '%-9s %16.1f %16.2f   (docker ps -q against hull: the CLI alone)\n' "CLI floor" "$(echo "$floor_seq" | median | awk '{print $1/1000}')" "$(awk -v a="$floor_par" 'BEGIN{print a/1e6}')"
echo "goals (issue 16): hull >= 5x faster than dockerd and >= 3x faster than podman (x hull), 10 parallel <= 0.35 s"
printf '\n%-9s %22s %22s %20s %12s\n' contender "bridge: median run ms" "beside it, none: ms" "the bridge adds ms" "x hull"
bbase=$(echo "${bseq[hull]}" | median)
for c in "${!bseq[@]}"; do
	m=$(echo "${bseq[$c]}" | median)
	n=$(echo "${nseq[$c]}" | median)
	printf '%-9s %22.1f %22.1f %20.1f %11.2fx\n' "$c" "$(awk -v a="$m" 'BEGIN{print a/1000}')" "$(awk -v a="$n" 'BEGIN{print a/1000}')" "$(awk -v a="$m" -v b="$n" 'BEGIN{print (a-b)/1000}')" "$(awk -v a="$m" -v b="$bbase" 'BEGIN{print a/b}')"
done
echo "goals (issue 16): the default bridge adds <= 5 ms to hull's run, and hull stays >= 5x faster than dockerd"
printf '\n%-9s %28s %8s\n' contender "stats --no-stream, 20 ctrs" "x hull"
sbase=$(echo "${stats[hull]}" | median)
for c in "${!stats[@]}"; do
	m=$(echo "${stats[$c]}" | median)
	printf '%-9s %25.0f ms %7.2fx\n' "$c" "$(awk -v a="$m" 'BEGIN{print a/1000}')" "$(awk -v a="$m" -v b="$sbase" 'BEGIN{print a/b}')"
done
