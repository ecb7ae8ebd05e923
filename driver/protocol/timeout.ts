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
 * Settle with `work`, or reject with HandlerTimeoutError after `ms`. The
 * work itself cannot be cancelled and keeps running; if it later fails,
 * `onLateFailure` hears about it so the error is not lost silently.
 */
export function withTimeout<T>(
  work: Promise<T>,
  ms: number,
  method: string,
  onLateFailure: (err: unknown) => void,
): Promise<T> {
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new HandlerTimeoutError(method, ms));
    }, ms);
  });
  work.catch((err: unknown) => {
    if (timedOut) onLateFailure(err);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
