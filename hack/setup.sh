#!/usr/bin/env bash
# Installs what hull needs on a Debian machine (idempotent), builds hull,
# and runs the main job: import an image made from Debian's busybox-static
# and show its layer chain, with a scratch layer mounted on top of it.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

need_root
install_packages
build_hull

state=$(mktemp -d /tmp/hull-quickstart.XXXXXX)
trap 'bin/hull layer unmount "$state/scratch" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT
root="$state/root"

step "make a docker save tarball of two layers from /bin/busybox"
make_two_layer_archive "$state/busybox.tar"

step "hull image load -i busybox.tar; hull image import rootfs.tar busybox:imported"
bin/hull --root "$root" image load -q -i "$state/busybox.tar"
make_busybox_rootfs_tar "$state/rootfs.tar"
bin/hull --root "$root" image import --change 'CMD ["/bin/sh"]' "$state/rootfs.tar" busybox:imported
bin/hull --root "$root" image ls
bin/hull --root "$root" image history busybox:quickstart

step "the image's top layer folder (GraphDriver.Data.dir), its layerchain.json, hull layer chain"
dir=$(bin/hull --root "$root" image inspect --format '{{.GraphDriver.Data.dir}}' busybox:quickstart)
echo "$dir"
echo "layerchain.json: $(cat "$dir/layerchain.json")"
bin/hull layer chain "$dir"

step "hull layer create --layer \$dir --layer \$base scratch; hull layer chain scratch"
base=$(bin/hull layer chain "$dir")
bin/hull layer create --layer "$dir" --layer "$base" "$state/scratch"
bin/hull layer chain "$state/scratch"

step "hull layer mount scratch; write a file; hull layer changes scratch"
rootfs=$(bin/hull layer mount "$state/scratch")
echo "mounted at $rootfs"
cat "$rootfs/etc/motd"
echo hello > "$rootfs/hello.txt"
rm "$rootfs/etc/motd"
bin/hull layer changes "$state/scratch"
bin/hull layer unmount "$state/scratch"
bin/hull layer remove "$state/scratch"
step "done: hull is built at bin/hull"
