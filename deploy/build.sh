#!/usr/bin/env bash
# Build the production image (deploy/Dockerfile) with podman or docker.
#
#   IMAGE=peal-api:latest BASE_IMAGE=python:3.11-slim-bookworm deploy/build.sh
#
# Where packages come through a private index or a TLS-intercepting proxy, the build needs the
# machine's pip configuration and CA bundle: the files `pip config` names (its config files and
# their constraint file) are mounted read-only at the same path into the build, the CA bundle at
# /run/build-ca.crt, so the image itself carries none of it.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${CONTAINER_ENGINE:-$(command -v podman || command -v docker || true)}
if [ -z "$ENGINE" ]; then
  echo "build.sh: needs podman or docker" >&2
  exit 2
fi
IMAGE=${IMAGE:-peal-api:latest}
BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim-bookworm}

args=(build --file deploy/Dockerfile --tag "$IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE")
if [ "$(basename "$ENGINE")" = podman ]; then
  args=(--runtime "${PODMAN_RUNTIME:-runc}" --cgroup-manager cgroupfs "${args[@]}" --network host)
fi

mounted=" "
mount_file() {  # mount_file PATH: the file, read-only, at the same path (once)
  local file=$1
  [ -f "$file" ] || return 0
  case "$mounted" in *" $file "*) return 0 ;; esac
  mounted="$mounted$file "
  args+=(--volume "$file:$file:ro")
}

# The CA bundle goes to a path of its own: at its usual place it would hide the image's own
# (Debian's ca-certificates package writes there during the build).
ca=""
if command -v pip >/dev/null 2>&1; then
  # Config files that exist (`pip config debug`), and the constraint file they name.
  while read -r file; do mount_file "$file"; done < <(
    pip config debug 2>/dev/null | sed -n 's/^ *\(\/[^,]*\), exists: True$/\1/p'
  )
  while read -r file; do mount_file "$file"; done < <(
    pip config list 2>/dev/null | sed -n "s/^[^=]*\.constraint='\(.*\)'$/\1/p"
  )
  ca=$(pip config list 2>/dev/null | sed -n "s/^[^=]*\.cert='\(.*\)'$/\1/p" | tail -n 1)
fi
ca=${PIP_CERT:-${ca:-${SSL_CERT_FILE:-}}}
if [ -n "$ca" ] && [ -f "$ca" ]; then
  args+=(--volume "$ca:/run/build-ca.crt:ro" --build-arg "BUILD_CA=/run/build-ca.crt")
fi

echo "build.sh: $ENGINE ${args[*]} ."
exec "$ENGINE" "${args[@]}" .
