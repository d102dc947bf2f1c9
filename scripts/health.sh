#!/usr/bin/env bash
# Checks a running scheduler (task health): HTTP readiness and the gRPC health service.
#   1. GET http://HOST:HTTP_PORT/readyz            (curl; node's fetch if there is no curl)
#   2. grpc.health.v1.Health/Check (service "") on HOST:GRPC_PORT with grpc_health_probe /
#      grpc-health-probe or grpcurl if installed, else node with the project's node_modules
# Environment: HEALTH_HOST (default localhost), HTTP_PORT (default 8080), GRPC_PORT (default 50054),
# HEALTH_TIMEOUT seconds per check (default 5). Against a cluster: `task k8s:port-forward` first.
# Exits 0 only when both checks pass.
set -uo pipefail
cd "$(dirname "$0")/.."

host="${HEALTH_HOST:-localhost}"
http_port="${HTTP_PORT:-8080}"
grpc_port="${GRPC_PORT:-50054}"
timeout_s="${HEALTH_TIMEOUT:-5}"
failed=0

# --- HTTP readiness ---------------------------------------------------------------------------
url="http://${host}:${http_port}/readyz"
if command -v curl >/dev/null 2>&1; then
  # -w appends the status code on its own line (portable: no --fail-with-body on older curl).
  body="$(curl --silent --show-error --max-time "$timeout_s" --write-out '\n%{http_code}' "$url" 2>&1)"
  status=$?
  code="$(printf '%s' "$body" | tail -n 1)"
  body="$(printf '%s' "$body" | sed '$d')"
  if [ "$status" -eq 0 ] && [ "$code" != 200 ]; then status=22; body="HTTP ${code} ${body}"; fi
else
  body="$(URL="$url" TIMEOUT_S="$timeout_s" node -e '
    fetch(process.env.URL, { signal: AbortSignal.timeout(Number(process.env.TIMEOUT_S) * 1000) })
      .then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 22); })
      .catch((e) => { process.stdout.write(String(e.cause?.message ?? e.message)); process.exit(7); });
  ' 2>&1)"
  status=$?
fi
body="$(printf '%s' "$body" | tr '\n' ' ' | sed 's/ *$//')"
if [ "$status" -eq 0 ]; then
  echo "http  ${url}: ${body}"
else
  echo "http  ${url}: FAILED ${body}" >&2
  failed=1
fi

# --- gRPC health --------------------------------------------------------------------------------
# None of these needs the server's reflection to know grpc.health.v1: grpc_health_probe has the
# service built in, grpcurl is given health.proto from grpc-health-check when node_modules has it,
# and the node fallback uses grpc-health-check's own service definition (production dependencies
# only, so it also works inside the image: node_modules is there).
address="${host}:${grpc_port}"
health_proto_dir="node_modules/grpc-health-check/proto/health/v1"
probe=""
for candidate in grpc_health_probe grpc-health-probe; do
  if command -v "$candidate" >/dev/null 2>&1; then probe="$candidate"; break; fi
done
if [ -n "$probe" ]; then
  tool="$probe"
  out="$("$probe" -addr="$address" -connect-timeout="${timeout_s}s" -rpc-timeout="${timeout_s}s" 2>&1)"
  status=$?
elif command -v grpcurl >/dev/null 2>&1; then
  tool="grpcurl"
  proto_args=()
  if [ -f "${health_proto_dir}/health.proto" ]; then
    proto_args=(-import-path "$health_proto_dir" -proto health.proto)
  fi
  out="$(grpcurl -plaintext -max-time "$timeout_s" ${proto_args[@]+"${proto_args[@]}"} -d '{}' \
    "$address" grpc.health.v1.Health/Check 2>&1)"
  status=$?
  if [ "$status" -eq 0 ] && ! printf '%s' "$out" | grep -q '"SERVING"'; then status=1; fi
else
  tool="node grpc-health-check"
  out="$(ADDRESS="$address" TIMEOUT_S="$timeout_s" node -e '
    const grpc = require("@grpc/grpc-js");
    const { service } = require("grpc-health-check");
    const Health = grpc.makeGenericClientConstructor(service, "Health");
    const client = new Health(process.env.ADDRESS, grpc.credentials.createInsecure());
    const deadline = Date.now() + Number(process.env.TIMEOUT_S) * 1000;
    client.check({ service: "" }, { deadline }, (error, response) => {
      if (error) { console.log(`${error.code} ${grpc.status[error.code]}: ${error.details}`); process.exit(1); }
      console.log(JSON.stringify(response));
      process.exit(response.status === "SERVING" ? 0 : 1);
    });
  ' 2>&1)"
  status=$?
fi
out="$(printf '%s' "$out" | tr '\n' ' ' | tr -s ' ' | sed 's/ *$//')"
if [ "$status" -ne 0 ]; then
  # A stack trace says less than its gRPC status line ("14 UNAVAILABLE: ...").
  short="$(printf '%s' "$out" | grep -Eo '[0-9]+ [A-Z_]+: [^.]*' | head -n 1 || true)"
  out="${short:-$(printf '%s' "$out" | cut -c 1-300)}"
fi
if [ "$status" -eq 0 ]; then
  echo "grpc  ${address} (${tool}): ${out}"
else
  echo "grpc  ${address} (${tool}): FAILED ${out}" >&2
  failed=1
fi

exit "$failed"
