// Offline checks of what ships for deployment: k8s/ manifests, the Dockerfile, Taskfile.yml and the
// scripts/*.sh helpers the tasks call. No cluster, container engine or `task` binary is needed.
//
// Each Kubernetes object is checked twice, because each check misses what the other catches:
//   - kubernetes-models validates types, required fields and enums, but accepts unknown fields;
//   - a round trip through @kubernetes/client-node's ObjectSerializer drops unknown fields (a typo
//     such as `readOnlyRootFileSystem` or a field at the wrong level), so a diff reveals them.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
// Not re-exported from the package root in client-node 1.4; the package has no "exports" map.
import { ObjectSerializer } from "@kubernetes/client-node/dist/serializer.js";
import yaml from "js-yaml";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { Role, RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey, parseApiKey } from "../src/auth/api-key.js";
import { parseKeysFile } from "../src/auth/keys-file.js";
import { configSchema, loadConfig } from "../src/config.js";
import { cidrContains, formatCidr, parseCidr, parseIp } from "../src/shared/egress/ip.js";
import { egressPolicy } from "../src/shared/egress/policy.js";
import { K6_API_PORT } from "../src/shared/k6/command.js";
import { START_NODE_FLAGS } from "./support/service.js";

const ROOT = resolve(import.meta.dirname, "..");
const K8S = join(ROOT, "k8s");

type Obj = Record<string, any>;
interface Doc {
  file: string;
  index: number;
  obj: Obj;
}

/** kubernetes-models class and client-node model name per apiVersion/kind. */
const MODELS: Record<string, { model: new (data: any) => { validate(): void }; type: string }> = {
  "v1/Namespace": { model: Namespace, type: "V1Namespace" },
  "v1/ServiceAccount": { model: ServiceAccount, type: "V1ServiceAccount" },
  "v1/ConfigMap": { model: ConfigMap, type: "V1ConfigMap" },
  "v1/Secret": { model: Secret, type: "V1Secret" },
  "v1/Service": { model: Service, type: "V1Service" },
  "apps/v1/Deployment": { model: Deployment, type: "V1Deployment" },
  "policy/v1/PodDisruptionBudget": { model: PodDisruptionBudget, type: "V1PodDisruptionBudget" },
  "rbac.authorization.k8s.io/v1/Role": { model: Role, type: "V1Role" },
  "rbac.authorization.k8s.io/v1/RoleBinding": { model: RoleBinding, type: "V1RoleBinding" },
  "networking.k8s.io/v1/NetworkPolicy": { model: NetworkPolicy, type: "V1NetworkPolicy" },
};

const EXPECTED_FILES = [
  "configmap.yaml",
  "deployment.yaml",
  "namespace.yaml",
  "networkpolicy.yaml",
  "rbac.yaml",
  "secret.yaml.example",
  "service.yaml",
  "serviceaccount.yaml",
];

const SERVICE_NAMESPACE = "jobscheduler";
const JOBS_NAMESPACE = "jobscheduler-jobs";
const IMAGE_PLACEHOLDER = "ghcr.io/hackload/jobscheduler:IMAGE_TAG";
const UID = 10001;

/** ConfigMap keys the Kubernetes runtime will read; src/config.ts does not know them yet. */
const KUBERNETES_RUNTIME_KEYS = ["JOBS_NAMESPACE", "RUNNER_SERVICE_ACCOUNT"];
/** Settings that are secrets: never in the ConfigMap. */
const HUB_SECRET_KEYS = ["HUB_API_KEY", "GITHUB_TOKEN"];
/** The scheduler's own Secret; GITHUB_TOKEN is only for job pods (jobscheduler-run-secrets, jobs namespace). */
const SCHEDULER_SECRET_KEYS = ["DATABASE_URL", "HUB_API_KEY"];
/** ConfigMap values that deliberately differ from src/config.ts's defaults (besides RUNTIME). */
const INTENTIONAL_OVERRIDES: Record<string, string> = { DATA_DIR: "/data", JOB_IMAGE: "ghcr.io/hackload/jobscheduler:IMAGE_TAG" };

/** k8s/secret.yaml is a developer's filled-in copy of secret.yaml.example (never committed): skip it. */
const LOCAL_ONLY = new Set(["secret.yaml"]);

function loadDocs(): Doc[] {
  const files = readdirSync(K8S)
    .filter((name) => /\.ya?ml(\.example)?$/.test(name) && !LOCAL_ONLY.has(name))
    .sort();
  return files.flatMap((file) =>
    yaml
      .loadAll(readFileSync(join(K8S, file), "utf8"))
      .filter((obj) => obj !== null && obj !== undefined)
      .map((obj, index) => ({ file, index, obj: obj as Obj })),
  );
}

const docs = loadDocs();
const find = (kind: string, name: string, namespace?: string): Obj | undefined =>
  docs.find((d) => d.obj.kind === kind && d.obj.metadata?.name === name && (namespace === undefined || d.obj.metadata?.namespace === namespace))
    ?.obj;
const must = (kind: string, name: string, namespace?: string): Obj => {
  const obj = find(kind, name, namespace);
  if (!obj) throw new Error(`no ${kind} ${namespace ? `${namespace}/` : ""}${name} in k8s/`);
  return obj;
};

/** Paths present in `original` but missing or different in `copy` (what a round trip dropped). */
function lostPaths(original: unknown, copy: unknown, path = ""): string[] {
  if (Array.isArray(original)) {
    if (!Array.isArray(copy)) return [path || "/"];
    return original.flatMap((value, i) => lostPaths(value, copy[i], `${path}[${i}]`));
  }
  if (original !== null && typeof original === "object") {
    if (copy === null || typeof copy !== "object") return [path || "/"];
    return Object.entries(original).flatMap(([key, value]) => {
      const here = path ? `${path}.${key}` : key;
      return key in copy ? lostPaths(value, (copy as Obj)[key], here) : [here];
    });
  }
  return original === copy ? [] : [path || "/"];
}

