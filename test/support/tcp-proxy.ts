// A TCP proxy on 127.0.0.1 for tests that cut a connection: `cut()` makes it a black hole (bytes
// in flight and new connections go nowhere, nothing is closed), as a network partition does, so
// the client learns of it only through its own timeouts.
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface TcpProxy {
  port: number;
  cut(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    if (cut) {
      client.pause();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.on("data", (chunk) => {
      if (!cut) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!cut) client.write(chunk);
    });
    client.on("end", () => !cut && upstream.end());
    upstream.on("end", () => !cut && client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      cut = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
