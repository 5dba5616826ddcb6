#!/usr/bin/env bash
# Shows that hack/setup.sh's Go part works on a truly fresh Debian machine:
# a new Debian root file system (debootstrap, minbase: no Go at all, no
# /usr/local/go), a fresh clone of this repository's HEAD in it, and there,
# chrooted, hack/lib.sh's install_packages (the Debian packages, then
# find_go: Debian's golang-go, which bootstraps the Go that go.mod asks for
# from the Go module proxy) and build_hull; then find_go once more, which
# must find that Go and download nothing. Prints "go-bootstrap: ok".
#
# Run it only when asked, as root: it downloads a Debian system, Debian's Go
# and a Go toolchain (some 300 MB) and takes minutes, so neither
# hack/test.sh nor CI runs it. It leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

need_root
if ! command -v debootstrap >/dev/null; then
  step "apt-get install debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; }
fi
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
root=$(mktemp -d /var/tmp/hull-gobootstrap.XXXXXX)
cleanup() {
  local m
  # Everything mounted under the new root is unmounted before it is
  # removed; if anything stays mounted, nothing is removed.
  for m in $(findmnt -rn -o TARGET | grep "^$root/" | sort -r); do umount -l "$m" || true; done
  if findmnt -rn -o TARGET | grep -q "^$root/"; then
    echo "still mounted under $root: not removed" >&2
    return
  fi
  rm -rf "$root"
}
trap cleanup EXIT

step "debootstrap --variant=minbase $suite $root"
if ! debootstrap --variant=minbase "$suite" "$root" >"$root.log" 2>&1; then
  tail -n 20 "$root.log"; rm -f "$root.log"; exit 1
fi
rm -f "$root.log"
mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The certificate authorities this machine adds to Debian's (a network that
# reaches the registries through a proxy of its own has one): the
# ca-certificates package installed in the new root takes them in, as it
# did here.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
git clone -q --no-hardlinks "$PWD" "$root/root/hull"
echo "clone of $(git rev-parse --short HEAD) at $root/root/hull"

# The machine's own environment is left outside but for the proxy settings
# (the Go module proxy and Debian's packages are reached the way this
# machine reaches them).
envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
for v in GOPROXY GOSUMDB http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY; do
  [ -z "${!v:-}" ] || envs+=("$v=${!v}")
done
# shellcheck disable=SC2016 # the script runs in the new root, and expands there
chroot "$root" /usr/bin/env -i "${envs[@]}" /bin/bash -c '
set -euo pipefail
cd /root/hull
. hack/lib.sh
echo "before: go on PATH: $(command -v go || echo none); /usr/local/go: $(ls -d /usr/local/go 2>/dev/null || echo absent); $HULL_GO_DIR: $(ls -d "$HULL_GO_DIR" 2>/dev/null || echo absent)"
install_packages
echo "find_go chose: $(command -v go): $(go version)"
build_hull
ls -l bin
go version bin/hull bin/hull-shim bin/hull-monitor
bin/hull --help | sed -n 1p
step "find_go again, in a new shell: the bootstrapped Go, nothing downloaded"
bash -c ". hack/lib.sh && find_go && command -v go && go version" >/tmp/again.log 2>&1 || { cat /tmp/again.log; exit 1; }
cat /tmp/again.log
if grep -q "bootstrap Go" /tmp/again.log; then echo "find_go bootstrapped Go a second time" >&2; exit 1; fi
want=$(go_required)
grep -qx "$HULL_GO_DIR/go$want/bin/go" /tmp/again.log
step "GOSUMDB=off: refused before anything is downloaded"
if (GOSUMDB=off HULL_GO_DIR=/tmp/refused bootstrap_go "$want") >/tmp/off.log 2>&1 || [ -e /tmp/refused ]; then
  cat /tmp/off.log; echo "bootstrap_go went on with GOSUMDB=off" >&2; exit 1
fi
cat /tmp/off.log
echo "debian go: $(/usr/bin/go version); installed: $(du -sh "$HULL_GO_DIR" | cut -f1) in $HULL_GO_DIR"
ls "$HULL_GO_DIR"
'
echo "go-bootstrap: ok"
