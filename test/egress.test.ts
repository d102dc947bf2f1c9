// The egress policy's decisions (src/jobs/egress/): which targets a job may send requests to.
// Decision tests: names are answered by a stub resolver and nothing connects anywhere. The table
// of cases and answers is printed (the issue's closing note quotes it).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EgressAdmission } from "../src/jobs/egress/admission.js";
import { parseAllowlist } from "../src/shared/egress/allowlist.js";
import { checkUrl } from "../src/shared/egress/check.js";
import { policyEnv, policyFromEnv } from "../src/shared/egress/env.js";
import { formatCidr, parseCidr, parseIp, subtractCidrs } from "../src/shared/egress/ip.js";
import { allowanceFor, egressPolicy, runnerBlocks, type EgressAllowance, type EgressPolicy } from "../src/shared/egress/policy.js";
import { policyFromConfig } from "../src/jobs/egress/settings.js";
import { loadConfig } from "../src/config.js";
import { httpCheckHandler } from "../src/jobs/http-check.js";
import { k6Handler } from "../src/jobs/k6/handler.js";
import { timerHandler } from "../src/jobs/timer.js";
import { kubernetesApiServers } from "../src/runtime/kubernetes/index.js";
import { StubResolver } from "./support/stub-resolver.js";

const PUBLIC = "93.184.216.34";

const resolver = new StubResolver({
  "public.example": [PUBLIC],
  "internal.example": ["10.0.0.5"],
  "metadata.example": ["169.254.169.254"],
  "mixed.example": [PUBLIC, "192.168.1.10"],
  "mapped.example": ["::ffff:127.0.0.1"],
  "v6-ula.example": ["fd12:3456::1"],
  "team1.hackload.app": [PUBLIC],
  "hackload.app": [PUBLIC],
  "evil.example": [PUBLIC],
  "app.example.kz": [PUBLIC],
  "team-x.example": [PUBLIC],
  "team-y.example": ["10.1.2.3"],
  // Never asked: localhost names are loopback whatever a resolver would say.
  localhost: [PUBLIC],
  "app.localhost": [PUBLIC],
});

/** The default policy, with the cluster's ranges set as a deployment would set them. */
const cluster = egressPolicy({ allowlist: "*", serviceCidrs: ["10.96.0.0/12"], podCidrs: ["100.65.0.0/16"], apiServers: ["k8s-api.example.net", "198.51.100.10"] });
/** A narrowed list: globs, ports, an address block. */
const narrowed = egressPolicy({ allowlist: "*.hackload.app:443, app.example.kz:8000-8999, 203.0.113.0/24, 127.0.0.1:8080", serviceCidrs: [], podCidrs: [], apiServers: [] });

const table: string[] = [];

async function answer(policy: EgressPolicy, url: string, allowance?: EgressAllowance): Promise<string> {
  const checked = await checkUrl(policy, resolver, url, { allowance });
  const text = !checked.ok ? `REFUSED  ${checked.message}` : checked.resolveError ? `admitted by name (${checked.resolveError}; judged again before connecting)` : `allowed  -> ${checked.addresses.join(", ")}`;
  const list = policy === cluster ? "default" : policy === narrowed ? "narrowed" : `"${policy.settings.allowlist}"`;
  table.push(`${url.padEnd(44)} ${list}${allowance ? "+team" : ""}  ${text}`);
  return text;
}

afterAll(() => {
  console.log(`egress cases (TARGET_ALLOWLIST default "*" with K8S_SERVICE_CIDR=10.96.0.0/12, K8S_POD_CIDR=100.65.0.0/16; narrowed "*.hackload.app:443, app.example.kz:8000-8999, 203.0.113.0/24, 127.0.0.1:8080"):\n${table.join("\n")}`);
});

