#!/usr/bin/env bash
# The storage benchmark of hull: image import of a root file system tar and
# image load of a docker save archive, each of about 250 MB, timed beside
# tar -x + sync of the same data (the floor) and, when they are installed,
# docker (a private dockerd) and podman. See bench/README.md.
#
#   bash bench/run.sh [-n 5] [--no-install] [--size-mb 250] [--only LIST]
#                     [--ops LIST] [--check] [--fresh-inputs] [--hull PATH]
#                     [--timeout SECS]
#
# It needs root (it drops the page cache and runs dockerd) and leaves
# nothing behind under /var/tmp/hull-bench but the generated inputs.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bash bench/run.sh [options]
  -n N              timed runs of each contender (default 5)
  --size-mb MB      size of each input (default 250)
  --no-install      do not apt-get install docker.io podman runc when missing;
                    a contender whose tool is missing is then skipped
  --only LIST       contenders to time, comma separated (default
                    floor,hull,docker,podman; floor is always timed)
  --ops LIST        operations, comma separated (default import,load)
  --check           exit 1 when hull is slower than 1.5x the floor
  --fresh-inputs    generate the inputs again even when cached
  --hull PATH       time this hull binary instead of building bin/hull
                    (to compare two builds, run once with each)
  --timeout SECS    give up on a command after this long (default 300); it
                    gets SIGQUIT first, so a Go program logs its goroutines
  -h, --help        this text
Environment: HULL_BENCH_DIR (default /var/tmp/hull-bench), where the work
goes; keep it on the disk that holds /var/lib.
EOF
}

RUNS=5
SIZE_MB=250
INSTALL=1
ONLY=floor,hull,docker,podman
OPS=import,load
CHECK=0
FRESH_INPUTS=0
HULL=
TIMEOUT=300
GOAL=1.5
while (($#)); do
	case $1 in
	-n) RUNS=${2:?-n needs a number}; shift 2 ;;
	-n*) RUNS=${1#-n}; shift ;;
	--size-mb) SIZE_MB=${2:?--size-mb needs a number}; shift 2 ;;
	--size-mb=*) SIZE_MB=${1#*=}; shift ;;
	--no-install) INSTALL=0; shift ;;
	--only) ONLY=${2:?--only needs a list}; shift 2 ;;
	--only=*) ONLY=${1#*=}; shift ;;
	--ops) OPS=${2:?--ops needs a list}; shift 2 ;;
	--ops=*) OPS=${1#*=}; shift ;;
	--check) CHECK=1; shift ;;
	--fresh-inputs) FRESH_INPUTS=1; shift ;;
	--hull) HULL=${2:?--hull needs a path}; shift 2 ;;
	--hull=*) HULL=${1#*=}; shift ;;
	--timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
	--timeout=*) TIMEOUT=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -n wants a positive number" >&2; exit 2; }
