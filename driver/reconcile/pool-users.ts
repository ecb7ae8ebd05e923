/**
 * Which of Docker's networks use each IPAM pool, for settling the pools'
 * counts against Docker: a pool's count is the number of RequestPool calls
 * not yet released, one per network, and a lost release (Docker makes a
 * swarm network's instance again after its dockerd restarts, asking for the
 * pool again without releasing it) leaves it too high, so the pool would
 * outlive its last network. Pure: the reconciler acts on the answer.
 */
import { canonicalIpCidr, ipFamily } from "../lib/address";
import type { NetworkState } from "../network/records";
import type { DockerNetworkInfo } from "./docker";

export interface PoolCount {
  poolId: string;
  addressSpace: string;
  subnet: string;
  subPool?: string;
  refCount: number;
}

export interface PoolUsers {
  /** Pool id -> ids of Docker's networks that hold it. */
  users: Map<string, Set<string>>;
  /** Pools a network may use that cannot be told from Docker's list: left as they are. */
  unknown: Set<string>;
}

/** What a network says of its pool; an absent field is not known. */
interface PoolFacts {
  addressSpace?: string;
  subnet: string;
  /** "" for none. */
  ipRange?: string;
}

/**
 * Docker's networks that hold each pool: the plugin's own networks (by its
 * records, whatever Docker's list shows of them) and networks whose IPAM
 * settings Docker lists with this IPAM driver. Config-only networks hold
 * none. A swarm network of this driver that the plugin has no record of has
 * no instance on this node (a manager lists every swarm network), so it
 * holds none either; one of another driver that takes this IPAM through
 * --config-from may or may not have an instance: its pools are unknown.
 */
export function poolUsers(networks: DockerNetworkInfo[], st: NetworkState, pools: PoolCount[], driverName: RegExp): PoolUsers {
  const users = new Map(pools.map((p) => [p.poolId, new Set<string>()]));
  const unknown = new Set<string>();
  const byName = new Map(networks.map((n) => [n.Name, n]));
  const ipamOurs = (n: DockerNetworkInfo | undefined) => n !== undefined && driverName.test(n.IPAM?.Driver ?? "");
  // Older engines list a --subnet as the user wrote it (host bits and all), and IPv6 in any spelling; pools are kept canonical.
  const canonical = (text: string) => canonicalIpCidr(text) ?? text;
  const shown = (n: DockerNetworkInfo | undefined): PoolFacts[] =>
    ipamOurs(n)
      ? (n?.IPAM?.Config ?? []).flatMap((c) =>
          c.Subnet ? [{ subnet: canonical(c.Subnet), ipRange: c.IPRange ? canonical(c.IPRange) : "" }] : [],
        )
      : [];
  const matching = (f: PoolFacts) =>
    pools.filter(
      (p) =>
        p.subnet === f.subnet &&
        (f.addressSpace === undefined || p.addressSpace === f.addressSpace) &&
        (f.ipRange === undefined || (p.subPool ?? "") === f.ipRange),
    );

  for (const net of networks) {
    if (net.ConfigOnly) continue;
    const record = Object.hasOwn(st.networks, net.Id) ? st.networks[net.Id] : undefined;
    let facts: PoolFacts[];
    if (record) {
      // A record does not keep the --ip-range: Docker's list tells pools of one subnet apart when it shows it.
      const listed = shown(net).find((f) => f.subnet === record.subnet);
      facts = [{ addressSpace: record.addressSpace, subnet: record.subnet, ...(listed && { ipRange: listed.ipRange }) }];
      // The record keeps the network's IPv4 subnet only: its pools of the other family are the ones Docker lists.
      facts.push(...shown(net).filter((f) => ipFamily(f.subnet) !== ipFamily(record.subnet)));
    } else if (net.Scope === "swarm") {
      if (driverName.test(net.Driver)) continue;
      for (const f of [...shown(net), ...shown(byName.get(net.ConfigFrom?.Network ?? ""))]) {
        for (const p of matching(f)) unknown.add(p.poolId);
      }
      continue;
    } else {
      facts = shown(net);
    }
    for (const f of facts) {
      const candidates = matching(f);
      if (candidates.length === 1) users.get(candidates[0].poolId)?.add(net.Id);
      else for (const p of candidates) unknown.add(p.poolId);
    }
  }
  return { users, unknown };
}
