/**
 * An error whose message is meant for the user who ran the docker command.
 * The protocol layer sends `message` back to Docker verbatim; anything else
 * thrown below the protocol layer is reported as an internal error.
 */
export class PluginError extends Error {
  constructor(
    message: string,
    readonly code: PluginErrorCode = "invalid",
  ) {
    super(message);
    this.name = "PluginError";
  }
}

export type PluginErrorCode =
  | "invalid" // the request is malformed or names something impossible
  | "not-found" // the request names a network/endpoint/pool this plugin does not know
  | "exhausted" // no free address
  | "conflict" // the address or name is taken
  | "unavailable"; // a dependency (metadata, kernel) failed; retrying may help

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Throws once the caller has stopped waiting (the protocol layer's timeout
 * fired): what it asked for must not be kept, since Docker will neither use
 * nor release it.
 */
export function throwIfAbandoned(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new PluginError(`${errorMessage(signal.reason)}; Docker stopped waiting, so nothing was kept`, "unavailable");
  }
}
