/**
 * Serving the protocol app on a UNIX socket, the way Docker expects to find
 * a plugin: /run/docker/plugins/<name>.sock for legacy plugins, or the path
 * from config.json's interface.socket for managed ones.
 */
import * as fs from "../lib/fs-async";
import http, { type RequestListener } from "node:http";
import net from "node:net";
import path from "node:path";

export interface SocketServer {
  /** Stop accepting, let in-flight requests finish (bounded), remove the socket file. */
  close(): Promise<void>;
}

export interface SocketOptions {
  /** Longest wait for in-flight requests in close() before connections are cut. */
  drainTimeoutMs?: number;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/** A live server answers a local connect at once; waiting longer only delays start-up. */
const PROBE_TIMEOUT_MS = 1_000;

export async function serveUnixSocket(app: RequestListener, socketPath: string, opts: SocketOptions = {}): Promise<SocketServer> {
  await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  await removeStaleSocket(socketPath);

  const server = http.createServer(app);
  await listen(server, socketPath);
  // Docker runs as root; nobody else has any business talking to the plugin.
  await fs.chmod(socketPath, 0o600);

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= shutDown(server, socketPath, opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
      return closing;
    },
  };
}

/**
 * A socket file left behind by a crashed instance would make listen() fail
 * with EADDRINUSE. Remove it, but only when it really is a dead socket:
 * never delete a regular file by mistake, and never steal the path from an
 * instance that is still serving Docker.
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let stat;
  try {
    stat = await fs.lstat(socketPath);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  if (!stat.isSocket()) {
    throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  }
  if (await isAnswering(socketPath)) {
    throw new Error(`${socketPath} is in use: another plugin instance is already running`);
  }
  try {
    await fs.unlink(socketPath);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
}

/** True if something accepts connections on the socket (or is too busy to refuse them). */
function isAnswering(socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socketPath);
    const finish = (answer: boolean | Error) => {
      conn.destroy();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    conn.setTimeout(PROBE_TIMEOUT_MS, () => finish(true));
    conn.once("connect", () => finish(true));
    conn.once("error", (err) => {
      if (isErrno(err, "ECONNREFUSED") || isErrno(err, "ENOENT")) finish(false);
      else finish(err);
    });
  });
}

/**
 * listen() with a umask that keeps the socket private from the moment it is
 * bound, closing the window before the chmod. Node binds synchronously
 * inside listen(), so the umask only has to be set around that one call.
 */
function listen(server: http.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`cannot listen on ${socketPath}: ${err.message}`));
    server.once("error", onError);
    const restoreUmask = tightenUmask();
    try {
      server.listen(socketPath, () => {
        server.off("error", onError);
        resolve();
      });
    } finally {
      restoreUmask();
    }
  });
}

function tightenUmask(): () => void {
  try {
    const previous = process.umask(0o177);
    return () => process.umask(previous);
  } catch {
    // Worker threads may not change the umask; the chmod after listen still applies.
    return () => undefined;
  }
}

async function shutDown(server: http.Server, socketPath: string, drainTimeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Kept-alive connections would otherwise hold close() open until they time
  // out; drop each one as soon as it has no request in flight.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  const deadline = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
    clearTimeout(deadline);
  }
  try {
    await fs.unlink(socketPath);
  } catch (err) {
    // Node usually removes the socket itself when the server closes.
    if (!isErrno(err, "ENOENT")) throw err;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as NodeJS.ErrnoException).code === code;
}
