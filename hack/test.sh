#!/usr/bin/env bash
# Runs hull's checks and tests: gofmt, go vet (Linux and Windows), the
# Windows build, the Windows test binaries under Wine, and every Go test, for real (as root: overlayfs mounts,
# a registry on loopback, the conformance harness beside a private dockerd). Prints the
# runner's summary line and the conformance harness's verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

need_root
# bzip2, xz-utils and zstd: the conformance harness sends archives compressed each way.
install_packages docker.io docker-registry bzip2 xz-utils zstd containernetworking-plugins
# docker compose v2, for TestComposeOnHull (built once from the Go module proxy)
install_compose
install_buildx || echo "buildx could not be built: TestBuildxOnHull will say so and skip"
install_crictl || echo "crictl could not be built: TestCRIWithCrictl will say so and skip"
install_critest || echo "critest could not be built: TestCritest will say so and skip"
install_kubelet || echo "kubelet could not be built: TestKubeletOnHull will say so and skip"

step "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "not gofmt'd: $bad"; exit 1; fi
step "go vet (linux, windows) and the Windows build"
go vet ./...
GOOS=windows go vet ./...
GOOS=windows go build ./...
# Every package's test binary compiles for Windows, and runs as a Windows
# program under Wine (hack/wine.sh; without Wine it says so and goes on).
install_wine || echo "wine: wine64 could not be installed: the Windows tests will not run under Wine"
winerc=0
bash hack/wine.sh || winerc=$?

step "fuzz: each target for 2s (bench/fuzz.sh runs them longer)"
fuzzrc=0
bash bench/fuzz.sh 2s || fuzzrc=$?

step "go test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
go test -count=1 -timeout 20m -v ./... 2>&1 | tee "$log" | grep -E '^(=== RUN|--- FAIL|FAIL|ok|panic:)|^\s+\S+_test\.go:[0-9]+' | grep -v '^=== RUN'
rc=${PIPESTATUS[0]}
set -e
# The conformance harness (test/conformance): its verdict, and the
# differences of any failure known.txt does not list.
grep -E '^conformance:' "$log" || echo "conformance: did not run (it needs root and dockerd)"
pass=$(grep -cE '^\s*--- PASS' "$log" || true)
fail=$(grep -cE '^\s*--- FAIL' "$log" || true)
skip=$(grep -cE '^\s*--- SKIP' "$log" || true)
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
  grep -E 'FAIL|panic|cannot|error' "$log" | head -40
  fail=1
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$rc" -ne 0 ] || rc=$fuzzrc
[ "$rc" -ne 0 ] || rc=$winerc
exit "$rc"
