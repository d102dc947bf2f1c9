// The Hub's criteria vocabulary (shared/hackload/hub-api.md): names are exact.

export const CRITERIA_TYPES = [
  "CODE_REPO", "DEPLOYED_SOLUTION", "EVENT_SEARCH", "ARCHIVE_SEARCH", "AUTH_PERFORMANCE",
  "TICKET_BOOKING", "TICKET_CANCELLATION", "BUDGET_TRACKING", "JUDGE_SCORE",
] as const;
export type CriteriaTypeName = (typeof CRITERIA_TYPES)[number];

export const CRITERIA_STATUSES = ["PASSED", "FAILED", "NO_DATA"] as const;
export type CriteriaStatus = (typeof CRITERIA_STATUSES)[number];

export function isCriteriaType(value: string): value is CriteriaTypeName {
  return (CRITERIA_TYPES as readonly string[]).includes(value);
}

/** What one evaluation says about one team's criterion: the body of one Hub update, minus who and by whom. */
export interface CriteriaReport {
  status: CriteriaStatus;
  /** A whole number >= 0 (the Hub's score column is an integer). */
  score: number;
  metrics: Record<string, unknown>;
}

/** One item of `POST /api/service/team-criteria`'s `updates`. */
export interface CriteriaUpdate {
  teamSlug: string;
  hackathonId: string;
  criteriaType: CriteriaTypeName;
  status: CriteriaStatus;
  score?: number;
  metrics?: Record<string, unknown>;
  updatedBy: string;
}

/** The job type that measures each criterion (k6 covers the load-test criteria). */
export const JOB_TYPE_FOR_CRITERIA: Partial<Record<CriteriaTypeName, string>> = {
  CODE_REPO: "git_activity",
  DEPLOYED_SOLUTION: "http_check",
  BUDGET_TRACKING: "budget",
  JUDGE_SCORE: "judge_score",
  EVENT_SEARCH: "k6",
  ARCHIVE_SEARCH: "k6",
  AUTH_PERFORMANCE: "k6",
  TICKET_BOOKING: "k6",
  TICKET_CANCELLATION: "k6",
};
