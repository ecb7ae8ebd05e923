/**
 * Owns the HTTP exchanges the plugin makes with Azure: the GET of the metadata
 * sources (IMDS, the wireserver) and, through the same code, the requests of
 * the ARM client (driver/ipam/arm), which brings its own https transport.
 */
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

/** A request of any method, with its body; `request` is node:http's or node:https's. */
export interface HttpExchangeOptions extends HttpGetOptions {
  method: string;
  body?: string;
  /** Extra options for the transport, e.g. the CAs node:https trusts. */
  transport?: http.RequestOptions & { ca?: string | string[] };
}

export interface HttpExchangeResult extends HttpGetResult {
  headers: http.IncomingHttpHeaders;
}

type RequestFn = (url: URL, options: http.RequestOptions, callback: (res: http.IncomingMessage) => void) => http.ClientRequest;

/**
 * A plain GET through node:http with a hard deadline covering connect, headers
 * and body. node:http never consults HTTP(S)_PROXY, which matters because
 * IMDS rejects proxied requests; `agent: false` keeps no sockets alive between
 * the rare polls.
 */
export function httpGet(url: string, options: HttpGetOptions): Promise<HttpExchangeResult> {
  return httpExchange(http.request, "http:", url, { ...options, method: "GET" });
}

/** One request through `request` (for URLs of `protocol`), with the deadline and size limit of httpGet. */
export function httpExchange(request: RequestFn, protocol: string, url: string, options: HttpExchangeOptions): Promise<HttpExchangeResult> {
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new Error(`invalid URL ${url}`));
      return;
    }
    if (target.protocol !== protocol) {
      reject(new Error(`only ${protocol.replace(":", "")} URLs are supported, not ${url}`));
      return;
    }
    const headers = {
      ...options.headers,
      ...(options.body !== undefined && { "Content-Length": String(Buffer.byteLength(options.body)) }),
    };
    const req = request(target, { ...options.transport, method: options.method, headers, agent: false }, (response) => {
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
          headers: response.headers,
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
      req.destroy();
    }
    req.on("error", fail);
    req.end(options.body);
  });
}

/** "HTTP 400 Bad Request: <start of body>" for error messages. */
export function describeHttpFailure(result: HttpGetResult): string {
  const body = result.body.trim().replace(/\s+/g, " ").slice(0, 200);
  return `HTTP ${result.status}${result.statusText ? ` ${result.statusText}` : ""}${body ? `: ${body}` : ""}`;
}
