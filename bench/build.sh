#!/usr/bin/env bash
# The build benchmark (issue 14): a multi-stage Dockerfile built with the
# docker CLI on hull and on Debian's dockerd 20.10, in one run, interleaved:
#   - buildx's docker driver (each daemon's embedded BuildKit), a cold build
#     (--no-cache) and a no-change rebuild (every step CACHED);
#   - the legacy path (DOCKER_BUILDKIT=0: hull's POST /build on BuildKit,
#     dockerd's classic builder), cold and rebuild.
# Medians of N runs and ratios (x dockerd; goal: hull <= dockerd on both).
# Also hull's idle RSS before and after a first build (the daemon, and
# hull-buildkit while it lives), and the binaries' sizes.
#
#   bash bench/build.sh [-n 5] [--no-install]
#
# It needs root; it leaves nothing behind under its work folder.
set -euo pipefail

RUNS=5
INSTALL=1
while (($#)); do
	case $1 in
	-n) RUNS=${2:?-n needs a number}; shift 2 ;;
	--no-install) INSTALL=0; shift ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.."
. hack/lib.sh
need_root
if [ "$INSTALL" = 1 ]; then
	install_packages docker.io
else
	install_packages
fi
build_hull
install_buildx

work=$(mktemp -d /var/tmp/hull-build-bench.XXXXXX)
pids=()
mapfile -t cgroups_before < <(ls -d /sys/fs/cgroup/*/docker 2>/dev/null || true)
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	{ grep -o " ${work}[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$work"
	ip link del hbuild0 2>/dev/null
	for d in /sys/fs/cgroup/*/docker; do
		[ -d "$d" ] || continue
		printf '%s\n' "${cgroups_before[@]}" | grep -qxF "$d" && continue
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
}
trap cleanup EXIT

export DOCKER_CONFIG="$work/docker-config"
mkdir -p "$DOCKER_CONFIG/cli-plugins"
cp "$HULL_TEST_BUILDX" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
make_busybox_rootfs_tar "$work/rootfs.tar"
waitfor() { # HOST
	for _ in $(seq 300); do DOCKER_HOST=$1 DOCKER_API_VERSION=1.41 docker version >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "no daemon answered at $1" >&2
	return 1
}

declare -A hosts
bin/hull daemon -H "unix://$work/hull.sock" --data-root "$work/hull" --exec-root "$work/hx" 2>"$work/hull.log" &
pids+=($!)
hull_pid=$!
waitfor "unix://$work/hull.sock"
hosts[hull]="unix://$work/hull.sock"
contenders=(hull)
if command -v dockerd >/dev/null; then
	# A bridge of dockerd's own (RUN steps run on it), no iptables, so that
	# the host's firewall stays as it was.
	ip link add hbuild0 type bridge && ip addr add 10.202.0.1/24 dev hbuild0 && ip link set hbuild0 up
	dockerd --data-root "$work/docker" --exec-root "$work/dx" -H "unix://$work/d.sock" --pidfile "$work/d.pid" \
		--bridge=hbuild0 --iptables=false --ip-masq=false --storage-driver overlay2 >"$work/dockerd.log" 2>&1 &
	pids+=($!)
	waitfor "unix://$work/d.sock" && hosts[dockerd]="unix://$work/d.sock" && contenders+=(dockerd)
fi
for c in "${contenders[@]}"; do
	DOCKER_HOST=${hosts[$c]} DOCKER_API_VERSION=1.41 docker import -c 'CMD ["/bin/sh"]' "$work/rootfs.tar" bench/busybox:1 >/dev/null
done

ctx="$work/ctx"
mkdir -p "$ctx"
head -c 4000000 /dev/urandom >"$ctx/data.bin"
echo app >"$ctx/app.txt"
cat >"$ctx/Dockerfile" <<'EOF'
FROM bench/busybox:1 AS build
RUN mkdir /out && for i in $(seq 1 300); do echo "file $i" > /out/f$i; done
COPY data.bin /out/data.bin
RUN cat /out/data.bin /out/data.bin > /out/twice.bin
FROM bench/busybox:1
COPY --from=build /out /out
COPY app.txt /app.txt
ENV A=1 B=2
LABEL bench=build
RUN ls /out | wc -l > /count
CMD ["cat", "/count"]
EOF

