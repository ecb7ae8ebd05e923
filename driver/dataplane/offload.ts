/**
 * Kernel work that stalls the caller runs in a worker thread. Netlink requests
 * are processed by the kernel inside the sending thread's system call, and
 * two of the plugin's take long there: deleting a veth pair (about 15-20 ms
 * under the RTNL lock) and dumping conntrack to drop an address's flows (a
 * walk of the whole hash table). On the main thread either would freeze every
 * request in flight; in the worker, with sockets of its own in the same
 * network namespace, the main thread keeps answering Docker meanwhile.
 *
 * The worker runs kernel-worker.ts (bundled, its own small file); it is
 * started on first use and stopped when idle and with the dataplane. Node's
 * worker_threads is loaded with the first worker, not with the daemon.
 */
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import { PluginError, type PluginErrorCode } from "../errors";
import { DataplaneError } from "./errors";

export const ROLE = "azure-vnet-kernel-offload";
/** An idle worker is stopped after this long (a V8 isolate costs memory); the next call starts one again. */
const IDLE_STOP_MS = 10_000;
/**
 * The worker holds a few netlink sockets and the replies in flight: a small
 * young generation keeps its isolate's memory small (V8 reserves the young
 * generation up front); the old-generation cap is far above what a conntrack
 * dump of a busy host needs.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 };

/** The bundled daemon names the worker's own bundled file; compiled file by file, it is kernel-worker.js beside this one. */
declare const AZURE_VNET_KERNEL_WORKER: string | undefined;
const WORKER_FILE = join(__dirname, typeof AZURE_VNET_KERNEL_WORKER === "string" ? AZURE_VNET_KERNEL_WORKER : "kernel-worker.js");

export type Op = "removeEndpointLink" | "forgetFlows";
export interface Call {
  id: number;
  op: Op;
  arg: string;
}
/** An error as it crosses the thread boundary: its class by name, and what that class needs. */
interface WireError {
  name: string;
  message: string;
  op?: string;
  code?: string;
}
export type Reply = { id: number; result: unknown } | { id: number; error: WireError };

export function toWire(err: unknown): WireError {
  if (err instanceof DataplaneError) return { name: err.name, message: err.message, op: err.op, code: err.code };
  if (err instanceof PluginError) return { name: err.name, message: err.message, code: err.code };
  return { name: "Error", message: err instanceof Error ? err.message : String(err) };
}

function fromWire(e: WireError): Error {
  if (e.name === "DataplaneError") return Object.assign(new DataplaneError(e.op ?? "", e.code ?? ""), { message: e.message });
  if (e.name === "PluginError") return new PluginError(e.message, e.code as PluginErrorCode);
  return new Error(e.message);
}

export class KernelOffload {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: { timeoutMs?: number; idleStopMs?: number } = {}) {}

  removeEndpointLink(hostName: string): Promise<boolean> {
    return this.call("removeEndpointLink", hostName) as Promise<boolean>;
  }

  forgetFlows(ip: string): Promise<boolean> {
    return this.call("forgetFlows", ip) as Promise<boolean>;
  }

  private call(op: Op, arg: string): Promise<unknown> {
    const worker = this.started();
    clearTimeout(this.idleTimer);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // A call in progress keeps the process alive; an idle worker does not.
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ id, op, arg } satisfies Call);
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Worker } = require("node:worker_threads") as typeof import("node:worker_threads");
    const worker = new Worker(WORKER_FILE, { workerData: { role: ROLE, timeoutMs: this.opts.timeoutMs }, resourceLimits: WORKER_LIMITS });
    worker.on("message", (reply: Reply) => {
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) {
        worker.unref();
        this.idleTimer = setTimeout(() => void this.stopIdle(worker), this.opts.idleStopMs ?? IDLE_STOP_MS).unref();
      }
      if ("error" in reply) {
        w.reject(fromWire(reply.error));
      } else w.resolve(reply.result);
    });
    const fail = (err: Error) => {
      // A worker that died takes its calls with it; the next call starts a new one.
      if (this.worker === worker) this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(new DataplaneError("kernel worker", "EWORKER", err.message));
      this.waiting.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private async stopIdle(worker: Worker): Promise<void> {
    if (this.worker !== worker || this.waiting.size > 0) return;
    this.worker = undefined;
    await stopWorker(worker);
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await stopWorker(worker);
  }
}

/** Asks the worker to close its sockets and end; it is never terminated from outside (see serve). */
function stopWorker(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    worker.once("exit", () => resolve());
    worker.ref();
    worker.postMessage("stop");
  });
}
