/** The envelope around every checkpoint file: schema version, boot id, time written and a checksum of the content. */
import { createHash } from "node:crypto";

/** The program that wrote a checkpoint: its version and the commit it was built from. */
export interface Writer {
  version: string;
  commit: string;
}

/** What a checkpoint file holds around the caller's document. */
export interface Envelope {
  schema: number;
  writtenAt: string;
  bootId: string;
  /** Absent in files written before writers named themselves. */
  writer?: Writer;
  /** sha256 (hex) of canonicalJson(data): catches torn or hand-damaged files. */
  checksum: string;
  data: unknown;
}

/**
 * JSON with object keys sorted at every level, so the checksum does not
 * depend on key order (a hand edit or another serialiser may reorder keys).
 */
export function canonicalJson(value: unknown): string {
  // One pass: each object is handed on with its keys sorted (after toJSON, so Dates are strings already).
  // The sorted copies hide a cycle from JSON.stringify's own check: it surfaces as a stack overflow.
  let text: string | undefined;
  try {
    text = JSON.stringify(value, sortedKeys);
  } catch (err) {
    if (err instanceof RangeError) throw new TypeError("state document is not JSON-serialisable (it refers to itself)");
    throw err;
  }
  if (text === undefined) throw new TypeError("state document is not JSON-serialisable");
  return text;
}

function sortedKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = (value as Record<string, unknown>)[key];
  return sorted;
}

export function checksumOf(data: unknown): string {
  return createHash("sha256").update(canonicalJson(data)).digest("hex");
}

/**
 * `canonicalData` is canonicalJson() of the document, taken when save() was
 * called, so what is written is that snapshot even if the caller mutates its
 * object while the write waits in the queue.
 */
export function encodeEnvelope(schema: number, bootId: string, writtenAt: Date, canonicalData: string, writer?: Writer): string {
  const head: Omit<Envelope, "data"> = {
    schema,
    writtenAt: writtenAt.toISOString(),
    bootId,
    ...(writer && { writer: { version: writer.version, commit: writer.commit } }),
    checksum: createHash("sha256").update(canonicalData).digest("hex"),
  };
  // The fields around the data one per line; the data as it was checksummed, on one line
  // (`jq .data` shows it indented): parsing and indenting it again cost as much as making it.
  const fields = JSON.stringify(head, null, 2);
  return `${fields.slice(0, fields.lastIndexOf("\n}"))},\n  "data": ${canonicalData}\n}\n`;
}

export type DecodeResult =
  { ok: true; envelope: Envelope } | { ok: false; problem: string; newer?: { schema: number; writer: Writer | undefined } };

/**
 * Parses and checks a checkpoint file's bytes; never throws. A schema above
 * `newestSchema` is reported as such before the checksum is looked at, since
 * a newer version may checksum differently.
 */
export function decodeEnvelope(bytes: Buffer, newestSchema = Infinity): DecodeResult {
  if (bytes.length === 0) return bad("is empty (0 bytes)");
  if (bytes.every((b) => b === 0)) {
    return bad(`is zero-filled (${bytes.length} NUL bytes): its data never reached the disk before a crash`);
  }
  const text = bytes.toString("utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return bad(endsEarly(text, err) ? `is truncated (${bytes.length} bytes)` : `is not JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return bad("is not a JSON object");
  const env = parsed as Record<string, unknown>;
  if (!Number.isInteger(env.schema)) return bad('has no integer "schema" field');
  const writer = writerOf(env.writer);
  if ((env.schema as number) > newestSchema) {
    const by = writer ? `azure-vnet ${writer.version} (commit ${writer.commit})` : "a newer version";
    return {
      ok: false,
      problem: `has schema ${env.schema}, newer than ${newestSchema} which this plugin understands (written by ${by})`,
      newer: { schema: env.schema as number, writer },
    };
  }
  if (typeof env.checksum !== "string") return bad('has no "checksum" field');
  if (!("data" in env)) return bad('has no "data" field');
  const actual = checksumOf(env.data);
  if (actual !== env.checksum) {
    return bad(`fails its checksum (stored ${short(env.checksum)}, computed ${short(actual)}): it was damaged or edited`);
  }
  return {
    ok: true,
    envelope: {
      schema: env.schema as number,
      writtenAt: typeof env.writtenAt === "string" ? env.writtenAt : "",
      bootId: typeof env.bootId === "string" ? env.bootId : "",
      ...(writer && { writer }),
      checksum: env.checksum,
      data: env.data,
    },
  };
}

function writerOf(value: unknown): Writer | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const { version, commit } = value as Record<string, unknown>;
  return typeof version === "string" && typeof commit === "string" ? { version, commit } : undefined;
}

/** The parser ran out of input rather than meeting a wrong character: a cut-off file. */
function endsEarly(text: string, err: unknown): boolean {
  if (!text.trimStart().startsWith("{")) return false;
  const message = String(err);
  if (/end of JSON input/i.test(message)) return true;
  const at = /at position (\d+)/.exec(message);
  return at !== null && Number(at[1]) >= text.trimEnd().length;
}

function bad(problem: string): DecodeResult {
  return { ok: false, problem };
}

function short(hash: string): string {
  return hash.length > 12 ? hash.slice(0, 12) + "…" : hash;
}
