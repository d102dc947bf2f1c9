// API keys over real sockets: the first start's admin key (exactly one, 0600, its path logged,
// never the key), the lifecycle of a key (create, use, expire, revoke: effective at once here,
// within a second when the store is changed elsewhere), one UNAUTHENTICATED message for every
// bad credential, API_KEYS_FILE (plain keys and hashes), what needs no key (health,
// reflection unless AUTH_REFLECTION_PUBLIC=false, /metrics), AUTH_ENABLED=false, and that
// no key ever reaches the log.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../src/auth/api-key.js";
import { REFRESH_MS } from "../src/auth/key-directory.js";
import { loadConfig } from "../src/config.js";
import { startApp } from "../src/app.js";
import pino from "pino";
import { JobSchedulerClient, Role } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { runCli } from "./support/cli.js";
import { TEST_ADMIN_KEY } from "./support/auth.js";
import { baseEnv, call, cleanup, ROOT, spawnService, startService, tempDir, testClient, waitFor, type ChildService } from "./support/service.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach(cleanup));
const dir = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};

/** A client that sends no credential unless told. */
function bare(port: number): JobSchedulerClient {
  return new JobSchedulerClient(`127.0.0.1:${port}`, credentials.createInsecure());
}

function withKey(key: string, header: "authorization" | "x-api-key" = "authorization"): Metadata {
  const metadata = new Metadata();
  metadata.set(header, header === "authorization" ? `Bearer ${key}` : key);
  return metadata;
}

const codeOf = (promise: Promise<unknown>) => promise.then(() => status.OK, (error: ServiceError) => error.code);
const refusal = (promise: Promise<unknown>) => promise.then(() => null, (error: ServiceError) => ({ code: error.code, details: error.details }));

async function stopChild(service: ChildService): Promise<void> {
  service.client.close();
  service.process.kill("SIGTERM");
  await service.exited;
}

