/**
 * Reads the TypeScript source for the text of user-facing errors: the string
 * and template literals in `new PluginError(...)` arguments, or every literal
 * of a file of messages. A template's static pieces are what a user sees
 * verbatim around the variable parts, so the longest one identifies it.
 */

/** Index just past the literal that starts at `start` (a quote or backtick). */
function literalEnd(src: string, start: number, pieces: string[]): number {
  const quote = src[start];
  let i = start + 1;
  let piece = "";
  while (i < src.length) {
    const c = src[i];
    if (c === "\\") {
      piece += src[i + 1];
      i += 2;
      continue;
    }
    if (c === quote) {
      pieces.push(piece);
      return i + 1;
    }
    if (quote === "`" && c === "$" && src[i + 1] === "{") {
      pieces.push(piece);
      piece = "";
      i = expressionEnd(src, i + 2, pieces);
      continue;
    }
    piece += c;
    i++;
  }
  throw new Error(`unterminated literal at ${start}`);
}

/** Index just past the `}` closing a `${`, collecting literals nested in it. */
function expressionEnd(src: string, start: number, pieces: string[]): number {
  let depth = 0;
  let i = start;
  while (i < src.length) {
    const c = src[i];
    if (c === "'" || c === '"' || c === "`") i = literalEnd(src, i, pieces);
    else if (c === "{") {
      depth++;
      i++;
    } else if (c === "}") {
      if (depth === 0) return i + 1;
      depth--;
      i++;
    } else i++;
  }
  throw new Error(`unterminated expression at ${start}`);
}

/** The literals of the argument list that opens at `open` (the index of its "("). */
function argumentLiterals(src: string, open: number): string[][] {
  const found: string[][] = [];
  let depth = 0;
  let i = open;
  while (i < src.length) {
    const c = src[i];
    if (c === "'" || c === '"' || c === "`") {
      const pieces: string[] = [];
      i = literalEnd(src, i, pieces);
      found.push(pieces);
      continue;
    }
    if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return found;
    i++;
  }
  return found;
}

/** Static pieces of each literal passed to `new PluginError(`. */
export function pluginErrorLiterals(src: string): string[][] {
  const out: string[][] = [];
  for (let at = src.indexOf("new PluginError("); at >= 0; at = src.indexOf("new PluginError(", at + 1)) {
    out.push(...argumentLiterals(src, at + "new PluginError".length));
  }
  return out;
}

/** Static pieces of every literal in a file, skipping comments and imports. */
export function allLiterals(src: string): string[][] {
  const body = src
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "")
    .replace(/^import .*$/gm, "");
  const out: string[][] = [];
  for (let i = 0; i < body.length;) {
    const c = body[i];
    if (c === "'" || c === '"' || c === "`") {
      const pieces: string[] = [];
      i = literalEnd(body, i, pieces);
      out.push(pieces);
    } else i++;
  }
  return out;
}

const squash = (s: string) => s.replace(/\s+/g, " ").trim();

/** The longest static piece of a literal, when it is long enough to stand for it (three words or more). */
export function signature(pieces: string[]): string | undefined {
  const best = pieces.map(squash).sort((a, b) => b.length - a.length)[0] ?? "";
  return best.split(" ").length >= 3 ? best : undefined;
}

export function mentions(doc: string, text: string): boolean {
  return squash(doc).includes(squash(text));
}
