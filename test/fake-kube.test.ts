// Tests of the fake Kubernetes API server itself, through the real @kubernetes/client-node.
import {
  ApiException,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  Log,
  V1MicroTime,
  Watch,
  makeInformer,
  type KubeConfig,
  type V1ConfigMap,
  type V1Job,
  type V1Pod,
} from "@kubernetes/client-node";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  COMPLETION_INDEX,
  DEFAULT_TIMING,
  FAST_TIMING,
  outcome,
  startFakeKube,
  type FakeKube,
  type PolicyRule,
  type StoredConfigMap,
  type StoredJob,
  type StoredPod,
  type StoreEvent,
} from "./support/fake-kube/index.js";

const NS = "jobscheduler-jobs";
const MANAGED = "app.kubernetes.io/managed-by=jobscheduler";

// These tests exercise the fake's RBAC machinery with a fixed Role of their own (a broad one:
// jobs, pods, pods/log, configmaps, leases), so they do not depend on k8s/rbac.yaml; the shipped
// Role is tested against the runtime in test/kubernetes-runtime.test.ts.
const TEST_RBAC = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: jobscheduler, namespace: ${NS} }
rules:
  - { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "list", "watch", "delete"] }
  - { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }
  - { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] }
  - { apiGroups: [""], resources: ["configmaps"], verbs: ["create", "get", "delete"] }
  - { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: jobscheduler, namespace: ${NS} }
subjects: [{ kind: ServiceAccount, name: jobscheduler, namespace: jobscheduler }]
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: jobscheduler }
`;

// 1 API second = 20 ms, pods start in 20 ms and run for 20 ms.
const FAST = {
  msPerSecond: 20,
  podScheduleMs: 5,
  podStartMs: 20,
  podRunMs: 20,
  sigtermExitMs: 5,
  podBackoffBaseMs: 5,
  imagePullBackOffMs: 30,
  gcDelayMs: 2,
  bookmarkIntervalMs: 60_000,
};

interface StatusBody {
  kind: string;
  apiVersion: string;
  status: string;
  message: string;
  reason: string;
  code: number;
  details?: { name?: string; kind?: string; group?: string; causes?: Array<{ field?: string; reason?: string; message?: string }> };
}

function jobManifest(name: string, patch: (job: V1Job) => void = () => {}): V1Job {
  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, labels: { "app.kubernetes.io/managed-by": "jobscheduler" } },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { "app.kubernetes.io/managed-by": "jobscheduler" } },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "main",
              image: "registry.example/collector:1.0",
              resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "500m", memory: "128Mi" } },
            },
          ],
        },
      },
    },
  };
  patch(job);
  return job;
}

/** The ApiException a call rejects with, its body parsed as a Status. */
async function apiError(call: Promise<unknown>): Promise<{ code: number; status: StatusBody; headers: Record<string, string> }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const e = err as ApiException<string>;
    return { code: e.code, status: JSON.parse(e.body) as StatusBody, headers: e.headers };
  }
  throw new Error("expected the call to fail");
}

let fake: FakeKube;
let kc: KubeConfig;
let batch: BatchV1Api;
let core: CoreV1Api;

beforeEach(async () => {
  fake = await startFakeKube({ timing: FAST, seed: 7, rbac: { yaml: TEST_RBAC } });
  kc = fake.kubeConfig();
  batch = kc.makeApiClient(BatchV1Api);
  core = kc.makeApiClient(CoreV1Api);
});

afterEach(async () => {
  await fake.close();
  expect(fake.internalErrors).toEqual([]);
});

async function podsOfJob(name: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace: NS, labelSelector: `batch.kubernetes.io/job-name=${name}` })).items;
}

describe("REST basics", () => {
  it("creates, gets, lists and deletes a Job", async () => {
    const created = await batch.createNamespacedJob({ namespace: NS, body: jobManifest("hello") });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(1000);
    expect(created.metadata?.generation).toBe(1);
    expect(created.spec?.completions).toBe(1);
    expect(created.spec?.selector?.matchLabels?.["batch.kubernetes.io/controller-uid"]).toBe(created.metadata?.uid);
    expect(created.spec?.template.metadata?.labels?.["batch.kubernetes.io/job-name"]).toBe("hello");

    const read = await batch.readNamespacedJob({ name: "hello", namespace: NS });
    expect(read.metadata?.uid).toBe(created.metadata?.uid);

    const list = await batch.listNamespacedJob({ namespace: NS, labelSelector: MANAGED });
    expect(list.items.map((j) => j.metadata?.name)).toEqual(["hello"]);
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(created.metadata?.resourceVersion));
    expect((await batch.listNamespacedJob({ namespace: NS, labelSelector: "app.kubernetes.io/managed-by!=jobscheduler" })).items).toEqual([]);
    expect((await batch.listNamespacedJob({ namespace: NS, labelSelector: "app.kubernetes.io/managed-by in (a,jobscheduler)" })).items).toHaveLength(1);
    expect((await batch.listNamespacedJob({ namespace: NS, fieldSelector: "metadata.name=other" })).items).toEqual([]);
    expect((await batch.listNamespacedJob({ namespace: NS, labelSelector: "app.kubernetes.io/managed-by,!absent" })).items).toHaveLength(1);
    expect((await batch.listNamespacedJob({ namespace: NS, labelSelector: "!app.kubernetes.io/managed-by" })).items).toEqual([]);
    expect((await batch.listNamespacedJob({ namespace: NS, labelSelector: "app.kubernetes.io/managed-by notin (jobscheduler)" })).items).toEqual([]);

    const deleted = await batch.deleteNamespacedJob({ name: "hello", namespace: NS, propagationPolicy: "Background" });
    expect(deleted.status).toBe("Success");
    const gone = await apiError(batch.readNamespacedJob({ name: "hello", namespace: NS }));
    expect(gone.code).toBe(404);
    expect(gone.status).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", message: 'jobs.batch "hello" not found' });
  });

  it("answers 409 AlreadyExists to a duplicate create", async () => {
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("twice") });
    const err = await apiError(batch.createNamespacedJob({ namespace: NS, body: jobManifest("twice") }));
    expect(err.code).toBe(409);
    expect(err.status).toMatchObject({ reason: "AlreadyExists", message: 'jobs.batch "twice" already exists', details: { name: "twice", kind: "jobs", group: "batch" } });
  });

  it("answers 422 Invalid with causes naming the fields", async () => {
    const causesOf = async (job: V1Job): Promise<string[]> => {
      const err = await apiError(batch.createNamespacedJob({ namespace: NS, body: job }));
      expect(err.code).toBe(422);
      expect(err.status.reason).toBe("Invalid");
      return (err.status.details?.causes ?? []).map((c) => c.field ?? "");
    };
    expect(await causesOf(jobManifest("Bad_Name"))).toContain("metadata.name");
    expect(await causesOf(jobManifest("x".repeat(64)))).toContain("metadata.name");
    expect(await causesOf(jobManifest("labels", (j) => (j.metadata!.labels = { team: "a".repeat(64) })))).toContain("metadata.labels");
    expect(await causesOf(jobManifest("labelkey", (j) => (j.metadata!.labels = { "bad key": "x" })))).toContain("metadata.labels");
    expect(
      await causesOf(jobManifest("quantity", (j) => (j.spec!.template.spec!.containers[0].resources!.limits!.cpu = "lots"))),
    ).toContain("spec.template.spec.containers[0].resources.limits.cpu");
    expect(
      await causesOf(jobManifest("overcommit", (j) => (j.spec!.template.spec!.containers[0].resources!.requests!.cpu = "2"))),
    ).toContain("spec.template.spec.containers[0].resources.requests");
    expect(await causesOf(jobManifest("noimage", (j) => delete j.spec!.template.spec!.containers[0].image))).toContain(
      "spec.template.spec.containers[0].image",
    );
    expect(await causesOf(jobManifest("always", (j) => (j.spec!.template.spec!.restartPolicy = "Always")))).toContain(
      "spec.template.spec.restartPolicy",
    );
    expect(await causesOf(jobManifest("notes", (j) => (j.metadata!.annotations = { a: "x".repeat(256 * 1024) })))).toContain("metadata.annotations");
    expect(await causesOf(jobManifest("indexed", (j) => Object.assign(j.spec!, { completionMode: "Indexed", completions: undefined, parallelism: 2 })))).toContain(
      "spec.completions",
    );

    const err = await apiError(batch.createNamespacedJob({ namespace: NS, body: jobManifest("Bad_Name") }));
    expect(err.status.message).toMatch(/^Job\.batch "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    expect(err.status.details).toMatchObject({ name: "Bad_Name", kind: "Job", group: "batch" });
    expect(err.status.details?.causes?.[0]).toMatchObject({ reason: "FieldValueInvalid", field: "metadata.name" });
  });

  it("accepts every quantity form of the grammar", async () => {
    const quantities = ["100m", "0.5", "2", "64Mi", "1G", "1e3", "1.5Gi", ".5"];
    for (const [i, q] of quantities.entries()) {
      await batch.createNamespacedJob({
        namespace: NS,
        body: jobManifest(`q${i}`, (j) => (j.spec!.template.spec!.containers[0].resources = { limits: { memory: q } })),
      });
    }
    const job = fake.get<StoredJob>("Job", NS, "q3");
    // Requests default to limits.
    expect(job?.spec?.template.spec?.containers[0].resources?.requests).toEqual({ memory: "64Mi" });
  });

  it("validates ConfigMaps: key syntax and the 1 MiB limit", async () => {
    const tooBig = await apiError(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "big" }, data: { script: "x".repeat(1024 * 1024 + 1) } } }));
    expect(tooBig.code).toBe(422);
    expect(tooBig.status.details?.causes?.[0]).toMatchObject({ field: "data", reason: "FieldValueTooLong" });
    const badKey = await apiError(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "cm" }, data: { "no/slash": "x" } } }));
    expect(badKey.status.details?.causes?.[0].field).toBe("data[no/slash]");
    const ok = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "cm" }, data: { "run.js": "console.log(1)" } } });
    expect(ok.data).toEqual({ "run.js": "console.log(1)" });
  });

  it("drops unknown fields with a warning, or rejects them with fieldValidation=Strict", async () => {
    const body = jobManifest("strict", (j) => Object.assign(j.spec!, { bogus: true }));
    // client-node's serializer would drop the unknown field itself, so send it raw.
    const post = (query: string): Promise<Response> =>
      fetch(`${fake.url}/apis/batch/v1/namespaces/${NS}/jobs${query}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${fake.token}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    const strict = await post("?fieldValidation=Strict");
    expect(strict.status).toBe(400);
    expect(((await strict.json()) as StatusBody).message).toBe('strict decoding error: unknown field "spec.bogus"');
    const lenient = await post("");
    expect(lenient.status).toBe(201);
    expect(lenient.headers.get("warning")).toContain('unknown field \\"spec.bogus\\"');
    expect(fake.get<StoredJob>("Job", NS, "strict")?.spec).not.toHaveProperty("bogus");
  });

  it("answers 401 to an unknown token", async () => {
    const stranger = fake.kubeConfig({ token: "nope" }).makeApiClient(BatchV1Api);
    const err = await apiError(stranger.listNamespacedJob({ namespace: NS })).catch(() => undefined);
    // client-node throws 401 without a body.
    expect(err).toBeUndefined();
    await expect(stranger.listNamespacedJob({ namespace: NS })).rejects.toMatchObject({ code: 401 });
  });
});

