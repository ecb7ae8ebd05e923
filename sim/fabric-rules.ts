/**
 * The fabric's packet rules, rendered from the topology as iptables-restore
 * input for the fabric namespace (which the simulator owns whole).
 *
 * Counting chains (AZSIM-DROP-*) hold a single DROP rule each and are only
 * declared by the full ruleset, so a run-time update (an ipconfig added or
 * removed) re-declares the decision chains and keeps the drop counters.
 */
import { Topology, ipConfigsOf, lbBackends, nicIpConfigs, nicsOf, nsgDestinations } from "./topology";
import {
  ARM_IP,
  DEFAULT_OUTBOUND_IP,
  FABRIC_INET_PORT,
  FABRIC_ONPREM_PORT,
  FABRIC_REGISTRY_PORT,
  FABRIC_SINK,
  IMDS_IP,
  WIRESERVER_IP,
  fabricNicPort,
  nicTag,
} from "./names";

/**
 * Chains that count dropped packets; tests read their counters. The spoofing
 * chains are per NIC, named by nicTag: "vm1" for eth0, "vm1-e1" for eth1.
 */
export const dropChains = {
  spoofedMac: (vm: string) => `AZSIM-DROP-MAC-${vm}`,
  spoofedIp: (vm: string) => `AZSIM-DROP-IP-${vm}`,
  undeliverable: "AZSIM-DROP-UNDELIV",
  noPublicIp: "AZSIM-DROP-NOPUBIP",
  nsg: "AZSIM-DROP-NSG",
} as const;

const nicChain = (tag: string) => `AZSIM-VM-${tag}`;

/** Every NIC of the VNet: its VM, the NIC, and its tag in chain names. */
export function allNics(topo: Topology) {
  return topo.vms.flatMap((vm) => nicsOf(vm, topo).map((nic) => ({ vm, nic, tag: nicTag(vm.name, nic.index) })));
}

function countingChains(topo: Topology): { raw: string[]; filter: string[] } {
  const raw = allNics(topo).flatMap(({ tag }) => [dropChains.spoofedMac(tag), dropChains.spoofedIp(tag)]);
  const filter = [dropChains.undeliverable, dropChains.noPublicIp, dropChains.nsg];
  return { raw, filter };
}

export interface Tables {
  /** Rules in built-in chains: jumps only, fixed for the life of the fabric. */
  builtin: Record<string, string[]>;
  /** User chains holding the decisions, re-rendered whenever the topology changes. */
  chains: Record<string, Record<string, string[]>>;
}