const deployment = must("Deployment", "jobscheduler", SERVICE_NAMESPACE);
const podSpec: Obj = deployment.spec.template.spec;
const container: Obj = podSpec.containers[0];
const configMap = must("ConfigMap", "jobscheduler-config", SERVICE_NAMESPACE);
const cmData: Record<string, string> = configMap.data;

describe("k8s/ manifests", () => {
  it("has every expected file, and only YAML there", () => {
    expect(readdirSync(K8S).sort()).toEqual(expect.arrayContaining(EXPECTED_FILES));
    expect(docs.length).toBeGreaterThanOrEqual(10);
  });

  it.each(docs.map((d) => [`${d.file}#${d.index} ${d.obj.kind}/${d.obj.metadata?.name}`, d] as const))(
    "%s is a valid object with no unknown fields",
    (_label, { obj }) => {
      const key = `${obj.apiVersion}/${obj.kind}`;
      const entry = MODELS[key];
      expect(entry, `no model registered for ${key}`).toBeDefined();
      expect(obj.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);

      // Schema: types, required fields, enums.
      expect(() => new entry.model(structuredClone(obj)).validate()).not.toThrow();

      // Unknown fields: a field the typed model does not know is dropped by the round trip.
      const typed = ObjectSerializer.deserialize(structuredClone(obj), entry.type);
      expect(typed.constructor.name, `client-node has no model ${entry.type}`).toBe(entry.type);
      const back = JSON.parse(JSON.stringify(ObjectSerializer.serialize(typed, entry.type)));
      expect(lostPaths(obj, back), "fields lost in the ObjectSerializer round trip (unknown or misplaced)").toEqual([]);
      expect(back).toEqual(obj);
    },
  );

  it("puts every namespaced object in a namespace that namespace.yaml declares", () => {
    const namespaces = docs.filter((d) => d.obj.kind === "Namespace");
    expect(namespaces.every((d) => d.file === "namespace.yaml")).toBe(true);
    expect(namespaces.map((d) => d.obj.metadata.name).sort()).toEqual([SERVICE_NAMESPACE, JOBS_NAMESPACE]);
    for (const { file, obj } of docs) {
      if (obj.kind === "Namespace") continue;
      expect([SERVICE_NAMESPACE, JOBS_NAMESPACE], `${file}: ${obj.kind}/${obj.metadata.name}`).toContain(obj.metadata.namespace);
    }
  });

  it("enforces the restricted Pod Security Standard on both namespaces", () => {
    for (const name of [SERVICE_NAMESPACE, JOBS_NAMESPACE]) {
      expect(must("Namespace", name).metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    }
  });

  it("declares an object in two files only if both declarations are identical", () => {
    // rbac.yaml and serviceaccount.yaml both declare the scheduler's ServiceAccount; if they
    // differed, every `kubectl apply` would flip the fields between the two versions.
    const byKey = new Map<string, Doc[]>();
    for (const d of docs) {
      const key = `${d.obj.apiVersion}/${d.obj.kind}/${d.obj.metadata.namespace ?? ""}/${d.obj.metadata.name}`;
      byKey.set(key, [...(byKey.get(key) ?? []), d]);
    }
    for (const [key, group] of byKey) {
      expect(new Set(group.map((d) => d.file)).size, `${key} declared twice in one file`).toBe(group.length);
      for (const other of group.slice(1)) expect(other.obj, `${key}: ${group[0].file} vs ${other.file}`).toEqual(group[0].obj);
    }
  });

  it("gives the scheduler and the job runner the service accounts RBAC and the runtime expect", () => {
    const scheduler = must("ServiceAccount", "jobscheduler", SERVICE_NAMESPACE);
    expect(scheduler.automountServiceAccountToken).not.toBe(false);
    expect(podSpec.serviceAccountName).toBe("jobscheduler");
    expect(podSpec.automountServiceAccountToken).toBe(true);

    expect(cmData.JOBS_NAMESPACE).toBe(JOBS_NAMESPACE);
    const runner = must("ServiceAccount", cmData.RUNNER_SERVICE_ACCOUNT, cmData.JOBS_NAMESPACE);
    expect(runner.automountServiceAccountToken).toBe(false);

    // The Role lives where jobs run and is bound to the scheduler, never to the runner.
    const bindings = docs.filter((d) => d.obj.kind === "RoleBinding" || d.obj.kind === "ClusterRoleBinding").map((d) => d.obj);
    expect(bindings.length).toBeGreaterThan(0);
    for (const binding of bindings) {
      expect(binding.metadata.namespace).toBe(JOBS_NAMESPACE);
      must(binding.roleRef.kind, binding.roleRef.name, binding.metadata.namespace);
      for (const subject of binding.subjects) {
        expect(subject).toMatchObject({ kind: "ServiceAccount", name: "jobscheduler", namespace: SERVICE_NAMESPACE });
      }
    }
  });
});

describe("k8s/deployment.yaml", () => {
  it("runs two replicas (one leads), rolled one at a time with none taken down first, on different nodes where possible", () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(podSpec.containers).toHaveLength(1);
    const selector = deployment.spec.selector.matchLabels;
    expect(deployment.spec.template.metadata.labels).toMatchObject(selector);
    const [term] = podSpec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    expect(term.podAffinityTerm).toEqual({ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: selector } });
  });

  it("keeps one replica through voluntary disruptions (PodDisruptionBudget)", () => {
    const pdb = must("PodDisruptionBudget", "jobscheduler", SERVICE_NAMESPACE);
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: deployment.spec.selector.matchLabels } });
  });

  it("documents the SQLite small-install profile: one replica, Recreate", () => {
    const text = readFileSync(join(K8S, "deployment.yaml"), "utf8");
    expect(text).toMatch(/SQLite \(no DATABASE_URL\): replicas: 1, strategy Recreate/);
  });

  it("uses the image placeholder scripts/k8s-apply.sh substitutes", () => {
    expect(container.image).toBe(IMAGE_PLACEHOLDER);
    const lines = readFileSync(join(K8S, "deployment.yaml"), "utf8").split("\n").filter((l) => l.includes(IMAGE_PLACEHOLDER));
    expect(lines).toHaveLength(1);
    expect(lines[0].trim()).toBe(`image: ${IMAGE_PLACEHOLDER}`);
  });

  it("runs non-root with a read-only root filesystem, no privileges and seccomp RuntimeDefault", () => {
    expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: UID, seccompProfile: { type: "RuntimeDefault" } });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container.securityContext.capabilities.add ?? []).toEqual([]);
    expect(container.securityContext.privileged ?? false).toBe(false);
    for (const forbidden of ["hostNetwork", "hostPID", "hostIPC"]) expect(podSpec[forbidden] ?? false).toBe(false);
  });

  it("gives the process writable emptyDirs for /tmp and DATA_DIR only", () => {
    const mounts = Object.fromEntries(container.volumeMounts.filter((m: Obj) => !m.readOnly).map((m: Obj) => [m.mountPath, m.name]));
    expect(Object.keys(mounts).sort()).toEqual(["/data", "/tmp"]);
    expect(cmData.DATA_DIR).toBe("/data");
    for (const name of Object.values(mounts)) {
      const volume = podSpec.volumes.find((v: Obj) => v.name === name);
      expect(volume?.emptyDir, `volume ${name}`).toBeDefined();
      expect(volume.emptyDir.sizeLimit).toBeTruthy();
    }
  });

  it("sets requests and limits for CPU and memory", () => {
    for (const kind of ["requests", "limits"]) {
      expect(container.resources[kind].cpu, kind).toBeTruthy();
      expect(container.resources[kind].memory, kind).toBeTruthy();
    }
  });

  it("exposes the ports the ConfigMap configures", () => {
    const ports = Object.fromEntries(container.ports.map((p: Obj) => [p.name, p.containerPort]));
    expect(ports).toEqual({ grpc: Number(cmData.GRPC_PORT), http: Number(cmData.HTTP_PORT), metrics: Number(cmData.METRICS_PORT) });
    expect(ports).toEqual({ grpc: 50054, http: 8080, metrics: 9090 });
  });

  it("probes start-up and liveness over HTTP /healthz and readiness over native gRPC health", () => {
    expect(container.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe.grpc).toEqual({ port: Number(cmData.GRPC_PORT) });
    // Start-up gets a minute before liveness can restart the pod.
    expect(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold).toBeGreaterThanOrEqual(60);
  });

  it("gives shutdown more time than SHUTDOWN_TIMEOUT", () => {
    const config = loadConfig({ SHUTDOWN_TIMEOUT: cmData.SHUTDOWN_TIMEOUT });
    expect(podSpec.terminationGracePeriodSeconds).toBe(30);
    expect(podSpec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.SHUTDOWN_TIMEOUT + 5000);
  });

  it("reads the ConfigMap, then the optional Secret (so the Secret's values win)", () => {
    expect(container.envFrom).toEqual([
      { configMapRef: { name: "jobscheduler-config" } },
      { secretRef: { name: "jobscheduler-secrets", optional: true } },
    ]);
    // Explicit entries win over envFrom: the pod's name as lease holder, the shared database (required).
    expect(container.env).toEqual([
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "jobscheduler-secrets", key: "DATABASE_URL" } } },
      { name: "API_KEYS_FILE", value: "/etc/jobscheduler/api-keys/api-keys.json" },
    ]);
    expect(podSpec.enableServiceLinks).toBe(false);
  });

  it("mounts the API keys Secret read-only where API_KEYS_FILE points", () => {
    const path = container.env.find((e: Obj) => e.name === "API_KEYS_FILE").value as string;
    const mount = container.volumeMounts.find((m: Obj) => path.startsWith(`${m.mountPath}/`));
    expect(mount, `a mount holding ${path}`).toBeDefined();
    expect(mount.readOnly).toBe(true);
    const volume = podSpec.volumes.find((v: Obj) => v.name === mount.name);
    const keys = must("Secret", "jobscheduler-api-keys", SERVICE_NAMESPACE);
    expect(volume.secret.secretName).toBe(keys.metadata.name);
    expect(volume.secret.items).toEqual([{ key: "API_KEYS_FILE", path: path.slice(mount.mountPath.length + 1) }]);
    // Required: a missing file stops the start-up, so the pod waits for the Secret instead.
    expect(volume.secret.optional ?? false).toBe(false);
    // Readable by the process's group (fsGroup), by no one else, written by nobody.
    expect(volume.secret.defaultMode).toBe(0o440);
    expect(podSpec.securityContext.fsGroup).toBe(container.securityContext.runAsGroup);
    expect(path).toBe(loadConfig({ API_KEYS_FILE: path }).API_KEYS_FILE);
  });

  it("asks Prometheus to scrape the metrics port", () => {
    expect(deployment.spec.template.metadata.annotations).toMatchObject({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": cmData.METRICS_PORT,
      "prometheus.io/path": "/metrics",
    });
  });
});

