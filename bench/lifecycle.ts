/**
 * Timing endpoint lifecycles at a given concurrency. Shared by the plugin
 * client (over the socket) and the kernel floor (in-process dataplane calls),
 * so both sides are counted the same way.
 */
import { nowMs, runPool } from "./measure";

export interface LifecycleSample {
  totalMs: number;
  /** Milliseconds per step, by step name. */
  steps: Record<string, number>;
}

/** What a run of lifecycles yields; the floor prints it as JSON. */
export interface FloorOutput {
  samples: LifecycleSample[];
  /** Wall time of the whole run, for throughput. */
  wallMs: number;
}

/** Times each named step of one lifecycle. */
export class StepTimer {
  readonly steps: Record<string, number> = {};
  private readonly t0 = nowMs();

  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t = nowMs();
    try {
      return await fn();
    } finally {
      this.steps[name] = (this.steps[name] ?? 0) + (nowMs() - t);
    }
  }

  done(): LifecycleSample {
    return { totalMs: nowMs() - this.t0, steps: this.steps };
  }
}

/** `count` lifecycles, `concurrency` in flight; index i is unique across the run. */
export function runLifecycles(
  count: number,
  concurrency: number,
  once: (i: number) => Promise<LifecycleSample>,
): Promise<LifecycleSample[]> {
  return runPool(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    (i) => once(i),
  );
}
