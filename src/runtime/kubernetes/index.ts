// The Kubernetes runtime, built from the service's configuration.
import type { Logger } from "pino";
import type { Config } from "../../config.js";
import { KubeClient, loadKubeConfig } from "./kube-client.js";
import { KubernetesRuntime } from "./kubernetes-runtime.js";

export { KubernetesRuntime } from "./kubernetes-runtime.js";

/**
 * The API server's hosts, for the egress policy to refuse as job targets: the server the runtime
 * will talk to (K8S_API_SERVER, the kubeconfig's or the in-cluster one) and, in a cluster, the
 * kubernetes Service's address. A configuration that cannot be loaded names none here; the
 * runtime reports it when it is created.
 */
export function kubernetesApiServers(config: Config): string[] {
  const hosts = new Set<string>();
  if (process.env.KUBERNETES_SERVICE_HOST) hosts.add(process.env.KUBERNETES_SERVICE_HOST);
  try {
    const server = loadKubeConfig({ apiServer: config.K8S_API_SERVER, tokenFile: config.K8S_TOKEN_FILE, caFile: config.K8S_CA_FILE, kubeconfig: config.KUBECONFIG })
      .getCurrentCluster()?.server;
    if (server) hosts.add(new URL(server).hostname.replace(/^\[(.*)\]$/, "$1"));
  } catch {
    // reported by createKubernetesRuntime
  }
  return [...hosts];
}

export function createKubernetesRuntime(config: Config, logger: Logger): KubernetesRuntime {
  if (!config.JOB_IMAGE) throw new Error("JOB_IMAGE is required with RUNTIME=kubernetes");
  const kubeConfig = loadKubeConfig({
    apiServer: config.K8S_API_SERVER,
    tokenFile: config.K8S_TOKEN_FILE,
    caFile: config.K8S_CA_FILE,
    kubeconfig: config.KUBECONFIG,
  });
  const client = new KubeClient(kubeConfig, {
    qps: config.K8S_QPS,
    burst: config.K8S_BURST,
    maxRetries: config.K8S_MAX_RETRIES,
    requestTimeoutMs: config.K8S_REQUEST_TIMEOUT,
    logger,
  });
  logger.info({ server: client.server, namespace: config.JOBS_NAMESPACE, qps: config.K8S_QPS, burst: config.K8S_BURST }, "Kubernetes runtime configured");
  return new KubernetesRuntime({
    client,
    builder: {
      namespace: config.JOBS_NAMESPACE,
      image: config.JOB_IMAGE,
      serviceAccountName: config.RUNNER_SERVICE_ACCOUNT,
      ttlSecondsAfterFinished: config.JOB_TTL_SECONDS_AFTER_FINISHED,
      terminationGracePeriodSeconds: Math.max(1, Math.ceil(config.KILL_GRACE_PERIOD / 1000)),
      maxLimits: { cpu: config.MAX_CPU_LIMIT, memory: config.MAX_MEMORY_LIMIT },
      scheduling: config.K8S_JOB_SCHEDULING,
    },
    imagePullFailureTimeoutMs: config.IMAGE_PULL_FAILURE_TIMEOUT,
    keepFailedJobsMs: config.K8S_KEEP_FAILED_JOBS,
    outputTailBytes: config.OUTPUT_TAIL_BYTES,
    logger,
  });
}
