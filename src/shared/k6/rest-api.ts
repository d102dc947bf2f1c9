// The piece of k6's REST API a distributed start needs (k6.md): GET /v1/status tells whether a
// runner is up and paused; PATCH /v1/status with paused:false starts it.

export interface K6Status {
  paused: boolean;
  running: boolean;
  stopped: boolean;
  vus: number;
  vusMax: number;
}

const JSON_API = "application/json";

function statusUrl(base: string): string {
  return `${base.replace(/\/+$/, "")}/v1/status`;
}

function readStatus(body: unknown): K6Status {
  const attributes = (body as { data?: { attributes?: Record<string, unknown> } })?.data?.attributes;
  if (!attributes || typeof attributes.paused !== "boolean") throw new Error("the answer is not a k6 status");
  return {
    paused: attributes.paused,
    running: attributes.running === true,
    stopped: attributes.stopped === true,
    vus: Number(attributes.vus ?? 0),
    vusMax: Number(attributes["vus-max"] ?? 0),
  };
}

export async function getK6Status(base: string, timeoutMs = 2000): Promise<K6Status> {
  const response = await fetch(statusUrl(base), { headers: { Accept: JSON_API }, signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET /v1/status answered ${response.status}`);
  return readStatus(await response.json());
}

/** Un-pauses a runner; resolves with its status after the change. */
export async function resumeK6(base: string, timeoutMs = 2000): Promise<K6Status> {
  const response = await fetch(statusUrl(base), {
    method: "PATCH",
    headers: { "Content-Type": JSON_API, Accept: JSON_API },
    body: JSON.stringify({ data: { type: "status", id: "default", attributes: { paused: false } } }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) throw new Error(`PATCH /v1/status answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  return readStatus(await response.json());
}

/** The error text of a failed REST call, short. */
export function restError(error: unknown): string {
  const err = error as Error & { cause?: { code?: string } };
  if (err?.name === "TimeoutError") return "no answer (timed out)";
  return err?.cause?.code ?? err?.message ?? String(error);
}