describe("the first start", () => {
  it("generates exactly one admin key, in DATA_DIR/admin.key (0600), logs the path, never the key; a restart generates none", async () => {
    const dataDir = dir();
    const env = baseEnv(dataDir, { API_KEYS_FILE: "", LOG_LEVEL: "info" });
    const first = await spawnService(env);
    const path = join(dataDir, "admin.key");
    const key = readFileSync(path, "utf8").trim();
    expect(key).toMatch(/^jsk_[0-9a-z]+_[A-Za-z0-9_-]{43}$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const generated = first.logs.filter((line) => line.includes(path));
    expect(generated).toHaveLength(1);
    const client = testClient(`127.0.0.1:${first.grpcPort}`, key);
    const listed = await call(client, client.listApiKeys, { includeRevoked: true, team: "", pageSize: 0, pageToken: "" });
    expect(listed.keys.map((k) => ({ role: Role[k.role], source: k.source }))).toEqual([{ role: "ROLE_ADMIN", source: "generated" }]);
    client.close();
    await stopChild(first);
    expect(first.logs.join("\n")).not.toContain(key.slice(key.indexOf("_", 4) + 1));

    const second = await spawnService(env);
    expect(readFileSync(path, "utf8").trim()).toBe(key);
    expect(second.logs.some((line) => line.includes("generated an admin key"))).toBe(false);
    const again = testClient(`127.0.0.1:${second.grpcPort}`, key);
    expect((await call(again, again.listApiKeys, { includeRevoked: true, team: "", pageSize: 0, pageToken: "" })).keys).toHaveLength(1);
    again.close();
    await stopChild(second);
  });

  it("generates none when API_KEYS_FILE declares keys", async () => {
    const dataDir = dir();
    const service = await spawnService(baseEnv(dataDir));
    expect(() => statSync(join(dataDir, "admin.key"))).toThrow();
    await stopChild(service);
  });
});

describe("a key's life", () => {
  it("created (shown once), used, listed with its last use, revoked: refused at once", async () => {
    const dataDir = dir();
    const service = await startService({}, dataDir);
    try {
      const admin = service.client;
      const created = await call(admin, admin.createApiKey, { name: "hub", role: Role.ROLE_SUBMITTER, team: "", allowInlineScripts: false, expireTime: undefined });
      expect(created.secret).toMatch(new RegExp(`^jsk_${created.key!.id}_`));
      expect(created.key).toMatchObject({ name: "hub", role: Role.ROLE_SUBMITTER, source: "api", createdBy: "testadmin" });
      const hub = bare(service.app.grpcPort);
      expect(await codeOf(call(hub, hub.listJobTypes, {}, withKey(created.secret)))).toBe(status.OK);
      expect(await codeOf(call(hub, hub.listJobTypes, {}, withKey(created.secret, "x-api-key")))).toBe(status.OK);
      // A submitter may not manage keys.
      expect(await codeOf(call(hub, hub.listApiKeys, { includeRevoked: false, team: "", pageSize: 0, pageToken: "" }, withKey(created.secret)))).toBe(status.PERMISSION_DENIED);

      const listed = await call(admin, admin.listApiKeys, { includeRevoked: false, team: "", pageSize: 0, pageToken: "" });
      expect(JSON.stringify(listed)).not.toContain(created.secret.slice(18));
      expect(listed.keys.map((k) => k.id)).toEqual(expect.arrayContaining([created.key!.id, "testadmin"]));

      const revoked = await call(admin, admin.revokeApiKey, { keyId: created.key!.id });
      expect(revoked.revokeTime).toBeInstanceOf(Date);
      expect(await refusal(call(hub, hub.listJobTypes, {}, withKey(created.secret)))).toMatchObject({ code: status.UNAUTHENTICATED });
      // Listed with its revocation only when asked for revoked keys.
      const active = await call(admin, admin.listApiKeys, { includeRevoked: false, team: "", pageSize: 0, pageToken: "" });
      expect(active.keys.map((k) => k.id)).not.toContain(created.key!.id);
      // The declared key cannot be revoked through the API.
      expect(await refusal(call(admin, admin.revokeApiKey, { keyId: "testadmin" }))).toMatchObject({ code: status.FAILED_PRECONDITION });
      hub.close();
    } finally {
      await service.stop();
    }
    // Last uses are written lazily; the stop flushes them.
    const db = new Database(join(dataDir, "jobscheduler.db"), { readonly: true });
    const row = db.prepare("SELECT last_used_at FROM api_keys WHERE name = 'hub'").get() as { last_used_at: number | null };
    db.close();
    expect(row.last_used_at).toBeGreaterThan(0);
  });

  it("expires at its expire_time", async () => {
    const service = await startService({}, dir());
    try {
      const admin = service.client;
      const expireTime = new Date(Date.now() + 1500);
      const created = await call(admin, admin.createApiKey, { name: "short", role: Role.ROLE_VIEWER, team: "", allowInlineScripts: false, expireTime });
      const client = bare(service.app.grpcPort);
      expect(await codeOf(call(client, client.listJobTypes, {}, withKey(created.secret)))).toBe(status.OK);
      await waitFor(async () => Date.now() > expireTime.getTime() + 1);
      expect(await codeOf(call(client, client.listJobTypes, {}, withKey(created.secret)))).toBe(status.UNAUTHENTICATED);
      expect(await refusal(call(admin, admin.createApiKey, { name: "past", role: Role.ROLE_VIEWER, team: "", allowInlineScripts: false, expireTime: new Date(Date.now() - 1000) })))
        .toMatchObject({ code: status.INVALID_ARGUMENT, details: "expire_time: must be in the future" });
      client.close();
    } finally {
      await service.stop();
    }
  });

  it(`a revocation written to the store by someone else is effective within ${REFRESH_MS} ms`, async () => {
    const dataDir = dir();
    const service = await startService({}, dataDir);
    try {
      const admin = service.client;
      const created = await call(admin, admin.createApiKey, { name: "elsewhere", role: Role.ROLE_VIEWER, team: "", allowInlineScripts: false, expireTime: undefined });
      const client = bare(service.app.grpcPort);
      expect(await codeOf(call(client, client.listJobTypes, {}, withKey(created.secret)))).toBe(status.OK);
      // As another replica would: the row changes, this process is not told.
      const db = new Database(join(dataDir, "jobscheduler.db"));
      db.pragma("busy_timeout = 5000");
      db.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").run(Date.now(), created.key!.id);
      db.close();
      const revokedAt = performance.now();
      await waitFor(async () => performance.now() - revokedAt > REFRESH_MS);
      expect(await codeOf(call(client, client.listJobTypes, {}, withKey(created.secret)))).toBe(status.UNAUTHENTICATED);
      client.close();
    } finally {
      await service.stop();
    }
  });
});

describe("bad credentials", () => {
  it("are UNAUTHENTICATED with one message, whatever was wrong", async () => {
    const service = await startService({}, dir());
    try {
      const client = bare(service.app.grpcPort);
      const wrongSecret = `jsk_testadmin_${"x".repeat(43)}`;
      const unknown = `jsk_nosuchkey1_${"y".repeat(43)}`;
      const cases: Metadata[] = [new Metadata(), withKey("not-a-key"), withKey(wrongSecret), withKey(unknown), withKey(TEST_ADMIN_KEY.slice(0, -1))];
      const basic = new Metadata();
      basic.set("authorization", `Basic ${Buffer.from("a:b").toString("base64")}`);
      cases.push(basic);
      const answers = await Promise.all(cases.map((metadata) => refusal(call(client, client.getDispatchingStatus, {}, metadata))));
      expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify({
        code: status.UNAUTHENTICATED,
        details: "missing or invalid credentials: send an API key as `authorization: Bearer <key>` or `x-api-key: <key>`",
      })]));
      // Authentication comes first: a malformed request without a key learns nothing more.
      const rawAnswer = await new Promise<ServiceError>((resolve) => {
        const raw = new Client(`127.0.0.1:${service.app.grpcPort}`, credentials.createInsecure());
        raw.makeUnaryRequest("/jobscheduler.v1.JobScheduler/GetJobStatus", (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xff, 0xff]), new Metadata(), (error) => {
          raw.close();
          resolve(error!);
        });
      });
      expect(rawAnswer.code).toBe(status.UNAUTHENTICATED);
      client.close();
    } finally {
      await service.stop();
    }
  });
});

