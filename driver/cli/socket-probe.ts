/**
 * Whether the plugin's socket is there and answers the call Docker makes
 * first (Plugin.Activate), and what the daemon says of itself
 * (AzureVnet.Status). Nothing else is sent: a read-only check must not
 * change the plugin's state.
 */
import * as fs from "../lib/fs-async";
import { request } from "node:http";
import * as v from "valibot";
import { parseDocument } from "../lib/valid";
import { errorMessage } from "../errors";
import type { PluginStatusReply } from "../reconcile/report";

export interface SocketProbe {
  path: string;
  exists: boolean;
  isSocket: boolean;
  /** Permission bits, e.g. 0o600. */
  mode?: number;
  answering: boolean;
  /** The interfaces the plugin says it implements. */
  implements?: string[];
  error?: string;
}

export async function probeSocket(path: string, timeoutMs: number): Promise<SocketProbe> {
  let stat;
  try {
    stat = await fs.lstat(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    return { path, exists: false, isSocket: false, answering: false, ...(!missing && { error: errorMessage(err) }) };
  }
  const base = { path, exists: true, isSocket: stat.isSocket(), mode: stat.mode & 0o777 };
  if (!base.isSocket) return { ...base, answering: false };
  try {
    const body = await callPlugin(path, "Plugin.Activate", timeoutMs);
    const list = (body as { Implements?: unknown }).Implements;
    return { ...base, answering: true, implements: Array.isArray(list) ? list.map(String) : [] };
  } catch (err) {
    return { ...base, answering: false, error: errorMessage(err) };
  }
}

const reconcileReport = v.object({
  at: v.string(),
  ok: v.boolean(),
  error: v.optional(v.string()),
  unreachable: v.optional(v.string()),
  networksAdopted: v.number(),
  endpointsAdopted: v.number(),
  endpointsReleased: v.array(v.string()),
  addressesReleased: v.array(v.string()),
  networksRemoved: v.array(v.string()),
  /** Absent from older daemons. */
  poolsSettled: v.optional(v.array(v.string())),
  itemErrors: v.array(v.string()),
});

const statusReply = v.object({
  startedAt: v.string(),
  reconcileIntervalSeconds: v.number(),
  dockerHost: v.string(),
  lastReconcile: v.nullable(reconcileReport),
  memory: v.optional(v.object({ rss: v.number(), heapTotal: v.number(), heapUsed: v.number(), external: v.number() })),
});

/** The daemon's own state; rejects when it does not answer AzureVnet.Status (an older plugin) or answers something else. */
export async function probePluginStatus(path: string, timeoutMs: number): Promise<PluginStatusReply> {
  const parsed = parseDocument(statusReply, await callPlugin(path, "AzureVnet.Status", timeoutMs), { root: "the reply" });
  if (!parsed.ok) throw new Error(`AzureVnet.Status answered something unexpected: ${parsed.problems}`);
  return parsed.output;
}

function callPlugin(socketPath: string, method: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/${method}`, method: "POST", headers: { "Content-Length": 2 } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) return reject(new Error(`${method} answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`${method} answered something that is not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end("{}");
  });
}
