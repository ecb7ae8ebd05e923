/**
 * Per-source request throttling in the style of Azure IMDS, which answers 429
 * once one VM sends more than a handful of requests per second. A sliding
 * one-second window per source; throttled requests do not count against it,
 * so a client that backs off recovers after one second.
 */
export class SlidingWindowLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(private readonly windowMs = 1000) {}

  /** Record a request from source if it is within limit; false means "answer 429". */
  allow(source: string, limit: number, now = Date.now()): boolean {
    const recent = (this.hits.get(source) ?? []).filter((t) => now - t < this.windowMs);
    const allowed = recent.length < limit;
    if (allowed) recent.push(now);
    this.hits.set(source, recent);
    // Drop idle sources now and then so a long run with many sources stays small.
    if (this.hits.size > 1024) {
      for (const [key, times] of this.hits) if (times.every((t) => now - t >= this.windowMs)) this.hits.delete(key);
    }
    return allowed;
  }

  /** How long until a request from source would be allowed again (0: now). */
  retryAfterMs(source: string, limit: number, now = Date.now()): number {
    const recent = (this.hits.get(source) ?? []).filter((t) => now - t < this.windowMs);
    if (recent.length < limit) return 0;
    return recent[recent.length - limit] + this.windowMs - now;
  }
}
