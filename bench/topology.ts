/**
 * Owns the benchmark's simulated network: a /22 subnet so vm1 can carry
 * Azure's maximum of 255 secondary ipconfigs on its NIC (the seed's limit of
 * 250 containers per VM plus a few spare), and vm2 as many, so the dataplane
 * is measured again with that many endpoints on both ends; vm3's NIC starts with its primary ipconfig
 * only, for the plugin to add the rest through Azure Resource Manager (arm-pool.ts). vm1 and vm2 also
 * have a second NIC in another subnet, for the nic2 phase (dataplane-nic2.ts), and their primary NICs are
 * dual-stack (a ULA /64 with a primary IPv6 and a few IPv6 secondaries each), for the ipv6 phase
 * (dataplane-ipv6.ts); vm3 stays IPv4 only. No NSG rules or load balancers: they would
 * only add fabric rules that neither side of any comparison here uses.
 */
import { formatIpv4, parseIpv4 } from "../driver/lib/address";
import { Topology, parseTopology } from "../sim/topology";

export const BENCH_SUBNET = "10.0.0.0/22";
/** The subnet of vm1's and vm2's second NICs (eth1), for the nic2 phase. */
export const BENCH_SUBNET2 = "10.0.4.0/24";
/** The primary ipconfigs of the second NICs. */
export const NIC2_PRIMARY = { vm1: "10.0.4.4", vm2: "10.0.4.5" } as const;
/** The dual-stack subnet's IPv6 range (one /64 of the VNet's ULA /48), for the ipv6 phase. */
export const BENCH_SUBNET6 = "fd00:db8:bec:1::/64";
/** The primary IPv6 ipconfigs of vm1's and vm2's primary NICs. */
export const IPV6_PRIMARY = { vm1: "fd00:db8:bec:1::4", vm2: "fd00:db8:bec:1::5" } as const;
/** IPv6 secondaries per VM: the ipv6 phase runs one container on each. */
const IPV6_SECONDARIES = 4;
/** Azure's limit of secondary IP configurations on one NIC. */
export const MAX_SECONDARIES = 255;

/** The dotted address `offset` places after `base` (carries across octets). */
export function addressAfter(base: string, offset: number): string {
  const n = parseIpv4(base);
  if (n === undefined) throw new Error(`not an IPv4 address: ${base}`);
  return formatIpv4(n + offset);
}

export function benchTopology(): Topology {
  const range = (first: string, count: number) => Array.from({ length: count }, (_, i) => ({ address: addressAfter(first, i) }));
  const range6 = (prefix: string, first: number, count: number) =>
    Array.from({ length: count }, (_, i) => ({ address: `${prefix}${(first + i).toString(16)}` }));
  return parseTopology({
    vnet: {
      addressSpace: "10.0.0.0/16",
      subnet: BENCH_SUBNET,
      gateway: "10.0.0.1",
      extraSubnets: [{ subnet: BENCH_SUBNET2, gateway: "10.0.4.1" }],
      addressSpace6: "fd00:db8:bec::/48",
      subnet6: BENCH_SUBNET6,
    },
    vms: [
      {
        name: "vm1",
        nic: {
          mac: "00:0d:3a:00:00:01",
          primary: { address: "10.0.0.4", publicIp: "203.0.113.4" },
          secondaries: range("10.0.0.10", MAX_SECONDARIES),
          ipv6: { primary: { address: IPV6_PRIMARY.vm1 }, secondaries: range6("fd00:db8:bec:1::", 0x10, IPV6_SECONDARIES) },
        },
        extraNics: [
          { mac: "00:0d:3a:00:01:01", subnet: BENCH_SUBNET2, primary: { address: NIC2_PRIMARY.vm1 }, secondaries: range("10.0.4.10", 4) },
        ],
      },
      {
        name: "vm2",
        nic: {
          mac: "00:0d:3a:00:00:02",
          primary: { address: "10.0.0.5", publicIp: "203.0.113.5" },
          secondaries: range("10.0.2.10", MAX_SECONDARIES),
          ipv6: { primary: { address: IPV6_PRIMARY.vm2 }, secondaries: range6("fd00:db8:bec:1::", 0x20, IPV6_SECONDARIES) },
        },
        extraNics: [
          { mac: "00:0d:3a:00:01:02", subnet: BENCH_SUBNET2, primary: { address: NIC2_PRIMARY.vm2 }, secondaries: range("10.0.4.20", 4) },
        ],
      },
      {
        // Its primary ipconfig only: the plugin makes the rest through Azure Resource Manager.
        name: "vm3",
        nic: { mac: "00:0d:3a:00:00:03", primary: { address: "10.0.0.6", publicIp: "203.0.113.6" }, secondaries: [] },
      },
    ],
    internet: { hostAddress: "198.51.100.10", names: { "example.com": "198.51.100.10" } },
    onPrem: { cidr: "192.168.100.0/24", hostAddress: "192.168.100.10" },
  });
}