describe("API_KEYS_FILE", () => {
  it("declares plain keys and hashes; a bad entry stops the start-up naming it, never quoting a key", async () => {
    const dataDir = dir();
    const plain = `jsk_plainkey1_${"p".repeat(43)}`;
    const hashed = `jsk_hashedkey1_${"h".repeat(43)}`;
    const file = join(dataDir, "keys.json");
    writeFileSync(file, JSON.stringify([
      { name: "plain", role: "viewer", key: plain },
      { name: "hashed", role: "operator", team: "team-a", id: "hashedkey1", sha256: hashApiKey(hashed) },
    ]));
    const service = await startService({ API_KEYS_FILE: file }, dataDir);
    try {
      const client = bare(service.app.grpcPort);
      expect(await codeOf(call(client, client.listJobTypes, {}, withKey(plain)))).toBe(status.OK);
      expect(await codeOf(call(client, client.pauseDispatching, { reason: "x" }, withKey(plain)))).toBe(status.PERMISSION_DENIED);
      expect(await codeOf(call(client, client.listJobTypes, {}, withKey(hashed)))).toBe(status.OK);
      // The test admin key is not in this file.
      expect(await codeOf(call(client, client.listJobTypes, {}, withKey(TEST_ADMIN_KEY)))).toBe(status.UNAUTHENTICATED);
      client.close();
    } finally {
      await service.stop();
    }

    const secret = `jsk_badentry1_${"s".repeat(43)}`;
    writeFileSync(file, JSON.stringify([{ name: "ok", role: "viewer", key: secret }, { name: "bad", role: "root", key: `${secret}z` }]));
    const config = loadConfig(baseEnv(dir(), { API_KEYS_FILE: file }));
    const failure = await startApp(config, pino({ level: "silent" })).then(() => null, (error: Error) => error.message);
    expect(failure).toBe("API_KEYS_FILE: [1] (bad): role: must be one of viewer, submitter, operator, admin");
    writeFileSync(file, `[{"name": "x", "role": "viewer", "key": "${secret}"`);
    const broken = await startApp(loadConfig(baseEnv(dir(), { API_KEYS_FILE: file })), pino({ level: "silent" })).then(() => null, (error: Error) => error.message);
    expect(broken).toBe("API_KEYS_FILE: must be a JSON array of keys");
  });
});

