#!/bin/bash
# Runs the OCI runtime-tools validation suite against hull (`hull runtime`)
# and, for comparison, Debian's runc; prints a table of ok/fail/skip per test.
#
#   bench/runtime-tools/run.sh [TEST...]      (as root; TEST like `create` or `linux_cgroups_pids`)
#
# Environment:
#   WORK=/var/tmp/rtt        scratch folder (runtime-tools source, test binaries, TAP logs)
#   RTT_VERSION=v0.9.0       runtime-tools version (the only tag on the Go module proxy)
#   TIMEOUT=60               per-test timeout in seconds
#   RUNTIMES="hull runc"     columns to run: hull (the default init choice), hull-lean
#                            (HULL_INIT=lean: hull's own init or fail), hull-libcontainer
#                            (HULL_INIT=libcontainer), runc
#   STATX_PATCH=1            add statx to runtime-tools' default seccomp allowlist (README.md)
#   SKIP_BUILD=1             reuse the binaries of a previous run
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/var/tmp/rtt}
RTT_VERSION=${RTT_VERSION:-v0.9.0}
TIMEOUT=${TIMEOUT:-60}
RUNTIMES=${RUNTIMES:-"hull runc"}
STATX_PATCH=${STATX_PATCH:-1}
SRC=$WORK/src
OUT=$WORK/results
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

die() { echo "run.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

build_suite() {
	echo "== fetching github.com/opencontainers/runtime-tools@$RTT_VERSION" >&2
	local dir
	dir=$(cd /tmp && GOFLAGS= go mod download -json "github.com/opencontainers/runtime-tools@$RTT_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || die "go mod download failed"
	[ -d "$dir" ] || die "no module dir for runtime-tools@$RTT_VERSION"
	rm -rf "$SRC" && mkdir -p "$WORK" && cp -r "$dir" "$SRC" && chmod -R u+w "$SRC" || die "copy failed"
	(
		cd "$SRC" || exit 1
		export GOFLAGS=-mod=mod
		# v0.9.0 predates Go modules (Godeps); pin the two dependencies whose
		# newer APIs it does not compile against, let tidy pick the rest.
		if [ ! -f go.mod ]; then go mod init github.com/opencontainers/runtime-tools 2>/dev/null || exit 1; fi
		go get github.com/opencontainers/runtime-spec@v1.0.2 github.com/opencontainers/selinux@v1.0.0 >/dev/null 2>&1 || exit 1
		go mod tidy >/dev/null 2>&1 || exit 1
		if [ "$STATX_PATCH" = 1 ] && ! grep -q '"statx"' generate/seccomp/seccomp_default.go; then
			sed -i 's/^\(\t*\)"statfs",$/&\n\1"statx",/' generate/seccomp/seccomp_default.go || exit 1
			grep -q '"statx"' generate/seccomp/seccomp_default.go || exit 1
		fi
		echo "== building runtimetest (static) and validation/*.t" >&2
		CGO_ENABLED=0 go build -installsuffix cgo -o runtimetest ./cmd/runtimetest || exit 1
		for f in $(find ./validation/ -name '*.go' | grep -v /util/ | sort); do
			go build -o "${f%.go}.t" "$f" || exit 1
		done
	) || die "building runtime-tools failed"
}

build_hull() {
	echo "== building hull" >&2
	(cd "$REPO" && export GOFLAGS=-tags=seccomp CGO_ENABLED=1 &&
		go build -o bin/hull ./cmd/hull &&
		go build -tags seccomp,netgo,osusergo -ldflags=-extldflags=-static -o bin/hull-shim ./cmd/hull-shim &&
		CGO_ENABLED=0 go build -o bin/hull-monitor ./cmd/hull-monitor &&
		CGO_ENABLED=0 go build -ldflags="-s -w" -o bin/hull-init ./cmd/hull-init) || die "building hull failed"
}

# wrapper NAME -> the RUNTIME command and its environment
runtime_env() {
	case "$1" in
	hull) echo "HULL_BIN=$REPO/bin/hull HULL_RTT_ROOT=/run/hull/rtt $HERE/hull-runtime" ;;
	hull-lean) echo "HULL_INIT=lean HULL_BIN=$REPO/bin/hull HULL_RTT_ROOT=/run/hull/rtt-lean $HERE/hull-runtime" ;;
	hull-libcontainer) echo "HULL_INIT=libcontainer HULL_BIN=$REPO/bin/hull HULL_RTT_ROOT=/run/hull/rtt-lc $HERE/hull-runtime" ;;
	runc) echo "RUNC_RTT_ROOT=/run/hull/rtt-runc $HERE/runc-runtime" ;;
	*) die "unknown runtime $1" ;;
	esac
}

