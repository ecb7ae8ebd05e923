import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PluginMetrics, serveMetrics } from "../../../driver/metrics";
import { createProtocolApp, type RequestObservation } from "../../../driver/protocol/server";
import { fakeIpam, fakeNetwork } from "../protocol/harness";

function get(
  target: { socketPath?: string; port?: number },
  path: string,
  method = "GET",
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...target, host: "127.0.0.1", path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("metrics endpoint", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "azure-vnet-metrics-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("serves /metrics on a loopback port and nothing else", async () => {
    const m = new PluginMetrics({ processMetrics: false });
    m.observeRequest({ method: "Plugin.Activate", outcome: "ok", durationMs: 1 });
    const server = await serveMetrics({ kind: "tcp", host: "127.0.0.1", port: 0 }, m);
    try {
      const port = Number(/:(\d+)\/metrics$/.exec(server.where)?.[1]);
      const ok = await get({ port }, "/metrics");
      assert.equal(ok.status, 200);
      assert.match(ok.type, /^text\/plain; version=0\.0\.4/);
      assert.match(ok.body, /azure_vnet_requests_total\{method="Plugin\.Activate",outcome="ok"\} 1/);
      assert.equal((await get({ port }, "/")).status, 404);
      assert.equal((await get({ port }, "/metrics", "POST")).status, 405);
    } finally {
      await server.close();
    }
  });

  it("serves on a unix socket only root can open", async () => {
    const socketPath = join(dir, "metrics.sock");
    const server = await serveMetrics({ kind: "unix", path: socketPath }, new PluginMetrics({ processMetrics: false }));
    try {
      assert.equal(server.where, `unix:${socketPath}`);
      assert.equal(statSync(socketPath).mode & 0o777, 0o600);
      assert.equal((await get({ socketPath }, "/metrics")).status, 200);
    } finally {
      await server.close();
    }
  });

  it("refuses an address in use", async () => {
    const m = new PluginMetrics({ processMetrics: false });
    const first = await serveMetrics({ kind: "tcp", host: "127.0.0.1", port: 0 }, m);
    try {
      const port = Number(/:(\d+)\/metrics$/.exec(first.where)?.[1]);
      await assert.rejects(
        serveMetrics({ kind: "tcp", host: "127.0.0.1", port }, m),
        /cannot serve metrics on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
      );
    } finally {
      await first.close();
    }
  });
});

describe("the protocol layer's onRequest hook", () => {
  it("reports each answered request with its method, outcome and duration", async () => {
    const seen: RequestObservation[] = [];
    const network = fakeNetwork();
    network.createNetwork.rejects(new Error("boom"));
    const app = createProtocolApp({
      network,
      ipam: fakeIpam(),
      logger: { log: () => undefined, warn: () => undefined, error: () => undefined },
      onRequest: (o) => seen.push(o),
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const post = (path: string, body = "") =>
      new Promise<number>((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, path, method: "POST" }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end(body);
      });
    try {
      await post("/Plugin.Activate");
      await post("/NetworkDriver.CreateNetwork", "{}");
      await post("/NetworkDriver.Nonsense");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    assert.deepEqual(
      seen.map((o) => [o.method, o.outcome]),
      [
        ["Plugin.Activate", "ok"],
        ["NetworkDriver.CreateNetwork", "rejected"],
        [undefined, "rejected"],
      ],
    );
    assert.ok(seen.every((o) => o.durationMs >= 0 && o.durationMs < 5000));
  });
});