describe("what needs no key", () => {
  it("health, reflection (unless AUTH_REFLECTION_PUBLIC=false) and /metrics", async () => {
    const open = await spawnService(baseEnv(dir()));
    const closed = await spawnService(baseEnv(dir(), { AUTH_REFLECTION_PUBLIC: "false" }));
    try {
      const env = { ...process.env, JOBSCHEDULER_API_KEY: "" };
      const grpcCall = (port: number, ...args: string[]) => runCli(process.execPath, [join(ROOT, "scripts/grpc-call.mjs"), "-plaintext", `127.0.0.1:${port}`, ...args], { env });
      expect(JSON.parse((await grpcCall(open.grpcPort, "grpc.health.v1.Health/Check")).stdout)).toEqual({ status: "SERVING" });
      expect((await grpcCall(open.grpcPort, "list")).stdout).toBe("grpc.health.v1.Health\njobscheduler.v1.JobScheduler\n");
      // Without reflection grpcurl cannot find the method; a client with the health proto can.
      const health = new Client(`127.0.0.1:${closed.grpcPort}`, credentials.createInsecure());
      const serving = await new Promise<Buffer>((resolve, reject) =>
        health.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), new Metadata(), (e, r) => (e ? reject(e) : resolve(r!))),
      );
      health.close();
      expect([...serving]).toEqual([0x08, 0x01]); // SERVING
      const refused = await grpcCall(closed.grpcPort, "list");
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain("missing or invalid credentials");
      const allowed = await runCli(process.execPath, [join(ROOT, "scripts/grpc-call.mjs"), "-plaintext", "-H", `authorization: Bearer ${TEST_ADMIN_KEY}`, `127.0.0.1:${closed.grpcPort}`, "list"], { env });
      expect(allowed.stdout).toBe("grpc.health.v1.Health\njobscheduler.v1.JobScheduler\n");
      expect((await fetch(`http://127.0.0.1:${open.metricsPort}/metrics`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${open.httpPort}/readyz`)).status).toBe(200);
    } finally {
      await Promise.all([stopChild(open), stopChild(closed)]);
    }
  });

  it("anything, with AUTH_ENABLED=false (every caller an anonymous admin)", async () => {
    const service = await startService({ AUTH_ENABLED: "false" }, dir());
    try {
      const client = bare(service.app.grpcPort);
      expect(await codeOf(call(client, client.pauseDispatching, { reason: "no auth" }))).toBe(status.OK);
      client.close();
    } finally {
      await service.stop();
    }
  });
});

describe("the log", () => {
  it("never holds a key: created, used, revoked, refused, at debug level", async () => {
    const dataDir = dir();
    const service = await spawnService(baseEnv(dataDir, { API_KEYS_FILE: "", LOG_LEVEL: "debug" }));
    const generated = readFileSync(join(dataDir, "admin.key"), "utf8").trim();
    const admin = testClient(`127.0.0.1:${service.grpcPort}`, generated);
    const created = await call(admin, admin.createApiKey, { name: "logged?", role: Role.ROLE_OPERATOR, team: "", allowInlineScripts: false, expireTime: undefined });
    const client = bare(service.grpcPort);
    await call(client, client.pauseDispatching, { reason: "x" }, withKey(created.secret));
    await call(admin, admin.revokeApiKey, { keyId: created.key!.id });
    await codeOf(call(client, client.pauseDispatching, { reason: "x" }, withKey(created.secret)));
    const guessed = `jsk_${created.key!.id}_${"g".repeat(43)}`;
    await codeOf(call(client, client.pauseDispatching, { reason: "x" }, withKey(guessed)));
    admin.close();
    client.close();
    await stopChild(service);
    const logs = service.logs.join("\n");
    expect(logs).toContain("API key created");
    for (const secret of [generated, created.secret, guessed]) {
      const tail = secret.slice(secret.indexOf("_", 4) + 1);
      expect(logs).not.toContain(tail);
    }
  });
});
