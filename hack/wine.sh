#!/usr/bin/env bash
# Runs the Windows build's tests as Windows programs under Wine: every
# package's test binary, cross-compiled (GOOS=windows go test -c), runs
# under wine64 in its package's folder (its testdata), with hull.exe
# (HULL_TEST_HULL_EXE: cmd/hull's tests start it) and the docker CLI for
# Windows (HULL_TEST_DOCKER_EXE, built once: install_docker_windows in
# hack/lib.sh; internal/daemon's tests drive the daemon with it). Prints, per
# package, what passed, failed and was skipped (each skip with its reason),
# then a summary line; exits 1 if a test failed.
#
# Needs wine64 and the mingw-w64 C cross compiler (install_wine in
# hack/lib.sh); without them it compiles the test binaries, says so and
# exits 0. Wine 8.0 lacks
# ProcessPrng (bcryptprimitives.dll), which Go 1.24 and later need to
# start: hack/wine/bcryptprimitives.c is built into the Wine prefix's
# system32. The prefix is made once and kept in $HULL_WINE_CACHE
# (/var/tmp/hull-wine), keyed by Wine's version and that C file.
#
#   bash hack/wine.sh [PACKAGE...]   # default: every package with tests
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

WINE=$(command -v wine64 || true)
[ -n "$WINE" ] || [ ! -x /usr/lib/wine/wine64 ] || WINE=/usr/lib/wine/wine64
WINESERVER=$(command -v wineserver || true)
[ -n "$WINESERVER" ] || [ ! -x /usr/lib/wine/wineserver ] || WINESERVER=/usr/lib/wine/wineserver
CC_WIN=$(command -v x86_64-w64-mingw32-gcc || true)
find_go
start=$(date +%s)

