/**
 * Owns the one log line written per protocol request. IDs are shortened and
 * every value taken from the request is cleaned, because a malformed request
 * is exactly when these fields hold hostile text.
 */
import { cleanText, shortId } from "../lib/text";

export type ProtocolLogLevel = "error" | "warn" | "info" | "debug";
type LogFields = Record<string, unknown>;

/**
 * The part of a logger this layer uses: the daemon's logger (log.ts) fits,
 * and so does any object with this method, so tests need no logging setup.
 */
export interface ProtocolLogger {
  log(level: ProtocolLogLevel, message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export type Outcome =
  | { kind: "ok" }
  | { kind: "rejected"; message: string } // bad request or a PluginError from a driver
  | { kind: "timeout"; message: string }
  | { kind: "internal"; message: string; stack?: string };

export interface RequestLogEntry {
  method: string;
  /** Successful calls of this method are routine polling: log them at debug. */
  quiet: boolean;
  /** The parsed request body, when parsing got that far. */
  body: unknown;
  reply: unknown;
  outcome: Outcome;
  /** performance.now() when the request arrived. */
  started: number;
  /** Programs started while answering it (iptables, nft, ...). */
  programs?: number;
}

const LEVELS: Record<Outcome["kind"], ProtocolLogLevel> = { ok: "info", rejected: "info", timeout: "warn", internal: "error" };

export function logRequest(logger: ProtocolLogger, entry: RequestLogEntry): void {
  const { outcome } = entry;
  const level: ProtocolLogLevel = outcome.kind === "ok" && entry.quiet ? "debug" : LEVELS[outcome.kind];
  const networkId = stringField(entry.body, "NetworkID");
  const endpointId = stringField(entry.body, "EndpointID");
  // RequestPool and RequestAddress learn these from the reply.
  const poolId = stringField(entry.body, "PoolID") ?? stringField(entry.reply, "PoolID");
  const address = stringField(entry.body, "Address") ?? stringField(entry.reply, "Address");
  const fields: LogFields = {
    method: entry.method,
    networkId: networkId && shortId(networkId),
    endpointId: endpointId && shortId(endpointId),
    poolId: poolId && cleanText(poolId),
    address: address && cleanText(address),
    outcome: outcome.kind === "ok" ? "ok" : "error",
    error: outcome.kind === "ok" ? undefined : cleanText(outcome.message, 1000),
    stack: outcome.kind === "internal" ? outcome.stack : undefined,
    durationMs: Math.round((performance.now() - entry.started) * 10) / 10,
    programs: entry.programs,
  };
  for (const key of Object.keys(fields)) if (fields[key] === undefined) delete fields[key];
  logger.log(level, `${entry.method} ${fields.outcome}`, fields);
}

function stringField(source: unknown, key: string): string | undefined {
  if (source === null || typeof source !== "object") return undefined;
  const value = (source as Record<string, unknown>)[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}
