/** Owns how a metadata source reports failure, and the schema check every source runs. */
import type { z } from "zod";

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

/** Turns zod issues into "interface[0].macAddress: ... (got "x")"; at most three of them. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const shown = issues.slice(0, 3).map((issue) => {
    const where = issue.path.reduce<string>(
      (text, key) => (typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)),
      "",
    );
    const got = "input" in issue && issue.input !== undefined ? ` (got ${JSON.stringify(issue.input)})` : "";
    return `${where || "document"}: ${issue.message}${got}`;
  });
  const more = issues.length > 3 ? `; and ${issues.length - 3} more problems` : "";
  return shown.join("; ") + more;
}

/** Validates with zod and throws a MetadataSourceError naming the source and the bad fields. */
export function validate<T extends z.ZodType>(source: string, schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) throw new MetadataSourceError(source, `malformed data: ${describeIssues(result.error.issues)}`);
  return result.data;
}