describe("k8s/networkpolicy.yaml", () => {
  const jobPods = must("NetworkPolicy", "jobscheduler-job-pods", JOBS_NAMESPACE);
  const scheduler = must("NetworkPolicy", "jobscheduler-scheduler", SERVICE_NAMESPACE);
  const schedulerSelector = { matchLabels: deployment.spec.selector.matchLabels };
  const egressRules: Obj[] = jobPods.spec.egress;
  const isDns = (rule: Obj) => rule.to.some((peer: Obj) => peer.podSelector);
  const ipBlocks = (): Obj[] => egressRules.filter((rule) => !isDns(rule)).flatMap((rule) => rule.to.map((peer: Obj) => peer.ipBlock));
  /** Whether some ipBlock peer of the job pods' egress lets a packet to `address` out. */
  const egressAllows = (address: string) => {
    const ip = parseIp(address)!;
    return ipBlocks().some((block) => cidrContains(parseCidr(block.cidr)!, ip) && !(block.except ?? []).some((text: string) => cidrContains(parseCidr(text)!, ip)));
  };

  it("job pods: applies to every pod of the jobs namespace, for ingress and egress", () => {
    expect(jobPods.spec.podSelector).toEqual({});
    expect([...jobPods.spec.policyTypes].sort()).toEqual(["Egress", "Ingress"]);
  });

  it("job pods: reached only by the scheduler, on k6's REST API port (split runs start together)", () => {
    expect(jobPods.spec.ingress).toEqual([{
      from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": SERVICE_NAMESPACE } }, podSelector: schedulerSelector }],
      ports: [{ protocol: "TCP", port: K6_API_PORT }],
    }]);
  });

  it("job pods: egress to the cluster DNS on port 53, and otherwise only to address blocks (no namespace, no pod, no 'allow all' rule)", () => {
    for (const rule of egressRules) expect(rule.to?.length, JSON.stringify(rule)).toBeGreaterThan(0);
    expect(egressRules.filter(isDns)).toEqual([{
      to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
      ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
    }]);
    for (const rule of egressRules.filter((r) => !isDns(r))) {
      for (const peer of rule.to) expect(Object.keys(peer)).toEqual(["ipBlock"]);
    }
  });

  it("job pods: every range the egress policy refuses by default is excepted (the manifest and TARGET_ALLOWLIST's default agree)", () => {
    for (const range of egressPolicy().refused) {
      const excepted = ipBlocks()
        .filter((block) => parseCidr(block.cidr)!.family === range.cidr.family)
        .some((block) => (block.except ?? []).some((text: string) => {
          const except = parseCidr(text)!;
          return except.prefix <= range.cidr.prefix && cidrContains(except, { family: range.cidr.family, value: range.cidr.base });
        }));
      expect(excepted, `${formatCidr(range.cidr)} (${range.label})`).toBe(true);
    }
    // What that means for a job pod: the metadata service, the API server's usual Service address,
    // pods, the node and loopback are out of reach; public addresses are not.
    for (const address of ["169.254.169.254", "10.96.0.1", "10.244.3.7", "172.20.0.1", "192.168.1.1", "127.0.0.1", "100.64.0.1", "::1", "fd00::1", "fe80::1", "::ffff:10.0.0.1"]) {
      expect(egressAllows(address), address).toBe(false);
    }
    for (const address of ["203.0.113.10", "8.8.8.8", "2001:db8::1"]) expect(egressAllows(address), address).toBe(true);
  });

  it("scheduler: ingress only on its three container ports, egress not restricted", () => {
    expect(scheduler.spec.podSelector).toEqual(schedulerSelector);
    expect(scheduler.spec.policyTypes).toEqual(["Ingress"]);
    expect(scheduler.spec.ingress).toEqual([{ ports: container.ports.map((p: Obj) => ({ protocol: p.protocol, port: p.name })) }]);
    expect(container.ports.map((p: Obj) => p.name).sort()).toEqual(["grpc", "http", "metrics"]);
  });
});

