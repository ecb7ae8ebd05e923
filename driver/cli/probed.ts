/** A fact the operator commands read that may have failed to read: the value, or why it is missing. */
import { errorMessage } from "../errors";

/**
 * A fact read from the host, or why it could not be read. The operator
 * commands keep going when one source fails (no root, Docker down, metadata
 * unreachable) and say what they could not see instead of stopping.
 */
export type Probed<T> = { ok: true; value: T } | { ok: false; error: string };

export async function probe<T>(read: () => Promise<T>): Promise<Probed<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}

export function valueOf<T>(p: Probed<T> | undefined): T | undefined {
  return p?.ok ? p.value : undefined;
}
