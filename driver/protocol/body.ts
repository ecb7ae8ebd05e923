/**
 * Reading a request body ourselves: Docker sends no Content-Type, so body
 * parsing middleware would see nothing.
 */
import type { IncomingMessage } from "node:http";
import { PluginError } from "../errors";

/** Largest body accepted. Docker's biggest requests are a few KiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

export class BodyTooLargeError extends PluginError {
  constructor(method: string) {
    super(`invalid ${method} request: body: exceeds the 1 MiB limit (${MAX_BODY_BYTES} bytes)`, "invalid");
    this.name = "BodyTooLargeError";
  }
}

/**
 * How long the rest of a refused body is read and dropped before the reply.
 * Replying at once and closing with the upload unread makes the client's
 * next write fail (EPIPE), and most clients then never read the reply.
 */
export const DRAIN_MS = 1000;

/**
 * Collect the whole body, failing once it passes MAX_BODY_BYTES. After a
 * failure the rest of the body is read and dropped (for at most DRAIN_MS)
 * before the failure is reported, so the client has finished sending and
 * can read the error reply before the connection is closed.
 */
export function readBody(req: IncomingMessage, method: string): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    return new Promise((_, reject) => afterDrain(req, () => reject(new BodyTooLargeError(method))));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      chunks.length = 0;
      reject(err);
    };
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        failed = true;
        chunks.length = 0;
        afterDrain(req, () => reject(new BodyTooLargeError(method)));
      } else chunks.push(chunk);
    });
    req.once("end", () => {
      if (!failed) resolve(Buffer.concat(chunks, size));
    });
    req.once("error", fail);
    // The client went away before sending everything; nobody is left to answer.
    req.once("close", () => {
      if (!req.complete) {
        fail(new PluginError(`invalid ${method} request: body: connection closed before the body was complete`, "invalid"));
      }
    });
  });
}

/** Read and drop the rest of the request, then call `done` (once): at its end, on close, or after DRAIN_MS. */
function afterDrain(req: IncomingMessage, done: () => void): void {
  let called = false;
  const finish = () => {
    if (called) return;
    called = true;
    clearTimeout(timer);
    done();
  };
  const timer = setTimeout(finish, DRAIN_MS);
  req.resume();
  if (req.complete) finish();
  req.once("end", finish);
  req.once("close", finish);
}
