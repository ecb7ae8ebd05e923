/**
 * The request path shared by the HTTP endpoints: identify the source, apply
 * the endpoint's fault knobs around the endpoint's own route, log one line.
 * Routes are synchronous functions from request to answer so the fault
 * handling (throttling, forced status, corruption, latency) lives in one place.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ImdsKnobs } from "./knobs";
import { normalizeAddress } from "./identify";
import type { SlidingWindowLimiter } from "./rate-limit";

export interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
  /** Further response headers (ETag, Retry-After, Azure-AsyncOperation ...). */
  headers?: Record<string, string>;
}

/** source is the address the answer is for: normally the TCP peer, see SourceOf. body: the request body (UTF-8). */
export type HttpRoute = (req: IncomingMessage, url: URL, source: string, body: string) => HttpAnswer;

/** Larger request bodies are refused with 413 (a NIC with 256 ipconfigs is far below it). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** How to tell who is asking. Unit tests on loopback swap in a header-based variant. */
export type SourceOf = (req: IncomingMessage) => string;

export const sourceFromSocket: SourceOf = (req) => normalizeAddress(req.socket.remoteAddress ?? "");

/**
 * Identify by a request header, falling back to the socket. Only for unit
 * tests: on loopback every request comes from 127.0.0.1.
 */
export function sourceFromHeader(header: string): SourceOf {
  const name = header.toLowerCase();
  return (req) => {
    const value = req.headers[name];
    return typeof value === "string" && value !== "" ? value.trim() : sourceFromSocket(req);
  };
}

export interface PipelineOptions {
  endpoint: string;
  route: HttpRoute;
  sourceOf: SourceOf;
  knobs: () => ImdsKnobs | undefined;
  /** Builds the endpoint's error body in its own format (JSON for IMDS, text elsewhere). */
  errorAnswer: (status: number, message: string) => HttpAnswer;
  limiter?: SlidingWindowLimiter;
  log: (line: string) => void;
}

/**
 * Cut the body in half and add bytes no JSON or XML parser accepts, keeping
 * status 200: the client must notice from the content, not the status.
 */
export function corruptBody(body: string): string {
  return body.slice(0, Math.floor(body.length / 2)) + '\u0000<{"\u0001';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function decide(opts: PipelineOptions, req: IncomingMessage, source: string, knobs: ImdsKnobs, body: string | undefined): HttpAnswer {
  if (body === undefined) return opts.errorAnswer(413, "Request body too large");
  // Throttling is decided on arrival, as the real service counts requests, not answers.
  if (opts.limiter && knobs.rateLimitPerSecond !== undefined && !opts.limiter.allow(source, knobs.rateLimitPerSecond)) {
    return opts.errorAnswer(429, "Too many requests");
  }
  if (knobs.status !== undefined) return opts.errorAnswer(knobs.status, `simulated fault (HTTP ${knobs.status})`);
  let answer: HttpAnswer;
  try {
    answer = opts.route(req, new URL(req.url ?? "/", "http://platform.sim"), source, body);
  } catch (err) {
    answer = opts.errorAnswer(500, `internal error: ${(err as Error).message}`);
  }
  return knobs.malformed ? { ...answer, status: 200, body: corruptBody(answer.body) } : answer;
}

/** The whole request body, or undefined past MAX_BODY_BYTES (the rest is drained so keep-alive stays usable). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString("utf8") : undefined));
    req.on("error", () => resolve(undefined));
  });
}

export function handleWithFaults(opts: PipelineOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = Date.now();
    const source = opts.sourceOf(req);
    void readBody(req).then(async (body) => {
      const knobs = opts.knobs() ?? {};
      const answer = decide(opts, req, source, knobs, body);
      await sleep(knobs.latencyMs ?? 0);
      // The connection may have been cut meanwhile by a "down" knob.
      if (res.destroyed) return;
      res.writeHead(answer.status, {
        ...answer.headers,
        "Content-Type": answer.contentType,
        "Content-Length": Buffer.byteLength(answer.body),
      });
      res.end(answer.body);
      opts.log(`${opts.endpoint} ${source} ${req.method} ${req.url} ${answer.status} ${Date.now() - started}ms`);
    });
  };
}
