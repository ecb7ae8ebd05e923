/**
 * NIC PUTs as Azure runs them: accepted at once, "InProgress" for the
 * provisioning delay, then applied (the fabric, IMDS and the wireserver learn
 * of the change only now) and "Succeeded", or "Failed" with an error. One
 * operation per NIC at a time; the addresses an operation is adding are
 * held from the moment it is accepted, so of two NICs asking for one address
 * only the first gets it. Operations are kept in a file of the state
 * directory, so a platform that stops (or crashes) with operations running
 * carries them out when it starts again, and their URLs keep answering.
 */
import { randomUUID } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nicKey, type SimIpConfig } from "../topology";
import { ipConfigId, nicName } from "./arm-ids";
import type { ArmError } from "./arm-nic-put";

export type OperationStatus = "InProgress" | "Succeeded" | "Failed";

export interface NicOperation {
  id: string;
  vmName: string;
  /** Which of the VM's NICs: absent or 0 for the primary NIC, i for extraNics[i - 1]. */
  nic?: number;
  secondaries: SimIpConfig[];
  status: OperationStatus;
  startTime: string;
  /** When a running operation takes effect (ms since the epoch). */
  dueAt: number;
  endTime?: string;
  error?: ArmError;
}

export const OPERATIONS_FILE = "arm-operations.json";

export interface OperationHooks {
  /** Make the NIC's secondaries these, everywhere (sim/ipconfig-commit.ts); rejects on failure. */
  apply: (vmName: string, secondaries: SimIpConfig[], nic: number) => Promise<void>;
  delayMs: () => number;
  /** The operationsFail knob. */
  fail: () => boolean;
  log: (line: string) => void;
}

/** Finished operations stay pollable this long. */
const KEEP_FINISHED_MS = 10 * 60_000;

const keyOf = (op: Pick<NicOperation, "vmName" | "nic">) => nicKey(op.vmName, op.nic ?? 0);
const nameOf = (op: Pick<NicOperation, "vmName" | "nic">) => nicName(op.vmName, op.nic ?? 0);

export class NicOperations {
  private readonly byId = new Map<string, NicOperation>();
  private readonly running = new Map<string, NicOperation>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private readonly file: string | undefined;

  /** With a state directory, operations are saved there and those found there resumed. */
  constructor(
    private readonly hooks: OperationHooks,
    stateDir?: string,
  ) {
    this.file = stateDir === undefined ? undefined : join(stateDir, OPERATIONS_FILE);
    for (const op of this.load()) {
      this.byId.set(op.id, op);
      if (op.status === "InProgress") {
        this.running.set(keyOf(op), op);
        this.after(op.dueAt - Date.now(), () => void this.finish(op));
        this.hooks.log(`arm: resuming operation ${op.id} on ${nameOf(op)}`);
      } else this.after(Date.parse(op.endTime ?? op.startTime) + KEEP_FINISHED_MS - Date.now(), () => this.forget(op.id));
    }
  }

  private load(): NicOperation[] {
    if (!this.file) return [];
    try {
      return JSON.parse(readFileSync(this.file, "utf8")) as NicOperation[];
    } catch {
      // None yet, or a file cut short by a crash: nothing to resume.
      return [];
    }
  }

  private save(): void {
    if (!this.file) return;
    writeFileSync(`${this.file}.tmp`, JSON.stringify([...this.byId.values()]));
    renameSync(`${this.file}.tmp`, this.file);
  }

  private forget(id: string): void {
    this.byId.delete(id);
    this.save();
  }

  /** The operation running on a VM's NIC (index 0: its primary NIC), if any. */
  runningOn(vmName: string, nic = 0): NicOperation | undefined {
    return this.running.get(nicKey(vmName, nic));
  }

  get(id: string): NicOperation | undefined {
    return this.byId.get(id);
  }

  /** Addresses running operations will put on their NICs, to the ipconfig ids they will have. */
  heldAddresses(): Map<string, string> {
    const held = new Map<string, string>();
    for (const op of this.running.values())
      for (const s of op.secondaries) held.set(s.address, ipConfigId(op.vmName, s.name ?? "", op.nic ?? 0));
    return held;
  }

  start(vmName: string, secondaries: SimIpConfig[], nic = 0): NicOperation {
    if (this.running.has(nicKey(vmName, nic))) throw new Error(`an operation is already running on ${nicName(vmName, nic)}`);
    const delay = this.hooks.delayMs();
    const op: NicOperation = {
      id: randomUUID(),
      vmName,
      ...(nic === 0 ? {} : { nic }),
      secondaries,
      status: "InProgress",
      startTime: new Date().toISOString(),
      dueAt: Date.now() + delay,
    };
    this.byId.set(op.id, op);
    this.running.set(keyOf(op), op);
    this.save();
    this.after(delay, () => void this.finish(op));
    return op;
  }

  private async finish(op: NicOperation): Promise<void> {
    try {
      if (this.hooks.fail()) throw new Error("simulated operation failure (operationsFail knob)");
      await this.hooks.apply(op.vmName, op.secondaries, op.nic ?? 0);
      op.status = "Succeeded";
    } catch (err) {
      op.status = "Failed";
      op.error = {
        status: 500,
        code: "InternalServerError",
        message: `An error occurred while updating the network interface: ${(err as Error).message}`,
      };
    }
    op.endTime = new Date().toISOString();
    this.running.delete(keyOf(op));
    this.save();
    this.hooks.log(`arm: operation ${op.id} on ${nameOf(op)} ${op.status}`);
    this.after(KEEP_FINISHED_MS, () => this.forget(op.id));
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        fn();
      },
      Math.max(0, ms),
    );
    timer.unref();
    this.timers.add(timer);
  }

  /** Stop timers (platform shutdown); running operations stay in the file for the next start. */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