[[ $SIZE_MB =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --size-mb wants a positive number" >&2; exit 2; }
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --timeout wants a positive number of seconds" >&2; exit 2; }
for op in ${OPS//,/ }; do
	[[ $op == import || $op == load ]] || { echo "run.sh: unknown operation $op" >&2; exit 2; }
done
for c in ${ONLY//,/ }; do
	[[ $c == floor || $c == hull || $c == docker || $c == podman ]] || { echo "run.sh: unknown contender $c" >&2; exit 2; }
done
if ((EUID != 0)); then
	echo "run.sh: run as root: it drops the page cache and starts dockerd" >&2
	exit 2
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${HULL_BENCH_DIR:-/var/tmp/hull-bench}
INPUTS=$BENCH/inputs/$SIZE_MB
WORK=$BENCH/work
LOGS=$WORK/logs
RESULTS=$WORK/results
BUILD_HULL=0
if [[ -z $HULL ]]; then
	HULL=$REPO/bin/hull
	BUILD_HULL=1
fi
HULL=$(realpath "$HULL")
DOCKER_SOCK=$BENCH/docker.sock
DOCKER_PID=$BENCH/docker.pid
PODMAN_ROOT=$WORK/podman
export DOCKER_API_VERSION=1.41 # dockerd of Debian 12 is 20.10
PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

log() { printf '%s\n' "$*" >&2; }
want() { [[ ,$ONLY, == *,$1,* ]]; }

mkdir -p "$BENCH"
exec 9>"$BENCH/lock"
flock -n 9 || { echo "run.sh: another run holds $BENCH/lock" >&2; exit 1; }

# --- cleaning up -----------------------------------------------------------

# umount_under unmounts every mount at or below $1, deepest first.
umount_under() {
	local dir=$1 m
	[[ -e $dir ]] || return 0
	dir=$(realpath "$dir")
	# Field 5 of mountinfo is the mount point; later mounts are listed later.
	awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | tac |
		while read -r m; do
			m=$(printf '%b' "${m//\\/\\0}") # undo the octal escapes of spaces and such
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "run.sh: cannot unmount $m"
		done
}

# remove deletes a folder the contenders wrote, after unmounting under it.
remove() {
	umount_under "$1"
	rm -rf "$1"
}

stop_dockerd() {
	[[ -s $DOCKER_PID ]] || return 0
	local pid i
	pid=$(cat "$DOCKER_PID")
	# Only a dockerd this script started: its command line names our socket.
	if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$DOCKER_SOCK"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 150; i++)); do
			[[ -e /proc/$pid ]] || break
			sleep 0.2
		done
		[[ -e /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$DOCKER_PID"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_dockerd
	umount_under "$BENCH/docker"
	umount_under "$BENCH/docker-exec"
	umount_under "$WORK"
	rm -rf "$BENCH/docker" "$BENCH/docker-exec" "$WORK" "${BENCH:?}/bin" "$DOCKER_SOCK" "$BENCH/daemon.json" "$BENCH/dockerd.log"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of a run that was killed.
stop_dockerd
umount_under "$BENCH/docker"
umount_under "$BENCH/docker-exec"
umount_under "$WORK"
rm -rf "$BENCH/docker" "$BENCH/docker-exec" "$WORK"
rm -f "$BENCH"/failed-*.log
mkdir -p "$WORK" "$LOGS" "$RESULTS" "$BENCH/bin"

# --- building and generating -----------------------------------------------

if ((BUILD_HULL)); then
	log "building bin/hull"
	(cd "$REPO" && go build -o bin/hull ./cmd/hull)
fi
[[ -x $HULL ]] || { echo "run.sh: $HULL is not an executable" >&2; exit 2; }
(cd "$REPO" && go build -o "$BENCH/bin/gen" ./bench/gen)

stamp="gen $("$BENCH/bin/gen" -version) size-mb $SIZE_MB seed 1 src $(cat "$REPO"/bench/gen/*.go | sha256sum | cut -c1-16)"
if ((FRESH_INPUTS)) || [[ ! -f $INPUTS/stamp || $(cat "$INPUTS/stamp") != "$stamp" || ! -f $INPUTS/rootfs.tar || ! -f $INPUTS/archive.tar ]]; then
	log "generating inputs of $SIZE_MB MB in $INPUTS"
	rm -rf "$INPUTS"
	mkdir -p "$INPUTS"
	"$BENCH/bin/gen" -out "$INPUTS" -size-mb "$SIZE_MB" -seed 1 | tee "$INPUTS/summary" >&2
	echo "$stamp" >"$INPUTS/stamp"
else
	log "using the inputs cached in $INPUTS"
	cat "$INPUTS/summary" >&2
fi
ROOTFS=$INPUTS/rootfs.tar
ARCHIVE=$INPUTS/archive.tar

# --- the other contenders ----------------------------------------------------

have_docker() { command -v dockerd >/dev/null && command -v docker >/dev/null; }
have_podman() { command -v podman >/dev/null; }
missing=()
have_docker || missing+=(docker.io)
have_podman || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
if ((${#missing[@]})); then
	if ((INSTALL)); then
		log "installing ${missing[*]} with apt-get"
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io podman runc; } >"$LOGS/apt.log" 2>&1 ||
			{ tail -20 "$LOGS/apt.log" >&2; log "run.sh: apt-get failed; the missing tools' columns are skipped"; }
	else
		log "not installing ${missing[*]} (--no-install)"
	fi
fi
CONTENDERS=(floor)
want hull && CONTENDERS+=(hull)
if want docker; then
	if have_docker; then CONTENDERS+=(docker); else log "skipping docker: dockerd or the docker CLI is not installed"; fi
fi
if want podman; then
	if have_podman; then CONTENDERS+=(podman); else log "skipping podman: it is not installed"; fi
fi

dk() { docker -H "unix://$DOCKER_SOCK" "$@"; }
# pm runs podman on the store under $PODMAN_ROOT; with PM_LIMIT=1, under
# the timeout (see limit).
pm() {
	local -a pre=()
	[[ -n ${PM_LIMIT:-} ]] && pre=(timeout --signal=QUIT --kill-after=10 "$TIMEOUT")
	mkdir -p "$PODMAN_ROOT/tmp"
	TMPDIR=$PODMAN_ROOT/tmp "${pre[@]}" podman --root "$PODMAN_ROOT/root" --runroot "$PODMAN_ROOT/run" \
		--storage-driver overlay --cgroup-manager cgroupfs --events-backend file "$@"
}

start_dockerd() {
	mkdir -p "$BENCH/docker" "$BENCH/docker-exec"
	echo '{}' >"$BENCH/daemon.json"
	log "starting a private dockerd on $DOCKER_SOCK"
	dockerd --config-file "$BENCH/daemon.json" \
		--data-root "$BENCH/docker" --exec-root "$BENCH/docker-exec" \
		-H "unix://$DOCKER_SOCK" --pidfile "$DOCKER_PID" \
		--bridge=none --iptables=false --ip-masq=false --ip-forward=false \
		--storage-driver overlay2 --log-level warn \
		>"$BENCH/dockerd.log" 2>&1 </dev/null &
	local i
	for ((i = 0; i < 300; i++)); do
		dk version >/dev/null 2>&1 && return 0
		if ! kill -0 $! 2>/dev/null; then break; fi
		sleep 0.1
	done
	tail -20 "$BENCH/dockerd.log" >&2
	return 1
}

if [[ " ${CONTENDERS[*]} " == *" docker "* ]]; then
	if ! start_dockerd; then
		log "skipping docker: the private dockerd did not start (log above)"
		CONTENDERS=("${CONTENDERS[@]/docker/}")
	fi
fi
read -r -a CONTENDERS <<<"${CONTENDERS[*]}"

# --- the machine and the tools, for the record --------------------------------

{
	echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
	echo "disk: $(df --output=source,fstype "$BENCH" | tail -1 | tr -s ' ')"
	echo "tar: $(tar --version | head -1)"
	if ((BUILD_HULL)); then
		echo "hull: bin/hull built from $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo unknown)"
	else
		echo "hull: $HULL"
	fi
	for c in "${CONTENDERS[@]}"; do
		case $c in
		docker) echo "docker: daemon $(dk version --format '{{.Server.Version}}' 2>/dev/null), storage driver $(dk info --format '{{.Driver}}' 2>/dev/null)" ;;
		podman) echo "podman: $(podman --version | awk '{ print $3 }'), storage driver overlay" ;;
		esac
	done
} >"$RESULTS/header"
cat "$RESULTS/header" >&2

# --- timing --------------------------------------------------------------------

# Binaries read back into the page cache after dropping it, so no
# contender pays for loading its program from disk.
warm=("$HULL" "$(command -v tar)" "$(command -v sync)")
for t in docker podman; do command -v "$t" >/dev/null && warm+=("$(command -v "$t")"); done

# settle brings every contender to the same start: nothing dirty, the
# page cache empty but for the input and the programs.
settle() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	cat "$1" "${warm[@]}" >/dev/null
}

declare -A FAILED=()

# limit runs a timed command under the timeout. On expiry the command's
# process group gets SIGQUIT, which makes a Go program (hull, the docker
# CLI, podman) print its goroutines into the log, and SIGKILL 10 s later.
limit() {
	timeout --signal=QUIT --kill-after=10 "$TIMEOUT" "$@"
}

# run_one OP CONTENDER ROUND: prepares, times the command and a sync after
# it, cleans up, and appends the seconds to $RESULTS/OP.CONTENDER.
run_one() {
	local op=$1 c=$2 round=$3 input dir logf t0 t1 rc=0
	local key=$op.$c
	[[ -n ${FAILED[$key]:-} ]] && return 0
	if [[ $op == import ]]; then input=$ROOTFS; else input=$ARCHIVE; fi
	dir=$WORK/$c
	logf=$LOGS/$op-$c-$round.log
	remove "$dir"
	mkdir -p "$dir"
	settle "$input"
	t0=$EPOCHREALTIME
	case $op.$c in
	import.floor) limit tar -xf "$ROOTFS" -C "$dir" ;;
	import.hull) limit "$HULL" --root "$dir" image import "$ROOTFS" bench/import:latest ;;
	import.docker) limit docker -H "unix://$DOCKER_SOCK" import "$ROOTFS" bench/import:latest ;;
	import.podman) PODMAN_ROOT=$dir PM_LIMIT=1 pm import -q "$ROOTFS" bench/import:latest ;;
	load.floor)
		# Streamed as a loader would: one read of the archive, each
		# layer.tar piped into its own tar -x.
		# shellcheck disable=SC2016 # expanded by the shell tar starts
		BENCH_FLOOR_DIR=$dir limit tar -xf "$ARCHIVE" --wildcards '*/layer.tar' \
			--to-command='d="${BENCH_FLOOR_DIR:?}/${TAR_FILENAME%/layer.tar}" && mkdir -p "$d" && exec tar -x -C "$d"'
		;;
	load.hull) limit "$HULL" --root "$dir" image load -q -i "$ARCHIVE" ;;
	load.docker) limit docker -H "unix://$DOCKER_SOCK" load -q -i "$ARCHIVE" ;;
	load.podman) PODMAN_ROOT=$dir PM_LIMIT=1 pm load -q -i "$ARCHIVE" ;;
	esac >"$logf" 2>&1 || rc=$?
	sync
	t1=$EPOCHREALTIME
	if ((rc == 0)); then
		check_one "$op" "$c" "$dir" >>"$logf" 2>&1 || rc=$?
	fi
	# Clean up outside the clock.
	case $c in
	docker) dk rmi -f "bench/$op:latest" >>"$logf" 2>&1 || true ;;
	podman) PODMAN_ROOT=$dir pm rmi -a -f >>"$logf" 2>&1 || true ;;
	esac
	remove "$dir"
	if ((rc != 0)); then
		FAILED[$key]=1
		local why="exit $rc"
		((rc == 124 || rc == 137)) && why="timed out after ${TIMEOUT}s"
		log "  $op $c failed ($why); it is left out from now on. Its log, $logf:"
		tail -15 "$logf" | sed 's/^/    /' >&2
		cp "$logf" "$BENCH/failed-$op-$c.log"
		log "  (kept as $BENCH/failed-$op-$c.log)"
		return 0
	fi
	local secs
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	echo "$secs" >>"$RESULTS/$key"
	log "  round $round: $op $c ${secs}s"
}

