import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface Readiness {
  /** Null when ready, else why not. */
  check(): Promise<string | null>;
  /** Conditions worth a look that do not make the service unready (e.g. Hub reporting stopped by a 401). */
  notes?(): string[];
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** `/healthz` (the process is alive) and `/readyz` (it can take work) for probes. */
export async function startHealthServer(port: number, host: string, readiness: Readiness): Promise<{ server: Server; port: number }> {
  const server = createServer(async (req, res) => {
    const path = req.url?.split("?")[0];
    if (path === "/healthz" || path === "/livez") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      const problem = await readiness.check().catch((error: unknown) => String(error));
      const notes = (readiness.notes?.() ?? []).map((note) => `note: ${note}\n`).join("");
      res.writeHead(problem ? 503 : 200, { "content-type": "text/plain" }).end(`${problem ? `not ready: ${problem}` : "ready"}\n${notes}`);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  return { server, port: await listen(server, port, host) };
}

export async function startMetricsServer(port: number, host: string, registry: Registry): Promise<{ server: Server; port: number }> {
  const server = createServer(async (req, res) => {
    if (req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { "content-type": registry.contentType }).end(body);
    } catch (error) {
      res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(error)}\n`);
    }
  });
  return { server, port: await listen(server, port, host) };
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
