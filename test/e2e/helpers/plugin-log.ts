/**
 * Reading the plugin's own log (run with LOG_FORMAT=json) from a test: what
 * it said about its metadata, and how long each protocol request took by its
 * own measure, which excludes Docker's and the CLI's share.
 */
import { readFileSync, statSync } from "node:fs";

export interface LogEvent {
  time: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

export function logSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** JSON events written to `file` after byte offset `from`; other lines (stray output) are skipped. */
export function eventsSince(file: string, from = 0): LogEvent[] {
  const text = readFileSync(file).subarray(from).toString("utf8");
  const events: LogEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      events.push(JSON.parse(line) as LogEvent);
    } catch {
      /* a line cut by a concurrent write; the next read sees it whole */
    }
  }
  return events;
}

/** Protocol requests logged since `from`: method, outcome and the plugin's own duration. */
export interface LoggedRequest {
  method: string;
  outcome: string;
  durationMs: number;
  address?: string;
  /** The short (12 character) form the plugin logs. */
  endpointId?: string;
}

export function requestsSince(file: string, from = 0): LoggedRequest[] {
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  return eventsSince(file, from)
    .filter((e) => typeof e.method === "string" && typeof e.durationMs === "number")
    .map((e) => ({
      method: e.method as string,
      outcome: String(e.outcome),
      durationMs: e.durationMs as number,
      address: text(e.address),
      endpointId: text(e.endpointId),
    }));
}