describe("leases", () => {
  it("creates, reads and updates a Lease, with 409 Conflict on a stale resourceVersion", async () => {
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const created = await coordination.createNamespacedLease({
      namespace: NS,
      body: { metadata: { name: "leader" }, spec: { holderIdentity: "a", leaseDurationSeconds: 15, renewTime: new V1MicroTime() } },
    });
    expect(String(created.spec?.renewTime)).toMatch(/\.\d{6}Z$/);
    const renewed = await coordination.replaceNamespacedLease({
      name: "leader",
      namespace: NS,
      body: { ...created, spec: { ...created.spec, holderIdentity: "a", renewTime: new V1MicroTime() } },
    });
    expect(Number(renewed.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    const stale = await apiError(coordination.replaceNamespacedLease({ name: "leader", namespace: NS, body: { ...created, spec: { holderIdentity: "b" } } }));
    expect(stale.code).toBe(409);
    expect(stale.status.message).toBe(
      'Operation cannot be fulfilled on leases.coordination.k8s.io "leader": the object has been modified; please apply your changes to the latest version and try again',
    );
    expect((await coordination.readNamespacedLease({ name: "leader", namespace: NS })).spec?.holderIdentity).toBe("a");
  });

  it("creates a Lease on PUT when it is absent, and refuses a PUT without resourceVersion", async () => {
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const created = await coordination.replaceNamespacedLease({ name: "fresh", namespace: NS, body: { metadata: { name: "fresh" }, spec: { holderIdentity: "a" } } });
    expect(created.metadata?.uid).toBeDefined();
    const unconditional = await apiError(
      coordination.replaceNamespacedLease({ name: "fresh", namespace: NS, body: { metadata: { name: "fresh" }, spec: { holderIdentity: "b" } } }),
    );
    expect(unconditional.code).toBe(422);
    expect(unconditional.status.details?.causes?.[0]).toMatchObject({ field: "metadata.resourceVersion" });
  });

  it("rejects a plain Date in a MicroTime field, as a real API server does", async () => {
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const err = await apiError(
      coordination.createNamespacedLease({ namespace: NS, body: { metadata: { name: "ms" }, spec: { holderIdentity: "a", renewTime: new Date() } } }),
    );
    expect(err.code).toBe(400);
    expect(err.status.message).toContain('as "2006-01-02T15:04:05.000000Z07:00"');
  });
});

describe("RBAC from a Role manifest", () => {
  it("answers 403 with the kube-apiserver message when the Role lacks the verb", async () => {
    const rules = fake.rbac.rules();
    fake.setRole(rules.map((r): PolicyRule => (r.resources?.includes("jobs") ? { ...r, verbs: r.verbs.filter((v) => v !== "create") } : r)));
    const err = await apiError(batch.createNamespacedJob({ namespace: NS, body: jobManifest("denied") }));
    expect(err.code).toBe(403);
    expect(err.status.reason).toBe("Forbidden");
    expect(err.status.message).toBe(
      `jobs.batch is forbidden: User "system:serviceaccount:jobscheduler:jobscheduler" cannot create resource "jobs" in API group "batch" in the namespace "${NS}"`,
    );
    // Listing is still granted.
    await batch.listNamespacedJob({ namespace: NS });
  });

  it("refuses other namespaces, subresources not granted, and cluster-wide lists", async () => {
    const other = await apiError(batch.listNamespacedJob({ namespace: "default" }));
    expect(other.status.message).toContain('cannot list resource "jobs" in API group "batch" in the namespace "default"');
    const clusterWide = await apiError(batch.listJobForAllNamespaces());
    expect(clusterWide.status.message).toContain("at the cluster scope");

    fake.setRole(fake.rbac.rules().filter((r) => !r.resources?.includes("pods/log")));
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("logs") });
    const pod = await fake.waitFor(() => fake.podsOf(NS, "logs")[0]);
    const log = await apiError(core.readNamespacedPodLog({ name: pod.metadata.name, namespace: NS }));
    expect(log.status.message).toBe(
      `pods "${pod.metadata.name}" is forbidden: User "system:serviceaccount:jobscheduler:jobscheduler" cannot get resource "pods/log" in API group "" in the namespace "${NS}"`,
    );
  });

  it("records each request's verb and resource, and which grants went unused", async () => {
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("audit") });
    await batch.listNamespacedJob({ namespace: NS });
    await batch.readNamespacedJob({ name: "audit", namespace: NS });
    const seen = fake.requests.map((r) => `${r.verb} ${r.resource} ${r.namespace} ${r.name ?? ""} ${r.code}`);
    expect(seen).toEqual([`create jobs ${NS}  201`, `list jobs ${NS}  200`, `get jobs ${NS} audit 200`]);
    const unused = fake.rbac.unusedGrants().map((g) => `${g.verb} ${g.resource}`);
    expect(unused).not.toContain("create jobs");
    expect(unused).toContain("update leases");
    expect(fake.rbac.grants()).toHaveLength(unused.length + 3);
  });

  it("denies exactly the request a removed grant covered, for each grant of the Role in turn", async () => {
    const code = async (call: Promise<unknown>): Promise<number> => {
      try {
        await call;
        return 200;
      } catch (err) {
        if (err instanceof ApiException) return err.code;
        throw err;
      }
    };
    const watchCode = async (path: string): Promise<number> => {
      let failed: number | undefined;
      const request = await new Watch(kc).watch(path, {}, () => {}, (err) => (failed ??= (err as { statusCode?: number } | null)?.statusCode));
      request.abort();
      return failed ?? 200;
    };
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const probes: Record<string, () => Promise<number>> = {
      "create jobs": () => code(batch.createNamespacedJob({ namespace: NS, body: jobManifest("probe") })),
      "get jobs": () => code(batch.readNamespacedJob({ name: "probe", namespace: NS })),
      "list jobs": () => code(batch.listNamespacedJob({ namespace: NS })),
      "watch jobs": () => watchCode(`/apis/batch/v1/namespaces/${NS}/jobs`),
      "delete jobs": () => code(batch.deleteNamespacedJob({ name: "absent", namespace: NS })),
      "get pods": () => code(core.readNamespacedPod({ name: "absent", namespace: NS })),
      "list pods": () => code(core.listNamespacedPod({ namespace: NS })),
      "watch pods": () => watchCode(`/api/v1/namespaces/${NS}/pods`),
      "get pods/log": () => code(core.readNamespacedPodLog({ name: "absent", namespace: NS })),
      "create configmaps": () => code(core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { generateName: "probe-" } } })),
      "get configmaps": () => code(core.readNamespacedConfigMap({ name: "absent", namespace: NS })),
      "delete configmaps": () => code(core.deleteNamespacedConfigMap({ name: "absent", namespace: NS })),
      "create leases": () => code(coordination.createNamespacedLease({ namespace: NS, body: { metadata: { generateName: "probe-" } } })),
      "get leases": () => code(coordination.readNamespacedLease({ name: "absent", namespace: NS })),
      "update leases": () => code(coordination.replaceNamespacedLease({ name: "absent", namespace: NS, body: { metadata: { name: "absent", resourceVersion: "1" } } })),
    };
    const shipped = fake.rbac.rules();
    const grants = fake.rbac.grants().filter((g) => probes[`${g.verb} ${g.resource}`]);
    expect(grants.length).toBeGreaterThan(0);
    for (const { verb, resource } of grants) {
      const probe = probes[`${verb} ${resource}`];
      fake.setRole(shipped.map((r) => (r.resources?.includes(resource) ? { ...r, verbs: r.verbs.filter((v) => v !== verb) } : r)));
      expect(await probe(), `${verb} ${resource} without its grant`).toBe(403);
      fake.setRole(shipped);
      expect(await probe(), `${verb} ${resource} with its grant`).not.toBe(403);
    }
  });

  it("lets an admin config bypass RBAC", async () => {
    const admin = fake.kubeConfig({ admin: true }).makeApiClient(BatchV1Api);
    await admin.createNamespacedJob({ namespace: "elsewhere", body: jobManifest("root") });
    expect(fake.get("Job", "elsewhere", "root")).toBeDefined();
  });
});

