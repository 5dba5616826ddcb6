#!/usr/bin/env bash
# The container-start benchmark of hull: `hull runtime run` of `true` beside
# `runc run` (Debian's runc) on the same bundle, interleaved, once without
# seccomp (runc spec's default) and once with Docker's default profile (the
# config.json `hull runtime spec` writes). Prints medians and ratios.
#
#   bash bench/start.sh [-n 20] [--no-install] [--hull PATH]
#
# It needs root; it leaves nothing behind under its work folder.
set -euo pipefail

RUNS=20
INSTALL=1
HULL=
while (($#)); do
	case $1 in
	-n) RUNS=${2:?-n needs a number}; shift 2 ;;
	--no-install) INSTALL=0; shift ;;
	--hull) HULL=${2:?--hull needs a path}; shift 2 ;;
	-h | --help) sed -n '2,9p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.."
. hack/lib.sh
need_root
install_packages
if [ -z "$HULL" ]; then
	build_hull
	HULL=bin/hull
fi
if ! command -v runc >/dev/null && [ "$INSTALL" = 1 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q runc >/dev/null
fi
RUNC=$(command -v runc || true)

work=$(mktemp -d /var/tmp/hull-start-bench.XXXXXX)
cleanup() {
	for id in $("$HULL" runtime --root "$work/hull-state" list -q 2>/dev/null); do
		"$HULL" runtime --root "$work/hull-state" delete --force "$id" >/dev/null 2>&1 || true
	done
	[ -n "$RUNC" ] && for id in $("$RUNC" --root "$work/runc-state" list -q 2>/dev/null); do
		"$RUNC" --root "$work/runc-state" delete --force "$id" >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# A bundle per profile, on the same busybox-static root file system.
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev"
cp /bin/busybox "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/true"
ln -s busybox "$work/rootfs/bin/sh"
for profile in noseccomp seccomp; do
	b="$work/$profile"
	mkdir -p "$b"
	cp -a "$work/rootfs" "$b/rootfs"
	if [ "$profile" = noseccomp ]; then
		"$RUNC" spec --bundle "$b" 2>/dev/null || "$HULL" runtime spec --bundle "$b"
		jq 'del(.linux.seccomp)' "$b/config.json" >"$b/c" && mv "$b/c" "$b/config.json"
	else
		"$HULL" runtime spec --bundle "$b"
	fi
	jq '.process.args = ["/bin/true"] | .process.terminal = false | .root.path = "rootfs"' "$b/config.json" >"$b/c"
	mv "$b/c" "$b/config.json"
done

now() { date +%s%N; }
declare -A times
time_one() { # KEY CMD...
	local key=$1 t0 t1
	shift
	t0=$(now)
	"$@" >/dev/null 2>"$work/err" || { echo "$key failed:"; cat "$work/err"; exit 1; }
	t1=$(now)
	times[$key]+="$(((t1 - t0) / 1000)) "
}

echo "hull: $HULL ($(git rev-parse --short HEAD 2>/dev/null))"
[ -n "$RUNC" ] && echo "runc: $("$RUNC" --version | head -1)"
for profile in noseccomp seccomp; do
	b="$work/$profile"
	for i in $(seq "$RUNS"); do
		time_one "$profile hull" "$HULL" runtime --root "$work/hull-state" run -b "$b" "h$i-$profile"
		"$HULL" runtime --root "$work/hull-state" delete --force "h$i-$profile" >/dev/null 2>&1 || true
		if [ -n "$RUNC" ]; then
			time_one "$profile runc" "$RUNC" --root "$work/runc-state" run -b "$b" "r$i-$profile"
			"$RUNC" --root "$work/runc-state" delete --force "r$i-$profile" >/dev/null 2>&1 || true
		fi
	done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '\n%-12s %-10s %10s %10s %10s\n' profile contender "median ms" "min ms" "x runc"
for profile in noseccomp seccomp; do
	base=
	[ -n "${times[$profile runc]:-}" ] && base=$(echo "${times[$profile runc]}" | median)
	for c in runc hull; do
		[ -n "${times[$profile $c]:-}" ] || continue
		m=$(echo "${times[$profile $c]}" | median)
		mn=$(echo "${times[$profile $c]}" | tr ' ' '\n' | grep . | sort -n | head -1)
		ratio=-
		[ -n "$base" ] && ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2fx", a/b}')
		printf '%-12s %-10s %10.1f %10.1f %10s\n' "$profile" "$c" "$(awk -v a="$m" 'BEGIN{print a/1000}')" "$(awk -v a="$mn" 'BEGIN{print a/1000}')" "$ratio"
	done
done
