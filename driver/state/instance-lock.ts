/**
 * One plugin daemon per state directory. Two daemons over one checkpoint
 * would each remove the other's links as orphans and overwrite each other's
 * saves, so `serve` takes this lock before it reads the checkpoint or touches
 * the kernel, and a second one stops there having changed nothing.
 *
 * The lock is a listening unix socket in the abstract namespace, named after
 * the directory's device and inode (the same directory whatever path or
 * bind mount reaches it). The kernel frees it when the process dies however
 * it dies, so a crash leaves no stale lock behind; whoever finds it taken
 * connects and is told the holder's pid. Abstract sockets belong to a
 * network namespace, which is also the scope of the kernel state a daemon
 * manages.
 */
import { mkdir, stat } from "../lib/fs-async";
import { createConnection, createServer, type Server } from "node:net";
import { PluginError, errorMessage } from "../errors";

export interface InstanceLock {
  /** The abstract socket's name, without the leading NUL. */
  readonly name: string;
  release(): Promise<void>;
}

/** Takes the lock on `dir` (created if missing), or throws a PluginError naming the pid that holds it. */
export async function acquireInstanceLock(dir: string, opts: { pid?: number } = {}): Promise<InstanceLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await stat(dir);
  const name = `azure-vnet/state/${st.dev}:${st.ino}`;
  const pid = opts.pid ?? process.pid;
  const server = createServer((conn) => {
    conn.on("error", () => undefined);
    conn.end(`${JSON.stringify({ pid })}\n`);
  });
  try {
    await listen(server, `\0${name}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") {
      throw new PluginError(`cannot lock the state directory ${dir}: ${errorMessage(err)}`, "unavailable");
    }
    const holder = await askHolder(`\0${name}`);
    throw new PluginError(
      `azure-vnet-plugin serve is already running (pid ${holder ?? "unknown"}) with the state directory ${dir}; ` +
        "stop that one first, or give this one another --state-dir",
      "conflict",
    );
  }
  // The lock must not keep an otherwise finished process alive.
  server.unref();
  return {
    name,
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** The pid the holder reports, or undefined if it does not answer within a second. */
function askHolder(path: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    let text = "";
    const conn = createConnection(path);
    const done = (pid: number | undefined) => {
      conn.destroy();
      resolve(pid);
    };
    conn.setTimeout(1000, () => done(undefined));
    conn.on("data", (chunk) => (text += chunk.toString("utf8").slice(0, 200)));
    conn.on("error", () => done(undefined));
    conn.on("end", () => {
      try {
        const pid = (JSON.parse(text) as { pid?: unknown }).pid;
        done(typeof pid === "number" && Number.isInteger(pid) ? pid : undefined);
      } catch {
        done(undefined);
      }
    });
  });
}
