/**
 * Collects work items that can be done together more cheaply than one by one
 * (veth pairs deleted in one kernel call, addresses whose flows one conntrack
 * dump finds) and runs them in batches: a batch starts when the gate says
 * (an IdleGate: between requests), one at a time; what arrives while one runs
 * goes in the next. Each caller gets its own item's outcome.
 */
import type { IdleGate } from "./idle-gate";

/** Runs one batch: an outcome for each item, in the order given. */
export type BatchRunner<K, R> = (items: K[]) => Promise<PromiseSettledResult<R>[]>;

interface Pending<R> {
  resolve: (value: R) => void;
  reject: (err: unknown) => void;
}

export class DeferredBatch<K, R> {
  /** An item asked for twice before its batch runs runs once; both callers get its outcome. */
  private pending = new Map<K, Pending<R>[]>();
  private running = false;

  constructor(
    private readonly run: BatchRunner<K, R>,
    private readonly gate?: Pick<IdleGate, "whenIdle">,
  ) {}

  add(item: K): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiting = this.pending.get(item);
      if (waiting) waiting.push({ resolve, reject });
      else this.pending.set(item, [{ resolve, reject }]);
      if (!this.running) void this.pump();
    });
  }

  /** Items waiting for a batch, not counting one that runs. */
  get queued(): number {
    return this.pending.size;
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.size > 0) {
        await (this.gate ? this.gate.whenIdle() : Promise.resolve());
        const batch = this.pending;
        this.pending = new Map();
        const items = [...batch.keys()];
        let outcomes: PromiseSettledResult<R>[];
        try {
          outcomes = await this.run(items);
        } catch (err) {
          outcomes = items.map(() => ({ status: "rejected", reason: err }));
        }
        items.forEach((item, i) => {
          const outcome = outcomes[i] ?? { status: "rejected", reason: new Error(`the batch gave no outcome for ${String(item)}`) };
          for (const p of batch.get(item) ?? []) {
            if (outcome.status === "fulfilled") p.resolve(outcome.value);
            else p.reject(outcome.reason);
          }
        });
      }
    } finally {
      this.running = false;
    }
  }
}
