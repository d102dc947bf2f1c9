// The policy as a collector receives it: the settings it was built from, in one variable of the
// workload's environment (JOB_* names are reserved, so no request can set it). A collector started
// without it applies the default policy, never none.
import { DEFAULT_SETTINGS, egressPolicy, type EgressPolicy, type EgressSettings } from "./policy.js";

export const EGRESS_POLICY_ENV = "JOB_EGRESS_POLICY";

export function policyEnv(policy: EgressPolicy): Record<string, string> {
  return { [EGRESS_POLICY_ENV]: JSON.stringify(policy.settings) };
}

export function policyFromEnv(text: string | undefined): EgressPolicy {
  if (!text) return egressPolicy(DEFAULT_SETTINGS);
  const settings = JSON.parse(text) as EgressSettings;
  return egressPolicy({ ...DEFAULT_SETTINGS, ...settings });
}
