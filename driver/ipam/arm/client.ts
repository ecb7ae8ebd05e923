/**
 * Owns the requests to Azure Resource Manager: the bearer token, retries on
 * 429 and transient failures, and the polling of long-running operations
 * (Azure-AsyncOperation). Plain node:https rather than @azure/arm-network,
 * so that If-Match and the polling are in view (docs/ipconfig-management.md).
 */
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";
import { httpExchange, type HttpExchangeResult } from "../metadata/http-get";
import { ArmError, armErrorText } from "./errors";
import type { TokenSource } from "./identity";
import { retryAfterMs, retryDelayMs, sendWithRetries, type Timing } from "./retry";

export const NETWORK_API_VERSION = "2024-05-01";
export const COMPUTE_API_VERSION = "2024-07-01";
const ATTEMPTS = 6;
/** Long enough for a NIC update, which takes seconds on Azure. */
const OPERATION_TIMEOUT_MS = 10 * 60_000;
const POLL_DEFAULT_MS = 2_000;

export interface ArmClientOptions {
  /** ARM's base URL without a trailing slash. */
  endpoint: string;
  /** PEM of CAs trusted besides the system's. */
  extraCa?: string;
  tokens: TokenSource;
  timing: Timing;
  timeoutMs?: number;
  onRetry?: (why: string, delayMs: number) => void;
}

export type ArmResponse = HttpExchangeResult;

export class ArmClient {
  private readonly origin: string;
  private readonly ca: string[] | undefined;
  private readonly timeoutMs: number;

  constructor(private readonly options: ArmClientOptions) {
    this.origin = new URL(options.endpoint).origin;
    this.ca = options.extraCa ? [...rootCertificates, options.extraCa] : undefined;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** `path` is a resource id (with its query) or an absolute URL at ARM's origin. */
  async call(method: "GET" | "PUT", path: string, opts: { body?: unknown; ifMatch?: string } = {}): Promise<ArmResponse> {
    const url = path.startsWith("/") ? this.options.endpoint + path : path;
    // The token goes to ARM only, whatever URL an answer names.
    if (new URL(url).origin !== this.origin) throw new ArmError(`ARM named ${url}, which is not at ${this.origin}`, 0, undefined);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    for (let renewed = false; ; renewed = true) {
      const token = await this.options.tokens.token();
      const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (opts.ifMatch) headers["If-Match"] = opts.ifMatch;
      let result: ArmResponse;
      try {
        result = await sendWithRetries(() => this.send(url, method, headers, body), this.options.timing, ATTEMPTS, this.options.onRetry);
      } catch (err) {
        throw new ArmError(`${method} ${url} failed: ${(err as Error).message}`, 0, undefined);
      }
      // An expired or revoked token: one more try with a new one.
      if (result.status === 401 && !renewed) {
        this.options.tokens.invalidate();
        continue;
      }
      return result;
    }
  }

  /**
   * Waits for the operation a PUT started: polls its Azure-AsyncOperation URL (after its
   * Retry-After) until it succeeds; throws ARM's error if it fails. A PUT without one is done.
   */
  async awaitOperation(put: ArmResponse): Promise<void> {
    const url = headerText(put.headers["azure-asyncoperation"]);
    if (!url) return;
    const timing = this.options.timing;
    const deadline = timing.now() + OPERATION_TIMEOUT_MS;
    let wait = retryAfterMs(put.headers, timing.now()) ?? POLL_DEFAULT_MS;
    for (let polls = 0; ; polls++) {
      await timing.sleep(wait);
      const result = await this.call("GET", url);
      if (result.status !== 200) throw failure(result, `polling the operation ${url}`);
      const status = (parse(result.body) as { status?: unknown } | undefined)?.status;
      if (status === "Succeeded") return;
      if (status === "Failed" || status === "Canceled") {
        const { code, message } = armErrorText(result.body);
        throw new ArmError(`the NIC update ${String(status).toLowerCase()}: ${message}`, 200, code, errorCodeFor(code));
      }
      if (timing.now() > deadline)
        throw new ArmError(`the NIC update did not finish within ${OPERATION_TIMEOUT_MS / 60_000} minutes`, 0, undefined);
      wait = retryAfterMs(result.headers, timing.now()) ?? retryDelayMs(Math.min(polls, 3), timing, undefined);
    }
  }

  private send(url: string, method: string, headers: Record<string, string>, body: string | undefined): Promise<ArmResponse> {
    const secure = url.startsWith("https:");
    return httpExchange(secure ? https.request : http.request, secure ? "https:" : "http:", url, {
      method,
      headers,
      body,
      timeoutMs: this.timeoutMs,
      ...(secure && this.ca && { transport: { ca: this.ca } }),
    });
  }
}

/** An ArmError for an unexpected answer, with ARM's code and message. */
export function failure(result: ArmResponse, what: string): ArmError {
  const { code, message } = armErrorText(result.body);
  return new ArmError(`${what}: HTTP ${result.status} ${message}`, result.status, code, errorCodeFor(code));
}

/** The plugin's error class for ARM's codes that are the request's fault. */
function errorCodeFor(code: string | undefined) {
  if (code === "PrivateIPAddressInUse") return "conflict" as const;
  if (code === "PrivateIPAddressNotInSubnet" || code === "PrivateIPAddressIsReserved" || code === "InvalidPrivateIPAddress")
    return "invalid" as const;
  return "unavailable" as const;
}

export function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
