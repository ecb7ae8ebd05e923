/**
 * Owns the way from raw request bytes to a validated request object, or a
 * PluginError whose message tells the user which field is wrong and why.
 */
import * as v from "valibot";
import { PluginError } from "../errors";
import { ECHO_LIMIT, cleanText } from "../lib/text";
import { issuePath } from "../lib/valid";
import { describeValue } from "./display";

/** At most this many problems are listed in one error message. */
const MAX_LISTED_ISSUES = 5;

/**
 * Parse a body as JSON whatever the Content-Type (Docker sends none). Empty
 * bodies, and a bare `null`, mean "no arguments" and become {}.
 */
export function parseJsonBody(method: string, body: Buffer): unknown {
  const textBody = body.toString("utf8");
  if (textBody.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(textBody);
  } catch (err) {
    // V8's message quotes part of the input, so it is cleaned like any echo.
    const reason = cleanText(err instanceof Error ? err.message : String(err));
    throw new PluginError(`invalid ${method} request: body: is not valid JSON (${reason})`, "invalid");
  }
  return value === null ? {} : value;
}

/** Validate an already parsed body against `schema`; throws PluginError listing the problems. */
export function decodeRequest<S extends v.GenericSchema>(method: string, schema: S, body: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, body, { message: issueMessage });
  if (result.success) return result.output;
  throw new PluginError(`invalid ${method} request: ${formatIssues(result.issues)}`, "invalid");
}

/** What a value must be, by the type of the schema or check that refused it. */
const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  integer: "an integer",
  boolean: "true or false",
  object: "an object",
  record: "an object",
  array: "an array",
};

/**
 * Messages for valibot's built-in schemas and checks, in the same
 * "must be ... (got ...)" style as ours. The schemas' own messages come first;
 * returning the issue's message keeps valibot's text for rarer issues.
 */
function issueMessage(issue: v.BaseIssue<unknown>): string {
  const expected = TYPE_NAMES[issue.type];
  if (issue.kind === "schema" && issue.input === undefined) return "is required";
  if (expected !== undefined) return `must be ${expected} (got ${describeValue(issue.input)})`;
  return issue.message;
}

function formatIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((i) => {
    // A map key failed its own check; the path already names the key.
    const onKey = i.path?.at(-1)?.origin === "key" && i.input !== undefined;
    return `${formatPath(issuePath(i))}: ${onKey ? "key " : ""}${i.message}`;
  });
  const more = issues.length - listed.length;
  if (more > 0) listed.push(`and ${more} more`);
  return listed.join("; ");
}

/**
 * "IPv4Data[0].Pool", or Options["odd key"] for keys that are not plain
 * names. Keys come from the request, so they are cleaned and shortened like
 * values (a 4 KiB key of letters is a plain name, but not one to echo).
 */
function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "body";
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (typeof part === "string" && part.length <= ECHO_LIMIT && /^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${describeValue(String(part))}]`;
  }
  return out;
}
