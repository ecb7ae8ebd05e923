/**
 * What the network layer remembers: Docker never replays CreateNetwork or
 * CreateEndpoint, so everything needed to rebuild the kernel side is here.
 */
import { createHash } from "node:crypto";
import { PluginError } from "../errors";
import { NETWORK_ID_RULE, networkIdForm } from "../lib/docker-id";
import { cleanText } from "../lib/text";
import * as v from "valibot";
import { NETWORK_MODES } from "./options";
import { PublishedPortSchema } from "./ports";

export const NetworkRecordSchema = v.object({
  id: v.string(),
  /** The network's bridge name; reserved but never made in the kernel for a transparent network. */
  bridge: v.string(),
  addressSpace: v.string(),
  subnet: v.string(),
  gateway: v.string(),
  primaryAddress: v.string(),
  nicMac: v.string(),
  /**
   * Whether that NIC is the VM's primary one in the metadata; false brings the
   * NIC's policy routing (nic-routing.ts). Absent on records made before the
   * plugin told NICs apart: treated as primary, as they were.
   */
  nicPrimary: v.optional(v.boolean()),
  /**
   * On the primary NIC of a VM with more NICs: their subnets. The VM's
   * connected routes send those out of the other NICs, whose fabric ports
   * drop this network's addresses; the NIC's policy routing sends them out
   * of this NIC to the subnet gateway instead.
   */
  otherNicSubnets: v.optional(v.array(v.string())),
  mtu: v.pipe(v.number(), v.integer()),
  /** A dual-stack network (--ipv6): the IPv6 /64 of the same NIC, whose ipconfigs its containers get. */
  subnet6: v.optional(v.string()),
  /** That NIC's primary IPv6 address: the source for SNATed IPv6. */
  primaryAddress6: v.optional(v.string()),
  options: v.object({
    mode: v.picklist(NETWORK_MODES),
    snat: v.boolean(),
    nonMasqueradeCidrs: v.optional(v.array(v.string())),
    allowImds: v.boolean(),
    parent: v.optional(v.string()),
    applicationSecurityGroups: v.optional(v.array(v.string())),
    lbBackendPools: v.optional(v.array(v.string())),
  }),
  createdAt: v.string(),
});

export const EndpointRecordSchema = v.object({
  id: v.string(),
  networkId: v.string(),
  /** Dotted address without prefix. */
  address: v.string(),
  hostVeth: v.string(),
  peerVeth: v.string(),
  /** Its IPv6 address (canonical, without prefix), on a dual-stack network. */
  address6: v.optional(v.string()),
  mac: v.optional(v.string()),
  /** The ports `docker run -p` published for it (ProgramExternalConnectivity); absent when none. */
  published: v.optional(v.array(PublishedPortSchema)),
  joined: v.boolean(),
  createdAt: v.string(),
});

export const NetworkStateSchema = v.object({
  networks: v.record(v.string(), NetworkRecordSchema),
  endpoints: v.record(v.string(), EndpointRecordSchema),
});

export type NetworkRecord = v.InferOutput<typeof NetworkRecordSchema>;
export type EndpointRecord = v.InferOutput<typeof EndpointRecordSchema>;
export type NetworkState = v.InferOutput<typeof NetworkStateSchema>;

export function emptyNetworkState(): NetworkState {
  return { networks: {}, endpoints: {} };
}

/**
 * The containers' IPv6 gateway on a dual-stack network: a link-local address
 * the VM's side of the link owns (the bridge). A link-local gateway needs no
 * address of the subnet, and is the same on every network.
 */
export const GATEWAY6 = "fe80::1";

/** Kernel names: short, unique per ID, and recognisable as ours. */
export const BRIDGE_PREFIX = "azvb";
export const HOST_VETH_PREFIX = "azvh";
export const PEER_VETH_PREFIX = "azvc";
/** Follows BRIDGE_PREFIX in a swarm network's bridge name. */
const SWARM_MARK = "s";

/**
 * A local network's bridge is `azvb` and the first 11 characters of its id,
 * all hex; a swarm network's is `azvbs` and the first 10 of its id. The `s`
 * is no hex digit, so the two forms can never name the same bridge.
 */
export function bridgeName(networkId: string): string {
  const form = networkIdForm(networkId);
  if (form === "local") return `${BRIDGE_PREFIX}${networkId.slice(0, 11)}`;
  if (form === "swarm") return `${BRIDGE_PREFIX}${SWARM_MARK}${networkId.slice(0, 10)}`;
  throw new PluginError(`cannot name a bridge for network id ${JSON.stringify(cleanText(networkId, 70))}: it ${NETWORK_ID_RULE}`);
}

/**
 * The link group (`ip link set … group`) a transparent network's host veths
 * carry, so its firewall rules can tell its containers' traffic from other
 * networks' on the same subnet. Derived from the id, so it needs no saving;
 * bit 28 is set to stay clear of the small numbers operators give groups.
 */
export function portGroup(networkId: string): number {
  return 0x10000000 | (createHash("sha256").update(networkId).digest().readUInt32BE(0) & 0x0fffffff);
}

export function vethNames(endpointId: string): { host: string; peer: string } {
  return { host: `${HOST_VETH_PREFIX}${endpointId.slice(0, 11)}`, peer: `${PEER_VETH_PREFIX}${endpointId.slice(0, 11)}` };
}
