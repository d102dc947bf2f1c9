#!/usr/bin/env bash
# Forwards the scheduler's ports to this machine (task k8s:port-forward):
#   localhost:50054 gRPC, localhost:8080 /healthz and /readyz, localhost:9090 /metrics
# so `task health`, grpcurl -plaintext localhost:50054 ... and the smoke test work against the cluster.
# Environment: KUBECTL (default kubectl), NAMESPACE (default jobscheduler).
# Extra arguments go to `kubectl port-forward` (e.g. --address 0.0.0.0).
set -euo pipefail
read -r -a kubectl <<<"${KUBECTL:-kubectl}"
if [ "${#kubectl[@]}" -eq 0 ]; then kubectl=(kubectl); fi
exec "${kubectl[@]}" --namespace "${NAMESPACE:-jobscheduler}" port-forward service/jobscheduler \
  50054:50054 8080:8080 9090:9090 "$@"
