/**
 * The plugin's one checkpoint: the IPAM's pools and addresses and the network
 * layer's networks and endpoints, saved together after every change.
 */
import * as v from "valibot";
import { object, parseDocument } from "./lib/valid";
import { CheckpointStore } from "./state/store";
import type { StateFs } from "./state/fs";
import { IpamState, emptyIpamState, parseIpamState } from "./ipam";
import { NetworkState, NetworkStateSchema, emptyNetworkState } from "./network/records";
import { buildInfo } from "./version";

/**
 * The checkpoint's schema. A file of an older schema is migrated on load,
 * one step at a time (MIGRATIONS), and saved in this schema with the next
 * change; a file of a newer one stops the plugin with NewerCheckpointError.
 * 1: the first. 2: the envelope names its writer (version and commit), and
 *    every endpoint's address record names the endpoint that holds it.
 * 3: IPAM pools and addresses may be IPv6 (a pool's subnet a /64 such as
 *    "fd00:db8:deca::/64", addresses in their canonical spelling). Nothing in
 *    a schema 2 file changes; the step exists so that a plugin that knows
 *    only IPv4 refuses a file that may hold IPv6 pools instead of misreading it.
 */
export const CHECKPOINT_SCHEMA = 3;

type Doc = Record<string, unknown>;
const isObject = (v: unknown): v is Doc => v !== null && typeof v === "object" && !Array.isArray(v);

/** MIGRATIONS[n] turns a document of schema n into one of schema n + 1, before validation. */
const MIGRATIONS: Readonly<Record<number, (doc: Doc) => Doc>> = {
  // Addresses given out before records named their holders: each is bound to the endpoint that
  // records it, so a late release for another endpoint cannot free it.
  1: (doc) => {
    const endpoints = isObject(doc.network) && isObject(doc.network.endpoints) ? doc.network.endpoints : {};
    const addresses = isObject(doc.ipam) && isObject(doc.ipam.addresses) ? doc.ipam.addresses : {};
    for (const ep of Object.values(endpoints)) {
      if (!isObject(ep) || typeof ep.address !== "string" || typeof ep.id !== "string") continue;
      const record = Object.hasOwn(addresses, ep.address) ? addresses[ep.address] : undefined;
      if (isObject(record) && record.kind === "endpoint" && record.endpointId === undefined) record.endpointId = ep.id;
    }
    return doc;
  },
  // Schema 2 held IPv4 pools only, which schema 3 reads as they are.
  2: (doc) => doc,
};

/** Applies the migrations from `from` up to CHECKPOINT_SCHEMA, in order, to a copy of `doc`. */
export function migrateCheckpoint(doc: unknown, from: number): unknown {
  if (!isObject(doc)) throw new Error("the document is not a JSON object");
  let migrated = structuredClone(doc);
  for (let schema = from; schema < CHECKPOINT_SCHEMA; schema++) {
    const step = MIGRATIONS[schema];
    if (!step) throw new Error(`no migration from schema ${schema} to ${schema + 1}`);
    migrated = step(migrated);
  }
  return migrated;
}

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

const TOP_SCHEMA = object({ ipam: v.unknown(), network: v.unknown(), trusted: v.optional(v.boolean()) });

/** The valid value, or an Error naming the first problems and where they are. */
function parseOrThrow<S extends v.GenericSchema>(schema: S, value: unknown, root: string): v.InferOutput<S> {
  const result = parseDocument(schema, value, { root });
  if (!result.ok) throw new Error(`invalid ${root}: ${result.problems}`);
  return result.output;
}

export function validateCheckpoint(doc: unknown): Checkpoint {
  const top = parseOrThrow(TOP_SCHEMA, doc, "the document");
  const checkpoint: Checkpoint = {
    ipam: parseIpamState(top.ipam),
    network: parseOrThrow(NetworkStateSchema, top.network, "network state"),
    ...(top.trusted === false ? { trusted: false } : {}),
  };
  return checkpoint;
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
    migrate: migrateCheckpoint,
    writer: buildInfo(),
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
