/**
 * Counts the programs (iptables, nft, ...) started on behalf of one protocol
 * request, so its log line can say how many it needed: a container's
 * lifecycle should need none, and the benchmark reads the tally from the log.
 */
import { AsyncLocalStorage } from "node:async_hooks";

const tally = new AsyncLocalStorage<{ programs: number }>();

/** Runs `fn`, counting the programs started within it (and anything it awaits). */
export async function countPrograms<T>(fn: () => Promise<T>): Promise<{ result: T; programs: number }> {
  const counter = { programs: 0 };
  const result = await tally.run(counter, fn);
  return { result, programs: counter.programs };
}

/** Called by the one place that starts programs. */
export function programStarted(): void {
  const counter = tally.getStore();
  if (counter) counter.programs += 1;
}
