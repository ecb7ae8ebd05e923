/**
 * Bounding how long Docker waits for a driver call. Legacy plugins get no
 * timeout from Docker at all, so a hung handler would hang `docker run`.
 */

export class HandlerTimeoutError extends Error {
  constructor(method: string, ms: number) {
    super(`${method} timed out after ${ms} ms`);
    this.name = "HandlerTimeoutError";
  }
}

/**
 * Settle with `work(signal)`, or reject with HandlerTimeoutError after `ms`
 * and abort `signal` at the same moment. The work keeps running; it reads
 * the signal to undo what it did for a caller that is no longer waiting (the
 * deadline is a timer, so it cannot fire between the work's last check and
 * its reply). If the work later fails, `onLateFailure` hears about it so the
 * error is not lost silently.
 */
export function withTimeout<T>(
  work: (signal: AbortSignal) => Promise<T>,
  ms: number,
  method: string,
  onLateFailure: (err: unknown) => void,
): Promise<T> {
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const controller = new AbortController();
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      const error = new HandlerTimeoutError(method, ms);
      controller.abort(error);
      reject(error);
    }, ms);
  });
  const running = work(controller.signal);
  running.catch((err: unknown) => {
    if (timedOut) onLateFailure(err);
  });
  return Promise.race([running, deadline]).finally(() => clearTimeout(timer));
}
