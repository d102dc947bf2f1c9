#!/usr/bin/env bash
# Follows the scheduler's logs (task k8s:logs). Extra arguments go to `kubectl logs`.
# Environment: KUBECTL (default kubectl), NAMESPACE (default jobscheduler), TAIL (default 200).
set -euo pipefail
read -r -a kubectl <<<"${KUBECTL:-kubectl}"
if [ "${#kubectl[@]}" -eq 0 ]; then kubectl=(kubectl); fi
exec "${kubectl[@]}" --namespace "${NAMESPACE:-jobscheduler}" logs deployment/jobscheduler \
  --follow --tail="${TAIL:-200}" "$@"
