/**
 * The plugin's logger: leveled events with fields, as JSON or as one readable
 * line each, written straight to a stream (stderr by default). It formats
 * every line itself, so a logging library would add only its weight to the
 * daemon's start and memory.
 */
import type { Writable } from "node:stream";
import type { LogFormat, LogLevel } from "./config";

export type LogFields = Record<string, unknown>;

/**
 * The logging surface the rest of the daemon uses. Kept this small so code
 * and tests depend on no logging library, and a fake is one object literal.
 */
export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  /** For callers that pick the level at run time (e.g. per request outcome). */
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every event (e.g. { networkId }). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Defaults to stderr: stdout of a managed plugin is not for logs. */
  stream?: Writable;
  now?: () => Date;
}

/** Lower is more severe; an event is written when its rank is at most the configured level's. */
const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Streams whose write errors are already absorbed. */
const guarded = new WeakSet<Writable>();

export function createLogger(opts: LoggerOptions): Logger {
  const now = opts.now ?? (() => new Date());
  const render = opts.format === "json" ? renderJson : renderText;
  const stream = opts.stream ?? process.stderr;
  if (!guarded.has(stream)) {
    guarded.add(stream);
    // Logging must never stop the daemon: a reader gone (EPIPE) loses the lines, not the plugin.
    stream.on("error", () => undefined);
  }
  const max = RANK[opts.level];
  const write = (level: LogLevel, msg: string, fields: LogFields) => {
    if (RANK[level] > max) return;
    stream.write(`${render(now().toISOString(), level, msg, fields)}\n`);
  };
  return wrap(write, {});
}

function wrap(write: (level: LogLevel, msg: string, fields: LogFields) => void, bound: LogFields): Logger {
  const log = (level: LogLevel, msg: string, fields?: LogFields) => write(level, msg, { ...bound, ...fields });
  const emit = (level: LogLevel) => (msg: string, fields?: LogFields) => log(level, msg, fields);
  return {
    log,
    error: emit("error"),
    warn: emit("warn"),
    info: emit("info"),
    debug: emit("debug"),
    child: (fields) => wrap(write, { ...bound, ...fields }),
  };
}

/** `<time> <level> <msg> k=v …`: one event per line whatever the content. */
export function renderText(time: string, level: string, msg: string, fields: LogFields): string {
  let out = `${time} ${level.padEnd(5)} ${escapeControls(msg)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out += ` ${escapeControls(key)}=${textValue(value)}`;
  }
  return out;
}

export function renderJson(time: string, level: string, msg: string, fields: LogFields): string {
  const record: LogFields = { time, level, msg };
  for (const [key, value] of Object.entries(fields)) {
    // A field must not overwrite the event's own time, level or message.
    record[key in record ? `field.${key}` : key] = value instanceof Error ? value.message : value;
  }
  const whole = safeStringify(record);
  if (whole !== UNSERIALIZABLE) return whole;
  // Keep the event and the good fields; replace only the field that failed.
  for (const [key, value] of Object.entries(record)) {
    if (safeStringify(value) === UNSERIALIZABLE) record[key] = "[unserializable]";
  }
  return safeStringify(record);
}

function textValue(value: unknown): string {
  let text: string;
  if (typeof value === "string") text = value;
  else if (value instanceof Error) text = value.message;
  else if (value === null || typeof value !== "object") text = String(value);
  else {
    const json = safeStringify(value);
    text = json === UNSERIALIZABLE ? "[unserializable]" : json;
  }
  // Quote anything that would make the line ambiguous to split on spaces.
  return text === "" || /[\s"=\\\p{Cc}]/u.test(text) ? escapeControls(JSON.stringify(text)) : text;
}

/** Also escapes U+2028/2029, which some viewers treat as line breaks. */
function escapeControls(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]/gu, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

const UNSERIALIZABLE = '"[unserializable]"';

/** Logging must never throw: BigInts become strings, cycles a placeholder. */
function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) ?? String(value);
  } catch {
    return UNSERIALIZABLE;
  }
}
