// What the Kubernetes-runtime tests share: the service's settings for a fake API server (its URL,
// a token file, fast dispatching) and the environment a pod's container was given.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FakeKube, StoredPod } from "./fake-kube/index.js";

export const TEST_JOB_IMAGE = "ghcr.io/hackload/jobscheduler:test";

/** RUNTIME=kubernetes against `fake`, its token written into `dir`; no client-side throttling. */
export function kubeServiceEnv(fake: FakeKube, dir: string): Record<string, string> {
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, fake.token);
  return {
    RUNTIME: "kubernetes",
    K8S_API_SERVER: fake.url,
    K8S_TOKEN_FILE: tokenFile,
    JOB_IMAGE: TEST_JOB_IMAGE,
    K8S_QPS: "1000",
    K8S_BURST: "1000",
    DISPATCH_POLL_INTERVAL: "100ms",
  };
}

/** The first container's environment variables, by name. */
export function podEnv(pod: StoredPod): Record<string, string> {
  return Object.fromEntries((pod.spec?.containers[0].env ?? []).map((e) => [e.name, e.value ?? ""]));
}
