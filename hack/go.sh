# shellcheck shell=bash
# Finding the Go that builds hull, and bootstrapping it on a machine that has
# only an older Go (Debian's golang-go is 1.19 on bookworm). Sourced by
# hack/lib.sh; its find_go is what hack/setup.sh and hack/test.sh call.
#
# The bootstrap uses no download site but the Go module proxy: the old go
# command downloads the module golang.org/toolchain@v0.0.1-goX.Y.Z.OS-ARCH
# (the same module a new go command takes when GOTOOLCHAIN switches it),
# checks its hash against the checksum database as for any module, and the
# module's folder is a GOROOT once bin/ and pkg/tool/ are executable again
# (module zips keep no file modes).

# HULL_GO_DIR holds the bootstrapped toolchains, one GOROOT per version
# (go1.26.8/bin/go …). Not /usr/local/go: that is where Go's own archive
# and this project's machines put a Go installed by hand, and a script that
# wrote there could clobber one, or be clobbered by one; a folder of hull's
# own keeps the two apart and lets a newer go.mod add a version beside the
# old one.
HULL_GO_DIR=${HULL_GO_DIR:-/usr/local/lib/hull-go}
HULL_SRC=${HULL_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# go_required prints the Go version hull's go.mod asks for: its toolchain
# line if it has one, else its go line (1.26.8).
go_required() {
  local v
  v=$(sed -n 's/^toolchain go\([0-9][^ ]*\)$/\1/p' "$HULL_SRC/go.mod")
  [ -n "$v" ] || v=$(sed -n 's/^go \([0-9][^ ]*\)$/\1/p' "$HULL_SRC/go.mod")
  echo "$v"
}

# go_version_of GO prints the version of the go binary GO itself (1.19.8),
# not of a toolchain it would switch to; nothing if it does not run.
go_version_of() {
  GOTOOLCHAIN=local "$1" version 2>/dev/null | sed -n 's/^go version go\([0-9][^ ]*\) .*/\1/p'
}

# version_at_least HAVE WANT: whether Go version HAVE is WANT or newer.
version_at_least() {
  [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# find_go puts first on PATH a Go at least as new as go.mod asks for: the go
# on PATH, /usr/local/go, or one bootstrapped before in $HULL_GO_DIR, in
# that order; failing those, it bootstraps one (bootstrap_go).
find_go() {
  export PATH="$PATH:$HOME/go/bin"
  local want cand
  want=$(go_required)
  for cand in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go "$HULL_GO_DIR/go$want/bin/go"; do
    if [ -x "$cand" ] && version_at_least "$(go_version_of "$cand")" "$want"; then
      use_go "$cand"
      return 0
    fi
  done
  bootstrap_go "$want" || { echo "hull needs Go $want or newer, and bootstrapping it failed" >&2; return 1; }
  use_go "$HULL_GO_DIR/go$want/bin/go"
}

# use_go GO makes GO the go that `go` runs.
use_go() {
  local bin
  bin=$(dirname "$1")
  [ "$(command -v go 2>/dev/null)" = "$1" ] || export PATH="$bin:$PATH"
}

# bootstrap_go VERSION installs Go VERSION in $HULL_GO_DIR/goVERSION with the
# go command the machine has (Debian's golang-go, installed if there is no go
# at all). Idempotent: a complete install is never downloaded again, and a
# half-made one is never left where find_go looks.
bootstrap_go() {
  local want=$1 dest="$HULL_GO_DIR/go$1" old=
  if [ "${GOSUMDB:-}" = off ]; then
    echo "bootstrapping Go needs the checksum database: GOSUMDB=off is set" >&2
    return 1
  fi
  old=$(command -v go 2>/dev/null || true)
  if [ -z "$old" ] && [ -x /usr/local/go/bin/go ]; then old=/usr/local/go/bin/go; fi
  if [ -z "$old" ]; then
    step "apt-get install golang-go (Debian's Go, to bootstrap Go $want)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q golang-go >/dev/null ||
      { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q golang-go >/dev/null; }
    old=$(command -v go)
  fi
  local os arch
  os=$(GOTOOLCHAIN=local "$old" env GOHOSTOS)
  arch=$(GOTOOLCHAIN=local "$old" env GOHOSTARCH)
  [ "$arch" != arm ] || arch=armv6l # the toolchain module's name for GOARM=6 builds
  local mod="golang.org/toolchain@v0.0.1-go$want.$os-$arch"
  step "bootstrap Go $want: go $(go_version_of "$old") ($old) downloads $mod from the Go module proxy, checked against the checksum database, into $dest"
  local tmp
  tmp=$(mktemp -d)
  # A module of its own, so that an old go reads no go.mod it cannot parse;
  # a module cache of its own, so that nothing downloaded before is trusted
  # and nothing downloaded is left behind; GOENV=off and no GONOSUMDB,
  # GONOSUMCHECK, GOPRIVATE or GOINSECURE, so that nothing skips the
  # checksum database.
  printf 'module hull.invalid/gobootstrap\n' >"$tmp/go.mod"
  if ! (cd "$tmp" && env GOTOOLCHAIN=local GOENV=off GOFLAGS=-mod=mod GOPATH="$tmp/gopath" \
    GOMODCACHE="$tmp/cache" GONOSUMDB= GONOSUMCHECK= GOPRIVATE= GONOPROXY= GOINSECURE= \
    "$old" mod download -json "$mod" >"$tmp/download.json"); then
    cat "$tmp/download.json" >&2
    go_bootstrap_clean "$tmp"
    return 1
  fi
  local dir sum lookup
  dir=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' "$tmp/download.json")
  sum=$(sed -n 's/^\t"Sum": "\(.*\)",$/\1/p' "$tmp/download.json")
  # go mod download has checked the zip against the checksum database (the
  # module is in no go.sum); its signed answer is kept in the cache: that the
  # hash it gave is the hash of the zip is checked here once more.
  lookup=$(find "$tmp/cache/cache/download/sumdb" -path "*/lookup/$mod" 2>/dev/null | head -n1)
  if [ -z "$dir" ] || [ -z "$sum" ] || [ -z "$lookup" ] ||
    ! grep -qxF "${mod%@*} ${mod#*@} $sum" "$lookup"; then
    echo "go mod download $mod: no module folder, or a hash the checksum database did not give" >&2
    cat "$tmp/download.json" >&2
    go_bootstrap_clean "$tmp"
    return 1
  fi
  echo "$mod $sum, as the checksum database's record $(head -n1 "$lookup") says"
  mkdir -p "$HULL_GO_DIR"
  rm -rf "$dest.new"
  local rc=0
  cp -R "$dir" "$dest.new" && chmod -R u+w,go-w,a+rX "$dest.new" &&
    chmod a+x "$dest.new"/bin/* "$dest.new"/pkg/tool/*/* || rc=$?
  go_bootstrap_clean "$tmp"
  [ $rc -eq 0 ] || { rm -rf "$dest.new"; return $rc; }
  local got
  got=$(go_version_of "$dest.new/bin/go")
  if [ "$got" != "$want" ]; then
    echo "$dest.new/bin/go version says '$got', not $want" >&2
    rm -rf "$dest.new"
    return 1
  fi
  rm -rf "$dest"
  mv "$dest.new" "$dest"
  echo "installed: $("$dest/bin/go" version) at $dest"
}

# go_bootstrap_clean DIR removes a bootstrap's temporary folder (the module
# cache in it is read-only).
go_bootstrap_clean() {
  chmod -R u+w "$1" 2>/dev/null || true
  rm -rf "$1"
}
