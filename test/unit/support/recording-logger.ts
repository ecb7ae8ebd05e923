/** A logger that hands every event, with its child fields merged in, to `sink`: for tests that read the log. */
import type { LogFields, Logger } from "../../../driver/log";

export function recordingLogger(sink: (level: string, msg: string, fields: LogFields) => void, base: LogFields = {}): Logger {
  const emit =
    (level: string) =>
    (msg: string, fields: LogFields = {}) =>
      sink(level, msg, { ...base, ...fields });
  return {
    error: emit("error"),
    warn: emit("warn"),
    info: emit("info"),
    debug: emit("debug"),
    log: (level, msg, fields) => emit(level)(msg, fields),
    child: (fields) => recordingLogger(sink, { ...base, ...fields }),
  };
}
