/** Owns the last good metadata answer and when the source may be asked again. */
import { errorMessage, PluginError } from "../../errors";
import { type Clock, systemClock } from "../clock";
import type { MetadataSource, NicInfo } from "./types";
import { MetadataSourceError } from "./source-error";

export interface MetadataSnapshot {
  nics: NicInfo[];
  /** Clock time at which the fetch that produced `nics` started. */
  fetchedAt: number;
  /** Name of the source that answered (AutoSource reports which one). */
  source: string;
  /** True when the latest refresh failed and `nics` is the last good answer. */
  stale: boolean;
  /** The latest refresh error, when `stale`. */
  error?: Error;
}

export interface MetadataCacheOptions {
  /** IMDS allows about 5 requests per second per VM; one per second leaves room for others. */
  minIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  clock?: Clock;
  /** How a caller waits out the minimum interval (tests advance their clock instead). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Keeps the last good metadata and decides when the source may be asked
 * again: callers share one in-flight fetch, fetches are at least
 * `minIntervalMs` apart, and after failures the source is left alone for a
 * doubling backoff while the last good data is served as stale.
 */
export class MetadataCache {
  private good: { nics: NicInfo[]; fetchedAt: number; source: string } | undefined;
  private inFlight: Promise<MetadataSnapshot> | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private retryAt = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private lastError: Error | undefined;
  private readonly minIntervalMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly source: MetadataSource,
    options: MetadataCacheOptions = {},
  ) {
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.backoffInitialMs = options.backoffInitialMs ?? 1000;
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * Data no older than `maxAgeMs` when the source can be asked; otherwise the
   * freshest data there is (with `waitForInterval`, fresh data at most
   * `minIntervalMs` later). Throws PluginError("unavailable") only when no
   * fetch has ever succeeded.
   */
  get(options: { maxAgeMs: number; waitForInterval?: boolean }): Promise<MetadataSnapshot> {
    const now = this.clock.now();
    if (this.good && now - this.good.fetchedAt <= options.maxAgeMs) return Promise.resolve(this.snapshot());
    if (this.inFlight) return this.inFlight;
    const allowedAt = Math.max(this.lastAttemptAt + this.minIntervalMs, this.retryAt);
    if (now < allowedAt) {
      // With waitForInterval, a caller held back only by the minimum interval (not by a failure's
      // backoff) waits for it, and callers meanwhile share that one fetch.
      if (options.waitForInterval && this.good && this.retryAt <= now) {
        return this.share(this.sleep(allowedAt - now).then(() => this.refresh(this.clock.now())));
      }
      if (this.good) return Promise.resolve(this.snapshot());
      return Promise.reject(this.unavailable(allowedAt - now));
    }
    return this.share(this.refresh(now));
  }

  private share(fetch: Promise<MetadataSnapshot>): Promise<MetadataSnapshot> {
    this.inFlight = fetch.finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** The last good data without asking the source; undefined before the first success. */
  peek(): MetadataSnapshot | undefined {
    return this.good && this.snapshot();
  }

  private async refresh(startedAt: number): Promise<MetadataSnapshot> {
    this.lastAttemptAt = startedAt;
    try {
      const nics = await this.source.fetch();
      this.good = { nics, fetchedAt: startedAt, source: this.source.name };
      this.failures = 0;
      this.lastError = undefined;
      this.retryAt = Number.NEGATIVE_INFINITY;
      return this.snapshot();
    } catch (err) {
      this.failures += 1;
      this.lastError = err instanceof Error ? err : new Error(String(err));
      const delay = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** (this.failures - 1));
      this.retryAt = this.clock.now() + delay;
      if (this.good) return this.snapshot();
      throw this.unavailable(delay);
    }
  }

  private snapshot(): MetadataSnapshot {
    const good = this.good as NonNullable<typeof this.good>;
    const stale = this.lastError !== undefined;
    return { nics: good.nics, fetchedAt: good.fetchedAt, source: good.source, stale, ...(stale && { error: this.lastError }) };
  }

  private unavailable(retryInMs: number): PluginError {
    const seconds = Math.max(1, Math.ceil(retryInMs / 1000));
    // Source errors already begin with the source's name; others get it here.
    const reason =
      this.lastError instanceof MetadataSourceError ? this.lastError.message : `${this.source.name}: ${errorMessage(this.lastError)}`;
    return new PluginError(`cannot read this VM's NIC configuration from ${reason} (next attempt in ${seconds} s)`, "unavailable");
  }
}
