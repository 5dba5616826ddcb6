#!/usr/bin/env bash
# Installs what hull needs on a Debian machine (idempotent), builds hull,
# and runs the main job: the hull daemon, and the real docker CLI running
# containers on it from an image made of Debian's busybox-static; then the
# layer chain underneath, as wclayer shows it.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

need_root
docker_pkg=()
command -v docker >/dev/null || docker_pkg=(docker.io) # the docker CLI
install_packages "${docker_pkg[@]}"
build_hull

state=$(mktemp -d /tmp/hull-quickstart.XXXXXX)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    mapfile -t ids < <(DOCKER_HOST="unix://$state/hull.sock" docker ps -aq 2>/dev/null || true)
    [ ${#ids[@]} -eq 0 ] || DOCKER_HOST="unix://$state/hull.sock" docker rm -f "${ids[@]}" >/dev/null 2>&1 || true
    DOCKER_HOST="unix://$state/hull.sock" docker network prune -f >/dev/null 2>&1 || true
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  bin/hull layer unmount "$state/scratch" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
root="$state/root"

step "hull daemon -H unix://$state/hull.sock (the Docker Engine API), then the docker CLI on it"
echo "{}" >"$state/daemon.json"
bin/hull daemon -H "unix://$state/hull.sock" --data-root "$state/daemon" --exec-root "$state/run" \
  --config-file "$state/daemon.json" 2>"$state/daemon.log" &
daemon_pid=$!
export DOCKER_HOST="unix://$state/hull.sock"
for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
docker version --format 'client {{.Client.Version}}, server {{.Server.Platform.Name}} {{.Server.Version}} (API {{.Server.APIVersion}})'
make_two_layer_archive "$state/busybox.tar"
docker load -i "$state/busybox.tar"
docker run --rm busybox:quickstart sh -c 'echo "hello from a hull container: $(hostname), $(cat /etc/motd)"'
docker run -d --name quickstart busybox:quickstart sleep 300
docker ps
docker exec quickstart sh -c 'echo exec in $(hostname)'
bin/hull diag trace -H "unix://$state/hull.sock" quickstart
docker rm -f quickstart
step "the network service: a user network, names, a published port"
docker network create demo
docker run -d --name web --network demo --network-alias www -p 18080:80 busybox:quickstart \
  sh -c 'mkdir -p /www && echo "hello through -p 18080:80" >/www/index.html && exec busybox httpd -f -p 80 -h /www'
docker run --rm --network demo busybox:quickstart busybox ping -c1 -W2 www
for _ in $(seq 50); do busybox wget -qO- http://127.0.0.1:18080/ 2>/dev/null && break; sleep 0.1; done
bin/hull diag compartments --netns-dir "$state/run/netns"
docker rm -f web
docker network rm demo
step "docker build on hull's BuildKit (the legacy POST /build; buildx's docker driver takes /grpc to the same BuildKit)"
mkdir -p "$state/buildctx"
printf 'FROM busybox:quickstart\nRUN echo "built on hull: $(uname -s)" > /built.txt\nCMD ["cat", "/built.txt"]\n' >"$state/buildctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -t quickstart/built:1 "$state/buildctx" 2>&1 | grep -v -e DEPRECATED -e 'BuildKit is currently disabled' -e 'environment-variable' -e '^$'
docker run --rm quickstart/built:1
docker rmi quickstart/built:1 >/dev/null
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=
unset DOCKER_HOST

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