# Remove whatever a test left behind: containers under the suite's roots,
# bundles in /tmp, helper processes (unshare ... sleep 10000 of linux_ns_*).
cleanup() {
	local rt=$1 env cmd id
	env=$(runtime_env "$rt")
	cmd=${env##* }
	for id in $(env ${env% *} "$cmd" list 2>/dev/null | awk 'NR>1{print $1}'); do
		env ${env% *} "$cmd" delete --force "$id" >/dev/null 2>&1
	done
	# linux_rootfs_propagation makes the rootfs shared, so the container's
	# proc, dev and sys mounts propagate back under /tmp/ocitest*: unmount
	# them before anything is removed, and never cross into a mount.
	local d
	for d in /tmp/ocitest*; do
		[ -e "$d" ] || continue
		umount -R "$d" 2>/dev/null
		rm -rf --one-file-system "$d" 2>/dev/null
	done
	# The relative cgroup tests name cgroupsPath testdir/cgrouptest; a
	# runtime removes the leaf it made, the parent is the suite's.
	for d in /sys/fs/cgroup/*/testdir; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
}

count() { # TAP file -> "ok fail skip"
	awk '
		/^ok [0-9]+/ { if (tolower($0) ~ /# skip/) s++; else o++; next }
		/^not ok [0-9]+/ { if (tolower($0) ~ /# skip/) s++; else f++; next }
		END { printf "%d %d %d\n", o, f, s }' "$1"
}

run_suite() {
	local rt=$1 t name log env rc
	env=$(runtime_env "$rt")
	mkdir -p "$OUT/$rt"
	cd "$SRC" || die "no $SRC"
	for t in "${TESTS[@]}"; do
		name=$(basename "$t" .t)
		log=$OUT/$rt/$name.tap
		echo "== $rt: $name" >&2
		env ${env% *} RUNTIME="${env##* }" timeout -k 5 "$TIMEOUT" "./$t" >"$log" 2>"$OUT/$rt/$name.err"
		rc=$?
		echo "# exit status $rc" >>"$OUT/$rt/$name.err"
		read -r o f s < <(count "$log")
		# A program that dies (or times out) before its plan is complete counts as one failure.
		# The *_fail programs print no TAP and exit 0 when the runtime rightly refused the config.
		if [ $((o + f + s)) = 0 ] && [ "$rc" = 0 ] && [[ $name == *_fail ]] && ! grep -q 'MUST' "$log" "$OUT/$rt/$name.err"; then
			o=1; echo "ok - runtime refused the invalid config (no TAP, exit 0)" >>"$log"
		elif [ $((o + f + s)) = 0 ] || [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			[ "$rc" = 0 ] && [ $((o + f + s)) = 0 ] && rc=empty
			f=$((f + 1))
			echo "not ok - test program exited with status $rc (see $name.err)" >>"$log"
		fi
		echo "$name $o $f $s" >>"$OUT/$rt/summary"
		cleanup "$rt"
	done
}

[ "${SKIP_BUILD:-0}" = 1 ] || { build_suite; build_hull; }
[ -x "$SRC/runtimetest" ] || die "suite not built"
[ -x /usr/sbin/runc ] || RUNTIMES=${RUNTIMES//runc/}

cd "$SRC" || exit 1
if [ $# -gt 0 ]; then
	TESTS=()
	for n in "$@"; do TESTS+=("validation/$n/$n.t"); done
else
	mapfile -t TESTS < <(find validation -name '*.t' | sort)
fi

mkdir -p "$OUT"
for rt in $RUNTIMES; do
	rm -rf "${OUT:?}/$rt"
	run_suite "$rt"
done

# table
{
	printf '%-36s' test
	for rt in $RUNTIMES; do printf ' | %-16s' "$rt ok/fail/skip"; done
	echo
	declare -A tot
	for t in "${TESTS[@]}"; do
		name=$(basename "$t" .t)
		printf '%-36s' "$name"
		for rt in $RUNTIMES; do
			read -r _ o f s < <(grep "^$name " "$OUT/$rt/summary")
			printf ' | %-16s' "$o/$f/$s"
			tot[$rt.o]=$((${tot[$rt.o]:-0} + o)); tot[$rt.f]=$((${tot[$rt.f]:-0} + f)); tot[$rt.s]=$((${tot[$rt.s]:-0} + s))
			[ "$f" = 0 ] && tot[$rt.p]=$((${tot[$rt.p]:-0} + 1))
		done
		echo
	done
	printf '%-36s' "TOTAL (${#TESTS[@]} programs)"
	for rt in $RUNTIMES; do printf ' | %-16s' "${tot[$rt.o]:-0}/${tot[$rt.f]:-0}/${tot[$rt.s]:-0}"; done
	echo
	printf '%-36s' "programs without a failure"
	for rt in $RUNTIMES; do printf ' | %-16s' "${tot[$rt.p]:-0}/${#TESTS[@]}"; done
	echo
} | tee "$OUT/table.txt"
echo "TAP output per test: $OUT/<runtime>/<test>.tap (stderr in .err)" >&2
# The runtimes' state roots are empty now: leave no trace under /run/hull.
rm -rf /run/hull/rtt /run/hull/rtt-runc /run/hull/rtt-lean /run/hull/rtt-lc
rmdir /run/hull 2>/dev/null || true