describe("refused by default, whatever the spelling", () => {
  it.each([
    ["http://127.0.0.1/", /host 127\.0\.0\.1 is not allowed by TARGET_ALLOWLIST \(127\.0\.0\.0\/8 is loopback; list it to allow\)/],
    ["http://169.254.169.254/latest/meta-data/", /169\.254\.0\.0\/16 is link-local \(cloud metadata\)/],
    ["http://[::ffff:127.0.0.1]/", /host \[::ffff:7f00:1\] is not allowed .*127\.0\.0\.0\/8 is loopback/],
    ["http://[::ffff:169.254.169.254]/", /169\.254\.0\.0\/16 is link-local/],
    ["http://[64:ff9b::a9fe:a9fe]/", /169\.254\.0\.0\/16 is link-local/],
    ["http://2130706433/", /host 127\.0\.0\.1 is not allowed/],
    ["http://0177.0.0.1/", /host 127\.0\.0\.1 is not allowed/],
    ["http://0x7f.1/", /host 127\.0\.0\.1 is not allowed/],
    ["http://127.1:8080/", /host 127\.0\.0\.1 is not allowed/],
    ["http://0/", /host 0\.0\.0\.0 is not allowed .*unspecified/],
    ["http://[::]/", /::\/128 is unspecified/],
    ["http://[::1]:8080/", /::1\/128 is loopback/],
    ["http://[fd00::1]/", /fc00::\/7 is unique-local/],
    ["http://[fe80::1]/", /fe80::\/10 is link-local/],
    ["http://10.0.0.1/", /10\.0\.0\.0\/8 is private \(RFC 1918\)/],
    ["http://172.16.5.4/", /172\.16\.0\.0\/12 is private/],
    ["http://192.168.0.1/", /192\.168\.0\.0\/16 is private/],
    ["http://100.64.0.1/", /shared address space/],
    ["http://100.65.1.2/", /100\.64\.0\.0\/10 is shared address space/],
    ["http://10.96.0.1/", /10\.0\.0\.0\/8 is private/],
    ["http://224.0.0.1/", /multicast/],
    ["http://localhost:3000/", /host localhost resolves to 127\.0\.0\.1, which TARGET_ALLOWLIST does not allow \(127\.0\.0\.0\/8 is loopback/],
    ["http://LOCALHOST./", /host localhost resolves to 127\.0\.0\.1/],
    ["http://app.localhost/", /host app\.localhost resolves to 127\.0\.0\.1/],
    ["http://internal.example/", /host internal\.example resolves to 10\.0\.0\.5, which TARGET_ALLOWLIST does not allow \(10\.0\.0\.0\/8 is private/],
    ["http://metadata.example/", /resolves to 169\.254\.169\.254/],
    ["http://mixed.example/", /host mixed\.example resolves to 192\.168\.1\.10/],
    ["http://mapped.example/", /resolves to ::ffff:7f00:1, .*127\.0\.0\.0\/8 is loopback/],
    ["http://v6-ula.example/", /resolves to fd12:3456::1, .*unique-local/],
    ["https://kubernetes.default.svc/", /host kubernetes\.default\.svc is the Kubernetes API server/],
    ["https://k8s-api.example.net:443/", /host k8s-api\.example\.net is the Kubernetes API server/],
    ["https://198.51.100.10:6443/", /198\.51\.100\.10\/32 is the Kubernetes API server/],
  ])("%s", async (url, expected) => {
    expect(await answer(cluster, url)).toMatch(expected);
  });

  it("never asks a resolver about a localhost name or a refused one", async () => {
    await answer(cluster, "http://localhost:1/");
    await answer(narrowed, "https://evil.example/");
    expect(resolver.asked).not.toContain("localhost");
    expect(resolver.asked).not.toContain("app.localhost");
    expect(resolver.asked).not.toContain("evil.example");
  });
});

describe("allowed", () => {
  it("a public name and a public address, on any port, by default", async () => {
    expect(await answer(cluster, "https://public.example/")).toBe(`allowed  -> ${PUBLIC}`);
    expect(await answer(cluster, "http://203.0.113.9:8443/x")).toBe("allowed  -> 203.0.113.9");
  });

  it("a name that does not resolve yet is admitted by name (the collector judges it before connecting)", async () => {
    expect(await answer(cluster, "http://nxdomain.example/")).toMatch(/^admitted by name \(ENOTFOUND/);
  });

  it("globs and ports of a narrowed list", async () => {
    expect(await answer(narrowed, "https://team1.hackload.app/")).toBe(`allowed  -> ${PUBLIC}`);
    expect(await answer(narrowed, "http://team1.hackload.app/")).toBe("REFUSED  host team1.hackload.app port 80 is not allowed by TARGET_ALLOWLIST");
    expect(await answer(narrowed, "https://hackload.app/")).toBe("REFUSED  host hackload.app is not allowed by TARGET_ALLOWLIST");
    expect(await answer(narrowed, "https://evil.example/")).toBe("REFUSED  host evil.example is not allowed by TARGET_ALLOWLIST");
    expect(await answer(narrowed, "http://app.example.kz:8080/")).toBe(`allowed  -> ${PUBLIC}`);
    expect(await answer(narrowed, "http://app.example.kz:9000/")).toBe("REFUSED  host app.example.kz port 9000 is not allowed by TARGET_ALLOWLIST");
    expect(await answer(narrowed, "http://203.0.113.77:1234/")).toBe("allowed  -> 203.0.113.77");
  });

  it("a refused range only through an address entry, and only on its port; IPv6-mapped forms count as the IPv4 address", async () => {
    expect(await answer(narrowed, "http://127.0.0.1:8080/")).toBe("allowed  -> 127.0.0.1");
    expect(await answer(narrowed, "http://[::ffff:127.0.0.1]:8080/")).toBe("allowed  -> ::ffff:7f00:1");
    expect(await answer(narrowed, "http://127.0.0.1:9090/")).toMatch(/^REFUSED  host 127\.0\.0\.1 port 9090 is not allowed/);
    // A glob never unlocks a refused range: the name matches, its address does not.
    const glob = egressPolicy({ allowlist: "*.example", serviceCidrs: [], podCidrs: [], apiServers: [] });
    expect(await answer(glob, "http://internal.example/")).toMatch(/^REFUSED  host internal\.example resolves to 10\.0\.0\.5/);
  });

  it("a team's own app by name in a round (an allowance), never its refused addresses", async () => {
    const teamX = allowanceFor(["https://team-x.example:8443/"], "team x");
    expect(await answer(narrowed, "https://team-x.example:8443/api/events", teamX)).toBe(`allowed  -> ${PUBLIC}`);
    expect(await answer(narrowed, "https://team-x.example:8443/api/events")).toMatch(/^REFUSED  host team-x\.example is not allowed/);
    expect(await answer(narrowed, "https://team-x.example:9443/", teamX)).toMatch(/^REFUSED/);
    const teamY = allowanceFor(["https://team-y.example/"], "team y");
    expect(await answer(narrowed, "https://team-y.example/", teamY)).toMatch(/^REFUSED  host team-y\.example resolves to 10\.1\.2\.3/);
  });
});

describe("admission by job type", () => {
  const admission = new EgressAdmission(cluster, resolver);

  it("names the spec field of each type's target", async () => {
    const k6 = k6Handler({ runtime: "kubernetes" });
    expect(await admission.refusal(k6, k6.paramsSchema.parse({ scenario: "http-get-smoke", targetUrl: "http://10.0.0.1" }))).toEqual({
      field: "k6.target_url", message: "host 10.0.0.1 is not allowed by TARGET_ALLOWLIST (10.0.0.0/8 is private (RFC 1918); list it to allow)",
    });
    const http = httpCheckHandler();
    expect((await admission.refusal(http, http.paramsSchema.parse({ baseUrl: "http://169.254.169.254/" })))?.field).toBe("http_check.base_url");
    const timer = timerHandler;
    expect((await admission.refusal(timer, timer.paramsSchema.parse({ duration: { seconds: 1, nanos: 0 }, timerName: "t", completionCallbackUrl: "http://localhost:9/done" })))?.field).toBe("timer.completion_callback_url");
    expect(await admission.refusal(timer, timer.paramsSchema.parse({ duration: { seconds: 1, nanos: 0 }, timerName: "t" }))).toBeNull();
    expect(await admission.refusal(k6, k6.paramsSchema.parse({ script: "export default function () {}" }))).toBeNull();
  });
});

describe("settings", () => {
  it("TARGET_ALLOWLIST entries: globs, blocks, ports, IPv6 in brackets; a bad one is named", () => {
    expect(parseAllowlist("*, *.a.kz:443, 10.0.0.0/8:8000-8999, [fd00::/8]:443, ::1").map((e) => `${e.kind}:${e.text}:${e.ports ? `${e.ports.from}-${e.ports.to}` : "*"}`)).toEqual([
      "host:*:*", "host:*.a.kz:443:443-443", "address:10.0.0.0/8:8000-8999:8000-8999", "address:[fd00::/8]:443:443-443", "address:::1:*",
    ]);
    expect(() => parseAllowlist("a.kz:0")).toThrow(/"a\.kz:0": "0" is not a port range within 1-65535/);
    expect(() => parseAllowlist("10.0.0.1/8")).toThrow(/is not an address or address block/);
    expect(() => parseAllowlist("bad host")).toThrow(/is not a host name or glob/);
    expect(() => loadConfig({ TARGET_ALLOWLIST: "a.kz:99999" })).toThrow(/TARGET_ALLOWLIST: "a\.kz:99999"/);
    expect(() => loadConfig({ K8S_POD_CIDR: "10.244.0.0/33" })).toThrow(/K8S_POD_CIDR: "10\.244\.0\.0\/33" is not an address block/);
  });

  it("the configuration's policy refuses K8S_API_SERVER's host and the cluster ranges", async () => {
    const config = loadConfig({ RUNTIME: "local", K8S_API_SERVER: "https://10.20.30.40:6443", K8S_TOKEN_FILE: "/dev/null", K8S_POD_CIDR: "192.0.2.0/24" });
    expect(await checkUrl(policyFromConfig(config), resolver, "https://10.20.30.40:6443/")).toMatchObject({ ok: false, message: expect.stringContaining("10.0.0.0/8 is private") });
    expect(await checkUrl(policyFromConfig(config), resolver, "http://192.0.2.7/")).toMatchObject({ ok: false, message: expect.stringContaining("192.0.2.0/24 is the cluster's Pod range (K8S_POD_CIDR)") });
    // Listing a block unlocks what it covers, the API server included: "refused unless listed".
    const listed = policyFromConfig({ ...config, TARGET_ALLOWLIST: "*,10.20.30.40" });
    expect(listed.refused.map((r) => r.label)).toContain("the Kubernetes API server");
    expect((await checkUrl(listed, resolver, "https://10.20.30.40:6443/")).ok).toBe(true);
    const byName = policyFromConfig({ ...config, K8S_API_SERVER: "https://api.cluster.example:6443" });
    expect(await checkUrl(byName, resolver, "https://api.cluster.example/")).toMatchObject({ ok: false, message: "host api.cluster.example is the Kubernetes API server, which TARGET_ALLOWLIST does not list" });
  });

  it("with the Kubernetes runtime, the server it talks to is refused too", () => {
    const dir = mkdtempSync(join(tmpdir(), "egress-kube-"));
    try {
      writeFileSync(join(dir, "token"), "t0ken");
      const config = loadConfig({ RUNTIME: "kubernetes", JOB_IMAGE: "img", K8S_API_SERVER: "https://api.cluster.example:6443", K8S_TOKEN_FILE: join(dir, "token") });
      const servers = kubernetesApiServers(config);
      expect(servers).toContain("api.cluster.example");
      expect(policyFromConfig(config, servers).refusedHosts.has("api.cluster.example")).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reaches collectors through their environment; without it they apply the default policy, never none", () => {
    const env = policyEnv(narrowed);
    expect(policyFromEnv(env.JOB_EGRESS_POLICY).allow.map((e) => e.text)).toEqual(narrowed.allow.map((e) => e.text));
    expect(policyFromEnv(undefined).allow.map((e) => e.text)).toEqual(["*"]);
    expect(policyFromEnv(undefined).refused.length).toBeGreaterThan(10);
    expect(httpCheckHandler({ egress: narrowed }).buildWorkload({ params: httpCheckHandler().paramsSchema.parse({ baseUrl: "https://a.kz" }), timeoutMs: 30_000 } as never).env.JOB_EGRESS_POLICY).toBe(env.JOB_EGRESS_POLICY);
  });
});

describe("k6 runners refuse the refused ranges themselves", () => {
  it("blocks are the refused ranges minus the listed ones, and reach k6 as --blacklist-ip / --block-hostnames", () => {
    expect(subtractCidrs(parseCidr("10.0.0.0/8")!, [parseCidr("10.1.0.0/16")!]).map(formatCidr)).toEqual([
      "10.0.0.0/16", "10.2.0.0/15", "10.4.0.0/14", "10.8.0.0/13", "10.16.0.0/12", "10.32.0.0/11", "10.64.0.0/10", "10.128.0.0/9",
    ]);
    const loopbackListed = runnerBlocks(egressPolicy({ allowlist: "*,127.0.0.0/8,[::1]", serviceCidrs: [], podCidrs: [], apiServers: [] }));
    expect(loopbackListed.ranges).not.toContain("127.0.0.0/8");
    expect(loopbackListed.ranges).not.toContain("::1/128");
    expect(loopbackListed.ranges).toContain("169.254.0.0/16");
    const blocks = runnerBlocks(cluster);
    expect(blocks.ranges).toEqual(expect.arrayContaining(["127.0.0.0/8", "169.254.0.0/16", "10.0.0.0/8", "100.65.0.0/16", "198.51.100.10/32", "fc00::/7"]));
    expect(blocks.hostnames).toEqual(expect.arrayContaining(["k8s-api.example.net", "kubernetes.default.svc"]));
    const k6 = k6Handler({ runtime: "kubernetes", egress: cluster });
    const workload = k6.buildWorkload({ id: "j", team: null, resources: { cpuLimit: "1", memoryLimit: "1Gi" }, params: k6.paramsSchema.parse({ scenario: "http-get-smoke", targetUrl: "https://public.example" }) } as never);
    const command = workload.program!.command.join(" ");
    expect(command).toContain(`--blacklist-ip=${blocks.ranges.join(",")}`);
    expect(command).toContain(`--block-hostnames=${blocks.hostnames.join(",")}`);
  });

  it("parses the addresses k6 and the resolvers give", () => {
    expect(parseIp("::ffff:127.0.0.1")).toEqual(parseIp("::ffff:7f00:1"));
    expect(parseIp("01.2.3.4")).toBeNull();
    expect(parseIp("fe80::1%eth0")).toBeNull();
    expect(parseIp("1:2:3:4:5:6:7:8:9")).toBeNull();
  });
});
