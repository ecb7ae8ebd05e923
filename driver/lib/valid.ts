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

const OPTIONAL_TYPES = new Set(["optional", "nullish", "exact_optional"]);

/**
 * `v.object`, except that an array is refused, and a missing key is checked
 * as undefined by its own schema, so the complaint says what belongs there
 * ("expected array, received undefined") rather than only that the key is
 * missing. Keys whose schema is optional stay absent. Unknown keys are dropped.
 */
export function object<const E extends v.ObjectEntries>(entries: E) {
  const required = Object.keys(entries).filter((key) => !OPTIONAL_TYPES.has(entries[key].type));
  return v.pipe(
    v.unknown(),
    notArray(),
    v.transform((input: unknown) => withKeys(input, required)),
    v.object(entries),
  );
}

function withKeys(input: unknown, keys: readonly string[]): unknown {
  if (!input || typeof input !== "object") return input;
  const missing = keys.filter((key) => !(key in input));
  return missing.length === 0 ? input : { ...Object.fromEntries(missing.map((key) => [key, undefined])), ...input };
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
 * The first three issues as "where: message; where: message; and 2 more
 * problems". With `showInput`, each names the value it refused as JSON.
 */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[], opts: { root: string; showInput?: boolean }): string {
  const shown = issues.slice(0, 3).map((issue) => {
    // The message for an array where an object belongs already says what it got.
    const got =
      opts.showInput && issue.input !== undefined && issue.message !== ARRAY_FOR_OBJECT ? ` (got ${JSON.stringify(issue.input)})` : "";
    return `${pathText(issue, opts.root)}: ${issue.message}${got}`;
  });
  const more = issues.length > 3 ? `; and ${issues.length - 3} more problems` : "";
  return shown.join("; ") + more;
}

/**
 * Validates a document the plugin reads (metadata, checkpoint, replies):
 * its output, or the first problems described as describeIssues does, in
 * documentMessage's words.
 */
export function parseDocument<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  opts: { root: string; showInput?: boolean },
): { ok: true; output: v.InferOutput<S> } | { ok: false; problems: string } {
  const result = v.safeParse(schema, value, { message: documentMessage });
  return result.success ? { ok: true, output: result.output } : { ok: false, problems: describeIssues(result.issues, opts) };
}

/**
 * The message of an issue whose schema or action names none, in the
 * plugin's long-standing wording: "Invalid input: expected array, received
 * undefined".
 */
export function documentMessage(issue: v.BaseIssue<unknown>): string {
  switch (issue.type) {
    case "string":
    case "number":
    case "boolean":
    case "array":
    case "object":
    case "record":
      return `Invalid input: expected ${issue.type}, received ${typeName(issue.input)}`;
    case "non_optional":
      return `Invalid input: expected nonoptional, received ${typeName(issue.input)}`;
    case "literal":
      return `Invalid input: expected ${issue.expected}`;
    case "picklist":
      // valibot's expected is ("a" | "b").
      return `Invalid option: expected one of ${String(issue.expected)
        .replace(/^\((.*)\)$/, "$1")
        .replaceAll(" | ", "|")}`;
    case "safe_integer":
      if (!Number.isInteger(issue.input)) return `Invalid input: expected int, received ${typeName(issue.input)}`;
      return (issue.input as number) > 0
        ? `Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`
        : `Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`;
    case "min_value":
      return `Too small: expected number to be >=${String(issue.requirement)}`;
    case "regex":
      return `Invalid string: must match pattern ${String(issue.requirement)}`;
    case "ipv4":
      return "Invalid IPv4 address";
    default:
      return "Invalid input";
  }
}

function typeName(input: unknown): string {
  if (input === null) return "null";
  if (Array.isArray(input)) return "array";
  if (Number.isNaN(input)) return "NaN";
  return typeof input;
}
