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

/** Keys `v.record` leaves out of its output without a word. */
const SKIPPED_KEYS = ["__proto__", "prototype", "constructor"];

/** An issue on each key `v.record` would drop, so that no key of the input is lost unsaid. */
function noSkippedKeys() {
  return v.rawCheck<unknown>(({ dataset, addIssue }) => {
    const input = dataset.value;
    if (!dataset.typed || input === null || typeof input !== "object") return;
    for (const key of SKIPPED_KEYS.filter((k) => Object.hasOwn(input, k))) {
      const value: unknown = (input as Record<string, unknown>)[key];
      addIssue({
        input: key,
        message: `must not be "${key}", a name JavaScript reserves`,
        path: [{ type: "object", origin: "key", input: input as Record<string, unknown>, key, value }],
      });
    }
  });
}

/**
 * `v.record`, except that an array is refused, and so is a key named
 * "__proto__", "prototype" or "constructor" (which `v.record` would drop).
 */
export function record<K extends v.GenericSchema<string, string | number | symbol>, V extends v.GenericSchema>(key: K, value: V) {
  return v.pipe(v.unknown(), notArray(), noSkippedKeys(), v.record(key, value));
}

/** The keys and indexes that lead to where an issue was found: ["IPv4Data", 0, "Pool"]. */
export function issuePath(issue: v.BaseIssue<unknown>): PropertyKey[] {
  return (issue.path ?? []).map((item) => item.key as PropertyKey);
}

/** Where an issue was found, as "IPv4Data[0].Pool"; `root` when it is the value itself. */
export function pathText(issue: v.BaseIssue<unknown>, root: string): string {
  return (
    issuePath(issue).reduce<string>(
      (text, key) => (typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)),
      "",
    ) || root
  );
}

/**
 * The first `max` issues as "where: message; where: message; and 2 more".
 * With `showInput`, each names the value it refused as JSON.
 */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[], opts: { root: string; max?: number; showInput?: boolean }): string {
  const max = opts.max ?? 3;
  const shown = issues.slice(0, max).map((issue) => {
    const got = opts.showInput && issue.input !== undefined ? ` (got ${JSON.stringify(issue.input)})` : "";
    return `${pathText(issue, opts.root)}: ${issue.message}${got}`;
  });
  if (issues.length > max) shown.push(`and ${issues.length - max} more`);
  return shown.join("; ");
}
