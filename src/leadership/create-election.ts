// Which lease decides who leads: on the Kubernetes runtime a Lease in the jobs namespace (whatever
// the store: two schedulers on one namespace must never both manage its Jobs); else PostgreSQL's
// lease row (replicas sharing a database); else none, for the single instance on SQLite, which its
// file lock already makes the only one.
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { JobStore } from "../store/store.js";
import { LeaderElection, type ElectionCallbacks, type Role } from "./election.js";
import { beginPostgresTerm, PostgresLease } from "./postgres-lease.js";
import { SOLE_TERM, type Term } from "./term.js";

export interface LeadershipStatus {
  role: Role;
  /** The replica that leads, as last seen ("" when unknown). */
  holder: string;
  identity: string;
  epoch: number | undefined;
}

export interface Election {
  readonly kind: "postgres" | "kubernetes" | "sole";
  readonly term: Term;
  status(): LeadershipStatus;
  /** The first try for the lease (and, when won, the leader's start); then campaigns in the background. */
  start(): Promise<void>;
  /** Stops campaigning and gives a held lease up. */
  release(): Promise<void>;
}

export function replicaIdentity(config: Pick<Config, "POD_NAME">): string {
  return config.POD_NAME ?? hostname();
}

export async function createElection(config: Config, store: Pick<JobStore, "kind">, callbacks: ElectionCallbacks, logger: Logger): Promise<Election> {
  const identity = replicaIdentity(config);
  const databaseUrl = store.kind === "postgres" ? config.DATABASE_URL : undefined;
  if (config.RUNTIME !== "kubernetes" && !databaseUrl) return soleInstance(identity, callbacks);
  const timing = {
    leaseDurationMs: config.LEADER_ELECTION_LEASE_DURATION,
    renewDeadlineMs: config.LEADER_ELECTION_RENEW_DEADLINE,
    retryPeriodMs: config.LEADER_ELECTION_RETRY_PERIOD,
  };
  // A call that takes longer than this has missed its turn; the next one tries afresh.
  const callTimeoutMs = Math.max(500, Math.min(timing.retryPeriodMs * 2, timing.renewDeadlineMs / 2));
  // The Kubernetes client is loaded only on that runtime (it is a third of the embedded default's memory).
  const lease = config.RUNTIME === "kubernetes"
    ? new (await import("./kubernetes-lease.js")).KubernetesLease({
      kubeConfig: (await import("../runtime/kubernetes/kube-client.js")).loadKubeConfig({ apiServer: config.K8S_API_SERVER, tokenFile: config.K8S_TOKEN_FILE, caFile: config.K8S_CA_FILE, kubeconfig: config.KUBECONFIG }),
      namespace: config.JOBS_NAMESPACE,
      leaseDurationMs: timing.leaseDurationMs,
      callTimeoutMs,
      beginTerm: databaseUrl ? (holder) => beginPostgresTerm(databaseUrl, holder, callTimeoutMs) : undefined,
      logger,
    })
    : new PostgresLease({ connectionString: databaseUrl!, leaseDurationMs: timing.leaseDurationMs, callTimeoutMs, logger });
  const election = new LeaderElection(lease, identity, timing, callbacks, logger);
  return {
    kind: lease.kind,
    term: election,
    status: () => ({ ...election.state(), identity }),
    start: () => election.start(),
    release: () => election.release(),
  };
}

function soleInstance(identity: string, callbacks: ElectionCallbacks): Election {
  let role: Role = "follower";
  return {
    kind: "sole",
    term: SOLE_TERM,
    status: () => ({ role, holder: role === "leader" ? identity : "", identity, epoch: undefined }),
    async start() {
      role = "leader";
      await callbacks.startedLeading(0);
    },
    async release() {
      role = "released";
    },
  };
}
