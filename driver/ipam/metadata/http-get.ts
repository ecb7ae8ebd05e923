/** Owns the HTTP GET the network metadata sources (IMDS, the wireserver) make. */
import http from "node:http";

export interface HttpGetOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  /** Metadata answers are a few kilobytes; anything far larger is not what we asked for. */
  maxBytes?: number;
}

export interface HttpGetResult {
  status: number;
  statusText: string;
  body: string;
}

/**
 * A plain GET through node:http with a hard deadline covering connect, headers
 * and body. node:http never consults HTTP(S)_PROXY, which matters because
 * IMDS rejects proxied requests; `agent: false` keeps no sockets alive between
 * the rare polls.
 */
export function httpGet(url: string, options: HttpGetOptions): Promise<HttpGetResult> {
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new Error(`invalid URL ${url}`));
      return;
    }
    if (target.protocol !== "http:") {
      reject(new Error(`only http URLs are supported, not ${url}`));
      return;
    }
    const request = http.get(target, { headers: options.headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          fail(new Error(`response larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on("end", () => {
        clearTimeout(timer);
        resolve({
          status: response.statusCode ?? 0,
          statusText: response.statusMessage ?? "",
          body: Buffer.concat(chunks).toString("utf8"),
        });
      });
      response.on("error", fail);
      response.on("close", () => {
        if (!response.complete) fail(new Error("connection closed before the response was complete"));
      });
    });
    const timer = setTimeout(() => fail(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    // Settles once; destroying the request afterwards may emit more errors, which are ignored.
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(err);
      request.destroy();
    }
    request.on("error", fail);
  });
}

/** "HTTP 400 Bad Request: <start of body>" for error messages. */
export function describeHttpFailure(result: HttpGetResult): string {
  const body = result.body.trim().replace(/\s+/g, " ").slice(0, 200);
  return `HTTP ${result.status}${result.statusText ? ` ${result.statusText}` : ""}${body ? `: ${body}` : ""}`;
}
