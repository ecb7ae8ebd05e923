/**
 * Topologies the e2e tests bring up besides the default: one VM in a /22 with
 * up to 255 secondaries (the simulator's limit), the default with one VM, and
 * the default with a second NIC on each VM in a second subnet.
 */
import { Topology, defaultTopology, parseTopology } from "../../../sim/topology";

/** vm1 alone in 10.0.0.0/22, primary 10.0.0.4, secondaries 10.0.1.1 upwards (then 10.0.2.x). */
export function wideTopology(secondaries: number): Topology {
  if (secondaries < 1 || secondaries > 255) throw new Error(`${secondaries} secondaries: the simulator allows 1 to 255`);
  const address = (i: number) => `10.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
  return parseTopology({
    vnet: { addressSpace: "10.0.0.0/16", subnet: "10.0.0.0/22", gateway: "10.0.0.1" },
    vms: [
      {
        name: "vm1",
        nic: {
          mac: "00:0d:3a:00:00:01",
          primary: { address: "10.0.0.4", publicIp: "203.0.113.4" },
          secondaries: Array.from({ length: secondaries }, (_, i) => ({ address: address(i) })),
        },
      },
    ],
    internet: { hostAddress: "198.51.100.10", names: { "example.com": "198.51.100.10" } },
    onPrem: { cidr: "192.168.100.0/24", hostAddress: "192.168.100.10" },
  });
}

export function secondariesOf(t: Topology, vm = "vm1"): string[] {
  return (t.vms.find((v) => v.name === vm)?.nic.secondaries ?? []).map((s) => s.address);
}

/** The default network with vm1 only: for tests that need one VM and want the shorter start. */
export function singleVmTopology(): Topology {
  const t = defaultTopology();
  return parseTopology({ ...t, vms: t.vms.filter((v) => v.name === "vm1"), nsg: [], loadBalancers: [] });
}

const range = (prefix: string, first: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ address: `${prefix}${first + i}` }));

/**
 * The default network with a second subnet, 10.0.1.0/24 (gateway 10.0.1.1), and a
 * second NIC in it on each VM: vm1 eth1 10.0.1.4 with 10.0.1.10-13, vm2 eth1 10.0.1.5 with 10.0.1.20-23.
 */
export function twoNicTopology(): Topology {
  const t = defaultTopology();
  t.vnet.extraSubnets = [{ subnet: "10.0.1.0/24", gateway: "10.0.1.1" }];
  t.vms[0].extraNics = [
    { mac: "00:0d:3a:00:01:01", subnet: "10.0.1.0/24", primary: { address: "10.0.1.4" }, secondaries: range("10.0.1.", 10, 4) },
  ];
  t.vms[1].extraNics = [
    { mac: "00:0d:3a:00:01:02", subnet: "10.0.1.0/24", primary: { address: "10.0.1.5" }, secondaries: range("10.0.1.", 20, 4) },
  ];
  return parseTopology(t);
}
