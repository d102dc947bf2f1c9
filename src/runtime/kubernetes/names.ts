// Names and labels of the Kubernetes objects the service creates: deterministic, valid for the
// API (DNS-1123 names, label syntax), and carrying the full values in annotations.
import { createHash } from "node:crypto";

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "jobscheduler";
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

const PREFIX = "jobscheduler.hackload.io";
export const LABEL = {
  jobId: `${PREFIX}/job-id`,
  type: `${PREFIX}/type`,
  attempt: `${PREFIX}/attempt`,
  team: `${PREFIX}/team`,
  hackathon: `${PREFIX}/hackathon`,
} as const;
export const ANNOTATION = {
  jobId: `${PREFIX}/job-id`,
  jobName: `${PREFIX}/job-name`,
  type: `${PREFIX}/type`,
  team: `${PREFIX}/team`,
  hackathon: `${PREFIX}/hackathon`,
  attempt: `${PREFIX}/attempt`,
} as const;

/** The label the job controller puts on a Job's pods (Kubernetes ≥ 1.27). */
export const JOB_NAME_LABEL = "batch.kubernetes.io/job-name";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_NAME = 63;

function shortHash(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** Lower-case DNS-1123 label characters only; runs of anything else become one "-". */
function dnsSlug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/**
 * The Kubernetes Job's name: `<type>-<job id>-<attempt>`, a DNS-1123 label of at most 63
 * characters, the same every time for a job id and attempt (so a create repeated after a crash
 * answers AlreadyExists). An id that is not itself DNS-safe is replaced by a hash of it.
 */
export function kubernetesJobName(jobId: string, attempt: number, type: string): string {
  const id = DNS_LABEL.test(jobId) && jobId.length <= 40 ? jobId : `h${shortHash(jobId, 24)}`;
  const suffix = `-${id}-${attempt}`;
  const room = MAX_NAME - suffix.length;
  const prefix = dnsSlug(type).slice(0, Math.max(0, room)).replace(/-+$/g, "") || "job";
  const name = `${prefix}${suffix}`;
  return name.length <= MAX_NAME ? name : `j-${shortHash(`${jobId}/${attempt}`, 40)}-${attempt}`.slice(0, MAX_NAME);
}

/**
 * A label value for any text: at most 63 characters of [A-Za-z0-9_.-], starting and ending
 * alphanumeric (upper case and "_" are valid and kept); other characters become "-". A value
 * that had to be shortened, or had nothing usable, ends with a hash of the original, so two
 * long values stay distinct. The annotations keep the full text.
 */
export function labelValue(text: string): string {
  if (isLabelValue(text)) return text;
  const cleaned = text.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  if (cleaned && cleaned.length <= MAX_NAME) return cleaned;
  const hash = shortHash(text, 8);
  const head = cleaned.slice(0, MAX_NAME - hash.length - 1).replace(/[^A-Za-z0-9]+$/g, "");
  return head ? `${head}-${hash}` : hash;
}

export function isLabelValue(text: string): boolean {
  return text.length <= MAX_NAME && LABEL_VALUE.test(text);
}

export function isDnsLabel(text: string): boolean {
  return text.length <= MAX_NAME && DNS_LABEL.test(text);
}
