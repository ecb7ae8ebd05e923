/**
 * NIC PUTs as Azure runs them: accepted at once, "InProgress" for the
 * provisioning delay, then applied (the fabric, IMDS and the wireserver learn
 * of the change only now) and "Succeeded", or "Failed" with an error. One
 * operation per NIC at a time; the addresses an operation is adding are
 * held from the moment it is accepted, so of two NICs asking for one address
 * only the first gets it.
 */
import { randomUUID } from "node:crypto";
import type { SimIpConfig } from "../topology";
import { ipConfigId } from "./arm-ids";
import type { ArmError } from "./arm-nic-put";

export type OperationStatus = "InProgress" | "Succeeded" | "Failed";

export interface NicOperation {
  id: string;
  vmName: string;
  secondaries: SimIpConfig[];
  status: OperationStatus;
  startTime: string;
  endTime?: string;
  error?: ArmError;
}

export interface OperationHooks {
  /** Make the NIC's secondaries these, everywhere (sim/ipconfig-commit.ts); rejects on failure. */
  apply: (vmName: string, secondaries: SimIpConfig[]) => Promise<void>;
  delayMs: () => number;
  /** The operationsFail knob. */
  fail: () => boolean;
  log: (line: string) => void;
}

/** Finished operations stay pollable this long. */
const KEEP_FINISHED_MS = 10 * 60_000;

export class NicOperations {
  private readonly byId = new Map<string, NicOperation>();
  private readonly running = new Map<string, NicOperation>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly hooks: OperationHooks) {}

  /** The operation running on a VM's NIC, if any. */
  runningOn(vmName: string): NicOperation | undefined {
    return this.running.get(vmName);
  }

  get(id: string): NicOperation | undefined {
    return this.byId.get(id);
  }

  /** Addresses running operations will put on their NICs, to the ipconfig ids they will have. */
  heldAddresses(): Map<string, string> {
    const held = new Map<string, string>();
    for (const op of this.running.values()) for (const s of op.secondaries) held.set(s.address, ipConfigId(op.vmName, s.name ?? ""));
    return held;
  }

  start(vmName: string, secondaries: SimIpConfig[]): NicOperation {
    if (this.running.has(vmName)) throw new Error(`an operation is already running on ${vmName}'s NIC`);
    const op: NicOperation = { id: randomUUID(), vmName, secondaries, status: "InProgress", startTime: new Date().toISOString() };
    this.byId.set(op.id, op);
    this.running.set(vmName, op);
    this.after(this.hooks.delayMs(), () => void this.finish(op));
    return op;
  }

  private async finish(op: NicOperation): Promise<void> {
    try {
      if (this.hooks.fail()) throw new Error("simulated operation failure (operationsFail knob)");
      await this.hooks.apply(op.vmName, op.secondaries);
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
    this.running.delete(op.vmName);
    this.hooks.log(`arm: operation ${op.id} on ${op.vmName}'s NIC ${op.status}`);
    this.after(KEEP_FINISHED_MS, () => this.byId.delete(op.id));
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** Stop timers (platform shutdown): running operations never finish, as when ARM's host goes away. */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
