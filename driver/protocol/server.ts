/**
 * Owns the HTTP face of the plugin: decodes Docker's requests, validates them,
 * calls the NetworkDriver / IpamDriver implementations and encodes replies.
 *
 * Wire rules that matter:
 * - every call is POST /<Interface>.<Method>, with no Content-Type and often
 *   an empty body;
 * - a 200 reply must carry a JSON body, at least {};
 * - a failure is HTTP 500 with {"Err": message} for both interfaces, and the
 *   message is shown to the user as "<Interface>.<Method>: message";
 * - 404 means "not implemented", so it is reserved for unknown paths.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { PluginError, errorMessage } from "../errors";
import { BodyTooLargeError, readBody } from "./body";
import { parseJsonBody } from "./decode";
import { cleanText } from "../lib/text";
import { logRequest, type Outcome, type ProtocolLogger } from "./request-log";
import { countPrograms } from "../lib/program-tally";
import { routesByPath, type Drivers } from "./routes";
import { HandlerTimeoutError, withTimeout } from "./timeout";
import type { IpamDriver, NetworkDriver } from "./types";

export { serveUnixSocket, type SocketOptions, type SocketServer } from "./socket";
export type { ProtocolLogger, ProtocolLogLevel } from "./request-log";

export const CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json";

/** Docker's own per-call limit for managed plugins is usually 30 s; stay under it. */
export const DEFAULT_HANDLER_TIMEOUT_MS = 25_000;

/** Longest internal error text passed on to Docker. */
const INTERNAL_MESSAGE_LIMIT = 1000;

export interface ProtocolDeps {
  network: NetworkDriver;
  ipam: IpamDriver;
  /** The daemon's logger (log.ts), or anything with the same log/warn/error methods. */
  logger: ProtocolLogger;
  /** How long a driver call may take before Docker gets a timeout error. */
  handlerTimeoutMs?: number;
  /** Told about every request once it is answered (metrics); must not throw. */
  onRequest?: (observation: RequestObservation) => void;
  /** The daemon's own state, answered to AzureVnet.Status (for the operator commands). */
  status?: () => object;
  /** Told when each request arrives and when its connection is done with it (IdleGate: deferred work waits for a lull). */
  activity?: { enter(): void; leave(): void };
}

export interface RequestObservation {
  /** "<Interface>.<Method>", or undefined for a path that is no method (its text is the caller's). */
  method: string | undefined;
  outcome: Outcome["kind"];
  durationMs: number;
}

/**
 * The plugin's request listener, for node:http (serveUnixSocket). Every path
 * is one method with its own body decoding, so a web framework would add
 * nothing but its weight: it cost the daemon about 2 MiB of resident memory.
 */
export function createProtocolApp(deps: ProtocolDeps): RequestListener {
  const drivers: Drivers = { network: deps.network, ipam: deps.ipam, ...(deps.status && { status: deps.status }) };
  const timeoutMs = deps.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS;
  const activity = deps.activity;
  return (req, res) => {
    if (activity) {
      activity.enter();
      res.once("close", () => activity.leave());
    }
    handleRequest(req, res, drivers, deps.logger, timeoutMs, deps.onRequest).catch((err: unknown) => {
      // Last line of defence: handleRequest catches the driver's failures itself,
      // so this only runs if answering or logging failed.
      const path = cleanText(requestPath(req));
      deps.logger.error("protocol request failed outside its handler", {
        method: path,
        error: cleanText(errorMessage(err), INTERNAL_MESSAGE_LIMIT),
        stack: err instanceof Error ? err.stack : undefined,
      });
      sendJson(res, 500, { Err: `internal error in ${path}` });
    });
  };
}

/** The request's path without its query, also for a request line in absolute form (`POST http://plugin/Plugin.Activate`). */
export function requestPath(req: IncomingMessage): string {
  const target = req.url ?? "/";
  if (!target.startsWith("/")) {
    try {
      return new URL(target).pathname;
    } catch {
      return target;
    }
  }
  const query = target.indexOf("?");
  return query < 0 ? target : target.slice(0, query);
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  drivers: Drivers,
  logger: ProtocolLogger,
  timeoutMs: number,
  onRequest: ProtocolDeps["onRequest"],
): Promise<void> {
  const started = performance.now();
  const path = requestPath(req);
  const route = routesByPath.get(path);
  if (!route) {
    const message = `unknown method ${cleanText(path)}`;
    sendJson(res, 404, { Err: message });
    logRequest(logger, {
      method: cleanText(path),
      quiet: false,
      body: undefined,
      reply: undefined,
      outcome: { kind: "rejected", message },
      started,
    });
    onRequest?.({ method: undefined, outcome: "rejected", durationMs: performance.now() - started });
    return;
  }

  let body: unknown;
  let reply: object | undefined;
  let outcome: Outcome;
  let programs = 0;
  try {
    if (req.method !== "POST") {
      throw new PluginError(`${route.method} must be called with POST, not ${cleanText(req.method ?? "")}`, "invalid");
    }
    body = parseJsonBody(route.method, await readBody(req, route.method));
    const call = route.prepare(body, drivers);
    const counted = await countPrograms(() =>
      withTimeout(
        (signal) => call({ signal }),
        timeoutMs,
        route.method,
        (err) => {
          // The reply has gone already; this is the only place the failure shows.
          logger.warn("driver call failed after it had timed out", {
            method: route.method,
            error: cleanText(errorMessage(err), INTERNAL_MESSAGE_LIMIT),
          });
        },
      ),
    );
    programs = counted.programs;
    reply = counted.result;
    sendJson(res, 200, encodeReply(reply));
    outcome = { kind: "ok" };
  } catch (err) {
    outcome = classifyFailure(route.method, err);
    // An oversized body may still be arriving; don't keep reading it on a kept-alive connection.
    sendJson(res, 500, { Err: outcome.message }, { closeConnection: err instanceof BodyTooLargeError });
  }
  logRequest(logger, { method: route.method, quiet: route.quiet, body, reply, outcome, started, programs });
  onRequest?.({ method: route.method, outcome: outcome.kind, durationMs: performance.now() - started });
}

/** Fail here, not in Docker's decoder, if a driver hands back something unusable. */
function encodeReply(reply: unknown): string {
  if (reply === null || typeof reply !== "object" || Array.isArray(reply)) {
    throw new Error("the driver returned no reply object");
  }
  return JSON.stringify(reply);
}

function classifyFailure(method: string, err: unknown): Exclude<Outcome, { kind: "ok" }> {
  if (err instanceof HandlerTimeoutError) return { kind: "timeout", message: err.message };
  if (err instanceof PluginError) return { kind: "rejected", message: err.message };
  const detail = cleanText(errorMessage(err), INTERNAL_MESSAGE_LIMIT);
  return {
    kind: "internal",
    message: `internal error in ${method}: ${detail}`,
    stack: err instanceof Error ? err.stack : undefined,
  };
}

function sendJson(res: ServerResponse, status: number, payload: object | string, opts: { closeConnection?: boolean } = {}): void {
  if (res.headersSent) return;
  const data = Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload), "utf8");
  res.statusCode = status;
  res.setHeader("Content-Type", CONTENT_TYPE);
  res.setHeader("Content-Length", data.length);
  if (opts.closeConnection) res.setHeader("Connection", "close");
  res.end(data);
}
