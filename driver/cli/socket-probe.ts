/**
 * Whether the plugin's socket is there and answers the call Docker makes
 * first (Plugin.Activate). Nothing else is sent: a read-only check must not
 * change the plugin's state.
 */
import { promises as fs } from "node:fs";
import { request } from "node:http";
import { errorMessage } from "../errors";

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
    const body = await activate(path, timeoutMs);
    const list = (body as { Implements?: unknown }).Implements;
    return { ...base, answering: true, implements: Array.isArray(list) ? list.map(String) : [] };
  } catch (err) {
    return { ...base, answering: false, error: errorMessage(err) };
  }
}

function activate(socketPath: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: "/Plugin.Activate", method: "POST", headers: { "Content-Length": 0 } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) return reject(new Error(`Plugin.Activate answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`Plugin.Activate answered something that is not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}
