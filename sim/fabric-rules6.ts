/**
 * The fabric's IPv6 packet rules, as ip6tables-restore input for the fabric
 * namespace: only for a topology with a dual-stack subnet (hasIpv6). They
 * mirror the IPv4 rules (fabric-rules.ts), with Azure's IPv6 differences:
 * neighbour advertisements are checked for their target address, link-local
 * sources may only talk NDP/MLD to the fabric, and there is no default
 * outbound access (only an ipconfig with a public IPv6 reaches the internet).
 */
import { Address6 } from "ip-address";
import { Topology, ipv6ConfigsOf } from "./topology";
import { FABRIC_INET_PORT, FABRIC_NS, FABRIC_SINK, fabricPort } from "./names";
import { inNetns } from "./exec";
import { Tables, fullTables, updateTables } from "./fabric-rules";

/** Chains that count dropped IPv6 packets; tests read their counters. */
export const dropChains6 = {
  spoofedMac: (vm: string) => `AZSIM6-DROP-MAC-${vm}`,
  spoofedIp: (vm: string) => `AZSIM6-DROP-IP-${vm}`,
  /** Neighbour advertisements for an address that is not one of the NIC's ipconfigs. */
  spoofedNa: (vm: string) => `AZSIM6-DROP-NA-${vm}`,
  undeliverable: "AZSIM6-DROP-UNDELIV",
  noPublicIp: "AZSIM6-DROP-NOPUBIP",
} as const;

const vmChain = (vm: string) => `AZSIM6-VM-${vm}`;
const naChain = (vm: string) => `AZSIM6-NA-${vm}`;
const LINK_CHAIN = "AZSIM6-LINK";

/** ICMPv6 a NIC may send from a link-local (or, for DAD, the unspecified) source: RS, NS, NA and MLD. */
const LINK_TYPES: Record<string, number[]> = {
  "fe80::/10": [133, 135, 136],
  "ff02::/16": [130, 131, 132, 133, 135, 136, 143],
};

/**
 * u32 test that the 16 bytes of a neighbour advertisement's target (right
 * after the 40-byte IPv6 header and the 8-byte ICMPv6 header) are `address`.
 */
function targetIs(address: string): string {
  const hex = new Address6(address).canonicalForm().replace(/:/g, "");
  const words = [0, 1, 2, 3].map((i) => `${48 + 4 * i}=0x${hex.slice(8 * i, 8 * i + 8)}`);
  return `-m u32 --u32 "${words.join("&&")}"`;
}

function countingChains6(topo: Topology): { raw: string[]; filter: string[] } {
  const raw = topo.vms.flatMap((vm) => [dropChains6.spoofedMac(vm.name), dropChains6.spoofedIp(vm.name), dropChains6.spoofedNa(vm.name)]);
  return { raw, filter: [dropChains6.undeliverable, dropChains6.noPublicIp] };
}

function render6(topo: Topology): Tables {
  const raw: Record<string, string[]> = {
    [LINK_CHAIN]: Object.entries(LINK_TYPES).flatMap(([dst, types]) =>
      types.map((t) => `-d ${dst} -p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j ACCEPT`),
    ),
  };
  const rawJumps: string[] = [];
  for (const vm of topo.vms) {
    const chain = vmChain(vm.name);
    const own = ipv6ConfigsOf(vm);
    rawJumps.push(`-A PREROUTING -i ${fabricPort(vm.name)} -j ${chain}`);
    // As for IPv4: the NIC's MAC, one of its ipconfigs as source; and an NA
    // must claim one of them (or a link-local address of its own link).
    raw[chain] = [
      `-m mac ! --mac-source ${vm.nic.mac} -j ${dropChains6.spoofedMac(vm.name)}`,
      `-p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ${naChain(vm.name)}`,
      ...own.map((ipc) => `-s ${ipc.address}/128 -j RETURN`),
      `-s fe80::/10 -j ${LINK_CHAIN}`,
      `-s ::/128 -j ${LINK_CHAIN}`,
      `-j ${dropChains6.spoofedIp(vm.name)}`,
    ];
    raw[naChain(vm.name)] = [
      // An NA behind extension headers cannot be checked: dropped.
      `-m u32 ! --u32 "4&0xFF00=0x3A00" -j ${dropChains6.spoofedNa(vm.name)}`,
      `-m u32 --u32 "48&0xFFC00000=0xFE800000" -j RETURN`,
      ...own.map((ipc) => `${targetIs(ipc.address)} -j RETURN`),
      `-j ${dropChains6.spoofedNa(vm.name)}`,
    ];
  }

  const fwd = [
    "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
    `-o ${FABRIC_SINK} -j ${dropChains6.undeliverable}`,
    `-i ${FABRIC_INET_PORT} -m conntrack ! --ctstate DNAT -j ${dropChains6.undeliverable}`,
    `-o ${FABRIC_INET_PORT} -j AZSIM6-EGRESS`,
  ];
  // No default outbound access over IPv6: only ipconfigs with a public IPv6, NATed to it both ways.
  const egress: string[] = [];
  const dnat: string[] = [];
  const snat: string[] = [];
  for (const vm of topo.vms) {
    for (const ipc of ipv6ConfigsOf(vm)) {
      if (!ipc.publicIp6) continue;
      egress.push(`-s ${ipc.address}/128 -j ACCEPT`);
      dnat.push(`-d ${ipc.publicIp6}/128 -j DNAT --to-destination ${ipc.address}`);
      snat.push(`-s ${ipc.address}/128 -j SNAT --to-source ${ipc.publicIp6}`);
    }
  }
  egress.push(`-j ${dropChains6.noPublicIp}`);
  return {
    builtin: {
      raw: rawJumps,
      filter: ["-A FORWARD -j AZSIM6-FWD"],
      nat: [`-A PREROUTING -i ${FABRIC_INET_PORT} -j AZSIM6-DNAT`, `-A POSTROUTING -o ${FABRIC_INET_PORT} -j AZSIM6-SNAT`],
    },
    chains: {
      raw,
      filter: { "AZSIM6-FWD": fwd, "AZSIM6-EGRESS": egress },
      nat: { "AZSIM6-DNAT": dnat, "AZSIM6-SNAT": snat },
    },
  };
}

/** The complete IPv6 ruleset, for the first apply (resets the IPv6 drop counters). */
export function fullRuleset6(topo: Topology): string {
  return fullTables(render6(topo), countingChains6(topo));
}

/** The IPv6 decision chains only, for `ip6tables-restore --noflush` at run time. */
export function updateRuleset6(topo: Topology): string {
  return updateTables(render6(topo));
}

/** Program the IPv6 rules in the fabric, beside the IPv4 ones (same backend: the machine's ip6tables-restore). */
export async function applyFabricRules6(topo: Topology, full: boolean): Promise<void> {
  const args = full ? [] : ["--noflush"];
  await inNetns(FABRIC_NS, "ip6tables-restore", ["-w", "5", ...args], { input: full ? fullRuleset6(topo) : updateRuleset6(topo) });
}
