/** A logger that says nothing, for unit tests that do not look at the log. */
import type { Logger } from "../../../driver/log";

export const silent: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  log() {},
  child() {
    return silent;
  },
};
