// http_check (DEPLOYED_SOLUTION): probes a team's deployed app. The program
// (src/collectors/http-check.ts) resolves the host, then checks TLS (https) and requests every
// endpoint at once under one request timeout, telling DNS failure, refused connection, timeout
// and TLS problems apart. Read-only methods only, and never POST /api/reset.
import { z } from "zod";
import { policyEnv } from "../shared/egress/env.js";
import { egressPolicy, type EgressPolicy } from "../shared/egress/policy.js";
import type { JobHandler } from "./handler.js";
import { zodResultParser } from "./result-parser.js";
import { durationMs, httpUrl, MAX_URL_LENGTH } from "./schema-helpers.js";
import { text } from "./text-field.js";

export const HTTP_CHECK_METHODS = ["GET", "HEAD", "OPTIONS"] as const;
export const MAX_ENDPOINTS = 20;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_USER_AGENT = "HackLoad-Monitor/1.0";

export interface HttpCheckEndpoint {
  method: (typeof HTTP_CHECK_METHODS)[number];
  path: string;
  /** 0 = any 2xx. */
  expectedStatus: number;
  critical: boolean;
}

/**
 * The read-only endpoints of the Biletter ticketing API (hub-api.md). Critical: the event
 * list and the seat map, which every user flow starts from. The payment callbacks are GETs
 * but have side effects, and POST /api/reset wipes the team's data: neither is probed.
 */
export const DEFAULT_ENDPOINTS: readonly HttpCheckEndpoint[] = [
  { method: "GET", path: "/api/events?page=1&pageSize=20", expectedStatus: 0, critical: true },
  { method: "GET", path: "/api/seats?event_id=1&page=1&pageSize=20", expectedStatus: 0, critical: true },
  { method: "GET", path: "/api/bookings", expectedStatus: 0, critical: false },
  { method: "GET", path: "/api/analytics?id=1", expectedStatus: 0, critical: false },
];

