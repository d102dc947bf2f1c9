#!/usr/bin/env bash
# Builds the container image with version labels (task container:build).
#   scripts/container-build.sh [extra build flags...]     e.g. --platform linux/amd64 --push
# Environment:
#   CONTAINER_ENGINE  podman or docker (default: podman if installed, else docker); may carry
#                     flags, e.g. "docker --context remote"
#   IMAGE             full image reference (default: ghcr.io/hackload/jobscheduler:<IMAGE_TAG>,
#                     IMAGE_TAG from scripts/version-info.sh)
#   NODE_IMAGE        base image override (default: the Dockerfile's)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${CONTAINER_ENGINE:-}" ]; then
  read -r -a engine <<<"$CONTAINER_ENGINE"
elif command -v podman >/dev/null 2>&1; then
  engine=(podman)
elif command -v docker >/dev/null 2>&1; then
  engine=(docker)
else
  echo "container-build: neither podman nor docker is installed (or set CONTAINER_ENGINE)" >&2
  exit 127
fi

eval "$(scripts/version-info.sh --env)"
image="${IMAGE:-ghcr.io/hackload/jobscheduler:${IMAGE_TAG}}"

args=(build
  --file Dockerfile
  --tag "$image"
  --build-arg "VERSION=${VERSION}"
  --build-arg "GIT_COMMIT=${GIT_COMMIT}"
  --build-arg "BUILD_DATE=${BUILD_DATE}")
if [ -n "${NODE_IMAGE:-}" ]; then
  args+=(--build-arg "NODE_IMAGE=${NODE_IMAGE}")
fi

echo "container-build: ${engine[*]} -> ${image} (version ${VERSION}, commit ${GIT_COMMIT})" >&2
"${engine[@]}" "${args[@]}" "$@" .
echo "$image"