describe("watch", () => {
  it("streams ADDED and MODIFIED with increasing resourceVersions, and BOOKMARKs", async () => {
    const list = await batch.listNamespacedJob({ namespace: NS });
    const events: Array<{ type: string; rv: number; name?: string }> = [];
    const request = await new Watch(kc).watch(
      `/apis/batch/v1/namespaces/${NS}/jobs`,
      { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type, obj: V1Job) => events.push({ type, rv: Number(obj.metadata?.resourceVersion), name: obj.metadata?.name }),
      () => {},
    );
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("watched") });
    await fake.waitForJobCondition(NS, "watched", "Complete");
    await fake.waitFor(() => events.some((e) => e.type === "MODIFIED"));
    fake.sendBookmarks();
    await fake.waitFor(() => events.some((e) => e.type === "BOOKMARK"));
    request.abort();

    expect(events[0]).toMatchObject({ type: "ADDED", name: "watched" });
    const rvs = events.map((e) => e.rv);
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));
    expect(new Set(rvs.slice(0, -1)).size).toBe(rvs.length - 1);
    expect(events.at(-1)).toMatchObject({ type: "BOOKMARK", rv: fake.resourceVersion });
  });

  // The test Role cannot list or watch ConfigMaps, so these use an admin config.
  it("sends BOOKMARKs periodically to watches that allow them", async () => {
    const ticking = await startFakeKube({ timing: { ...FAST, bookmarkIntervalMs: 20 }, rbac: { yaml: TEST_RBAC } });
    try {
      const seen: string[] = [];
      const request = await new Watch(ticking.kubeConfig()).watch(`/apis/batch/v1/namespaces/${NS}/jobs`, { allowWatchBookmarks: true }, (type) => seen.push(type), () => {});
      await ticking.waitFor(() => seen.filter((t) => t === "BOOKMARK").length >= 2, 1000, "two bookmarks");
      request.abort();
    } finally {
      await ticking.close();
    }
  });

  it("sends existing objects as ADDED when no resourceVersion is given, and honours timeoutSeconds", async () => {
    const admin = fake.kubeConfig({ admin: true });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "present", labels: { a: "1" } } } });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "filtered" } } });
    const seen: string[] = [];
    const ended = new Promise<unknown>((resolve) => {
      void new Watch(admin).watch(`/api/v1/namespaces/${NS}/configmaps`, { labelSelector: "a", timeoutSeconds: 5 }, (type, obj: V1ConfigMap) => seen.push(`${type} ${obj.metadata?.name}`), resolve);
    });
    expect(await ended).toBeNull(); // 5 API seconds = 100 ms, then a clean close
    expect(seen).toEqual(["ADDED present"]);
  });

  it("answers a watch from a compacted resourceVersion with a 410 Expired ERROR event", async () => {
    const admin = fake.kubeConfig({ admin: true });
    const list = await admin.makeApiClient(CoreV1Api).listNamespacedConfigMap({ namespace: NS });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "later" } } });
    fake.compactHistory();
    const events: Array<{ type: string; obj: StatusBody }> = [];
    await new Promise<void>((resolve) => {
      void new Watch(admin).watch(`/api/v1/namespaces/${NS}/configmaps`, { resourceVersion: list.metadata?.resourceVersion }, (type, obj: StatusBody) => events.push({ type, obj }), () => resolve());
    });
    expect(events).toHaveLength(1);
    expect(events[0].type).toBe("ERROR");
    expect(events[0].obj).toMatchObject({ kind: "Status", code: 410, reason: "Expired" });
    expect(events[0].obj.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it("keeps an informer in sync across dropped watches and 410s (it relists)", async () => {
    const path = `/apis/batch/v1/namespaces/${NS}/jobs`;
    const informer = makeInformer(kc, path, () => batch.listNamespacedJob({ namespace: NS, labelSelector: MANAGED }), MANAGED);
    const added: string[] = [];
    let stopped = false;
    const errors: unknown[] = [];
    informer.on("add", (job) => added.push(job.metadata?.name ?? ""));
    informer.on("error", (err) => {
      if (!stopped) errors.push(err);
    });
    await informer.start();
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("first") });
    await fake.waitFor(() => added.includes("first"));

    fake.faults.expireNextWatch();
    fake.dropWatches({ graceful: true });
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("second") });
    await fake.waitFor(() => added.includes("second"));
    const lists = fake.requests.filter((r) => r.verb === "list" && r.resource === "jobs");
    expect(lists.length).toBeGreaterThanOrEqual(2);
    expect(lists.every((r) => r.query.labelSelector === MANAGED)).toBe(true);
    stopped = true;
    await informer.stop();
    expect(errors).toEqual([]);
  });

  it("cuts open watches on dropWatches(): the client sees an error", async () => {
    const done = new Promise<unknown>((resolve) => {
      void new Watch(kc).watch(`/apis/batch/v1/namespaces/${NS}/jobs`, {}, () => {}, resolve);
    });
    await fake.waitFor(() => fake.openWatches === 1);
    fake.dropWatches();
    expect(await done).toBeInstanceOf(Error);
  });
});

