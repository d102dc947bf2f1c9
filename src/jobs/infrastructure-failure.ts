// The default retry rule: failures of the machinery are worth another attempt, verdicts of the
// job itself are not. Handlers with a rule of their own (git_activity) build on it.
import { Reason, type RetryPolicy } from "./job.js";
import type { RunEnd } from "../runtime/runtime.js";

/** Failures of the machinery rather than verdicts of the job itself. */
const INFRASTRUCTURE_REASONS = new Set<string>([
  Reason.INTERRUPTED, Reason.LAUNCH_FAILED, "POD_EVICTED", "NODE_LOST", "IMAGE_PULL_FAILED", "RUNTIME_API_ERROR",
]);

export function isInfrastructureFailure(end: RunEnd, policy: RetryPolicy): boolean {
  switch (end.kind) {
    case "interrupted":
      return true;
    case "timed-out":
      return policy.retryOnTimeout;
    case "failed":
      return INFRASTRUCTURE_REASONS.has(end.reason);
    case "exited":
    case "cancelled":
      return false;
  }
}