rss_kb() { local s=0 p; for p in "$@"; do s=$((s + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$s"; }
sleep 2
rss_before=$(rss_kb "$hull_pid")

build() { # CONTENDER PATH(buildx|legacy) [--no-cache]
	local c=$1 path=$2
	shift 2
	if [ "$path" = buildx ]; then
		DOCKER_HOST=${hosts[$c]} DOCKER_BUILDKIT=1 docker buildx build --progress=quiet -t bench/built:1 "$@" "$ctx" >/dev/null
	else
		DOCKER_HOST=${hosts[$c]} DOCKER_API_VERSION=1.41 DOCKER_BUILDKIT=0 docker build -q -t bench/built:1 "$@" "$ctx" >/dev/null 2>&1
	fi
}
now() { date +%s%N; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A t
paths=(buildx legacy)
for c in "${contenders[@]}"; do
	for p in "${paths[@]}"; do
		build "$c" "$p" || { echo "$c cannot build through $p:"; DOCKER_HOST=${hosts[$c]} docker buildx build -t bench/built:1 "$ctx"; exit 1; }
	done
done
for _ in $(seq "$RUNS"); do # interleaved
	for p in "${paths[@]}"; do
		for c in "${contenders[@]}"; do
			t0=$(now)
			build "$c" "$p" --no-cache
			t[$c,$p,cold]+="$((($(now) - t0) / 1000)) "
			t0=$(now)
			build "$c" "$p"
			t[$c,$p,rebuild]+="$((($(now) - t0) / 1000)) "
		done
	done
done
DOCKER_HOST=${hosts[hull]} docker run --rm bench/built:1 | grep -qx 302 || { echo "hull's image does not run as built"; exit 1; }
bk_pid=$(pgrep -f "hull-buildkit --root $work/hull/buildkit" | head -1 || true)
rss_after=$(rss_kb "$hull_pid")
rss_bk=$( [ -n "$bk_pid" ] && rss_kb "$bk_pid" || echo 0)

echo "hull $(git rev-parse --short HEAD 2>/dev/null); docker CLI $(docker version --format '{{.Client.Version}}' 2>/dev/null); buildx $("$HULL_TEST_BUILDX" version 2>/dev/null | awk '{print $2}'); $(dockerd --version 2>/dev/null || true)"
printf '\n%-8s %-7s %12s %12s %10s %10s\n' path daemon "cold ms" "rebuild ms" "cold x" "rebuild x"
for p in "${paths[@]}"; do
	for c in "${contenders[@]}"; do
		cold=$(echo "${t[$c,$p,cold]}" | median)
		re=$(echo "${t[$c,$p,rebuild]}" | median)
		ref=${contenders[-1]}
		rc=$(echo "${t[$ref,$p,cold]}" | median)
		rr=$(echo "${t[$ref,$p,rebuild]}" | median)
		printf '%-8s %-7s %12.0f %12.0f %9.2fx %9.2fx\n' "$p" "$c" "$(awk -v a="$cold" 'BEGIN{print a/1000}')" "$(awk -v a="$re" 'BEGIN{print a/1000}')" \
			"$(awk -v a="$cold" -v b="$rc" 'BEGIN{print a/b}')" "$(awk -v a="$re" -v b="$rr" 'BEGIN{print a/b}')"
	done
done
echo "(x: time / dockerd's time; goal (issue 14): hull <= dockerd, cold and rebuild)"
printf '\nhull daemon idle RSS: %.1f MB before any build, %.1f MB after %d builds; hull-buildkit %.1f MB while it lives (it stops after 10 idle minutes)\n' \
	"$(awk -v k="$rss_before" 'BEGIN{print k/1024}')" "$(awk -v k="$rss_after" 'BEGIN{print k/1024}')" "$((RUNS * 4 + 2))" "$(awk -v k="$rss_bk" 'BEGIN{print k/1024}')"
printf 'binaries: bin/hull %.1f MB, bin/hull-buildkit %.1f MB\n' "$(stat -c %s bin/hull | awk '{print $1/1048576}')" "$(stat -c %s bin/hull-buildkit | awk '{print $1/1048576}')"
