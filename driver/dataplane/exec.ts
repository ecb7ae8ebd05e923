/**
 * Runs a helper program (iptables, conntrack) directly, never through a shell:
 * arguments are passed as an array, so no value can be interpreted as syntax.
 */
import { execFile } from "node:child_process";
import { programStarted } from "../lib/program-tally";
import { DataplaneError } from "./errors";

export interface RunOptions {
  /** Written to the program's stdin, which is then closed. */
  input?: string;
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export type Runner = (file: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

/**
 * Resolves with the output on exit status 0. Rejects with a DataplaneError whose
 * code is "ENOENT" (program missing), "ETIMEDOUT", or "EXIT_<status>" with stderr.
 */
export const runProgram: Runner = (file, args, opts = {}) =>
  new Promise((resolve, reject) => {
    const op = [file, ...args].join(" ");
    programStarted();
    const child = execFile(
      file,
      args,
      // LC_ALL=C keeps messages parseable whatever the host's locale.
      { timeout: opts.timeoutMs ?? 10_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: "C" } },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
        let code: string;
        if (e.code === "ENOENT") code = "ENOENT";
        else if (e.killed) code = "ETIMEDOUT";
        else if (typeof e.code === "number") code = `EXIT_${e.code}`;
        else code = typeof e.code === "string" ? e.code : "EUNKNOWN";
        reject(new DataplaneError(op.length > 200 ? `${op.slice(0, 200)}…` : op, code, String(stderr).trim()));
      },
    );
    // Without this an early exit of the program surfaces as an unhandled EPIPE.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(opts.input ?? "");
  });