describe("history, lists and resourceVersions (as kube-apiserver serves them)", () => {
  const configMaps = (names: Array<string | undefined>) => names.filter((n): n is string => n !== undefined).sort();

  it("ages history out: a watch from a resourceVersion older than the watch history gets 410 (an ERROR event, or the request answered 410), a recent one resumes", async () => {
    // 5 API seconds of watch history = 100 ms here.
    const aging = await startFakeKube({ fast: true, timing: { watchHistorySeconds: 5 }, rbac: { yaml: TEST_RBAC } });
    try {
      const admin = aging.kubeConfig({ admin: true });
      const acore = admin.makeApiClient(CoreV1Api);
      const listed = Number((await acore.listNamespacedConfigMap({ namespace: NS })).metadata?.resourceVersion);
      await acore.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "early" } } });
      const watchFrom = (resourceVersion: number) => {
        const events: Array<{ type: string; obj: StatusBody & V1ConfigMap }> = [];
        let handle: { abort(): void } | undefined;
        const ended = new Promise<unknown>((resolve) => {
          void new Watch(admin)
            .watch(`/api/v1/namespaces/${NS}/configmaps`, { resourceVersion: String(resourceVersion) }, (type, obj: StatusBody & V1ConfigMap) => events.push({ type, obj }), resolve)
            .then((h) => (handle = h), resolve);
        });
        return { events, ended, stop: () => handle?.abort() };
      };
      // Within the history: the change is replayed.
      const recent = watchFrom(listed);
      await aging.waitFor(() => recent.events.length === 1);
      expect(recent.events[0]).toMatchObject({ type: "ADDED", obj: { metadata: { name: "early" } } });
      recent.stop();

      await aging.waitFor(() => aging.watchableFrom > listed, 2000, "the history to age past the list");
      const old = watchFrom(listed);
      await old.ended;
      expect(old.events.map((e) => [e.type, e.obj.code, e.obj.reason])).toEqual([["ERROR", 410, "Expired"]]);
      expect(old.events[0].obj.message).toBe(`too old resource version: ${listed} (${aging.watchableFrom})`);
      // From the current version a watch still resumes, however quiet the history has been.
      const current = watchFrom(aging.resourceVersion);
      await acore.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "later" } } });
      await aging.waitFor(() => current.events.length === 1);
      expect(current.events[0]).toMatchObject({ type: "ADDED", obj: { metadata: { name: "later" } } });
      current.stop();

      aging.faults.expireNextWatch(1, "response");
      const refused = watchFrom(aging.resourceVersion);
      expect(await refused.ended).toMatchObject({ statusCode: 410 });
    } finally {
      await aging.close();
    }
  });

  it("lists at a resourceVersion: unset and NotOlderThan answer the current state, Exact (or a version with limit) the state then; 410 once compacted", async () => {
    const acore = fake.kubeConfig({ admin: true }).makeApiClient(CoreV1Api);
    await acore.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "a" } } });
    const afterA = (await acore.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "b" } } })).metadata!.resourceVersion!;
    await acore.deleteNamespacedConfigMap({ name: "a", namespace: NS });
    await acore.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "c" } } });
    const now = String(fake.resourceVersion);
    const names = async (options: { resourceVersion?: string; resourceVersionMatch?: string; limit?: number }) => {
      const list = await acore.listNamespacedConfigMap({ namespace: NS, ...options });
      return { names: configMaps(list.items.map((i) => i.metadata?.name)), rv: list.metadata?.resourceVersion, next: list.metadata?._continue };
    };
    expect(await names({})).toEqual({ names: ["b", "c"], rv: now, next: undefined });
    expect(await names({ resourceVersion: "0" })).toMatchObject({ names: ["b", "c"] });
    expect(await names({ resourceVersion: afterA, resourceVersionMatch: "NotOlderThan" })).toEqual({ names: ["b", "c"], rv: now, next: undefined });
    expect(await names({ resourceVersion: afterA })).toEqual({ names: ["b", "c"], rv: now, next: undefined });
    expect(await names({ resourceVersion: afterA, resourceVersionMatch: "Exact" })).toEqual({ names: ["a", "b"], rv: afterA, next: undefined });
    // A non-zero version with a limit is Exact too (the legacy rule), and pages carry on from that snapshot.
    const page = await names({ resourceVersion: afterA, limit: 1 });
    expect(page).toMatchObject({ names: ["a"], rv: afterA, next: expect.any(String) });
    const rest = await acore.listNamespacedConfigMap({ namespace: NS, _continue: page.next, limit: 5 });
    expect([rest.items.map((i) => i.metadata?.name), rest.metadata?.resourceVersion]).toEqual([["b"], afterA]);

    fake.compactHistory();
    const gone = await apiError(acore.listNamespacedConfigMap({ namespace: NS, resourceVersion: afterA, resourceVersionMatch: "Exact" }));
    expect([gone.code, gone.status.reason, gone.status.message]).toEqual([410, "Expired", "The resourceVersion for the provided list is too old."]);
    expect(await names({ resourceVersion: afterA })).toMatchObject({ names: ["b", "c"], rv: now });
  });

  it("waits for a resourceVersion it has not reached (3 API seconds), then answers 504 Too large resource version", async () => {
    // Real seconds here: the wait must outlast a create on a busy machine.
    const waiter = await startFakeKube({ fast: true, timing: { msPerSecond: 1000 }, rbac: false });
    try {
      const wcore = waiter.kubeConfig().makeApiClient(CoreV1Api);
      const next = waiter.resourceVersion + 1;
      const waiting = wcore.listNamespacedConfigMap({ namespace: NS, resourceVersion: String(next), resourceVersionMatch: "NotOlderThan" });
      await waiter.waitFor(() => waiter.requests.some((r) => r.verb === "list" && r.query.resourceVersion === String(next)));
      await wcore.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "arrives" } } });
      const answered = await waiting;
      expect([answered.items.map((i) => i.metadata?.name), answered.metadata?.resourceVersion]).toEqual([["arrives"], String(next)]);

      const far = waiter.resourceVersion + 1000;
      const tooLarge = await apiError(wcore.listNamespacedConfigMap({ namespace: NS, resourceVersion: String(far) }));
      expect([tooLarge.code, tooLarge.status.reason, tooLarge.status.message]).toEqual([504, "Timeout", `Too large resource version: ${far}, current: ${waiter.resourceVersion}`]);
      expect(tooLarge.headers["retry-after"]).toBe("1");
    } finally {
      await waiter.close();
    }
  });

  it("refuses list options kube-apiserver refuses: 422 naming resourceVersionMatch, 400 for a version with continue", async () => {
    const acore = fake.kubeConfig({ admin: true }).makeApiClient(CoreV1Api);
    const cases: Array<[Parameters<CoreV1Api["listNamespacedConfigMap"]>[0], number, string]> = [
      [{ namespace: NS, resourceVersionMatch: "Exact" }, 422, "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"],
      [{ namespace: NS, resourceVersion: "0", resourceVersionMatch: "Exact" }, 422, 'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'],
      [{ namespace: NS, resourceVersion: "5", resourceVersionMatch: "Newest" }, 422, 'resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""'],
      [{ namespace: NS, resourceVersion: "5", _continue: "eyJydiI6MSwiYWZ0ZXIiOiIifQ" }, 400, "specifying resource version is not allowed when using continue"],
      [{ namespace: NS, resourceVersion: "abc" }, 400, 'resourceVersion: Invalid value: "abc": must be a non-negative integer'],
    ];
    for (const [options, code, message] of cases) {
      const refused = await apiError(acore.listNamespacedConfigMap(options));
      expect([refused.code, refused.status.message]).toEqual([code, code === 422 ? `ListOptions.meta.k8s.io "" is invalid: ${message}` : message]);
      if (code === 422) expect(refused.status.details?.causes?.[0]).toMatchObject({ field: "resourceVersionMatch" });
    }
  });

  it("pages with continue tokens from the first page's snapshot; a token older than the compaction gets 410 with a token to go on, and a fresh list recovers", async () => {
    // Compaction every 50 API seconds = 1 s here (the first two pages must come within it).
    const compacting = await startFakeKube({ fast: true, timing: { compactionSeconds: 50 }, rbac: false });
    try {
      const ccore = compacting.kubeConfig().makeApiClient(CoreV1Api);
      for (const name of ["p1", "p2", "p3", "p4", "p5"]) await ccore.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name } } });
      const first = await ccore.listNamespacedConfigMap({ namespace: NS, limit: 2 });
      expect([first.items.map((i) => i.metadata?.name), first.metadata?.remainingItemCount]).toEqual([["p1", "p2"], 3]);
      await ccore.deleteNamespacedConfigMap({ name: "p3", namespace: NS });
      await ccore.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "p6" } } });
      // The snapshot of the first page: p3 is still there, p6 not yet.
      const second = await ccore.listNamespacedConfigMap({ namespace: NS, limit: 2, _continue: first.metadata?._continue });
      expect(second.items.map((i) => i.metadata?.name)).toEqual(["p3", "p4"]);
      expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);

      const issuedAt = Number(first.metadata?.resourceVersion);
      await compacting.waitFor(() => compacting.compactedTo > issuedAt, 2000, "a compaction past the first page");
      const expired = await apiError(ccore.listNamespacedConfigMap({ namespace: NS, limit: 2, _continue: second.metadata?._continue }));
      expect([expired.code, expired.status.reason]).toEqual([410, "Expired"]);
      expect(expired.status.message).toMatch(/^The provided continue parameter is too old to display a consistent list result/);
      const inconsistent = (expired.status as StatusBody & { metadata: { continue?: string } }).metadata.continue;
      expect(inconsistent).toEqual(expect.any(String));
      // Its token goes on at the latest state (p5, then p6 that came after the first page).
      const rest = await ccore.listNamespacedConfigMap({ namespace: NS, limit: 2, _continue: inconsistent });
      expect(rest.items.map((i) => i.metadata?.name)).toEqual(["p5", "p6"]);
      // A fresh list recovers the consistent state.
      const fresh = await ccore.listNamespacedConfigMap({ namespace: NS });
      expect(fresh.items.map((i) => i.metadata?.name)).toEqual(["p1", "p2", "p4", "p5", "p6"]);
    } finally {
      await compacting.close();
    }
  });
});

