/**
 * Sends one fuzz case to a plugin socket and reports what came back and how
 * long it took. Never throws: a reset, a hang or garbage is an outcome the
 * runner judges, not a reason to stop the run.
 */
import http from "node:http";
import net from "node:net";
import type { FuzzCase } from "./fuzz-cases";

export interface Answer {
  /** 0 when no HTTP status line came back. */
  status: number;
  text: string;
  ms: number;
  /** The connection failed or closed without an answer (reset, refused, timeout). */
  transportError?: string;
  timedOut?: boolean;
}

/** Bodies this large go out framed by hand, so an early answer is read even if the upload is cut (see sendLarge). */
const LARGE_BODY = 64 * 1024;

export function send(socketPath: string, c: FuzzCase, timeoutMs: number): Promise<Answer> {
  if (c.raw) return sendRaw(socketPath, c.raw, timeoutMs);
  return c.body.length > LARGE_BODY ? sendLarge(socketPath, c, timeoutMs) : sendHttp(socketPath, c, timeoutMs);
}

/**
 * A server refusing a large body answers at once and hangs up while the
 * client is still uploading. Go's HTTP client (Docker's) still reads that
 * answer; Node's discards it on EPIPE. This sender behaves like Go's: it
 * stops writing on EPIPE and keeps reading until the server closes.
 */
async function sendLarge(socketPath: string, c: FuzzCase, timeoutMs: number): Promise<Answer> {
  const chunked = Object.keys(c.headers).some((h) => h.toLowerCase() === "transfer-encoding");
  const head = [
    `${c.httpMethod} ${c.path} HTTP/1.1`,
    "Host: plugin",
    "Accept: application/vnd.docker.plugins.v1.2+json",
    "Connection: close",
  ];
  for (const [k, v] of Object.entries(c.headers)) head.push(`${k}: ${v}`);
  if (!chunked) head.push(`Content-Length: ${c.body.length}`);
  const body = chunked ? Buffer.concat([Buffer.from(`${c.body.length.toString(16)}\r\n`), c.body, Buffer.from("\r\n0\r\n\r\n")]) : c.body;
  // No half-close: Node's server drops a request whose client shuts its side before the reply
  // (Docker never does). "Connection: close" has the server hang up once it has answered.
  const answer = await sendRaw(socketPath, Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`), body]), timeoutMs, false);
  if (answer.transportError) return answer;
  return { ...answer, text: finalResponseBody(answer.text) };
}

/** The body of the final response in `raw` (skipping interim 1xx ones), by its Content-Length. */
function finalResponseBody(raw: string): string {
  let rest = raw;
  for (;;) {
    const split = rest.indexOf("\r\n\r\n");
    if (split < 0) return "";
    const head = rest.slice(0, split);
    rest = rest.slice(split + 4);
    if (/^HTTP\/1\.[01] 1\d\d /.test(head)) continue;
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    const body = Buffer.from(rest, "latin1");
    return (length ? body.subarray(0, Number(length[1])) : body).toString("utf8");
  }
}

function sendHttp(socketPath: string, c: FuzzCase, timeoutMs: number): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    let status = 0;
    const chunks: Buffer[] = [];
    const finish = (extra: Partial<Answer> = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, text: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - started, ...extra });
    };
    const chunked = Object.keys(c.headers).some((h) => h.toLowerCase() === "transfer-encoding");
    const headers: Record<string, string | number> = { Accept: "application/vnd.docker.plugins.v1.2+json", ...c.headers };
    if (!chunked) headers["Content-Length"] = c.body.length;
    let req: http.ClientRequest;
    try {
      req = http.request({ socketPath, path: c.path, method: c.httpMethod, agent: false, headers }, (res) => {
        status = res.statusCode ?? 0;
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => finish());
        res.on("error", (err) => finish({ transportError: err.message }));
      });
    } catch (err) {
      // The client library refused the request before sending it: a bug in the case, not the plugin.
      resolve({ status: 0, text: "", ms: 0, transportError: `not sent: ${(err as Error).message}` });
      return;
    }
    const timer = setTimeout(() => {
      finish({ timedOut: true, transportError: `no answer within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => {
      // A server that answers early and closes (oversized bodies) may cut our upload; the answer still counts.
      if (status !== 0 && (err.code === "EPIPE" || err.code === "ECONNRESET")) return;
      finish({ transportError: `${err.code ?? ""} ${err.message}`.trim() });
    });
    req.end(c.body);
  });
}

/** Write bytes (then half-close, unless told not to) and collect whatever the server says until it closes. */
function sendRaw(socketPath: string, payload: Buffer, timeoutMs: number, halfClose = true): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const conn = net.createConnection(socketPath);
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (extra: Partial<Answer> = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      // The final status: an interim "100 Continue" may come first.
      const m = /^(?:HTTP\/1\.[01] 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)*HTTP\/1\.[01] (\d{3}) /.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, ms: performance.now() - started, ...extra });
    };
    const timer = setTimeout(() => finish({ timedOut: true, transportError: `not closed within ${timeoutMs} ms` }), timeoutMs);
    conn.on("data", (d: Buffer) => chunks.push(d));
    conn.on("close", () => finish());
    conn.on("error", (err: NodeJS.ErrnoException) => {
      // The server may hang up mid-write on garbage; what it sent before counts.
      if (err.code === "EPIPE" || err.code === "ECONNRESET") return;
      finish({ transportError: `${err.code ?? ""} ${err.message}`.trim() });
    });
    if (halfClose) conn.end(payload);
    else conn.write(payload);
  });
}
