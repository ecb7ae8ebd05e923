/**
 * Owns how a rejected request value is described in an error reply: quoted,
 * cleaned and short. The cleaning itself is lib/text's.
 */
import { cleanText } from "../lib/text";

/** Describe a rejected value for an error message: quoted, cleaned and short. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return `"${cleanText(value)}"`;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