describe("job controller and kubelet", () => {
  it("runs a Job to Complete with a termination message readable from the pod status", async () => {
    fake.scriptPods({ job: "ok" }, outcome.succeed('{"status":"passed","score":1}', { log: "line one\nline two\n" }));
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("ok") });
    await fake.waitForJobCondition(NS, "ok", "Complete");

    const job = await batch.readNamespacedJob({ name: "ok", namespace: NS });
    expect(job.status?.succeeded).toBe(1);
    expect(job.status?.active).toBe(0);
    expect(job.status?.startTime).toBeInstanceOf(Date);
    expect(job.status?.completionTime).toBeInstanceOf(Date);
    expect(job.status?.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ["SuccessCriteriaMet", "True", "CompletionsReached"],
      ["Complete", "True", "CompletionsReached"],
    ]);

    const [pod] = await podsOfJob("ok");
    expect(pod.metadata?.name).toMatch(/^ok-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(pod.metadata?.labels).toMatchObject({ "job-name": "ok", "controller-uid": job.metadata?.uid, "app.kubernetes.io/managed-by": "jobscheduler" });
    expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Job", name: "ok", uid: job.metadata?.uid, controller: true });
    expect(pod.status?.phase).toBe("Succeeded");
    expect(pod.status?.containerStatuses?.[0].state?.terminated).toMatchObject({
      exitCode: 0,
      reason: "Completed",
      message: '{"status":"passed","score":1}',
    });
    const tail = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NS, tailLines: 1 });
    expect(tail).toBe("line two\n");
    expect(await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NS, container: "main", limitBytes: 4 })).toBe("line");
  });

  it("truncates termination messages to 4 KiB", async () => {
    fake.scriptPods({ job: "big" }, outcome.succeed("r".repeat(5000)));
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("big") });
    await fake.waitForJobCondition(NS, "big", "Complete");
    const [pod] = fake.podsOf(NS, "big");
    expect(pod.status?.containerStatuses?.[0].state?.terminated?.message).toHaveLength(4096);
  });

  it("fails a Job with BackoffLimitExceeded after backoffLimit+1 failed pods", async () => {
    fake.scriptPods({ job: "flaky" }, outcome.fail(3, { terminationMessage: "boom" }));
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("flaky", (j) => (j.spec!.backoffLimit = 2)) });
    const job = await fake.waitForJobCondition(NS, "flaky", "Failed");
    expect(job.status?.failed).toBe(3);
    expect(job.status?.conditions?.find((c) => c.type === "Failed")).toMatchObject({ reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" });
    const pods = fake.podsOf(NS, "flaky");
    expect(pods).toHaveLength(3);
    for (const pod of pods) expect(pod.status?.containerStatuses?.[0].state?.terminated).toMatchObject({ exitCode: 3, reason: "Error", message: "boom" });
  });

  it("counts OnFailure container restarts against the backoff limit", async () => {
    fake.scriptPods({ job: "restarts" }, [outcome.fail(1), outcome.succeed("ok")]);
    await batch.createNamespacedJob({
      namespace: NS,
      body: jobManifest("restarts", (j) => {
        j.spec!.backoffLimit = 3;
        j.spec!.template.spec!.restartPolicy = "OnFailure";
      }),
    });
    await fake.waitForJobCondition(NS, "restarts", "Complete");
    const [pod] = fake.podsOf(NS, "restarts");
    expect(pod.status?.containerStatuses?.[0]).toMatchObject({ restartCount: 1, lastState: { terminated: { exitCode: 1 } } });
  });

  it("kills running pods and fails the Job with DeadlineExceeded after activeDeadlineSeconds", async () => {
    fake.scriptPods({ job: "slow" }, outcome.hang());
    const terminated: number[] = [];
    fake.events.on("change", (e) => {
      const code = (e.object as unknown as StoredPod).status?.containerStatuses?.[0]?.state?.terminated?.exitCode;
      if (e.kind === "Pod" && code !== undefined) terminated.push(code);
    });
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("slow", (j) => (j.spec!.activeDeadlineSeconds = 5)) });
    const job = await fake.waitForJobCondition(NS, "slow", "Failed");
    expect(job.status?.conditions?.find((c) => c.type === "Failed")).toMatchObject({ reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" });
    expect(terminated).toContain(143); // SIGTERM
    await fake.waitFor(() => fake.podsOf(NS, "slow").length === 0, 1000, "the killed pod to be removed");
    expect(job.status?.failed).toBe(1);
  });

  it("reports OOMKilled", async () => {
    fake.scriptPods({ job: "oom" }, outcome.oomKilled());
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("oom") });
    await fake.waitForJobCondition(NS, "oom", "Failed");
    const [pod] = await podsOfJob("oom");
    expect(pod.status?.containerStatuses?.[0].state?.terminated).toMatchObject({ exitCode: 137, reason: "OOMKilled" });
  });

  it("keeps a pod Pending with ErrImagePull then ImagePullBackOff", async () => {
    fake.scriptPods({ job: "pull" }, outcome.imagePullFailure());
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("pull") });
    await fake.waitFor(() => fake.podsOf(NS, "pull")[0]?.status?.containerStatuses?.[0]?.state?.waiting?.reason === "ImagePullBackOff");
    const [pod] = await podsOfJob("pull");
    expect(pod.status?.phase).toBe("Pending");
    expect(pod.status?.containerStatuses?.[0].state?.waiting?.message).toBe('Back-off pulling image "registry.example/collector:1.0"');
    const log = await apiError(core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: NS }));
    expect(log.code).toBe(400);
    expect((await batch.readNamespacedJob({ name: "pull", namespace: NS })).status).toMatchObject({ active: 1, ready: 0 });
  });

  it("keeps an unschedulable pod Pending with PodScheduled=False", async () => {
    fake.scriptPods({ job: "huge" }, outcome.unschedulable());
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("huge") });
    await fake.waitFor(() => fake.podsOf(NS, "huge")[0]?.status?.conditions?.length);
    const [pod] = await podsOfJob("huge");
    expect(pod.status?.phase).toBe("Pending");
    expect(pod.status?.conditions?.[0]).toMatchObject({ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes are available: 3 Insufficient cpu." });
  });

  it("creates one pod per index for an Indexed Job", async () => {
    fake.scriptPods({ job: "shards" }, outcome.hang());
    await batch.createNamespacedJob({
      namespace: NS,
      body: jobManifest("shards", (j) => Object.assign(j.spec!, { completionMode: "Indexed", completions: 3, parallelism: 3 })),
    });
    await fake.waitFor(() => fake.podsOf(NS, "shards").filter((p) => p.status?.phase === "Running").length === 3);
    const pods = fake.podsOf(NS, "shards");
    expect(pods.map((p) => p.metadata.labels?.[COMPLETION_INDEX]).sort()).toEqual(["0", "1", "2"]);
    for (const pod of pods) {
      const index = pod.metadata.annotations?.[COMPLETION_INDEX];
      expect(pod.metadata.name).toMatch(new RegExp(`^shards-${index}-[a-z0-9]{5}$`));
      expect(pod.spec?.containers[0].env).toContainEqual({
        name: "JOB_COMPLETION_INDEX",
        valueFrom: { fieldRef: { fieldPath: `metadata.labels['${COMPLETION_INDEX}']` } },
      });
    }
    expect((await batch.readNamespacedJob({ name: "shards", namespace: NS })).status).toMatchObject({ active: 3, ready: 3 });
    for (const pod of pods) fake.completePod(NS, pod.metadata.name, outcome.succeed());
    const job = await fake.waitForJobCondition(NS, "shards", "Complete");
    expect(job.status).toMatchObject({ succeeded: 3, completedIndexes: "0-2" });
  });

  it("applies podFailurePolicy: FailJob on an exit code, Ignore on a disruption", async () => {
    const policy = {
      rules: [
        { action: "FailJob", onExitCodes: { operator: "In", values: [42] } },
        { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
      ],
    };
    fake.scriptPods({ job: "policy" }, [outcome.hang(), outcome.fail(42)]);
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("policy", (j) => (j.spec!.podFailurePolicy = policy)) });
    const first = await fake.waitFor(() => fake.podsOf(NS, "policy").find((p) => p.status?.phase === "Running"));
    fake.evictPod(NS, first.metadata.name);
    const job = await fake.waitForJobCondition(NS, "policy", "Failed");
    expect(job.status?.failed).toBe(1); // the evicted pod was ignored
    expect(job.status?.conditions?.find((c) => c.type === "Failed")).toMatchObject({
      reason: "PodFailurePolicy",
      message: expect.stringMatching(/^Container main for pod jobscheduler-jobs\/policy-\w{5} failed with exit code 42 matching FailJob rule at index 0$/),
    });
  });

  it("terminates a deleted running pod with SIGTERM (exit 143) and counts it as failed", async () => {
    fake.scriptPods({ job: "victim" }, [outcome.hang(), outcome.succeed()]);
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("victim", (j) => (j.spec!.backoffLimit = 1)) });
    const running = await fake.waitFor(() => fake.podsOf(NS, "victim").find((p) => p.status?.phase === "Running"));
    // The test Role cannot delete pods; an admin can.
    const admin = fake.kubeConfig({ admin: true }).makeApiClient(CoreV1Api);
    const deleted = await admin.deleteNamespacedPod({ name: running.metadata.name, namespace: NS });
    expect(deleted.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    const failed = await fake.waitFor(() => fake.get<StoredPod>("Pod", NS, running.metadata.name)?.status?.containerStatuses?.[0]?.state?.terminated);
    expect(failed).toMatchObject({ exitCode: 143, reason: "Error" });
    const job = await fake.waitForJobCondition(NS, "victim", "Complete");
    expect(job.status).toMatchObject({ failed: 1, succeeded: 1 });
  });

  it("deletes a finished Job and its pods after ttlSecondsAfterFinished", async () => {
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("ttl", (j) => (j.spec!.ttlSecondsAfterFinished = 2)) });
    await fake.waitForJobCondition(NS, "ttl", "Complete");
    await fake.waitFor(() => !fake.get("Job", NS, "ttl") && fake.podsOf(NS, "ttl").length === 0, 2000, "TTL cleanup");
  });

  it("runs seeded Jobs, and leaves seeded finished ones alone", async () => {
    fake.seed({ apiVersion: "batch/v1", kind: "Job", metadata: { name: "seeded", namespace: NS }, spec: jobManifest("seeded").spec });
    await fake.waitForJobCondition(NS, "seeded", "Complete");
    fake.seed({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "done", namespace: NS },
      spec: jobManifest("done").spec,
      status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] },
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.podsOf(NS, "done")).toEqual([]);
  });

  it("can pause the controller", async () => {
    fake.pauseController();
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("paused") });
    await new Promise((r) => setTimeout(r, 60));
    expect(fake.podsOf(NS, "paused")).toEqual([]);
    fake.resumeController();
    await fake.waitForJobCondition(NS, "paused", "Complete");
  });
});

