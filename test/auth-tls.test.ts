// mTLS over a real socket, with certificates made here by openssl: a CA, the server's
// certificate, two client certificates mapped to different roles (one by CN, one by a DNS
// SAN), one from another CA and one expired (both UNAUTHENTICATED, with a message, not a
// failed handshake), an API key over TLS without a client certificate, and the server's
// certificate rotated in place: new connections get the new one, without a restart.
import { execFileSync } from "node:child_process";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { credentials, status, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type RunningApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { JobSchedulerClient } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { apiKeyInterceptor, TEST_ADMIN_KEY } from "./support/auth.js";
import { baseEnv, call, cleanup, tempDir, waitFor } from "./support/service.js";

let dir: string;
let app: RunningApp;
const lines: string[] = [];

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** A key and a certificate signed by `ca` (or self-signed as a CA), with `days` of validity (negative: already expired). */
function issue(name: string, subject: string, ca: string | null, extensions: string, days = 30): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-subj", subject, "-out", `${name}.csr`);
  if (days > 0) {
    const signer = ca ? ["-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial"] : ["-signkey", `${name}.key`];
    openssl("x509", "-req", "-in", `${name}.csr`, ...signer, "-days", String(days), "-extfile", `${name}.ext`, "-out", `${name}.pem`);
    return;
  }
  // Validity in the past: OpenSSL 3.0's x509 cannot set start dates, its ca command can.
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "ca.cnf"), [
    "[ca]", "default_ca = test", "[test]", "database = index.txt", "new_certs_dir = .", "serial = ca.srl-expired",
    "default_md = sha256", "policy = any", "unique_subject = no", "[any]", "commonName = supplied",
  ].join("\n"));
  writeFileSync(join(dir, "ca.srl-expired"), "1000\n");
  openssl("ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", `${ca}.pem`, "-keyfile", `${ca}.key`, "-in", `${name}.csr`,
    "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
}

const read = (name: string) => readFileSync(join(dir, name));

function client(clientCert: string | null, key?: string): JobSchedulerClient {
  const creds: ChannelCredentials = clientCert
    ? credentials.createSsl(read("ca.pem"), read(`${clientCert}.key`), read(`${clientCert}.pem`))
    : credentials.createSsl(read("ca.pem"));
  return new JobSchedulerClient(`127.0.0.1:${app.grpcPort}`, creds, {
    "grpc.ssl_target_name_override": "jobscheduler.test",
    ...(key ? { interceptors: [apiKeyInterceptor(key)] } : {}),
  });
}

const answer = (promise: Promise<unknown>) => promise.then(() => ({ code: status.OK, details: "" }), (e: ServiceError) => ({ code: e.code, details: e.details }));

/** The subject CN of the certificate a new TLS connection to the server is given. */
function servedCertificate(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: app.grpcPort, ca: read("ca.pem"), servername: "jobscheduler.test", ALPNProtocols: ["h2"] }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve((Array.isArray(cn) ? cn[0] : cn) ?? "");
    });
    socket.on("error", reject);
  });
}

beforeAll(async () => {
  dir = tempDir("jobscheduler-tls-");
  const CA = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
  const CLIENT = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n";
  issue("ca", "/CN=jobscheduler test CA", null, CA);
  issue("other-ca", "/CN=some other CA", null, CA);
  issue("server", "/CN=server-one", "ca", "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:jobscheduler.test,IP:127.0.0.1\n");
  issue("hub", "/CN=hub-client", "ca", CLIENT);
  issue("ops", "/CN=ops", "ca", `${CLIENT}subjectAltName=DNS:ops.example.com\n`);
  issue("stranger", "/CN=hub-client", "other-ca", CLIENT);
  issue("expired", "/CN=hub-client", "ca", CLIENT, -1);
  issue("unmapped", "/CN=nobody", "ca", CLIENT);
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  app = await startApp(loadConfig(baseEnv(join(dir, "data"), {
    TLS_CERT_FILE: join(dir, "server.pem"),
    TLS_KEY_FILE: join(dir, "server.key"),
    TLS_CLIENT_CA_FILE: join(dir, "ca.pem"),
    TLS_CLIENT_ROLES: JSON.stringify({ "hub-client": "submitter", "ops.example.com": { role: "operator", team: "team-ops" } }),
    TLS_RELOAD_INTERVAL: "100ms",
  })), logger);
}, 60_000);

afterAll(async () => {
  await app?.stop();
  cleanup(dir);
});

describe("mTLS", () => {
  it("maps client certificates to roles by CN or SAN", async () => {
    const hub = client("hub");
    expect(await answer(call(hub, hub.listJobTypes, {}))).toMatchObject({ code: status.OK });
    expect(await answer(call(hub, hub.pauseDispatching, { reason: "no" }))).toMatchObject({ code: status.PERMISSION_DENIED });
    const ops = client("ops");
    // An operator, scoped to its team: global changes are not for it, its team's lists are.
    expect(await answer(call(ops, ops.listSchedules, { pageSize: 0, pageToken: "", teamSlug: "" }))).toMatchObject({ code: status.OK });
    expect(await answer(call(ops, ops.pauseDispatching, { reason: "no" }))).toMatchObject({ code: status.PERMISSION_DENIED });
    hub.close();
    ops.close();
  });

  it("refuses certificates of another CA, expired or unmapped ones: UNAUTHENTICATED with a message", async () => {
    const expected = {
      code: status.UNAUTHENTICATED,
      details: "missing or invalid credentials: send an API key (`authorization: Bearer <key>` or `x-api-key: <key>`) or a client certificate",
    };
    for (const name of ["stranger", "expired", "unmapped"]) {
      const c = client(name);
      expect({ name, ...(await answer(call(c, c.listJobTypes, {}))) }).toEqual({ name, ...expected });
      c.close();
    }
    const none = client(null);
    expect(await answer(call(none, none.listJobTypes, {}))).toEqual(expected);
    none.close();
  });

  it("takes an API key over TLS without a client certificate; plaintext is refused", async () => {
    const keyed = client(null, TEST_ADMIN_KEY);
    expect(await answer(call(keyed, keyed.pauseDispatching, { reason: "over tls" }))).toMatchObject({ code: status.OK });
    keyed.close();
    const plain = new JobSchedulerClient(`127.0.0.1:${app.grpcPort}`, credentials.createInsecure(), { interceptors: [apiKeyInterceptor(TEST_ADMIN_KEY)] });
    expect((await answer(call(plain, plain.listJobTypes, {}, undefined))).code).toBe(status.UNAVAILABLE);
    plain.close();
  });

  it("serves a rotated certificate to new connections without a restart", async () => {
    expect(await servedCertificate()).toBe("server-one");
    // cert-manager's way: new files moved into place (key first: a moment of mismatch is kept out).
    issue("server-two", "/CN=server-two", "ca", "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:jobscheduler.test,IP:127.0.0.1\n");
    renameSync(join(dir, "server-two.key"), join(dir, "server.key"));
    renameSync(join(dir, "server-two.pem"), join(dir, "server.pem"));
    await waitFor(async () => lines.some((line) => line.includes("TLS certificates reloaded") && line.includes("server-two")));
    expect(await servedCertificate()).toBe("server-two");
    const hub = client("hub");
    expect(await answer(call(hub, hub.listJobTypes, {}))).toMatchObject({ code: status.OK });
    hub.close();
  });
});
