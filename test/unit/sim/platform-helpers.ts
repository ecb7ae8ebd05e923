/**
 * Shared fixtures for the platform endpoint tests. Everything binds to
 * 127.0.0.1 with ephemeral ports; callers are identified by the X-Sim-Source
 * header because every loopback request comes from 127.0.0.1.
 */
import { createSocket } from "node:dgram";
import { request } from "node:http";
import { connect } from "node:net";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as dnsPacket from "dns-packet";
import { defaultTopology, type Topology } from "../../../sim/topology";
import { startPlatform, type Platform } from "../../../sim/platform/platform";
import type { ListenAddress } from "../../../sim/platform/managed-http";

export const SOURCE_HEADER = "X-Sim-Source";
export const LOOPBACK: ListenAddress = { host: "127.0.0.1", port: 0 };

export function makeStateDir(topology: Topology = defaultTopology()): string {
  const dir = mkdtempSync(join(tmpdir(), "azure-vnet-platform-"));
  writeTopology(dir, topology);
  return dir;
}

export function removeStateDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Atomic replace, as the simulator does, so the poller never sees half a file. */
export function writeTopology(dir: string, topology: Topology): void {
  const tmp = join(dir, "topology.json.tmp");
  writeFileSync(tmp, JSON.stringify(topology));
  renameSync(tmp, join(dir, "topology.json"));
}

export function startTestPlatform(stateDir: string): Promise<Platform> {
  return startPlatform({
    stateDir,
    imds: LOOPBACK,
    wireserver: LOOPBACK,
    wireserverAlt: LOOPBACK,
    dns: LOOPBACK,
    identifyByHeader: SOURCE_HEADER,
    // Default poll period on purpose: tests check the real change-visibility bound.
  });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One GET on a fresh connection (no agent), so a downed listener shows up as a refusal. */
export function httpGet(at: ListenAddress | undefined, path: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpRequest(at, "GET", path, headers);
}

/** One request on a fresh connection; `body` is sent as is. */
export function httpRequest(
  at: ListenAddress | undefined,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<HttpResult> {
  if (!at) throw new Error("endpoint not started");
  return new Promise((resolve, reject) => {
    const req = request({ host: at.host, port: at.port, method, path, headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

/** An IMDS request as a VM with address `source` would send it. */
export function imdsGet(
  platform: Platform,
  source: string,
  path = "/metadata/instance/network?api-version=2021-02-01",
): Promise<HttpResult> {
  return httpGet(platform.addresses().imds, path, { Metadata: "true", [SOURCE_HEADER]: source });
}

export function dnsQuery(name: string, type: dnsPacket.RecordType = "A", id = 4242): Buffer {
  return dnsPacket.encode({ type: "query", id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: "IN" }] });
}

/** Send raw bytes over UDP; resolves with the reply or undefined after timeoutMs. */
export function udpExchange(at: ListenAddress | undefined, payload: Buffer, timeoutMs = 1000): Promise<Buffer | undefined> {
  if (!at) throw new Error("endpoint not started");
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    const done = (reply: Buffer | undefined) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on("message", (msg) => done(msg));
    // ICMP port unreachable surfaces as an error on connected sockets; treat it as "no answer".
    socket.on("error", () => done(undefined));
    socket.send(payload, at.port, at.host);
  });
}

/** One DNS message over TCP with the two-byte length prefix. */
export function tcpExchange(at: ListenAddress | undefined, payload: Buffer): Promise<Buffer> {
  if (!at) throw new Error("endpoint not started");
  return new Promise((resolve, reject) => {
    const conn = connect(at.port, at.host);
    let data = Buffer.alloc(0);
    conn.setTimeout(3000, () => conn.destroy(new Error("timeout")));
    conn.on("connect", () => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(payload.length);
      conn.write(Buffer.concat([prefix, payload]));
    });
    conn.on("data", (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        conn.end();
        resolve(data.subarray(2, 2 + data.readUInt16BE(0)));
      }
    });
    conn.on("error", reject);
  });
}

/** The 4-bit response code of a DNS reply (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN). */
export function rcodeOf(packet: dnsPacket.DecodedPacket): number {
  return (packet.flags ?? 0) & 0xf;
}

/** Poll until check passes or the deadline is hit; returns the time it took. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, stepMs = 25): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}
