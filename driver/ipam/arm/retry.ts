/** Owns how ARM and IMDS calls are retried: 429 after its Retry-After, transient failures after a jittered backoff. */
import type { HttpExchangeResult } from "../metadata/http-get";

/** Waiting and randomness, injected so tests neither sleep nor guess. */
export interface Timing {
  sleep(ms: number): Promise<void>;
  /** In [0, 1). */
  random(): number;
  now(): number;
}

export const realTiming: Timing = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  now: Date.now,
};

const RETRYABLE = new Set([429, 500, 502, 503, 504]);
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/** Added to a Retry-After so that callers throttled together do not come back together. */
const JITTER_MAX_MS = 1_000;

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(headers: HttpExchangeResult["headers"], now: number): number | undefined {
  const value = headers["retry-after"];
  if (typeof value !== "string" || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The wait before attempt `attempt + 1` (attempt counts from 0): Retry-After plus jitter, else a jittered doubling. */
export function retryDelayMs(attempt: number, timing: Timing, retryAfter: number | undefined): number {
  if (retryAfter !== undefined) return retryAfter + Math.floor(timing.random() * JITTER_MAX_MS);
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.floor(base / 2 + timing.random() * (base / 2));
}

/**
 * Sends until the answer is neither 429 nor a transient 5xx (nor a connection failure), at most
 * `attempts` times; returns the last answer, or throws the last connection error.
 */
export async function sendWithRetries(
  send: () => Promise<HttpExchangeResult>,
  timing: Timing,
  attempts: number,
  onRetry?: (why: string, delayMs: number) => void,
): Promise<HttpExchangeResult> {
  for (let attempt = 0; ; attempt++) {
    let why: string;
    let retryAfter: number | undefined;
    try {
      const result = await send();
      if (!RETRYABLE.has(result.status) || attempt + 1 >= attempts) return result;
      why = `HTTP ${result.status}`;
      retryAfter = retryAfterMs(result.headers, timing.now());
    } catch (err) {
      if (attempt + 1 >= attempts) throw err;
      why = (err as Error).message;
    }
    const delay = retryDelayMs(attempt, timing, retryAfter);
    onRetry?.(why, delay);
    await timing.sleep(delay);
  }
}
