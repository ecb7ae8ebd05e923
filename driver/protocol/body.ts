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
 * Collect the whole body, failing as soon as it passes MAX_BODY_BYTES.
 * After a failure the rest of the body is read and dropped rather than
 * destroying the stream, so the error reply can still be written.
 */
export function readBody(req: IncomingMessage, method: string): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    req.resume();
    return Promise.reject(new BodyTooLargeError(method));
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
      if (size > MAX_BODY_BYTES) fail(new BodyTooLargeError(method));
      else chunks.push(chunk);
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
