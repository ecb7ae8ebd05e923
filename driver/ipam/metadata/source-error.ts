/** Owns how a metadata source reports failure, and the schema check every source runs. */
import * as v from "valibot";
import { ARRAY_FOR_OBJECT, issuePath, object } from "../../lib/valid";

/**
 * A metadata source failed. The message always starts with the source's name
 * so the error that finally reaches the user says where it came from.
 */
export class MetadataSourceError extends Error {
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`${source}: ${detail}`);
    this.name = "MetadataSourceError";
  }
}

/** Turns schema issues into "interface[0].macAddress: ... (got "x")"; at most three of them. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const shown = issues.slice(0, 3).map((issue) => {
    const where = issuePath(issue).reduce<string>(
      (text, key) => (typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)),
      "",
    );
    // The message for an array where an object belongs already says what it got.
    const got = issue.input !== undefined && issue.message !== ARRAY_FOR_OBJECT ? ` (got ${JSON.stringify(issue.input)})` : "";
    return `${where || "document"}: ${issue.message}${got}`;
  });
  const more = issues.length > 3 ? `; and ${issues.length - 3} more problems` : "";
  return shown.join("; ") + more;
}

/** Validates against the schema and throws a MetadataSourceError naming the source and the bad fields. */
export function validate<S extends v.GenericSchema>(source: string, schema: S, value: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, value, { message: issueMessage });
  if (!result.success) throw new MetadataSourceError(source, `malformed data: ${describeIssues(result.issues)}`);
  return result.output;
}

const OPTIONAL_TYPES = new Set(["optional", "nullish", "exact_optional"]);

/**
 * An object of a JSON (or XML) document: `object` from lib/valid (an array is
 * refused, unknown keys are dropped), except that a missing key is checked as
 * undefined by its own schema. The complaint then says what belongs there
 * ("Invalid input: expected array, received undefined") rather than only that
 * the key is missing. Keys whose schema is optional stay absent.
 */
export function jsonObject<const E extends v.ObjectEntries>(entries: E) {
  const required = Object.keys(entries).filter((key) => !OPTIONAL_TYPES.has(entries[key].type));
  return v.pipe(
    v.unknown(),
    v.transform((input: unknown) => withKeys(input, required)),
    object(entries),
  );
}

function withKeys(input: unknown, keys: readonly string[]): unknown {
  if (!input || typeof input !== "object" || Array.isArray(input)) return input;
  const missing = keys.filter((key) => !(key in input));
  return missing.length === 0 ? input : { ...Object.fromEntries(missing.map((key) => [key, undefined])), ...input };
}

/**
 * The message of an issue whose schema or action names none, in the plugin's
 * long-standing wording: "Invalid input: expected array, received undefined".
 * Pass it as the `message` of the parse config.
 */
export function issueMessage(issue: v.BaseIssue<unknown>): string {
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
