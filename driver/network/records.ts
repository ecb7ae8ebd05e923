/**
 * What the network layer remembers: Docker never replays CreateNetwork or
 * CreateEndpoint, so everything needed to rebuild the kernel side is here.
 */
import { z } from "zod";

export const NetworkRecordSchema = z.object({
  id: z.string(),
  bridge: z.string(),
  addressSpace: z.string(),
  subnet: z.string(),
  gateway: z.string(),
  primaryAddress: z.string(),
  nicMac: z.string(),
  mtu: z.number().int(),
  options: z.object({
    mode: z.literal("bridge"),
    snat: z.boolean(),
    nonMasqueradeCidrs: z.array(z.string()).optional(),
    allowImds: z.boolean(),
  }),
  createdAt: z.string(),
});

export const EndpointRecordSchema = z.object({
  id: z.string(),
  networkId: z.string(),
  /** Dotted address without prefix. */
  address: z.string(),
  hostVeth: z.string(),
  peerVeth: z.string(),
  mac: z.string().optional(),
  joined: z.boolean(),
  createdAt: z.string(),
});

export const NetworkStateSchema = z.object({
  networks: z.record(z.string(), NetworkRecordSchema),
  endpoints: z.record(z.string(), EndpointRecordSchema),
});

export type NetworkRecord = z.infer<typeof NetworkRecordSchema>;
export type EndpointRecord = z.infer<typeof EndpointRecordSchema>;
export type NetworkState = z.infer<typeof NetworkStateSchema>;

export function emptyNetworkState(): NetworkState {
  return { networks: {}, endpoints: {} };
}

/** Kernel names: short, unique per ID, and recognisable as ours. */
export const BRIDGE_PREFIX = "azvb";
export const HOST_VETH_PREFIX = "azvh";
export const PEER_VETH_PREFIX = "azvc";

export function bridgeName(networkId: string): string {
  return `${BRIDGE_PREFIX}${networkId.slice(0, 11)}`;
}

export function vethNames(endpointId: string): { host: string; peer: string } {
  return { host: `${HOST_VETH_PREFIX}${endpointId.slice(0, 11)}`, peer: `${PEER_VETH_PREFIX}${endpointId.slice(0, 11)}` };
}
