// Workload admission for egress: before a job is created, every URL its request chose
// (JobHandler.egressTargets) is checked against the policy with its name resolved. ScheduleJob,
// schedules, the scheduler's fires and the Hub's team rounds call admitEgress; a refusal is a
// Forbidden naming the field (`k6.target_url: host 10.0.0.1 is not allowed by TARGET_ALLOWLIST
// (...)`, reason TARGET_NOT_ALLOWED), which the API answers PERMISSION_DENIED, a fire turns into a
// skip and a round into the team's NO_DATA. Not InvalidField: the URL is well formed; this
// server's policy refuses it (as a Kubernetes admission controller answers Forbidden).
import { Forbidden } from "../errors.js";
import type { JobHandler } from "../handler.js";
import { checkUrl } from "../../shared/egress/check.js";
import type { EgressAllowance, EgressPolicy } from "../../shared/egress/policy.js";
import type { Resolver } from "../../shared/egress/resolver.js";

/** A URL a job will send requests to, by the field of its type's spec that holds it (`target_url`). */
export interface EgressTarget {
  field: string;
  url: string;
}

export interface EgressRefusal {
  /** The request field, as clients write it: `k6.target_url`. */
  field: string;
  message: string;
}

export class EgressAdmission {
  constructor(
    readonly policy: EgressPolicy,
    readonly resolver: Resolver,
  ) {}

  /** The first refused target of a job of `handler` with these (validated) params, or null. */
  async refusal(handler: Pick<JobHandler, "type" | "egressTargets">, params: Record<string, unknown>, allowance?: EgressAllowance): Promise<EgressRefusal | null> {
    const targets = handler.egressTargets?.(params as never) ?? [];
    if (targets.length === 0) return null;
    const checked = await Promise.all(targets.map((t) => checkUrl(this.policy, this.resolver, t.url, { allowance })));
    const index = checked.findIndex((c) => !c.ok);
    if (index < 0) return null;
    const refused = checked[index];
    return { field: `${handler.type}.${targets[index].field}`, message: refused.ok ? "" : refused.message };
  }
}

export const TARGET_NOT_ALLOWED = "TARGET_NOT_ALLOWED";

/** Throws Forbidden when a target of this validated submission is not allowed. */
export async function admitEgress(
  egress: EgressAdmission,
  submission: { handler: JobHandler; params: Record<string, unknown> },
  options: { allowance?: EgressAllowance; fieldPrefix?: string } = {},
): Promise<void> {
  const refusal = await egress.refusal(submission.handler, submission.params, options.allowance);
  if (refusal) throw new Forbidden(`${options.fieldPrefix ?? ""}${refusal.field}`, refusal.message, TARGET_NOT_ALLOWED);
}
