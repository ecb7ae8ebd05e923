/**
 * A failure of the kernel or of a helper program, with a short machine-readable
 * code so callers can branch on it ("EEXIST", "ENODEV", "ETIMEDOUT", "EXIT_1",
 * "ENOENT" for a missing program, ...). These are not user errors: the
 * protocol layer reports them as internal unless the network layer maps them.
 */
export class DataplaneError extends Error {
  constructor(
    readonly op: string,
    readonly code: string,
    detail?: string,
  ) {
    super(detail ? `${op}: ${code}: ${detail}` : `${op}: ${code}`);
    this.name = "DataplaneError";
  }
}

export function hasCode(err: unknown, ...codes: string[]): boolean {
  return err instanceof DataplaneError && codes.includes(err.code);
}
