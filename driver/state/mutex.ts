/**
 * Runs async critical sections one at a time, in call order. In-process only:
 * handlers in one daemon share state through this instead of a lock file, so
 * there is no lock to time out or to leave behind after a crash.
 */
export class AsyncMutex {
  private tail: Promise<unknown> = Promise.resolve();

  runExclusive<R>(fn: () => R | Promise<R>): Promise<R> {
    const run = this.tail.then(() => fn());
    // A failed section must not block the ones queued behind it.
    this.tail = run.catch(() => undefined);
    return run;
  }
}
