/**
 * The plugin's one checkpoint: the IPAM's pools and addresses and the network
 * layer's networks and endpoints, saved together after every change.
 */
import { z } from "zod";
import { CheckpointStore } from "./state/store";
import type { StateFs } from "./state/fs";
import { IpamState, emptyIpamState, parseIpamState } from "./ipam";
import { NetworkState, NetworkStateSchema, emptyNetworkState } from "./network/records";

export const CHECKPOINT_SCHEMA = 1;

export interface Checkpoint {
  ipam: IpamState;
  network: NetworkState;
  /**
   * False from the moment the plugin found its state damaged until Docker has
   * confirmed what runs; kept on disk so a restart in between stays careful.
   */
  trusted?: boolean;
}

export function emptyCheckpoint(): Checkpoint {
  return { ipam: emptyIpamState(), network: emptyNetworkState() };
}

export function validateCheckpoint(doc: unknown): Checkpoint {
  const top = z.object({ ipam: z.unknown(), network: z.unknown(), trusted: z.boolean().optional() }).parse(doc);
  const checkpoint: Checkpoint = {
    ipam: parseIpamState(top.ipam),
    network: NetworkStateSchema.parse(top.network),
    ...(top.trusted === false ? { trusted: false } : {}),
  };
  return checkpoint;
}

/**
 * Checkpoints written before addresses named their holders: each endpoint
 * record's address is bound to that endpoint, so a late release cannot free
 * it. The daemon does this once it has loaded the checkpoint.
 */
export function bindRecordedEndpoints(checkpoint: Checkpoint): void {
  for (const ep of Object.values(checkpoint.network.endpoints)) {
    const record = Object.hasOwn(checkpoint.ipam.addresses, ep.address) ? checkpoint.ipam.addresses[ep.address] : undefined;
    if (record?.kind === "endpoint" && record.endpointId === undefined) record.endpointId = ep.id;
  }
}

/** `fs` lets the operator commands read the checkpoint exactly as the plugin does, without writing. */
export function openCheckpointStore(
  dir: string,
  bootIdPath?: string,
  fs?: StateFs,
  onDurabilityWarning?: (message: string) => void,
  onDeferredFailure?: (err: unknown) => void,
): CheckpointStore<Checkpoint> {
  return new CheckpointStore<Checkpoint>({
    dir,
    schemaVersion: CHECKPOINT_SCHEMA,
    validate: validateCheckpoint,
    bootIdPath,
    fs,
    onDurabilityWarning,
    onDeferredFailure,
    // The plugin saves its one live checkpoint object.
    serializeAtWrite: true,
  });
}

/**
 * Saves the checkpoint. "now" (the default) resolves once the change is on
 * disk; "soon" returns at once and the change is written with the next "now"
 * save or within a moment: for changes whose loss reconciliation repairs.
 */
export type Persist = (when?: "now" | "soon") => Promise<void>;
