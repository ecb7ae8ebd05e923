/**
 * When reconciliation runs: shortly after start (Docker may be starting the
 * plugin), then every interval, one run at a time. While a run fails (Docker
 * does not answer: at boot a legacy plugin starts first), the next comes
 * sooner: from `retryMs`, doubling up to the interval.
 */
export interface LoopOptions {
  /** One run; resolves true when it reached Docker. Must not reject. */
  run: () => Promise<boolean>;
  intervalMs: number;
  firstDelayMs?: number;
  retryMs?: number;
}

export class ReconcileLoop {
  private running: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;
  private retryMs: number;
  private readonly firstRetryMs: number;

  constructor(private readonly o: LoopOptions) {
    this.firstRetryMs = o.retryMs ?? 2000;
    this.retryMs = this.firstRetryMs;
  }

  start(): void {
    this.schedule(this.o.firstDelayMs ?? 1000);
  }

  /** A run now, after the one in progress (if any). */
  async runNow(): Promise<boolean> {
    while (this.running) await this.running;
    return this.runOne();
  }

  /** Stops scheduling and waits for a run in progress. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private runOne(): Promise<boolean> {
    this.running ??= this.o
      .run()
      .catch(() => false)
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private schedule(ms: number): void {
    if (this.closing) return;
    this.timer = setTimeout(async () => {
      const ok = await this.runOne();
      if (ok) this.retryMs = this.firstRetryMs;
      this.schedule(ok ? this.o.intervalMs : Math.min(this.retryMs, this.o.intervalMs));
      if (!ok) this.retryMs *= 2;
    }, ms);
  }
}
