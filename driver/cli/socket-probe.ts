/**
 * Whether the plugin's socket is there and answers the call Docker makes
 * first (Plugin.Activate), and what the daemon says of itself
 * (AzureVnet.Status). Nothing else is sent: a read-only check must not
 * change the plugin's state.
 */
import * as fs from "../lib/fs-async";
import { request } from "node:http";
import { z } from "zod";
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

const reconcileReport = z.object({
  at: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  unreachable: z.string().optional(),
  networksAdopted: z.number(),
  endpointsAdopted: z.number(),
  endpointsReleased: z.array(z.string()),
  addressesReleased: z.array(z.string()),
  networksRemoved: z.array(z.string()),
  /** Absent from older daemons. */
  poolsSettled: z.array(z.string()).optional(),
  itemErrors: z.array(z.string()),
});

const statusReply = z.object({
  startedAt: z.string(),
  reconcileIntervalSeconds: z.number(),
  dockerHost: z.string(),
  lastReconcile: reconcileReport.nullable(),
  memory: z.object({ rss: z.number(), heapTotal: z.number(), heapUsed: z.number(), external: z.number() }).optional(),
});

/** The daemon's own state; rejects when it does not answer AzureVnet.Status (an older plugin) or answers something else. */
export async function probePluginStatus(path: string, timeoutMs: number): Promise<PluginStatusReply> {
  const parsed = statusReply.safeParse(await callPlugin(path, "AzureVnet.Status", timeoutMs));
  if (!parsed.success) throw new Error(`AzureVnet.Status answered something unexpected: ${parsed.error.issues[0]?.message ?? "?"}`);
  return parsed.data;
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