step "wine: GOOS=windows go test -c of every package with tests, and hull.exe"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mapfile -t pkgs < <(GOOS=windows go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "${@:-./...}")
GOOS=windows go build -o "$out/hull.exe" ./cmd/hull
module=$(go list -m)
for pkg in "${pkgs[@]}"; do
  rel=${pkg#"$module"}
  name=$(echo "${rel#/}" | tr / _)
  GOOS=windows go test -c -o "$out/${name:-root}.test.exe" "$pkg"
done

built=$(date +%s)
if [ -z "$WINE" ] || [ -z "$WINESERVER" ] || [ -z "$CC_WIN" ]; then
  echo "wine: skipped: wine64 or x86_64-w64-mingw32-gcc is not installed (Debian: wine64 gcc-mingw-w64-x86-64-win32); the test binaries compile"
  exit 0
fi

# The prefix: made once (wineboot, ~15 s), without an X display (Wine
# needs none for console programs).
cache=${HULL_WINE_CACHE:-/var/tmp/hull-wine}
key=$({ "$WINE" --version; cat hack/wine/bcryptprimitives.c hack/wine/bcryptprimitives.def; } | sha256sum | cut -c1-12)
export WINEPREFIX="$cache/prefix-$key" WINEDEBUG=-all WINEDLLOVERRIDES="bcryptprimitives=n"
unset DISPLAY WAYLAND_DISPLAY
if [ ! -e "$WINEPREFIX/.hull-ready" ]; then
  step "wine: make the prefix $WINEPREFIX ($("$WINE" --version)) with bcryptprimitives.dll from hack/wine"
  rm -rf "$cache"/prefix-*
  mkdir -p "$WINEPREFIX"
  "$CC_WIN" -shared -O2 -s -o "$cache/bcryptprimitives.dll" \
    hack/wine/bcryptprimitives.c hack/wine/bcryptprimitives.def -lbcrypt
  "$WINE" wineboot -i >/dev/null 2>&1 || true
  "$WINESERVER" -w
  cp "$cache/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
  rm -f "$cache/bcryptprimitives.dll"
  touch "$WINEPREFIX/.hull-ready"
fi

install_docker_windows || echo "wine: the docker CLI for Windows could not be built: TestWindowsDockerCLIOnNamedPipe will say so and skip"

cleanup() {
  "$WINESERVER" -k 2>/dev/null || true
  rm -rf "$out" "$WINEPREFIX"/drive_c/users/*/Temp/* "$WINEPREFIX/drive_c/ProgramData/hull"
}
trap cleanup EXIT
step "wine: the test binaries under $("$WINE" --version)"
"$WINE" cmd /c ver >/dev/null 2>&1 || true # starts wineserver once, ahead of the tests
total_pass=0 total_fail=0 total_skip=0 failed=()
for pkg in "${pkgs[@]}"; do
  rel=${pkg#"$module"}
  rel=${rel#/}
  name=$(echo "$rel" | tr / _)
  exe="$out/${name:-root}.test.exe"
  log="$out/${name:-root}.log"
  rc=0
  # A clean environment: the Linux side's HULL_TEST_* point at Linux programs.
  (cd "./$rel" && env -i PATH=/usr/bin:/bin HOME="${HOME:-/root}" USER="${USER:-root}" WINEPREFIX="$WINEPREFIX" \
    WINEDEBUG=-all WINEDLLOVERRIDES="$WINEDLLOVERRIDES" HULL_TEST_HULL_EXE="Z:${out//\//\\}\\hull.exe" ${HULL_TEST_DOCKER_EXE:+HULL_TEST_DOCKER_EXE="Z:${HULL_TEST_DOCKER_EXE//\//\\}"} \
    timeout -k 10 300 "$WINE" "$exe" -test.v -test.timeout 240s) >"$log" 2>&1 || rc=$?
  pass=$(grep -cE '^\s*--- PASS' "$log" || true)
  fail=$(grep -cE '^\s*--- FAIL' "$log" || true)
  skip=$(grep -cE '^\s*--- SKIP' "$log" || true)
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
  printf 'wine: %-28s %3d passed, %d failed, %2d skipped%s\n' "${rel:-.}" "$pass" "$fail" "$skip" "$([ "$rc" -eq 124 ] && echo ' (timed out)')"
  # The skips' reasons (the last line each skipped test printed), with how
  # many tests gave each.
  awk '/^=== (RUN|NAME|CONT) / { cur = $3; next }
    /^[[:space:]]+[^ ]+_test\.go:[0-9]+: / && cur != "" { r = $0; sub(/^[[:space:]]+[^ ]+_test\.go:[0-9]+: /, "", r); last[cur] = r }
    /^[[:space:]]*--- SKIP: / { n[last[$3]]++ }
    END { for (r in n) printf "      skipped %3d: %s\n", n[r], r }' "$log" | sort -k3
  # What hull.exe, the named pipe and docker.exe answered (cmd/hull's
  # exe_windows_test.go, internal/daemon's windows_cli_windows_test.go).
  grep -E '^[[:space:]]+(exe|windows_cli)_windows_test\.go:[0-9]+: (hull\.exe|under Wine, hull\.exe|_ping|version on|docker\.exe)' "$log" | sed 's/^[[:space:]]*/      /' || true
  if [ "$rc" -ne 0 ]; then
    failed+=("${rel:-.}")
    # What the failing tests printed: the lines but the runner's and the skips'.
    awk '/^[[:space:]]*--- SKIP: / { held = ""; next } held != "" { print held } { held = "" }
      /^(=== (RUN|PAUSE|CONT|NAME)|[[:space:]]*--- PASS|PASS$|ok[[:space:]])/ { next } { held = $0 }
      END { if (held != "") print held }' "$log" | head -60 | sed 's/^/      /'
  fi
  total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail)) total_skip=$((total_skip + skip))
done
echo "wine: ${#pkgs[@]} packages as Windows programs: $total_pass passed, $total_fail failed, $total_skip skipped ($((built - start)) s to build, $(($(date +%s) - built)) s under Wine)"
[ ${#failed[@]} -eq 0 ] || { echo "wine: failed: ${failed[*]}"; exit 1; }