describe("k8s/service.yaml", () => {
  const service = must("Service", "jobscheduler", SERVICE_NAMESPACE);

  it("is a ClusterIP selecting the scheduler's pods", () => {
    expect(service.spec.type).toBe("ClusterIP");
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
  });

  it("forwards the three ports by name, gRPC with appProtocol grpc", () => {
    const names = container.ports.map((p: Obj) => p.name);
    const ports = Object.fromEntries(service.spec.ports.map((p: Obj) => [p.name, p]));
    expect(Object.keys(ports).sort()).toEqual(["grpc", "http", "metrics"]);
    for (const port of service.spec.ports) {
      expect(names).toContain(port.targetPort);
      expect(port.port).toBe(container.ports.find((p: Obj) => p.name === port.targetPort).containerPort);
    }
    expect(ports.grpc).toMatchObject({ port: 50054, appProtocol: "grpc" });
  });
});

describe("k8s/configmap.yaml and k8s/secret.yaml.example", () => {
  const schemaKeys = Object.keys(configSchema.shape).sort();
  const secret = must("Secret", "jobscheduler-secrets", SERVICE_NAMESPACE);

  it("holds only string values", () => {
    for (const [key, value] of Object.entries(cmData)) expect(typeof value, key).toBe("string");
  });

  it("lists every setting of src/config.ts", () => {
    expect(schemaKeys.filter((key) => !(key in cmData) && !HUB_SECRET_KEYS.includes(key))).toEqual([]);
  });

  it("lists nothing src/config.ts does not know, except the Kubernetes runtime's keys", () => {
    const unknown = Object.keys(cmData).filter((key) => !schemaKeys.includes(key) && !KUBERNETES_RUNTIME_KEYS.includes(key));
    expect(unknown).toEqual([]);
  });

  it("passes loadConfig and equals the schema's defaults except the documented overrides", () => {
    // RUNTIME=kubernetes is the one deliberate difference from the defaults (checked below).
    const env = Object.fromEntries(Object.entries(cmData).filter(([key]) => key !== "RUNTIME" && !KUBERNETES_RUNTIME_KEYS.includes(key)));
    const config = loadConfig(env);
    const expected = loadConfig(INTENTIONAL_OVERRIDES);
    expect(config).toEqual(expected);
    expect(cmData.RUNTIME).toBe("kubernetes");
  });

  it("leaves secrets to the Secret", () => {
    expect(cmData.DATABASE_URL).toBe("");
    for (const key of HUB_SECRET_KEYS) expect(cmData).not.toHaveProperty(key);
  });

  it("shows a Secret example with placeholders for exactly the documented keys", () => {
    expect(secret.type).toBe("Opaque");
    expect(secret.data).toBeUndefined();
    expect(Object.keys(secret.stringData).sort()).toEqual([...SCHEDULER_SECRET_KEYS].sort());
    for (const key of Object.keys(secret.stringData)) {
      expect(schemaKeys.includes(key) || HUB_SECRET_KEYS.includes(key), key).toBe(true);
      expect(secret.stringData[key]).toContain("CHANGE_ME");
    }
    // The placeholder still has the shape the schema wants, so a copy fails on connect, not parse.
    expect(() => loadConfig({ DATABASE_URL: secret.stringData.DATABASE_URL })).not.toThrow();
  });

  it("keeps the job pods' GitHub token in the jobs namespace, where GITHUB_TOKEN_SECRET points", () => {
    const { GITHUB_TOKEN_SECRET } = loadConfig({ GITHUB_TOKEN_SECRET: cmData.GITHUB_TOKEN_SECRET });
    const runSecret = must("Secret", GITHUB_TOKEN_SECRET!.name, JOBS_NAMESPACE);
    expect(Object.keys(runSecret.stringData)).toEqual([GITHUB_TOKEN_SECRET!.key]);
    expect(runSecret.stringData[GITHUB_TOKEN_SECRET!.key]).toContain("CHANGE_ME");
    // The scheduler never holds the token: its own Secret has no GitHub key.
    expect(secret.stringData).not.toHaveProperty("GITHUB_TOKEN");
  });

  it("keeps the API keys file in the scheduler's namespace, where job pods cannot mount it", () => {
    const keys = must("Secret", "jobscheduler-api-keys", SERVICE_NAMESPACE);
    expect(Object.keys(keys.stringData)).toEqual(["API_KEYS_FILE"]);
    expect(keys.stringData.API_KEYS_FILE).toContain("CHANGE_ME");
    expect(docs.filter((d) => d.obj.kind === "Secret" && d.obj.metadata.namespace === JOBS_NAMESPACE).map((d) => d.obj.metadata.name)).toEqual(["jobscheduler-run-secrets"]);
  });

  it("shows API_KEYS_FILE in the format src/auth reads: hashed entries, placeholders refused until replaced", () => {
    const text: string = must("Secret", "jobscheduler-api-keys", SERVICE_NAMESPACE).stringData.API_KEYS_FILE;
    const entries = JSON.parse(text) as Obj[];
    expect(entries.map((e) => Object.keys(e).sort())).toEqual(entries.map(() => ["id", "name", "role", "sha256"]));
    expect(entries.find((e) => e.role === "admin")).toBeDefined();
    // An unedited copy stops the start-up naming the field, rather than starting with unknown keys.
    expect(() => parseKeysFile(text, 0)).toThrow("API_KEYS_FILE: [0] (admin): id: must be 6-32 characters of [0-9a-z]");
    const keys = entries.map((_e, i) => `jsk_keyid${i}x_${"s".repeat(43)}`);
    const filled = entries.map((e, i) => ({ ...e, id: `keyid${i}x`, sha256: hashApiKey(keys[i]) }));
    expect(parseKeysFile(JSON.stringify(filled), 0).map((r) => [r.id, r.role, r.keyHash])).toEqual(
      entries.map((e, i) => [`keyid${i}x`, e.role, hashApiKey(keys[i])]),
    );
  });

  it("makes a key and its hashed entry with the commands its comment shows", () => {
    const source = readFileSync(join(K8S, "secret.yaml.example"), "utf8");
    const block = /^# Make a key.*\n((?:#   .*\n)+)/m.exec(source);
    expect(block, "the 'Make a key' commands").not.toBeNull();
    const script = block![1].replace(/^#   /gm, "");
    const run = spawnSync("bash", ["-euo", "pipefail", "-c", script], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const [entryLine, key] = run.stdout.trim().split("\n");
    const [record] = parseKeysFile(`[${entryLine}]`, 0);
    expect(parseApiKey(key)?.id).toBe(record.id);
    expect(record).toMatchObject({ role: "admin", keyHash: hashApiKey(key) });
    expect(key.length - `jsk_${record.id}_`.length).toBe(43); // 256 bits, base64url without padding
  });
});

// --- Dockerfile --------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}
function parseDockerfile(text: string): Instruction[][] {
  const logical = text
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Instruction[][] = [[]];
  for (const line of logical) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (op.toUpperCase() === "FROM") stages.push([]);
    stages[stages.length - 1].push({ op: op.toUpperCase(), args });
  }
  return stages;
}

describe("Dockerfile", () => {
  const text = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const [preamble, build, runtime] = parseDockerfile(text);
  const all = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op).map((i) => i.args);

  it("is two stages on a pinned node 20 bookworm-slim image", () => {
    expect(all(preamble, "ARG")).toEqual([expect.stringMatching(/^NODE_IMAGE=node:20\.\d+(\.\d+)?-bookworm-slim$/)]);
    expect(all(build, "FROM")).toEqual(["${NODE_IMAGE} AS build"]);
    expect(all(runtime, "FROM")).toEqual(["${NODE_IMAGE} AS runtime"]);
  });

  it("builds from the lockfile with a toolchain for better-sqlite3, then drops dev dependencies", () => {
    const runs = all(build, "RUN").join("\n");
    for (const pkg of ["python3", "make", "g++"]) expect(runs).toContain(` ${pkg}`);
    const order = ["npm ci", "npm run build", "npm prune --omit=dev"].map((cmd) => runs.indexOf(cmd));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it("runs as the numeric non-root user the Deployment declares", () => {
    expect(all(runtime, "USER")).toEqual([`${UID}:${UID}`]);
    expect(all(runtime, "USER")[0].split(":")[0]).toBe(String(container.securityContext.runAsUser));
  });

  it("ships only dist/, proto/, node_modules and package.json, in /app", () => {
    expect(all(runtime, "WORKDIR")).toEqual(["/app"]);
    const copies = all(runtime, "COPY").map((args) => args.replace(/--from=build\s+/, "from-build:"));
    expect(copies.sort()).toEqual(
      ["from-build:/src/dist ./dist", "from-build:/src/node_modules ./node_modules", "package.json ./", "proto ./proto"].sort(),
    );
  });

  it("uses DATA_DIR=/data, exposes the three ports and starts node dist/main.js", () => {
    expect(all(runtime, "ENV").join(" ")).toMatch(/\bDATA_DIR=\/data\b/);
    expect(all(runtime, "EXPOSE")).toEqual([[cmData.GRPC_PORT, cmData.HTTP_PORT, cmData.METRICS_PORT].join(" ")]);
    // The V8 heap flags of `npm start` (the service's memory setting), the same in the image.
    expect(START_NODE_FLAGS.length).toBeGreaterThan(0);
    expect(all(runtime, "ENTRYPOINT").map((entry) => JSON.parse(entry))).toEqual([["node", ...START_NODE_FLAGS, "dist/main.js"]]);
    expect(all(runtime, "CMD")).toEqual(["[]"]);
  });

  it("labels the image with the version build args scripts/container-build.sh passes", () => {
    const args = all(runtime, "ARG").map((a) => a.split("=")[0]);
    expect(args).toEqual(expect.arrayContaining(["VERSION", "GIT_COMMIT", "BUILD_DATE"]));
    const labels = all(runtime, "LABEL").join(" ");
    expect(labels).toContain('org.opencontainers.image.version="${VERSION}"');
    expect(labels).toContain('org.opencontainers.image.revision="${GIT_COMMIT}"');
    expect(labels).toContain('org.opencontainers.image.created="${BUILD_DATE}"');
    const script = readFileSync(join(ROOT, "scripts/container-build.sh"), "utf8");
    for (const arg of ["VERSION", "GIT_COMMIT", "BUILD_DATE"]) expect(script).toContain(`--build-arg "${arg}=`);
  });

  it("copies nothing from the build context that .dockerignore leaves out", () => {
    const ignored = new Set(
      readFileSync(join(ROOT, ".dockerignore"), "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#")),
    );
    for (const required of [".git", "node_modules", "dist", "data", "k8s"]) expect(ignored.has(required), required).toBe(true);
    const sources = [...build, ...runtime]
      .filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(ignored.has(source.split("/")[0]), `${source} is in .dockerignore`).toBe(false);
      expect(existsSync(join(ROOT, source)), `${source} exists`).toBe(true);
    }
  });
});

