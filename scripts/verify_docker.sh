#!/usr/bin/env bash
# Build and run the project's Dockerfile without a Docker engine: buildah (chroot isolation, as
# root) on a Debian bookworm base made locally with debootstrap, since no registry image can be
# pulled here. Then start the image and check /healthz and one estimate.
#
#   sudo scripts/verify_docker.sh          (about 5-10 minutes the first time; the base is cached)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (buildah chroot isolation and debootstrap need it)" >&2; exit 2; }
work="${ADVISOR_DOCKER_WORK:-/var/tmp/gpu-advisor-docker}"
# Package mirrors come from this machine's own configuration, never a host named here: the first
# Debian URI apt uses (deb822 .sources or sources.list), and pip's index settings if any.
apt_mirror() {
  { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'
  } | grep -v -- '-security' | head -n 1
}
mirror="${DEBIAN_MIRROR:-$(apt_mirror)}"
[ -n "$mirror" ] || { echo "no Debian mirror in this machine's apt configuration; set DEBIAN_MIRROR" >&2; exit 2; }
pip_setting() { python3 -m pip config get "global.$1" 2>/dev/null | grep -E '^https?://' || true; }
pip_args=()
index_url="${PIP_INDEX_URL:-$(pip_setting index-url)}"
extra_index_url="${PIP_EXTRA_INDEX_URL:-$(pip_setting extra-index-url)}"
if [ -n "$index_url" ]; then pip_args+=(--build-arg "PIP_MIRROR_INDEX_URL=$index_url"); fi
if [ -n "$extra_index_url" ]; then pip_args+=(--build-arg "PIP_MIRROR_EXTRA_INDEX_URL=$extra_index_url"); fi
base=localhost/gpu-advisor-base:bookworm
image=localhost/gpu-advisor:verify
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
mkdir -p "$work"

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null; }
done

if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  echo "== debootstrap bookworm (python3, venv) into $work/rootfs"
  rm -rf "$work/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log"
  ln -sf /usr/bin/python3 "$work/rootfs/usr/local/bin/python"
  # This host reaches PyPI through a TLS-inspecting proxy whose CA is in its own bundle: the
  # local base trusts the same bundle so pip inside the build can verify the registry.
  cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  scratch=$(buildah from scratch)
  buildah add "$scratch" "$work/rootfs.tar" / >/dev/null  # buildah add unpacks a tar archive
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$scratch"
  buildah commit --quiet "$scratch" "$base" >/dev/null
  buildah rm "$scratch" >/dev/null
fi

echo "== buildah bud (base $base)"
buildah bud --isolation chroot --format docker --layers --build-arg BASE_IMAGE="$base" "${pip_args[@]}" -t "$image" . >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; exit 1; }
echo "== run: migrations, server, /healthz and an estimate"
ctr=$(buildah from "$image")
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
# The server runs in the host's network namespace (chroot isolation): the shell stops it on every
# exit path, so nothing is left listening on the host after the script ends.
buildah run --user advisor "$ctr" -- sh -c '
  python -m app.cli serve --migrate --host 127.0.0.1 --port 8077 >/tmp/server.log 2>&1 &
  server=$!
  trap "kill \$server 2>/dev/null; wait \$server 2>/dev/null" EXIT INT TERM
  python - <<PY
import json, time, urllib.request
for _ in range(60):
    try:
        health = json.load(urllib.request.urlopen("http://127.0.0.1:8077/healthz", timeout=2)); break
    except OSError:
        time.sleep(0.5)
else:
    print(open("/tmp/server.log").read()); raise SystemExit("server did not start")
body = json.dumps({"model": {"preset": "llama-2-7b"}, "workload": {"task": "qlora"},
                   "hardware": {"gpu": "nvidia-geforce-rtx-4090"}}).encode()
request = urllib.request.Request("http://127.0.0.1:8077/api/v1/estimate", body, {"Content-Type": "application/json"})
estimate = json.load(urllib.request.urlopen(request, timeout=10))
print("healthz:", health)
print("estimate: fits", estimate["memory"]["fits"], "%.1f GB" % estimate["memory"]["total_per_gpu_gb"],
      "user", __import__("os").getuid())
PY'
echo "== image runs as: $(buildah inspect --format '{{.OCIv1.Config.User}}' "$image"); healthcheck: $(buildah inspect --format '{{.Docker.Config.Healthcheck.Test}}' "$image" 2>/dev/null || echo n/a)"