function render(topo: Topology): Tables {
  const raw: Record<string, string[]> = {};
  const rawJumps: string[] = [];
  for (const { vm, nic, tag } of allNics(topo)) {
    const chain = nicChain(tag);
    rawJumps.push(`-A PREROUTING -i ${fabricNicPort(vm.name, nic.index)} -j ${chain}`);
    // Azure drops frames whose source MAC is not the NIC's, and packets whose
    // source IP is not one of that NIC's ipconfigs.
    raw[chain] = [
      `-m mac ! --mac-source ${nic.mac} -j ${dropChains.spoofedMac(tag)}`,
      ...nicIpConfigs(nic).map((ipc) => `-s ${ipc.address}/32 -j RETURN`),
      `-j ${dropChains.spoofedIp(tag)}`,
    ];
  }

  const fwd: string[] = [
    "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
    `-o ${FABRIC_SINK} -j ${dropChains.undeliverable}`,
    // From the internet only public IPs and load balancer frontends (DNAT) lead in.
    `-i ${FABRIC_INET_PORT} -m conntrack ! --ctstate DNAT -j ${dropChains.undeliverable}`,
    "-j AZSIM-NSG",
    `-o ${FABRIC_INET_PORT} -j AZSIM-EGRESS`,
  ];
  const nsg = topo.nsg.flatMap((rule) => {
    const proto = rule.protocol === "any" ? "" : ` -p ${rule.protocol}`;
    const port = rule.port !== undefined && (rule.protocol === "tcp" || rule.protocol === "udp") ? ` --dport ${rule.port}` : "";
    return nsgDestinations(topo, rule).map(
      (destination) => `-d ${destination}/32${proto}${port} -j ${rule.action === "deny" ? dropChains.nsg : "RETURN"}`,
    );
  });
  // Internet egress: the primary ipconfig of the primary NIC (default outbound
  // access) and ipconfigs with a public IP of their own; others are dropped.
  const egress: string[] = [];
  const dnat: string[] = [];
  const snat: string[] = [];
  for (const vm of topo.vms) {
    for (const ipc of ipConfigsOf(vm)) {
      const isPrimary = ipc === vm.nic.primary;
      if (isPrimary || ipc.publicIp) egress.push(`-s ${ipc.address}/32 -j ACCEPT`);
      if (ipc.publicIp) dnat.push(`-d ${ipc.publicIp}/32 -j DNAT --to-destination ${ipc.address}`);
      const outbound = ipc.publicIp ?? (isPrimary ? DEFAULT_OUTBOUND_IP : undefined);
      if (outbound) snat.push(`-s ${ipc.address}/32 -j SNAT --to-source ${outbound}`);
    }
  }
  egress.push(`-j ${dropChains.noPublicIp}`);
  for (const lb of topo.loadBalancers) {
    // Spread new flows over the backend pool: rule i takes 1/(n-i) of what is left.
    const backends = lbBackends(topo, lb);
    backends.forEach((backend, i) => {
      const share = backends.length - i;
      const pick = share > 1 ? ` -m statistic --mode nth --every ${share} --packet 0` : "";
      dnat.push(
        `-d ${lb.frontendIp}/32 -p ${lb.protocol} --dport ${lb.frontendPort}${pick} -j DNAT --to-destination ${backend}:${lb.backendPort}`,
      );
    });
  }

  const inputDrops = [FABRIC_INET_PORT, FABRIC_ONPREM_PORT, FABRIC_REGISTRY_PORT].flatMap((port) => [
    // The platform endpoints answer only the VNet.
    `-A INPUT -i ${port} -d ${IMDS_IP}/32 -j DROP`,
    `-A INPUT -i ${port} -d ${WIRESERVER_IP}/32 -j DROP`,
  ]);
  // ARM is a public endpoint: VMs reach it as they reach the internet (the primary, or an ipconfig with a public IP).
  const armEgress = allNics(topo).map(({ vm, nic }) => `-A INPUT -i ${fabricNicPort(vm.name, nic.index)} -d ${ARM_IP}/32 -j AZSIM-EGRESS`);
  return {
    builtin: {
      raw: rawJumps,
      filter: [...inputDrops, ...armEgress, "-A FORWARD -j AZSIM-FWD"],
      nat: [`-A PREROUTING -i ${FABRIC_INET_PORT} -j AZSIM-DNAT`, `-A POSTROUTING -o ${FABRIC_INET_PORT} -j AZSIM-SNAT`],
    },
    chains: {
      raw,
      filter: { "AZSIM-FWD": fwd, "AZSIM-NSG": nsg, "AZSIM-EGRESS": egress },
      nat: { "AZSIM-DNAT": dnat, "AZSIM-SNAT": snat },
    },
  };
}

const BUILTIN: Record<string, string[]> = {
  raw: ["PREROUTING", "OUTPUT"],
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
};

function table(name: string, lines: string[]): string {
  return [`*${name}`, ...lines, "COMMIT", ""].join("\n");
}

function chainLines(chains: Record<string, string[]>): string[] {
  const names = Object.keys(chains);
  return [...names.map((c) => `:${c} - [0:0]`), ...names.flatMap((c) => chains[c].map((r) => `-A ${c} ${r}`))];
}

/** The complete fabric ruleset, for the first apply (resets drop counters). */
export function fullRuleset(topo: Topology): string {
  return fullTables(render(topo), countingChains(topo));
}

/** Rendered tables and their counting chains (each a single DROP) as one restore batch. */
export function fullTables(t: Tables, counting: { raw: string[]; filter: string[] }): string {
  const drops: Record<string, Record<string, string[]>> = {
    raw: Object.fromEntries(counting.raw.map((c) => [c, ["-j DROP"]])),
    filter: Object.fromEntries(counting.filter.map((c) => [c, ["-j DROP"]])),
    nat: {},
  };
  return ["raw", "filter", "nat"]
    .map((name) =>
      table(name, [
        ...BUILTIN[name].map((c) => `:${c} ACCEPT [0:0]`),
        ...chainLines({ ...drops[name], ...t.chains[name] }),
        ...t.builtin[name],
      ]),
    )
    .join("");
}

/**
 * The decision chains only, for `iptables-restore --noflush` at run time:
 * declaring a user chain flushes it, so this replaces the decisions and
 * leaves the built-in jumps and the drop counters alone.
 */
export function updateRuleset(topo: Topology): string {
  return updateTables(render(topo));
}

/** The decision chains of rendered tables, for a `--noflush` restore. */
export function updateTables(t: Tables): string {
  return ["raw", "filter", "nat"].map((name) => table(name, chainLines(t.chains[name]))).join("");
}