// --- Taskfile.yml ------------------------------------------------------------------------------

describe("Taskfile.yml", () => {
  const taskfile = yaml.load(readFileSync(join(ROOT, "Taskfile.yml"), "utf8")) as Obj;
  const tasks: Record<string, Obj> = taskfile.tasks;
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

  // A thin command: optional VAR=value assignments, then one of the allowed forms, then plain
  // arguments (no pipes, redirections, command substitution or chaining: that belongs in scripts/).
  const ASSIGNMENTS = String.raw`(?:[A-Z_][A-Z0-9_]*=[\w.:/-]*\s+)*`;
  const ARGS = String.raw`(?:\s+[^;&|<>\`$()\n]*)?`;
  const NPM_RUN = new RegExp(String.raw`^${ASSIGNMENTS}npm run ([\w:.-]+)${ARGS}$`);
  const NPM_BUILTIN = new RegExp(String.raw`^${ASSIGNMENTS}npm (test|start)${ARGS}$`);
  const SCRIPT = new RegExp(String.raw`^${ASSIGNMENTS}(node\s+)?(scripts/[\w.-]+)${ARGS}$`);

  it("is a go-task v3 file with the documented tasks", () => {
    expect(String(taskfile.version)).toBe("3");
    expect(Object.keys(tasks)).toEqual(
      expect.arrayContaining([
        "build", "test", "check", "run", "run:debug", "proto:generate", "container:build", "k8s:apply",
        "k8s:logs", "k8s:port-forward", "health", "version:info", "smoke", "bench",
      ]),
    );
  });

  it.each(Object.keys(tasks))("task %s is a thin wrapper over npm scripts or scripts/", (name) => {
    const task = tasks[name];
    expect(Array.isArray(task.cmds) && task.cmds.length > 0, "has cmds").toBe(true);
    for (const entry of task.deps ?? []) expect(Object.keys(tasks)).toContain(typeof entry === "string" ? entry : entry.task);
    for (const entry of task.cmds) {
      if (typeof entry === "object" && entry !== null && "task" in entry) {
        expect(Object.keys(tasks), `${name} calls task ${entry.task}`).toContain(entry.task);
        continue;
      }
      const cmd = typeof entry === "string" ? entry : entry?.cmd;
      expect(typeof cmd, `${name}: ${JSON.stringify(entry)}`).toBe("string");
      let match: RegExpExecArray | null;
      if ((match = NPM_RUN.exec(cmd))) {
        expect(pkg.scripts, `${name}: npm script ${match[1]}`).toHaveProperty([match[1]]);
      } else if ((match = NPM_BUILTIN.exec(cmd))) {
        expect(pkg.scripts, `${name}: npm script ${match[1]}`).toHaveProperty([match[1]]);
      } else if ((match = SCRIPT.exec(cmd))) {
        const file = join(ROOT, match[2]);
        expect(existsSync(file), `${name}: ${match[2]} exists`).toBe(true);
        if (!match[1]) expect(statSync(file).mode & 0o111, `${name}: ${match[2]} is executable`).not.toBe(0);
      } else {
        expect.fail(`task ${name}: "${cmd}" is not a thin wrapper (npm run/test/start or scripts/...)`);
      }
    }
  });
});

