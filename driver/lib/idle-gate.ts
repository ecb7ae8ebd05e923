/**
 * Tells work that may wait (the kernel clean-up after an endpoint's reply)
 * when the daemon is between requests. Some of that work holds the event loop
 * inside a system call for tens of milliseconds (deleting veth pairs, walking
 * the conntrack table); run in a lull it delays no request, run while Docker
 * waits for an answer it delays that answer.
 *
 * The protocol server reports each request (enter, leave). whenIdle resolves
 * once none has been in flight for `quietMs`, at the latest `maxWaitMs` after
 * it was asked (a daemon that is never quiet still cleans up), and at once
 * while something hurries: a request that itself waits for that work (an
 * address whose previous holder is still being cleaned up) must not wait for
 * its own end.
 */

export interface IdleGateOptions {
  /** How long no request may have been in flight before the daemon counts as idle. */
  quietMs?: number;
  /** The longest whenIdle waits, however busy the daemon is. */
  maxWaitMs?: number;
  now?: () => number;
}

const DEFAULT_QUIET_MS = 25;
const DEFAULT_MAX_WAIT_MS = 1000;

interface Waiter {
  resolve: () => void;
  deadline: number;
}

export class IdleGate {
  private inFlight = 0;
  /** When the last request ended; -Infinity before the first. */
  private lastLeave = Number.NEGATIVE_INFINITY;
  private hurrying = 0;
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly quietMs: number;
  private readonly maxWaitMs: number;
  private readonly now: () => number;

  constructor(opts: IdleGateOptions = {}) {
    this.quietMs = opts.quietMs ?? DEFAULT_QUIET_MS;
    this.maxWaitMs = opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.now = opts.now ?? (() => performance.now());
  }

  enter(): void {
    this.inFlight++;
  }

  leave(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.lastLeave = this.now();
    this.check();
  }

  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ resolve, deadline: this.now() + this.maxWaitMs });
      this.check();
    });
  }

  /** While `work` is pending, whenIdle does not wait: the caller's own request waits for what is deferred. */
  async hurry<T>(work: Promise<T>): Promise<T> {
    this.hurrying++;
    this.check();
    try {
      return await work;
    } finally {
      this.hurrying--;
    }
  }

  /** Lets every waiter go and stops the timer (the daemon is closing). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
  }

  private check(): void {
    if (this.waiters.length === 0) return;
    const now = this.now();
    const quietAt = this.inFlight > 0 ? Number.POSITIVE_INFINITY : this.lastLeave + this.quietMs;
    const open = this.hurrying > 0 || now >= quietAt;
    const waiting: Waiter[] = [];
    for (const w of this.waiters) {
      if (open || now >= w.deadline) w.resolve();
      else waiting.push(w);
    }
    this.waiters = waiting;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (waiting.length === 0) return;
    // The next moment something can change without a request ending: quiet reached, or a deadline.
    const next = Math.min(quietAt, ...waiting.map((w) => w.deadline));
    this.timer = setTimeout(() => this.check(), Math.max(1, Math.ceil(next - now)));
    this.timer.unref();
  }
}
