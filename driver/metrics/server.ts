/**
 * Serves GET /metrics on a loopback address or a unix socket. The unix socket
 * goes through the same code as the plugin's own socket: private to root
 * from the moment it is bound, and a stale file from a crash is replaced.
 */
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress } from "../config";
import { errorMessage } from "../errors";
import { serveUnixSocket } from "../protocol/server";
import type { PluginMetrics } from "./registry";

export interface MetricsServer {
  /** "http://127.0.0.1:9417/metrics" or "unix:/path". */
  readonly where: string;
  close(): Promise<void>;
}

function handler(metrics: PluginMetrics, onError: (message: string) => void): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found: the metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" }).end("use GET\n");
      return;
    }
    metrics.exposition().then(
      ({ contentType, body }) => {
        res.writeHead(200, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
        res.end(req.method === "HEAD" ? undefined : body);
      },
      (err: unknown) => {
        onError(errorMessage(err));
        res.writeHead(500, { "Content-Type": "text/plain" }).end("collecting metrics failed\n");
      },
    );
  };
}

export async function serveMetrics(
  address: ListenAddress,
  metrics: PluginMetrics,
  onError: (message: string) => void = () => undefined,
): Promise<MetricsServer> {
  const listener = handler(metrics, onError);
  if (address.kind === "unix") {
    const server = await serveUnixSocket(listener, address.path, { drainTimeoutMs: 1000 });
    return { where: `unix:${address.path}`, close: () => server.close() };
  }
  const server = http.createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`cannot serve metrics on ${address.host}:${address.port}: ${err.message}`)));
    server.listen(address.port, address.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    where: `http://${host}:${bound.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
