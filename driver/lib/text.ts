/**
 * Owns turning untrusted values into text that is safe to put in an error
 * reply, a log line or a report. Docker prints our error text in the daemon
 * log and on the user's terminal, so a value copied from a request or a file
 * must not be able to forge extra lines, move the cursor or flood the output.
 * Also the short form of Docker IDs that every message and report uses.
 */

/** How many characters of an untrusted value a message may quote. */
export const ECHO_LIMIT = 100;

// C0/C1 controls, DEL, line/paragraph separators and bidi overrides: anything
// that can break a log line or make displayed text lie about its content.
// Matching control characters is the whole point here, hence the lint waiver.
// eslint-disable-next-line no-control-regex
const UNSAFE_CHAR = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_CHARS = new RegExp(UNSAFE_CHAR.source, "g");

/** True when `s` contains a character that `cleanText` would replace. */
export function hasUnsafeChars(s: string): boolean {
  return UNSAFE_CHAR.test(s);
}

/** Replace unsafe characters with "?" and cut the text to `limit` characters. */
export function cleanText(s: string, limit = ECHO_LIMIT): string {
  const safe = s.replace(UNSAFE_CHARS, "?");
  // Cut by code points so a surrogate pair is never split into garbage.
  const chars = Array.from(safe);
  return chars.length > limit ? `${chars.slice(0, limit).join("")}...` : safe;
}

/** First 12 characters of an ID, the same short form the docker CLI shows. */
export function shortId(id: string): string {
  return cleanText(id.slice(0, 12), 12);
}