describe("deletion and garbage collection", () => {
  async function runningJobWithConfigMap(name: string): Promise<StoredJob> {
    fake.scriptPods({ job: name }, outcome.hang());
    const job = await batch.createNamespacedJob({ namespace: NS, body: jobManifest(name) });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: { name: `${name}-script`, ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name, uid: job.metadata!.uid! }] },
        data: { "script.js": "1" },
      },
    });
    await fake.waitFor(() => fake.podsOf(NS, name).some((p) => p.status?.phase === "Running"));
    return fake.get<StoredJob>("Job", NS, name)!;
  }

  it("Background propagation removes the pods and owned ConfigMaps", async () => {
    await runningJobWithConfigMap("bg");
    await batch.deleteNamespacedJob({ name: "bg", namespace: NS, propagationPolicy: "Background" });
    expect(fake.get("Job", NS, "bg")).toBeUndefined();
    await fake.waitFor(() => fake.podsOf(NS, "bg").length === 0 && !fake.get("ConfigMap", NS, "bg-script"), 2000, "garbage collection");
  });

  it("Foreground propagation keeps the Job until its pods are gone", async () => {
    await runningJobWithConfigMap("fg");
    await batch.deleteNamespacedJob({ name: "fg", namespace: NS, propagationPolicy: "Foreground" });
    // The API answers with the Job itself (client-node types the answer as V1Status, so look in the store).
    const pending = fake.get<StoredJob>("Job", NS, "fg");
    expect(pending?.metadata).toMatchObject({ finalizers: ["foregroundDeletion"], deletionTimestamp: expect.any(String) });
    await fake.waitFor(() => !fake.get("Job", NS, "fg"), 2000, "foreground deletion");
    expect(fake.podsOf(NS, "fg")).toEqual([]);
    expect(fake.get("ConfigMap", NS, "fg-script")).toBeUndefined();
  });

  it("Foreground propagation holds the Job (deletionTimestamp, foregroundDeletion) while its pod takes its grace period", async () => {
    // A container that ignores SIGTERM is killed at the end of its grace period (5 API s = 100 ms).
    fake.scriptPods({ job: "graceful" }, outcome.hang({ ignoreSigterm: true }));
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("graceful", (j) => (j.spec!.template.spec!.terminationGracePeriodSeconds = 5)) });
    const pod = await fake.waitFor(() => fake.podsOf(NS, "graceful").find((p) => p.status?.phase === "Running"));
    const seen: string[] = [];
    const record = (event: StoreEvent): void => {
      const o = event.object as StoredPod;
      if (event.kind === "Job" && o.metadata.name === "graceful") seen.push(`Job ${event.type}${o.metadata.deletionTimestamp ? " marked" : ""}`);
      if (event.kind === "Pod" && o.metadata.name === pod.metadata.name) {
        const exit = o.status?.containerStatuses?.[0]?.state?.terminated?.exitCode;
        seen.push(`Pod ${event.type}${o.metadata.deletionTimestamp ? " terminating" : ""}${exit !== undefined ? ` exit ${exit}` : ""}`);
      }
    };
    fake.events.on("change", record);
    try {
      await batch.deleteNamespacedJob({ name: "graceful", namespace: NS, propagationPolicy: "Foreground" });
      expect(fake.get<StoredJob>("Job", NS, "graceful")?.metadata).toMatchObject({ finalizers: ["foregroundDeletion"], deletionTimestamp: expect.any(String) });
      await fake.waitFor(() => !fake.get("Job", NS, "graceful"), 3000, "foreground deletion");
    } finally {
      fake.events.off("change", record);
    }
    // From the mark on (the controller may write the Job's status before it).
    const fromMark = seen.slice(seen.indexOf("Job MODIFIED marked"));
    const distinct = fromMark.filter((line, i) => line !== fromMark[i - 1]);
    expect(distinct).toEqual([
      "Job MODIFIED marked",
      "Pod MODIFIED terminating",
      "Pod MODIFIED terminating exit 137",
      "Pod DELETED terminating exit 137",
      "Job MODIFIED marked",
      "Job DELETED marked",
    ]);
  });

  it("Orphan (the batch/v1 default) leaves pods and ConfigMaps without the owner reference", async () => {
    await runningJobWithConfigMap("orphan");
    await batch.deleteNamespacedJob({ name: "orphan", namespace: NS });
    await new Promise((r) => setTimeout(r, 30));
    const [pod] = fake.podsOf(NS, "orphan");
    expect(pod.status?.phase).toBe("Running");
    expect(pod.metadata.ownerReferences).toBeUndefined();
    expect(fake.get<StoredConfigMap>("ConfigMap", NS, "orphan-script")?.metadata.ownerReferences).toBeUndefined();
  });
});

