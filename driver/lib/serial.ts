/**
 * Owns serial execution inside one process: work handed to the same queue
 * runs one piece at a time, in call order, and a failure goes to its own
 * caller without stopping what is queued behind it. In-process only: there
 * is no lock file to time out or to leave behind after a crash.
 */

const settled = (): undefined => undefined;

/** Runs functions one at a time, each after everything queued before it has settled. */
export class SerialQueue {
  private tail: Promise<undefined> = Promise.resolve(undefined);

  run<R>(fn: () => R | Promise<R>): Promise<R> {
    const step = this.tail.then(() => fn());
    // A failed step must not block the ones queued behind it, and the tail holds neither its
    // result nor its error: an idle queue would keep the last one alive (a dump of every link
    // on the VM, say) until the next step.
    this.tail = step.then(settled, settled);
    return step;
  }

  /** Resolves once everything queued so far has settled (failures included). */
  async idle(): Promise<void> {
    await this.tail;
  }
}

/**
 * The same queue, named for critical sections: handlers in one daemon share
 * state through this instead of a lock file.
 */
export class AsyncMutex extends SerialQueue {
  runExclusive<R>(fn: () => R | Promise<R>): Promise<R> {
    return this.run(fn);
  }
}
