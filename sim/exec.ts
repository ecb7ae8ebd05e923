/**
 * Running programs for the simulator: argument arrays only, never a shell,
 * always with a timeout, and errors that carry the command and its stderr.
 */
import { execFile, spawn, SpawnOptions } from "node:child_process";

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolve instead of rejecting when the exit code is not 0. */
  allowFailure?: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly command: string[],
    readonly result: RunResult,
  ) {
    super(`${command.join(" ")} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = "CommandError";
  }
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        const result = { stdout: String(stdout), stderr: String(stderr), code };
        if (err && !opts.allowFailure) {
          if (err.killed) result.stderr += `\n(killed after ${opts.timeoutMs ?? 60_000} ms)`;
          reject(new CommandError([cmd, ...args], result));
        } else resolve(result);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** `ip` with a namespace ("" = the namespace this process is in). */
export function ip(ns: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run("ip", ns ? ["-n", ns, ...args] : args, opts);
}

/** Run a program inside a named network namespace. */
export function inNetns(ns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run("ip", ["netns", "exec", ns, cmd, ...args], opts);
}

/** Start a long-lived program detached from this process (its own session). */
export function spawnDetached(cmd: string, args: string[], logFd: number, opts: SpawnOptions = {}): number {
  const child = spawn(cmd, args, { detached: true, stdio: ["ignore", logFd, logFd], ...opts });
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  child.unref();
  return child.pid;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `check` until it returns true or the deadline passes. */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
