/**
 * Test harness: the protocol app on a real UNIX socket in a temp dir, sinon
 * fakes for both drivers, a logger that records entries, and a client that
 * sends requests the way Docker does (no Content-Type, raw bytes).
 */
import { promises as fs } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import sinon from "sinon";
import winston from "winston";
import { createProtocolApp, serveUnixSocket, type SocketServer } from "../../../driver/protocol/server";
import type { IpamDriver, NetworkDriver } from "../../../driver/protocol/types";

export type Fake<T> = { [K in keyof T]: sinon.SinonStub };

export const NET_ID = "a".repeat(40) + "0123456789abcdef01234567";
export const EP_ID = "e".repeat(48) + "0123456789abcdef";

export function fakeNetwork(): Fake<NetworkDriver> {
  return {
    getCapabilities: sinon.stub().returns({ Scope: "local", ConnectivityScope: "local" }),
    createNetwork: sinon.stub().resolves(),
    deleteNetwork: sinon.stub().resolves(),
    createEndpoint: sinon.stub().resolves({ Interface: {} }),
    deleteEndpoint: sinon.stub().resolves(),
    join: sinon.stub().resolves({ InterfaceName: { SrcName: "azv1234", DstPrefix: "eth" } }),
    leave: sinon.stub().resolves(),
    endpointOperInfo: sinon.stub().resolves({}),
    programExternalConnectivity: sinon.stub().resolves(),
    revokeExternalConnectivity: sinon.stub().resolves(),
  };
}

export function fakeIpam(): Fake<IpamDriver> {
  return {
    getCapabilities: sinon.stub().returns({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    getDefaultAddressSpaces: sinon.stub().returns({ LocalDefaultAddressSpace: "azure-local", GlobalDefaultAddressSpace: "azure-global" }),
    requestPool: sinon.stub().resolves({ PoolID: "azure-local/10.1.0.0/24", Pool: "10.1.0.0/24" }),
    releasePool: sinon.stub().resolves(),
    requestAddress: sinon.stub().resolves({ Address: "10.1.0.7/24" }),
    releaseAddress: sinon.stub().resolves(),
  };
}

export interface LogEntry {
  level: string;
  message: string;
  [field: string]: unknown;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown>;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
}

export interface Harness {
  dir: string;
  socketPath: string;
  network: Fake<NetworkDriver>;
  ipam: Fake<IpamDriver>;
  logs: LogEntry[];
  server: SocketServer;
  /** POST `body` (an object is JSON-encoded like Go does, a string/Buffer is sent as is). */
  call(urlPath: string, body?: unknown, opts?: RequestOptions): Promise<Reply>;
  /** Wait until at least `count` log entries have arrived (winston writes asynchronously). */
  waitForLogs(count: number): Promise<LogEntry[]>;
  stop(): Promise<void>;
}

export async function makeTempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), "azvnet-protocol-"));
}

export async function startHarness(opts: { handlerTimeoutMs?: number; drainTimeoutMs?: number } = {}): Promise<Harness> {
  const dir = await makeTempDir();
  const socketPath = path.join(dir, "run", "plugins", "azvnet.sock");
  const network = fakeNetwork();
  const ipam = fakeIpam();
  const logs: LogEntry[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as LogEntry);
      done();
    },
  });
  const logger = winston.createLogger({
    level: "debug",
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: sink })],
  });
  const app = createProtocolApp({
    network: network as unknown as NetworkDriver,
    ipam: ipam as unknown as IpamDriver,
    logger,
    handlerTimeoutMs: opts.handlerTimeoutMs,
  });
  const server = await serveUnixSocket(app, socketPath, { drainTimeoutMs: opts.drainTimeoutMs });
  return {
    dir,
    socketPath,
    network,
    ipam,
    logs,
    server,
    call: (urlPath, body, requestOpts) => sendRequest(socketPath, urlPath, body, requestOpts),
    async waitForLogs(count) {
      for (let i = 0; i < 200 && logs.length < count; i++) await sleep(5);
      return logs;
    },
    async stop() {
      await server.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export function sendRequest(socketPath: string, urlPath: string, body?: unknown, opts: RequestOptions = {}): Promise<Reply> {
  let data: Buffer;
  if (body === undefined) data = Buffer.alloc(0);
  else if (Buffer.isBuffer(body)) data = body;
  else if (typeof body === "string") data = Buffer.from(body, "utf8");
  else data = Buffer.from(`${JSON.stringify(body)}\n`, "utf8");
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path: urlPath,
        method: opts.method ?? "POST",
        agent: false,
        // What Docker sends: an Accept header, a Content-Length, no Content-Type.
        headers: { Accept: "application/vnd.docker.plugins.v1.2+json", "Content-Length": data.length, ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // Leave json empty; tests that care assert on text.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

/** Write raw bytes to the socket and collect everything until the server closes the connection. */
export function rawExchange(socketPath: string, payload: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socketPath);
    const chunks: Buffer[] = [];
    conn.on("data", (c: Buffer) => chunks.push(c));
    conn.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    // The server may close while we are still writing; what it sent before that is what counts.
    conn.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE" || err.code === "ECONNRESET") return;
      reject(err);
    });
    conn.write(payload);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
