#!/usr/bin/env bash
# Checks a running scheduler (task health): HTTP readiness and the gRPC health service.
#   1. GET http://HOST:HTTP_PORT/readyz            (curl; node's fetch if there is no curl)
#   2. grpc.health.v1.Health/Check (service "") on HOST:GRPC_PORT with grpc_health_probe /
#      grpc-health-probe or grpcurl if installed, else node with the project's node_modules
# Environment: HEALTH_HOST (default localhost), HTTP_PORT (default 8080), GRPC_PORT (default 50054),
# HEALTH_TIMEOUT seconds per check (default 5). Against a cluster: `task k8s:port-forward` first.
# TLS on the gRPC port (the service's TLS_CERT_FILE; the HTTP port stays plaintext): HEALTH_TLS
# (true/false; default true when TLS_CERT_FILE is set, so it works with the service's own settings),
# HEALTH_CA_FILE (verify the server against this CA; without it the certificate is not verified:
# the check proves the port answers, not who it is), HEALTH_SERVER_NAME (the name to verify,
# default HEALTH_HOST). No client certificate and no key: health needs no credential.
# Exits 0 only when both checks pass.
set -uo pipefail
cd "$(dirname "$0")/.."

host="${HEALTH_HOST:-localhost}"
http_port="${HTTP_PORT:-8080}"
grpc_port="${GRPC_PORT:-50054}"
timeout_s="${HEALTH_TIMEOUT:-5}"
tls_default=false
if [ -n "${TLS_CERT_FILE:-}" ]; then tls_default=true; fi
tls="${HEALTH_TLS:-$tls_default}"
ca_file="${HEALTH_CA_FILE:-}"
server_name="${HEALTH_SERVER_NAME:-}"
case "$tls" in
  true | 1) tls=true ;;
  false | 0 | "") tls=false ;;
  *) echo "HEALTH_TLS must be true or false, got ${tls}" >&2; exit 2 ;;
esac
if [ -n "$ca_file" ] && [ ! -r "$ca_file" ]; then echo "HEALTH_CA_FILE ${ca_file} is not readable" >&2; exit 2; fi
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
  tls_args=()
  if [ "$tls" = true ]; then
    tls_args=(-tls)
    if [ -n "$ca_file" ]; then tls_args+=(-tls-ca-cert="$ca_file"); else tls_args+=(-tls-no-verify); fi
    if [ -n "$server_name" ]; then tls_args+=(-tls-server-name="$server_name"); fi
  fi
  out="$("$probe" -addr="$address" ${tls_args[@]+"${tls_args[@]}"} -connect-timeout="${timeout_s}s" -rpc-timeout="${timeout_s}s" 2>&1)"
  status=$?
elif command -v grpcurl >/dev/null 2>&1; then
  tool="grpcurl"
  proto_args=()
  if [ -f "${health_proto_dir}/health.proto" ]; then
    proto_args=(-import-path "$health_proto_dir" -proto health.proto)
  fi
  tls_args=(-plaintext)
  if [ "$tls" = true ]; then
    if [ -n "$ca_file" ]; then tls_args=(-cacert "$ca_file"); else tls_args=(-insecure); fi
    if [ -n "$server_name" ]; then tls_args+=(-servername "$server_name"); fi
  fi
  out="$(grpcurl "${tls_args[@]}" -max-time "$timeout_s" ${proto_args[@]+"${proto_args[@]}"} -d '{}' \
    "$address" grpc.health.v1.Health/Check 2>&1)"
  status=$?
  if [ "$status" -eq 0 ] && ! printf '%s' "$out" | grep -q '"SERVING"'; then status=1; fi
else
  tool="node grpc-health-check"
  out="$(ADDRESS="$address" TIMEOUT_S="$timeout_s" TLS="$tls" CA_FILE="$ca_file" SERVER_NAME="$server_name" node -e '
    const grpc = require("@grpc/grpc-js");
    const { service } = require("grpc-health-check");
    const Health = grpc.makeGenericClientConstructor(service, "Health");
    const { TLS, CA_FILE, SERVER_NAME } = process.env;
    const credentials = TLS !== "true" ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(CA_FILE ? require("node:fs").readFileSync(CA_FILE) : null, null, null, { rejectUnauthorized: Boolean(CA_FILE) });
    const client = new Health(process.env.ADDRESS, credentials, SERVER_NAME ? { "grpc.ssl_target_name_override": SERVER_NAME } : {});
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
if [ "$tls" = true ]; then tool="${tool}, tls${ca_file:+ verified by ${ca_file}}${ca_file:- unverified}"; fi
if [ "$status" -eq 0 ]; then
  echo "grpc  ${address} (${tool}): ${out}"
else
  echo "grpc  ${address} (${tool}): FAILED ${out}" >&2
  failed=1
fi

exit "$failed"