// --- scripts/*.sh ------------------------------------------------------------------------------

function runScript(script: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(join(ROOT, "scripts", script), args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("scripts/*.sh", () => {
  const scripts = readdirSync(join(ROOT, "scripts")).filter((f) => f.endsWith(".sh"));
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "jobscheduler-scripts-"));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** A stand-in for kubectl or a container engine: logs its arguments (and stdin for `-f -`). */
  function recorder(name: string): { command: string; calls: () => { args: string[]; stdin: string }[] } {
    const log = join(work, `${name}.log`);
    const file = join(work, name);
    writeFileSync(
      file,
      `#!/usr/bin/env bash
{ printf 'CALL'; printf ' %q' "$@"; printf '\\n'
  if [ "\${*: -1}" = "-" ]; then sed 's/^/STDIN /'; fi; } >> ${JSON.stringify(log)}
`,
    );
    chmodSync(file, 0o755);
    rmSync(log, { force: true });
    return {
      command: file,
      calls: () => {
        if (!existsSync(log)) return [];
        const calls: { args: string[]; stdin: string }[] = [];
        for (const line of readFileSync(log, "utf8").split("\n")) {
          if (line.startsWith("CALL")) calls.push({ args: line.split(" ").slice(1), stdin: "" });
          else if (line.startsWith("STDIN ")) calls[calls.length - 1].stdin += `${line.slice(6)}\n`;
        }
        return calls;
      },
    };
  }

  it.each(scripts)("%s is executable bash with valid syntax", (script) => {
    const file = join(ROOT, "scripts", script);
    expect(statSync(file).mode & 0o111).not.toBe(0);
    expect(readFileSync(file, "utf8").startsWith("#!/usr/bin/env bash\n")).toBe(true);
    const check = spawnSync("bash", ["-n", file], { encoding: "utf8" });
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
  });

  it("version-info.sh prints the version, commit, ISO 8601 build date and node version", () => {
    const human = runScript("version-info.sh", []);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/^version: +\S+\ncommit: +\S+\nbuild date: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nnode: +v\d+\.\d+\.\d+\nimage tag: +\S+\n$/);
    expect(human.stdout).toContain(process.version);

    const env = runScript("version-info.sh", ["--env"], { SOURCE_DATE_EPOCH: "1700000000" });
    expect(env.status).toBe(0);
    for (const form of ['eval "$(scripts/version-info.sh --env)"', "eval $(scripts/version-info.sh --env)"]) {
      const shell = spawnSync("bash", ["-c", `${form}; bash -c 'printf "%s|%s|%s|%s|%s" "$VERSION" "$GIT_COMMIT" "$BUILD_DATE" "$NODE_VERSION" "$IMAGE_TAG"'`], {
        cwd: ROOT,
        env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" },
        encoding: "utf8",
      });
      expect(shell.status, shell.stderr).toBe(0);
      const [version, commit, date, node, tag] = shell.stdout.split("|");
      expect(version).not.toBe("");
      expect(commit).toMatch(/^([0-9a-f]{7,}(-dirty)?|unknown)$/);
      expect(date).toBe("2023-11-14T22:13:20Z");
      expect(node).toBe(process.version);
      expect(tag).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
    }
    expect(runScript("version-info.sh", ["--nonsense"]).status).toBe(2);
  });

  it("k8s-apply.sh applies in dependency order, substitutes the image and waits for the rollout", () => {
    const kubectl = recorder("kubectl");
    const secretFile = join(work, "secret.yaml");
    writeFileSync(secretFile, "# test secret\n");
    const run = runScript("k8s-apply.sh", [], {
      KUBECTL: `${kubectl.command} --context test`,
      IMAGE: "registry.example/jobscheduler:1.2.3",
      SECRET_FILE: secretFile,
      WAIT: "1",
    });
    expect(run.status, run.stderr).toBe(0);
    const calls = kubectl.calls();
    expect(calls.map((c) => c.args.join(" "))).toEqual([
      "--context test apply -f k8s/namespace.yaml",
      "--context test apply -f k8s/serviceaccount.yaml",
      "--context test apply -f k8s/rbac.yaml",
      "--context test apply -f k8s/networkpolicy.yaml",
      "--context test apply -f -",
      `--context test apply -f ${secretFile}`,
      "--context test apply -f -",
      "--context test apply -f k8s/service.yaml",
      "--context test --namespace jobscheduler rollout status deployment/jobscheduler --timeout=180s",
    ]);
    const original = readFileSync(join(K8S, "deployment.yaml"), "utf8");
    expect(calls[6].stdin).toBe(original.replace(`image: ${IMAGE_PLACEHOLDER}`, "image: registry.example/jobscheduler:1.2.3"));
    // Job pods run the collectors from the same image as the service.
    const configMap = yaml.load(calls[4].stdin) as Obj;
    expect(configMap.data.JOB_IMAGE).toBe("registry.example/jobscheduler:1.2.3");
  });

  it("k8s-apply.sh defaults the image to this commit's tag and skips a missing Secret", () => {
    const kubectl = recorder("kubectl");
    const tag = /IMAGE_TAG='([^']*)'/.exec(runScript("version-info.sh", ["--env"]).stdout)![1];
    const run = runScript("k8s-apply.sh", [], { KUBECTL: kubectl.command, IMAGE: "", SECRET_FILE: join(work, "absent.yaml"), WAIT: "0" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain("secret.yaml.example");
    const calls = kubectl.calls();
    expect(calls.map((c) => c.args.at(-1))).toEqual(["k8s/namespace.yaml", "k8s/serviceaccount.yaml", "k8s/rbac.yaml", "k8s/networkpolicy.yaml", "-", "-", "k8s/service.yaml"]);
    // The Deployment and its PodDisruptionBudget.
    const deployed = (yaml.loadAll(calls[5].stdin) as Obj[]).find((d) => d.kind === "Deployment")!;
    expect(deployed.spec.template.spec.containers[0].image).toBe(`ghcr.io/hackload/jobscheduler:${tag}`);
  });

  it("k8s-apply.sh refuses an IMAGE that is not an image reference, before touching the cluster", () => {
    const kubectl = recorder("kubectl");
    const run = runScript("k8s-apply.sh", [], { KUBECTL: kubectl.command, IMAGE: "evil|sed", WAIT: "0" });
    expect(run.status).toBe(2);
    expect(kubectl.calls()).toEqual([]);
  });

  it("container-build.sh builds with the version build args and extra flags", () => {
    const engine = recorder("engine");
    const info = runScript("version-info.sh", ["--env"], { SOURCE_DATE_EPOCH: "1700000000" }).stdout;
    const value = (key: string) => new RegExp(`${key}='([^']*)'`).exec(info)![1];
    const run = runScript("container-build.sh", ["--platform", "linux/amd64"], {
      CONTAINER_ENGINE: engine.command,
      IMAGE: "",
      NODE_IMAGE: "",
      SOURCE_DATE_EPOCH: "1700000000",
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(`ghcr.io/hackload/jobscheduler:${value("IMAGE_TAG")}`);
    expect(engine.calls().map((c) => c.args)).toEqual([
      [
        "build", "--file", "Dockerfile", "--tag", `ghcr.io/hackload/jobscheduler:${value("IMAGE_TAG")}`,
        "--build-arg", `VERSION=${value("VERSION")}`,
        "--build-arg", `GIT_COMMIT=${value("GIT_COMMIT")}`,
        "--build-arg", "BUILD_DATE=2023-11-14T22:13:20Z",
        "--platform", "linux/amd64", ".",
      ],
    ]);
  });

  it("k8s-logs.sh and k8s-port-forward.sh target the scheduler in its namespace", () => {
    const kubectl = recorder("kubectl");
    expect(runScript("k8s-logs.sh", ["--previous"], { KUBECTL: kubectl.command, NAMESPACE: "", TAIL: "" }).status).toBe(0);
    expect(runScript("k8s-port-forward.sh", [], { KUBECTL: kubectl.command, NAMESPACE: "" }).status).toBe(0);
    expect(kubectl.calls().map((c) => c.args.join(" "))).toEqual([
      "--namespace jobscheduler logs deployment/jobscheduler --follow --tail=200 --previous",
      "--namespace jobscheduler port-forward service/jobscheduler 50054:50054 8080:8080 9090:9090",
    ]);
  });
});

// --- scripts/health.sh against the real service -------------------------------------------------

function runAsync(script: string, env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(join(ROOT, "scripts", script), [], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("close", (status) => resolveRun({ status, stdout, stderr }));
  });
}

