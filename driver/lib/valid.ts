/**
 * What every schema in the plugin shares on top of valibot: objects that are
 * not arrays, and the path of an issue as plain keys.
 *
 * valibot, like JavaScript's `typeof`, takes an array for an object. A JSON
 * object is never an array, so these reject one with the issue valibot gives
 * for any other non-object, and the message that names it says "an array".
 */
import * as v from "valibot";

/** The message of the issue for an array where an object belongs. */
export const ARRAY_FOR_OBJECT = "must be an object (got an array)";

function notArray() {
  return v.check((input: unknown) => !Array.isArray(input), ARRAY_FOR_OBJECT);
}

/** `v.object`, except that an array is refused. Unknown keys are dropped. */
export function object<const E extends v.ObjectEntries>(entries: E) {
  return v.pipe(v.unknown(), notArray(), v.object(entries));
}

/** `v.record`, except that an array is refused. */
export function record<K extends v.GenericSchema<string, string | number | symbol>, V extends v.GenericSchema>(key: K, value: V) {
  return v.pipe(v.unknown(), notArray(), v.record(key, value));
}

/** The keys and indexes that lead to where an issue was found: ["IPv4Data", 0, "Pool"]. */
export function issuePath(issue: v.BaseIssue<unknown>): PropertyKey[] {
  return (issue.path ?? []).map((item) => item.key as PropertyKey);
}