# check_one makes sure the contender did the work, outside the clock.
check_one() {
	local op=$1 c=$2 dir=$3
	case $c in
	floor)
		local n
		n=$(find "$dir" -type f | wc -l)
		((n > 0)) || { echo "nothing extracted"; return 1; }
		;;
	hull) "$HULL" --root "$dir" image ls | grep -q "^bench/$op " || { echo "bench/$op not listed by hull image ls"; return 1; } ;;
	docker) dk image inspect "bench/$op:latest" >/dev/null ;;
	podman) PODMAN_ROOT=$dir pm image exists "bench/$op:latest" ;;
	esac
}

log "timing ${CONTENDERS[*]} on ${OPS//,/ }, $RUNS runs, interleaved"
for ((r = 1; r <= RUNS; r++)); do
	for op in ${OPS//,/ }; do
		for c in "${CONTENDERS[@]}"; do
			run_one "$op" "$c" "$r"
		done
	done
done

# --- the report ----------------------------------------------------------------

# stats FILE prints median, min and max of the numbers in FILE.
stats() {
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3f %.3f %.3f %d\n", m, v[1], v[NR], NR }'
}

size_of() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.0f MB", b / 1e6 }'; }

missed=0
echo
cat "$RESULTS/header"
for op in ${OPS//,/ }; do
	if [[ $op == import ]]; then
		what="import of a root file system tar ($(size_of "$ROOTFS"), $(grep -o '[0-9]* files' "$INPUTS/summary" | head -1))"
	else
		what="load of a docker-archive ($(size_of "$ARCHIVE"), $(grep -c '^  layer' "$INPUTS/summary") layers)"
	fi
	echo
	echo "== $op: $what; $RUNS runs"
	printf '%-8s %9s %9s %9s %9s\n' contender median min max "x floor"
	floor=""
	[[ -s $RESULTS/$op.floor ]] && floor=$(stats "$RESULTS/$op.floor" | cut -d' ' -f1)
	hullsum="" others=""
	for c in "${CONTENDERS[@]}"; do
		if [[ -n ${FAILED[$op.$c]:-} ]]; then
			printf '%-8s %9s\n' "$c" failed
			continue
		fi
		[[ -s $RESULTS/$op.$c ]] || continue
		read -r med lo hi n < <(stats "$RESULTS/$op.$c")
		ratio=$(awk -v m="$med" -v f="$floor" 'BEGIN { if (f > 0) printf "%.2f", m / f; else printf "-" }')
		printf '%-8s %9s %9s %9s %8sx\n' "$c" "$med" "$lo" "$hi" "$ratio"
		case $c in
		hull)
			verdict=$(awk -v r="$ratio" -v g="$GOAL" 'BEGIN { print (r + 0 <= g) ? "met" : "missed" }')
			[[ $verdict == missed ]] && missed=1
			hullsum="hull ${ratio}x floor (goal ≤ ${GOAL}x: $verdict)"
			;;
		docker | podman) others+="${others:+, }$c ${ratio}x" ;;
		esac
	done
	if [[ -n $hullsum$others ]]; then
		echo "$op: ${hullsum:-hull not timed}${others:+; $others}"
	fi
done
for k in "${!FAILED[@]}"; do
	echo "failed: ${k/./ } (log kept in $BENCH/failed-${k/./-}.log)"
done

if [[ -n ${FAILED[import.hull]:-}${FAILED[load.hull]:-} ]]; then
	exit 1 # hull was not measured
fi
if ((CHECK && missed)); then
	exit 1
fi