/** The request path with its query, decoding and case removed, as the target would route it. */
function routedPath(path: string): string {
  let decoded = path.split(/[?#]/)[0];
  try {
    decoded = decodeURIComponent(decoded);
  } catch {
    // keep it encoded
  }
  return decoded.toLowerCase().replace(/\/{2,}/g, "/").replace(/\/+$/, "");
}

/** True when a request to this base URL and path would reach the ticketing API's reset endpoint. */
export function reachesReset(baseUrl: string, path: string): boolean {
  let basePath = "";
  try {
    basePath = new URL(baseUrl).pathname;
  } catch {
    // validated elsewhere
  }
  const full = routedPath(`${basePath.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`);
  return full === "/api/reset" || full.endsWith("/api/reset");
}

/** ts-proto's toJSON leaves an empty string out, so a missing URL arrives as undefined. */
export const requiredUrl = text({ max: MAX_URL_LENGTH }).min(1, "is required").pipe(httpUrl);

const endpointSchema = z.object({
  method: text({ max: 16 })
    .default("GET")
    .transform((m) => m.toUpperCase())
    .pipe(z.enum(HTTP_CHECK_METHODS, { error: "must be GET, HEAD or OPTIONS (a monitoring check never changes the target's data)" })),
  path: text({ max: 1024 })
    .min(1, "is required")
    .regex(/^\/[\x21-\x7e]*$/, "must start with / and hold printable characters without spaces"),
  expectedStatus: z
    .number()
    .int()
    .default(0)
    .refine((s) => s === 0 || (s >= 100 && s <= 599), "must be 0 (any 2xx) or an HTTP status 100-599"),
  critical: z.boolean().default(false),
});

const httpCheckParams = z
  .object({
    baseUrl: requiredUrl,
    endpoints: z.array(endpointSchema).max(MAX_ENDPOINTS, `at most ${MAX_ENDPOINTS} endpoints`).default([]),
    requestTimeout: durationMs({ min: 100, max: 60_000 }).optional(),
  })
  .superRefine((params, ctx) => {
    params.endpoints.forEach((endpoint, i) => {
      if (reachesReset(params.baseUrl, endpoint.path)) {
        ctx.addIssue({ code: "custom", path: ["endpoints", i, "path"], message: "must not be /api/reset (it wipes the team's data)" });
      }
    });
    if (!params.endpoints.length && reachesReset(params.baseUrl, "/")) {
      ctx.addIssue({ code: "custom", path: ["baseUrl"], message: "must not point at /api/reset" });
    }
  })
  .transform(({ baseUrl, endpoints, requestTimeout }) => ({
    baseUrl,
    endpoints: endpoints.length ? endpoints : DEFAULT_ENDPOINTS.map((e) => ({ ...e })),
    requestTimeoutMs: requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS,
  }));

/** BLOCKED: the egress policy refused the address (or a redirect's target) before any connection. */
export const ENDPOINT_ERRORS = ["DNS", "REFUSED", "TIMEOUT", "RESET", "TLS", "UNREACHABLE", "STATUS", "ERROR", "BLOCKED"] as const;

const endpointResult = z.object({
  method: z.string(),
  path: z.string(),
  critical: z.boolean(),
  status: z.number().nullable(),
  ok: z.boolean(),
  latencyMs: z.number().nullable(),
  error: z.enum(ENDPOINT_ERRORS).nullable(),
  message: z.string().optional(),
});

const httpCheckResult = z.object({
  baseUrl: z.string(),
  dns: z.object({ ok: z.boolean(), address: z.string().optional(), error: z.string().optional(), blocked: z.string().optional() }),
  tls: z
    .object({
      valid: z.boolean(),
      error: z.string().optional(),
      daysToExpiry: z.number().nullable().optional(),
      validTo: z.string().optional(),
      issuer: z.string().optional(),
    })
    .nullable(),
  endpoints: z.array(endpointResult),
  workingEndpoints: z.number(),
  totalEndpoints: z.number(),
  durationMs: z.number(),
});

export type HttpCheckResult = z.infer<typeof httpCheckResult>;

export interface HttpCheckOptions {
  userAgent?: string;
  /** The egress policy the program applies again before it connects (default: the built-in one). */
  egress?: EgressPolicy;
}

export function httpCheckHandler(options: HttpCheckOptions = {}): JobHandler<typeof httpCheckParams> {
  const egress = policyEnv(options.egress ?? egressPolicy());
  return {
    type: "http_check",
    description:
      "Probes a deployed app: status and latency of each endpoint (read-only methods), TLS validity and expiry, DNS failure vs refused vs timeout.",
    paramsSchema: httpCheckParams,
    defaultResources: { cpuRequest: "50m", cpuLimit: "200m", memoryRequest: "64Mi", memoryLimit: "128Mi" },
    defaultTimeoutMs: 30_000,
    maxTimeoutMs: 10 * 60_000,
    defaultMaxAttempts: 2,
    buildWorkload(job) {
      const { baseUrl, endpoints, requestTimeoutMs } = job.params;
      return {
        collector: "http-check",
        env: {
          HTTP_CHECK_BASE_URL: baseUrl,
          HTTP_CHECK_ENDPOINTS: JSON.stringify(endpoints),
          HTTP_CHECK_TIMEOUT_MS: String(requestTimeoutMs),
          // The program writes its result before the job's own timeout stops it.
          HTTP_CHECK_DEADLINE_MS: String(Math.max(1000, job.timeoutMs - Math.min(5000, job.timeoutMs / 4))),
          HTTP_CHECK_USER_AGENT: options.userAgent ?? DEFAULT_USER_AGENT,
          ...egress,
        },
      };
    },
    egressTargets: (params) => [{ field: "base_url", url: params.baseUrl }],
    parseResult: zodResultParser("http_check", httpCheckResult),
    /** One check per target app at a time, apart from load tests of the same host. */
    defaultConcurrencyKey(params) {
      try {
        return `http_check:${new URL(params.baseUrl).host}`;
      } catch {
        return null;
      }
    },
  };
}
