#!/usr/bin/env bash
# Applies k8s/ in dependency order (task k8s:apply):
#   namespaces, service accounts, RBAC, network policies, ConfigMap, Secret (if present),
#   Deployment, Service,
# then waits for the rollout.
# Environment:
#   KUBECTL          kubectl command, may carry flags (default: kubectl), e.g. "kubectl --context prod"
#   IMAGE            image for the Deployment (default: ghcr.io/hackload/jobscheduler:<IMAGE_TAG>,
#                    the tag scripts/container-build.sh gives this commit)
#   SECRET_FILE      Secret manifest to apply if it exists (default: k8s/secret.yaml, made from
#                    k8s/secret.yaml.example; keep it out of git)
#   WAIT             1 (default) waits for `rollout status`; 0 returns after applying
#   ROLLOUT_TIMEOUT  default 180s
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a kubectl <<<"${KUBECTL:-kubectl}"
if [ "${#kubectl[@]}" -eq 0 ]; then kubectl=(kubectl); fi

placeholder="ghcr.io/hackload/jobscheduler:IMAGE_TAG"
if [ -z "${IMAGE:-}" ]; then
  eval "$(scripts/version-info.sh --env)"
  IMAGE="ghcr.io/hackload/jobscheduler:${IMAGE_TAG}"
fi
# An image reference: registry/path:tag or @sha256:digest. Refusing anything else also keeps the
# sed substitution below safe.
if ! printf '%s' "$IMAGE" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9._/:@-]*$'; then
  echo "k8s-apply: IMAGE is not an image reference: '$IMAGE'" >&2
  exit 2
fi
if ! grep -q "image: ${placeholder}\$" k8s/deployment.yaml; then
  echo "k8s-apply: k8s/deployment.yaml has no 'image: ${placeholder}' line to substitute" >&2
  exit 1
fi
secret_file="${SECRET_FILE:-k8s/secret.yaml}"

apply() {
  echo "k8s-apply: apply $1" >&2
  "${kubectl[@]}" apply -f "$1"
}

apply k8s/namespace.yaml
apply k8s/serviceaccount.yaml
apply k8s/rbac.yaml
# Before any pod starts: job pods and the scheduler never run without their policies.
apply k8s/networkpolicy.yaml
echo "k8s-apply: apply k8s/configmap.yaml (JOB_IMAGE ${IMAGE})" >&2
sed "s|JOB_IMAGE: \"${placeholder}\"\$|JOB_IMAGE: \"${IMAGE}\"|" k8s/configmap.yaml | "${kubectl[@]}" apply -f -
if [ -f "$secret_file" ]; then
  apply "$secret_file"
else
  echo "k8s-apply: no ${secret_file}; running without Secret jobscheduler-secrets (SQLite store, no Hub credentials)." >&2
  echo "k8s-apply: copy k8s/secret.yaml.example to ${secret_file} and fill it in to set them." >&2
fi
echo "k8s-apply: apply k8s/deployment.yaml (image ${IMAGE})" >&2
sed "s|image: ${placeholder}\$|image: ${IMAGE}|" k8s/deployment.yaml | "${kubectl[@]}" apply -f -
apply k8s/service.yaml

if [ "${WAIT:-1}" != 0 ]; then
  "${kubectl[@]}" --namespace jobscheduler rollout status deployment/jobscheduler \
    --timeout="${ROLLOUT_TIMEOUT:-180s}"
fi