describe("fault injection", () => {
  it("answers 429 with Retry-After", async () => {
    fake.faults.throttle(7, { count: 1, match: { verb: "list", resource: "jobs" } });
    const err = await apiError(batch.listNamespacedJob({ namespace: NS }));
    expect(err.code).toBe(429);
    expect(err.headers["retry-after"]).toBe("7");
    expect(err.status).toMatchObject({ reason: "TooManyRequests", details: { retryAfterSeconds: 7 } });
    await batch.listNamespacedJob({ namespace: NS });
  });

  it("injects 500s by count and by rate, per verb and resource", async () => {
    fake.faults.failNext(1, { match: { verb: "create" } });
    const err = await apiError(batch.createNamespacedJob({ namespace: NS, body: jobManifest("unlucky") }));
    expect(err.code).toBe(500);
    expect(err.status.reason).toBe("InternalError");
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("unlucky") });

    const always = fake.faults.errorRate(100, { code: 503, match: { resource: "pods" } });
    expect((await apiError(core.listNamespacedPod({ namespace: NS }))).code).toBe(503);
    await batch.listNamespacedJob({ namespace: NS });
    always.remove();
    await core.listNamespacedPod({ namespace: NS });
  });

  it("slows responses down", async () => {
    fake.faults.delay(80, { verb: "get" });
    const started = Date.now();
    await batch.listNamespacedJob({ namespace: NS });
    const fast = Date.now() - started;
    await apiError(batch.readNamespacedJob({ name: "none", namespace: NS }));
    expect(Date.now() - started - fast).toBeGreaterThanOrEqual(75);
  });
});