function closedPort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

describe("scripts/health.sh", () => {
  it("passes against a running service and fails when nothing listens", async () => {
    // Imported here so the static checks above do not pay for the service's modules.
    const { startService, cleanup } = await import("./support/service.js");
    const service = await startService();
    try {
      const ok = await runAsync("health.sh", {
        HEALTH_HOST: "127.0.0.1",
        HTTP_PORT: String(service.app.httpPort),
        GRPC_PORT: String(service.app.grpcPort),
      });
      expect(ok.status, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^http .*\/readyz: ready$/m);
      expect(ok.stdout).toMatch(/^grpc .*SERVING/m);
    } finally {
      await service.stop();
      cleanup(service.dataDir);
    }

    const port = String(await closedPort());
    const down = await runAsync("health.sh", { HEALTH_HOST: "127.0.0.1", HTTP_PORT: port, GRPC_PORT: port, HEALTH_TIMEOUT: "2" });
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/^http .*FAILED/m);
    expect(down.stderr).toMatch(/^grpc .*FAILED/m);
  });

  it("checks gRPC health over TLS when TLS_CERT_FILE is set: verified with HEALTH_CA_FILE, else unverified", { timeout: 60_000 }, async () => {
    const { startService, cleanup, tempDir } = await import("./support/service.js");
    const dir = tempDir("jobscheduler-health-tls-");
    const openssl = (...args: string[]) => {
      const run = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
      expect(run.status, run.stderr).toBe(0);
    };
    const key = (name: string) => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`];
    for (const ca of ["ca", "other-ca"]) openssl("req", "-x509", ...key(ca), "-subj", `/CN=${ca}`, "-days", "2", "-out", `${ca}.pem`);
    writeFileSync(join(dir, "server.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:jobscheduler.test,IP:127.0.0.1\n");
    openssl("req", "-new", ...key("server"), "-subj", "/CN=jobscheduler.test", "-out", "server.csr");
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem");
    const tlsFiles = { TLS_CERT_FILE: join(dir, "server.pem"), TLS_KEY_FILE: join(dir, "server.key") };
    const service = await startService(tlsFiles);
    try {
      const ports = { HEALTH_HOST: "127.0.0.1", HTTP_PORT: String(service.app.httpPort), GRPC_PORT: String(service.app.grpcPort), HEALTH_TIMEOUT: "3" };
      // The service's own settings in the environment (as inside its container): TLS, unverified.
      const own = await runAsync("health.sh", { ...ports, ...tlsFiles });
      expect(own.status, own.stdout + own.stderr).toBe(0);
      expect(own.stdout).toMatch(/^http .*\/readyz: ready$/m);
      expect(own.stdout).toMatch(/^grpc .*tls unverified.*SERVING/m);
      const verified = await runAsync("health.sh", { ...ports, HEALTH_TLS: "true", HEALTH_CA_FILE: join(dir, "ca.pem") });
      expect(verified.status, verified.stdout + verified.stderr).toBe(0);
      expect(verified.stdout).toMatch(/^grpc .*tls verified by .*ca\.pem.*SERVING/m);
      const byName = await runAsync("health.sh", { ...ports, HEALTH_TLS: "true", HEALTH_CA_FILE: join(dir, "ca.pem"), HEALTH_SERVER_NAME: "jobscheduler.test" });
      expect(byName.status, byName.stdout + byName.stderr).toBe(0);
      // A server the given CA did not sign, a wrong name, and plaintext against the TLS port all fail.
      const stranger = await runAsync("health.sh", { ...ports, HEALTH_TLS: "true", HEALTH_CA_FILE: join(dir, "other-ca.pem") });
      expect(stranger.status).toBe(1);
      expect(stranger.stderr).toMatch(/^grpc .*FAILED/m);
      const wrongName = await runAsync("health.sh", { ...ports, HEALTH_TLS: "true", HEALTH_CA_FILE: join(dir, "ca.pem"), HEALTH_SERVER_NAME: "elsewhere.test" });
      expect(wrongName.status).toBe(1);
      const plaintext = await runAsync("health.sh", { ...ports, TLS_CERT_FILE: "", HEALTH_TLS: "false" });
      expect(plaintext.status).toBe(1);
      expect(plaintext.stdout).toMatch(/^http .*: ready$/m);
      expect(plaintext.stderr).toMatch(/^grpc .*FAILED/m);
      const bad = await runAsync("health.sh", { ...ports, HEALTH_TLS: "maybe" });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain("HEALTH_TLS must be true or false");
    } finally {
      await service.stop();
      cleanup(service.dataDir);
      cleanup(dir);
    }
  });
});
