#!/usr/bin/env bash
# Version information embedded in builds and images (task version:info).
#   scripts/version-info.sh          human-readable
#   scripts/version-info.sh --env    shell assignments: eval "$(scripts/version-info.sh --env)"
#                                    (also works unquoted: eval $(scripts/version-info.sh --env))
# Sets VERSION (git describe), GIT_COMMIT (short hash, "-dirty" with uncommitted changes to tracked
# files), BUILD_DATE (ISO 8601, UTC; honours SOURCE_DATE_EPOCH for reproducible builds),
# NODE_VERSION (the node on PATH) and IMAGE_TAG (VERSION made safe as a container image tag).
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."

mode="${1:-}"
case "$mode" in
  "" | --env) ;;
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$self"; exit 0 ;;
  *) echo "usage: $0 [--env]" >&2; exit 2 ;;
esac

# Keep only characters that are harmless in a shell word and in labels.
clean() { printf '%s' "$1" | tr -c 'A-Za-z0-9._:+-' '-'; }

package_version() {
  sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' package.json | head -n 1
}

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  version="$(git describe --tags --always --dirty 2>/dev/null || true)"
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="${commit}-dirty"
  fi
else
  version=""
  commit="unknown"
fi
[ -n "$version" ] || version="$(package_version)"
[ -n "$version" ] || version="dev"

if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  build_date="$(date -u -d "@${SOURCE_DATE_EPOCH}" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null \
    || date -u -r "${SOURCE_DATE_EPOCH}" +%Y-%m-%dT%H:%M:%SZ)"
else
  build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
fi

node_version="$(node --version 2>/dev/null || echo unknown)"

version="$(clean "$version")"
commit="$(clean "$commit")"
node_version="$(clean "$node_version")"
# Image tags: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
image_tag="$(printf '%s' "$version" | tr -c 'A-Za-z0-9_.-' '-' | sed 's/^[.-]*//' | cut -c 1-128)"
[ -n "$image_tag" ] || image_tag="dev"

if [ "$mode" = --env ]; then
  # One line, `;`-separated, values single-quoted: safe for eval with or without quotes.
  printf "VERSION='%s'; GIT_COMMIT='%s'; BUILD_DATE='%s'; NODE_VERSION='%s'; IMAGE_TAG='%s'; export VERSION GIT_COMMIT BUILD_DATE NODE_VERSION IMAGE_TAG\n" \
    "$version" "$commit" "$build_date" "$node_version" "$image_tag"
else
  printf 'version:    %s\ncommit:     %s\nbuild date: %s\nnode:       %s\nimage tag:  %s\n' \
    "$version" "$commit" "$build_date" "$node_version" "$image_tag"
fi
