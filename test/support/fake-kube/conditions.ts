// Setting a condition the way controllers do: lastTransitionTime only moves when the status changes.
import { kubeTime } from "./types.js";

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastProbeTime?: string | null;
}

export function setCondition<T extends Condition>(conditions: T[] | undefined, next: Omit<T, "lastTransitionTime">): T[] {
  const list = conditions ? [...conditions] : [];
  const i = list.findIndex((c) => c.type === next.type);
  const now = kubeTime();
  if (i >= 0) {
    const same = list[i].status === next.status;
    list[i] = { ...list[i], ...next, lastTransitionTime: same ? list[i].lastTransitionTime : now } as T;
  } else {
    list.push({ ...next, lastTransitionTime: now } as T);
  }
  return list;
}

export function hasCondition(conditions: Condition[] | undefined, type: string): boolean {
  return conditions?.some((c) => c.type === type && c.status === "True") ?? false;
}

export function findCondition<T extends Condition>(conditions: T[] | undefined, type: string): T | undefined {
  return conditions?.find((c) => c.type === type && c.status === "True");
}