describe("load: latency, flow control, a resetting proxy (on by default)", () => {
  it("throttles every verb past the user's rate with 429 and Retry-After, pods/log and watch included; admins are exempt", async () => {
    const loaded = await startFakeKube({ timing: FAST, rbac: { yaml: TEST_RBAC }, flowControl: { qps: 0.001, burst: 2, retryAfterSeconds: 3 } });
    try {
      const lkc = loaded.kubeConfig();
      const lbatch = lkc.makeApiClient(BatchV1Api);
      const lcore = lkc.makeApiClient(CoreV1Api);
      await lbatch.listNamespacedJob({ namespace: NS });
      await lcore.listNamespacedPod({ namespace: NS });
      const refused = await apiError(lcore.readNamespacedPodLog({ name: "any", namespace: NS }));
      expect(refused.code).toBe(429);
      expect(refused.headers["retry-after"]).toBe("3");
      const watchEnd = new Promise<unknown>((resolve) => void new Watch(lkc).watch(`/apis/batch/v1/namespaces/${NS}/jobs`, {}, () => {}, resolve));
      expect((await watchEnd) as { statusCode?: number }).toMatchObject({ statusCode: 429 });
      // The exempt priority level: a cluster admin is never throttled.
      await loaded.kubeConfig({ admin: true }).makeApiClient(BatchV1Api).listNamespacedJob({ namespace: NS });
      expect(loaded.flowControl!.rejected).toBe(2);
      expect(loaded.requests.filter((r) => r.code === 429).map((r) => `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ""}`)).toEqual(["get pods/log", "watch jobs"]);
    } finally {
      await loaded.close();
    }
  });

  it("answers each request after its latency, pods/log after a longer one", async () => {
    const slow = await startFakeKube({ timing: FAST, rbac: { yaml: TEST_RBAC }, latency: { requestMs: 40, logMs: 120 } });
    try {
      const score = slow.kubeConfig().makeApiClient(CoreV1Api);
      let started = performance.now();
      await score.listNamespacedPod({ namespace: NS });
      expect(performance.now() - started).toBeGreaterThanOrEqual(39);
      started = performance.now();
      await apiError(score.readNamespacedPodLog({ name: "none", namespace: NS }));
      expect(performance.now() - started).toBeGreaterThanOrEqual(119);
    } finally {
      await slow.close();
    }
  });

  it("resets every watch connection a set time after it opened, as a proxy in front of the server would", async () => {
    const proxied = await startFakeKube({ timing: FAST, rbac: { yaml: TEST_RBAC }, watchResetMs: 50 });
    try {
      const ended = new Promise<unknown>((resolve) => void new Watch(proxied.kubeConfig()).watch(`/apis/batch/v1/namespaces/${NS}/jobs`, {}, () => {}, resolve));
      expect(await ended).toBeInstanceOf(Error);
      expect(proxied.watchResets).toBe(1);
    } finally {
      await proxied.close();
    }
    expect(fake.watchResetMs).toBeGreaterThan(0);
    const quiet = await startFakeKube({ quiet: true });
    expect([quiet.watchResetMs, quiet.latency, quiet.flowControl]).toEqual([0, undefined, undefined]);
    await quiet.close();
  });

  it("starts and runs pods for hundreds of ms by default (a real cluster's pace); fast: true is the unit tests' mode", async () => {
    const real = await startFakeKube({ quiet: true, rbac: false });
    try {
      expect(real.timing).toEqual(DEFAULT_TIMING);
      expect(real.timing.podStartMs).toBeGreaterThanOrEqual(300);
      expect(real.timing.podRunMs).toBeGreaterThanOrEqual(300);
      const rbatch = real.kubeConfig().makeApiClient(BatchV1Api);
      await rbatch.createNamespacedJob({ namespace: NS, body: jobManifest("paced") });
      const created = performance.now();
      const running = await real.waitFor(() => real.podsOf(NS, "paced").find((p) => p.status?.phase === "Running"));
      const runningAt = performance.now();
      expect(running.status?.startTime).toEqual(expect.any(String));
      await real.waitForJobCondition(NS, "paced", "Complete");
      // Lower bounds only: what the fake promises, whatever the machine's load adds.
      expect(runningAt - created).toBeGreaterThanOrEqual(real.timing.podStartMs - 20);
      expect(performance.now() - runningAt).toBeGreaterThanOrEqual(real.timing.podRunMs - 20);
    } finally {
      await real.close();
    }
    const fast = await startFakeKube({ fast: true, rbac: false });
    expect(fast.timing).toEqual(FAST_TIMING);
    await fast.close();
  });
});

describe("pods/log?follow=true", () => {
  async function follow(pod: string, tailLines?: number): Promise<{ text: () => string; ended: Promise<void> }> {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
    const ended = new Promise<void>((resolve) => stream.on("end", resolve));
    await new Log(kc).log(NS, pod, "main", stream, { follow: true, tailLines });
    return { text: () => text, ended };
  }

  it("streams what the container writes until it stops, including what it logs on SIGTERM", async () => {
    fake.scriptPods({ job: "followed" }, outcome.hang({ log: "one\ntwo\n", sigtermLog: "stopping on SIGTERM\n" }));
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("followed") });
    const pod = await fake.waitFor(() => fake.podsOf(NS, "followed").find((p) => p.status?.phase === "Running"));
    const followed = await follow(pod.metadata.name, 1);
    fake.appendPodLog(NS, pod.metadata.name, "three\n");
    await fake.waitFor(() => followed.text().includes("three"));
    fake.delete("Pod", NS, pod.metadata.name);
    await followed.ended;
    expect(followed.text()).toBe("two\nthree\nstopping on SIGTERM\n");
  });

  it("gives a stopped container's log and ends at once", async () => {
    fake.scriptPods({ job: "stopped" }, outcome.succeed(undefined, { log: "done\n" }));
    await batch.createNamespacedJob({ namespace: NS, body: jobManifest("stopped") });
    await fake.waitForJobCondition(NS, "stopped", "Complete");
    const followed = await follow(fake.podsOf(NS, "stopped")[0].metadata.name);
    await followed.ended;
    expect(followed.text()).toBe("done\n");
  });
});
