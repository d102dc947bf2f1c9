// git_activity (CODE_REPO): a GitHub repository's activity from the REST API. The program
// (src/collectors/git-activity.ts) counts commits since a date (paginating with Link headers),
// finds the last commit time and whether it falls in the activity window, and reads the
// default branch. A missing or private repository is a result (NO_DATA with the reason), not a
// failure; GitHub's rate limit is waited out (until its reset, within the job's timeout).
// GITHUB_TOKEN reaches this program only, through its workload environment.
import { z } from "zod";
import type { JobHandler } from "./handler.js";
import { isInfrastructureFailure } from "./infrastructure-failure.js";
import { zodResultParser } from "./result-parser.js";
import { durationMs, MAX_URL_LENGTH } from "./schema-helpers.js";
import { text } from "./text-field.js";

/** Exit code of a run that could not finish for a reason worth retrying (rate limit beyond the timeout, GitHub down). */
export const EXIT_TEMPORARY = 75;

const DAY_MS = 24 * 3_600_000;

/** owner/repo from the forms teams paste: https://github.com/o/r(.git)(/...), github.com/o/r, git@github.com:o/r.git. */
export function parseGitHubRepo(url: string): { owner: string; repo: string } | null {
  const text = url.trim();
  const patterns = [
    /^(?:https?:\/\/)?(?:www\.)?github\.com\/([A-Za-z0-9-]{1,39})\/([A-Za-z0-9._-]{1,100}?)(?:\.git)?(?:[/?#].*)?$/,
    /^git@github\.com:([A-Za-z0-9-]{1,39})\/([A-Za-z0-9._-]{1,100}?)(?:\.git)?\/?$/,
  ];
  for (const pattern of patterns) {
    const match = pattern.exec(text);
    if (match && match[2] !== "." && match[2] !== "..") return { owner: match[1], repo: match[2] };
  }
  return null;
}

const gitActivityParams = z
  .object({
    repoUrl: text({ max: MAX_URL_LENGTH })
      .min(1, "is required")
      .refine((url) => parseGitHubRepo(url) !== null, "must be a GitHub repository URL such as https://github.com/owner/repo"),
    since: z.iso.datetime({ offset: true, error: "must be a timestamp" }).optional(),
    activityWindow: durationMs({ min: 60_000, max: 90 * DAY_MS }).optional(),
  })
  .transform(({ repoUrl, since, activityWindow }) => {
    const { owner, repo } = parseGitHubRepo(repoUrl)!;
    return {
      repoUrl: `https://github.com/${owner}/${repo}`,
      owner,
      repo,
      ...(since ? { since: new Date(since).toISOString() } : {}),
      activityWindowMs: activityWindow ?? DAY_MS,
    };
  });

const gitActivityResult = z.object({
  outcome: z.enum(["OK", "NO_DATA"]),
  reason: z.string().optional(),
  repoUrl: z.string(),
  defaultBranch: z.string().nullable().optional(),
  commitsCount: z.number(),
  commitsCapped: z.boolean().optional(),
  lastCommitTime: z.string().nullable(),
  hasRecentActivity: z.boolean(),
  since: z.string(),
  activityWindowHours: z.number(),
  requests: z.number().optional(),
  rateLimitWaitMs: z.number().optional(),
});

export type GitActivityResult = z.infer<typeof gitActivityResult>;

export interface GitActivityOptions {
  apiUrl?: string;
  /** Given to this job type's program only (the local runtime). */
  token?: string;
  /** Where git_activity pods read the token on Kubernetes (a Secret in the jobs namespace); unset: `token` itself. */
  tokenSecret?: { name: string; key: string };
  /** Default `since` for jobs that name none (GIT_ACTIVITY_SINCE); else the start of the activity window. */
  defaultSince?: string;
  userAgent?: string;
}

export function gitActivityHandler(options: GitActivityOptions = {}): JobHandler<typeof gitActivityParams> {
  return {
    type: "git_activity",
    description: "Measures a GitHub repository's activity: commits since a date, last commit time, recent activity, default branch.",
    paramsSchema: gitActivityParams,
    defaultResources: { cpuRequest: "50m", cpuLimit: "200m", memoryRequest: "64Mi", memoryLimit: "128Mi" },
    defaultTimeoutMs: 5 * 60_000,
    maxTimeoutMs: 2 * 3_600_000,
    defaultMaxAttempts: 3,
    buildWorkload(job) {
      const { owner, repo, repoUrl, since, activityWindowMs } = job.params;
      return {
        collector: "git-activity",
        env: {
          GITHUB_API_URL: options.apiUrl ?? "https://api.github.com",
          GIT_REPO_OWNER: owner,
          GIT_REPO_NAME: repo,
          GIT_REPO_URL: repoUrl,
          GIT_SINCE: since ?? options.defaultSince ?? "",
          GIT_WINDOW_MS: String(activityWindowMs),
          GIT_DEADLINE_MS: String(Math.max(1000, job.timeoutMs - Math.min(10_000, job.timeoutMs / 4))),
          GIT_USER_AGENT: options.userAgent ?? "HackLoad-Monitor/1.0",
        },
        ...(options.token || options.tokenSecret
          ? { secretEnv: { GITHUB_TOKEN: { value: options.token, secretKeyRef: options.tokenSecret } } }
          : {}),
      };
    },
    parseResult: zodResultParser("git_activity", gitActivityResult),
    /** Rate limited beyond the timeout or GitHub unavailable (exit 75): worth another attempt; so are infrastructure failures. */
    isRetryable(end, policy) {
      return end.kind === "exited" ? end.exitCode === EXIT_TEMPORARY : isInfrastructureFailure(end, policy);
    },
  };
}
