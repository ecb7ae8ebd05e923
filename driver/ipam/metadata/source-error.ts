/** Owns how a metadata source reports failure, and the schema check every source runs. */
import type * as v from "valibot";
import { parseDocument } from "../../lib/valid";

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

/** Validates against the schema and throws a MetadataSourceError naming the source and the bad fields. */
export function validate<S extends v.GenericSchema>(source: string, schema: S, value: unknown): v.InferOutput<S> {
  const result = parseDocument(schema, value, { root: "document", showInput: true });
  if (!result.ok) throw new MetadataSourceError(source, `malformed data: ${result.problems}`);
  return result.output;
}
