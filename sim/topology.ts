/**
 * The simulated Azure network: a typed, validated description with a built-in
 * default. Everything the fabric, the platform endpoints and the VMs do is
 * derived from one Topology object.
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { issuePath } from "../driver/lib/valid";
import { Address4, Address6 } from "ip-address";
import { EngineSchema } from "./engines";
import { lbBackendPoolId } from "./platform/arm-ids";

const ipv4 = v.pipe(
  v.string(),
  v.check((s) => Address4.isValid(s) && !s.includes("/"), "must be a dotted IPv4 address"),
);
const cidr = v.pipe(
  v.string(),
  v.check((s) => s.includes("/") && Address4.isValid(s), "must be an IPv4 CIDR such as 10.0.0.0/24"),
);
const mac = v.pipe(v.string(), v.regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, "must be a lower-case MAC such as 00:0d:3a:00:00:01"));
const name = v.pipe(v.string(), v.regex(/^[a-z][a-z0-9]{0,9}$/, "must be 1-10 lower-case letters and digits, starting with a letter"));
const port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));
const resourceName = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,78}$/, "must be an Azure resource name"));

/** Azure's rule for ipconfig names: 1-80 letters, digits, '_', '.', '-'; starts with a letter, digit or '_', ends with a letter, digit or '_'. */
const ipConfigNameSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/, "must be an Azure ipconfig name (1-80 letters, digits, _ . -)"),
);
const resourceIds = v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.maxLength(64));

/** An IPv6 address, kept in canonical text (lower case, compressed). */
const ipv6 = v.pipe(
  v.string(),
  v.check((s) => !s.includes("/") && !s.includes(".") && Address6.isValid(s), "must be an IPv6 address such as fd00:db8:deca:1::4"),
  v.transform((s) => new Address6(s).correctForm()),
);
/** An IPv6 network (no host bits), kept as canonical address/prefix. */
const cidr6 = v.pipe(
  v.string(),
  v.check((s) => s.includes("/") && !s.includes(".") && Address6.isValid(s), "must be an IPv6 CIDR such as fd00:db8:deca::/48"),
  v.check(
    (s) => new Address6(s).startAddress().bigInt() === new Address6(s.split("/")[0]).bigInt(),
    "must be a network address (no host bits set)",
  ),
  v.transform((s) => `${new Address6(s).startAddress().correctForm()}/${new Address6(s).subnetMask}`),
);

export const Ip6ConfigSchema = v.object({
  address: ipv6,
  /** A public IPv6 address of its own: the only way an IPv6 ipconfig reaches the internet (SNAT to it). */
  publicIp6: v.optional(ipv6),
  /** The ipconfig's name in Azure Resource Manager; ipConfigName6() when absent. */
  name: v.optional(ipConfigNameSchema),
});

export const IpConfigSchema = v.object({
  address: ipv4,
  publicIp: v.optional(ipv4),
  /** The ipconfig's name in Azure Resource Manager; ipConfigName() when absent. */
  name: v.optional(ipConfigNameSchema),
  /** How ARM reports the address was chosen; secondaries default to Static, the primary to Dynamic. */
  allocation: v.optional(v.picklist(["Static", "Dynamic"])),
  /** Resource ids ARM keeps on the ipconfig; a backend pool of a load balancer with a `name` takes the address in (see lbBackends). */
  applicationSecurityGroups: v.optional(resourceIds),
  loadBalancerBackendAddressPools: v.optional(resourceIds),
});

const nicFields = {
  mac,
  primary: IpConfigSchema,
  secondaries: v.pipe(v.array(IpConfigSchema), v.maxLength(255)),
};

/** The VM's primary NIC (eth0), in vnet.subnet. */
export const NicSchema = v.object({
  ...nicFields,
  /** IPv6 ipconfigs beside the IPv4 ones (a dual-stack subnet, vnet.subnet6). */
  ipv6: v.optional(
    v.object({ primary: Ip6ConfigSchema, secondaries: v.optional(v.pipe(v.array(Ip6ConfigSchema), v.maxLength(255)), () => []) }),
  ),
});

/** A further NIC (eth1, eth2) in vnet.subnet or one of vnet.extraSubnets; IPv4 only (IPv6 is the primary NIC's). */
export const ExtraNicSchema = v.object({
  ...nicFields,
  subnet: cidr,
  ipv6: v.optional(v.undefined("IPv6 ipconfigs are only on the primary NIC (vms[].nic.ipv6)")),
});

/** Most NICs a VM has besides its primary one. */
export const MAX_EXTRA_NICS = 2;

export const VmSchema = v.object({
  name,
  nic: NicSchema,
  /** NICs after the primary one, as eth1, eth2 in the VM. */
  extraNics: v.optional(v.pipe(v.array(ExtraNicSchema), v.maxLength(MAX_EXTRA_NICS)), () => []),
  /** The VM's Docker engine; AZSIM_ENGINE (or debian12) when not given. */
  engine: v.optional(EngineSchema),
});

export const NsgRuleSchema = v.pipe(
  v.object({
    action: v.picklist(["allow", "deny"]),
    /** Destination ipconfig address the rule applies to. */
    destination: v.optional(ipv4),
    /** Or every ipconfig in this Application Security Group (its ARM id), as ARM has them at the moment. */
    destinationAsg: v.optional(v.pipe(v.string(), v.minLength(1))),
    protocol: v.picklist(["tcp", "udp", "icmp", "any"]),
    port: v.optional(port),
  }),
  v.check((r) => (r.destination === undefined) !== (r.destinationAsg === undefined), "needs one of destination and destinationAsg"),
);

export const LoadBalancerSchema = v.pipe(
  v.object({
    /** Its name in Azure Resource Manager: with one, ipconfigs join its pool through ARM (lbPoolIdOf). */
    name: v.optional(resourceName),
    /** The backend pool's name in ARM. */
    pool: v.optional(resourceName, "backend"),
    frontendIp: ipv4,
    frontendPort: port,
    backendPort: port,
    protocol: v.optional(v.picklist(["tcp", "udp"]), "tcp"),
    /** Addresses always in the pool, whatever ARM says. */
    backendPool: v.optional(v.array(ipv4), () => []),
  }),
  v.check(
    (lb) => lb.backendPool.length > 0 || lb.name !== undefined,
    "needs a backendPool, or a name so ipconfigs can join it through ARM",
  ),
);

export const TopologySchema = v.object({
  vnet: v.object({
    addressSpace: cidr,
    subnet: cidr,
    gateway: ipv4,
    /** The VNet's IPv6 address space (ULA such as fd00:db8:deca::/48, or a global range). */
    addressSpace6: v.optional(cidr6),
    /** The subnet's IPv6 range: exactly a /64 inside addressSpace6. Its gateway is fe80::1234:5678:9abc. */
    subnet6: v.optional(cidr6),
    /** More subnets of the VNet, for NICs after a VM's primary one; gateway: Azure's is the subnet's first usable address. */
    extraSubnets: v.optional(v.pipe(v.array(v.object({ subnet: cidr, gateway: ipv4 })), v.maxLength(8)), () => []),
  }),
  vms: v.pipe(v.array(VmSchema), v.minLength(1), v.maxLength(8)),
  internet: v.object({
    hostAddress: ipv4,
    /** The internet host's IPv6 address (outside the VNet), when the VNet has IPv6. */
    hostAddress6: v.optional(ipv6),
    /** Names the platform DNS answers for internet hosts. */
    names: v.optional(v.record(v.string(), ipv4), () => ({})),
  }),
  onPrem: v.object({
    cidr,
    hostAddress: ipv4,
    /** An on-premises IPv6 range routed by the fabric without NAT, and the host's address in it. */
    cidr6: v.optional(cidr6),
    hostAddress6: v.optional(ipv6),
  }),
  /** The container registry host (Debian 13's docker-registry), reached from the VNet through the fabric. */
  registry: v.optional(
    v.object({
      hostAddress: v.optional(ipv4, "192.0.2.10"),
      name: v.optional(
        v.pipe(
          v.string(),
          v.regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/, "must be a lower-case DNS name with a dot"),
        ),
        "registry.azsim.internal",
      ),
      port: v.optional(port, 5000),
    }),
    () => ({}),
  ),
  nsg: v.optional(v.array(NsgRuleSchema), () => []),
  loadBalancers: v.optional(v.array(LoadBalancerSchema), () => []),
});

export type Topology = v.InferOutput<typeof TopologySchema>;
export type Vm = v.InferOutput<typeof VmSchema>;
export type SimIpConfig = v.InferOutput<typeof IpConfigSchema>;
/** What every NIC has: a MAC and its ipconfigs. */
export type SimNic = v.InferOutput<typeof NicSchema>;
export type LoadBalancer = v.InferOutput<typeof LoadBalancerSchema>;
export type NsgRule = v.InferOutput<typeof NsgRuleSchema>;
export type SimIp6Config = v.InferOutput<typeof Ip6ConfigSchema>;

/** The ARM id of a load balancer's backend pool, when it has a name. */
export function lbPoolIdOf(lb: LoadBalancer): string | undefined {
  return lb.name === undefined ? undefined : lbBackendPoolId(lb.name, lb.pool);
}

/** The addresses an NSG rule applies to: its destination, or every ipconfig of the VNet in its destinationAsg (ids in any case). */
export function nsgDestinations(topo: Topology, rule: NsgRule): string[] {
  if (rule.destination !== undefined) return [rule.destination];
  const asg = rule.destinationAsg?.toLowerCase();
  return topo.vms.flatMap((vm) =>
    ipConfigsOf(vm)
      .filter((c) => c.applicationSecurityGroups?.some((g) => g.toLowerCase() === asg))
      .map((c) => c.address),
  );
}

/**
 * The load balancer's backends: its static backendPool, then every ipconfig
 * of the VNet whose loadBalancerBackendAddressPools names its pool (ARM ids
 * compared in any case), in VM and ipconfig order, each once.
 */
export function lbBackends(topo: Topology, lb: LoadBalancer): string[] {
  const id = lbPoolIdOf(lb)?.toLowerCase();
  const joined = id
    ? topo.vms.flatMap((vm) =>
        ipConfigsOf(vm)
          .filter((c) => c.loadBalancerBackendAddressPools?.some((p) => p.toLowerCase() === id))
          .map((c) => c.address),
      )
    : [];
  return [...new Set([...lb.backendPool, ...joined])];
}

/** Two VMs in 10.0.0.0/24, eight secondary ipconfigs each, one with its own public IP. */
export function defaultTopology(): Topology {
  const secondaries = (first: number, count: number) => Array.from({ length: count }, (_, i) => ({ address: `10.0.0.${first + i}` }));
  return v.parse(TopologySchema, {
    vnet: { addressSpace: "10.0.0.0/16", subnet: "10.0.0.0/24", gateway: "10.0.0.1" },
    vms: [
      {
        name: "vm1",
        nic: {
          mac: "00:0d:3a:00:00:01",
          primary: { address: "10.0.0.4", publicIp: "203.0.113.4" },
          secondaries: [...secondaries(10, 7), { address: "10.0.0.17", publicIp: "203.0.113.17" }],
        },
      },
      {
        name: "vm2",
        nic: {
          mac: "00:0d:3a:00:00:02",
          primary: { address: "10.0.0.5", publicIp: "203.0.113.5" },
          secondaries: secondaries(20, 8),
        },
      },
    ],
    internet: { hostAddress: "198.51.100.10", names: { "example.com": "198.51.100.10" } },
    onPrem: { cidr: "192.168.100.0/24", hostAddress: "192.168.100.10" },
    nsg: [{ action: "deny", destination: "10.0.0.27", protocol: "tcp", port: 23 }],
    loadBalancers: [
      {
        name: "lb1",
        frontendIp: "203.0.113.100",
        frontendPort: 80,
        backendPort: 8080,
        protocol: "tcp",
        backendPool: ["10.0.0.12", "10.0.0.22"],
      },
    ],
  });
}

/** Parse and cross-check a topology; errors name the field and the problem. */
export function parseTopology(raw: unknown): Topology {
  const result = v.safeParse(TopologySchema, raw);
  if (!result.success) {
    const problems = result.issues.map((i) => `${issuePath(i).join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid topology: ${problems.join("; ")}`);
  }
  const topo = result.output;
  const invalid = (message: string) => new Error(`invalid topology: ${message}`);
  const space = new Address4(topo.vnet.addressSpace);
  const subnets = [{ subnet: topo.vnet.subnet, gateway: topo.vnet.gateway, field: "vnet.subnet" }];
  topo.vnet.extraSubnets.forEach((s, i) => subnets.push({ ...s, field: `vnet.extraSubnets.${i}.subnet` }));
  for (const [i, s] of subnets.entries()) {
    const net = new Address4(s.subnet);
    if (!net.isInSubnet(space)) throw invalid(`${s.field} ${s.subnet} is not inside vnet.addressSpace ${topo.vnet.addressSpace}`);
    if (i > 0 && net.startAddress().correctForm() !== net.addressMinusSuffix)
      throw invalid(`${s.field} ${s.subnet} is not a network address (host bits set)`);
    const gatewayField = i === 0 ? "vnet.gateway" : `vnet.extraSubnets.${i - 1}.gateway`;
    if (!new Address4(s.gateway).isInSubnet(net)) throw invalid(`${gatewayField} ${s.gateway} is not inside ${s.subnet}`);
    for (const other of subnets.slice(0, i))
      if (overlaps(net, new Address4(other.subnet))) throw invalid(`${s.field} ${s.subnet} overlaps ${other.field} ${other.subnet}`);
  }
  const seen = new Map<string, string>();
  const names = new Set<string>();
  const macs = new Set<string>();
  for (const vm of topo.vms) {
    if (names.has(vm.name)) throw invalid(`VM name ${vm.name} is used twice`);
    names.add(vm.name);
    for (const [i, extra] of vm.extraNics.entries())
      if (!subnets.some((s) => sameCidr(s.subnet, extra.subnet)))
        throw invalid(`${vm.name} extraNics.${i}.subnet ${extra.subnet} is neither vnet.subnet nor one of vnet.extraSubnets`);
    for (const nic of nicsOf(vm, topo)) {
      const where = nic.index === 0 ? vm.name : `${vm.name} ${nic.link}`;
      if (macs.has(nic.mac)) throw invalid(`MAC ${nic.mac} is used twice`);
      macs.add(nic.mac);
      const net = new Address4(nic.subnet);
      // One name space per NIC, its IPv6 ipconfigs (the primary NIC's) included.
      const ipcNames = new Set<string>(nic.index === 0 ? ipv6ConfigsOf(vm).map((c) => ipConfigName6(vm.nic, c).toLowerCase()) : []);
      for (const ipc of nicIpConfigs(nic)) {
        const ipcName = ipConfigName(nic, ipc);
        if (ipcNames.has(ipcName.toLowerCase())) throw invalid(`${where} has two ipconfigs named ${ipcName}`);
        ipcNames.add(ipcName.toLowerCase());
        if (!new Address4(ipc.address).isInSubnet(net)) throw invalid(`${where} ipconfig ${ipc.address} is not inside ${nic.subnet}`);
        if (ipc.address === nic.gateway) throw invalid(`${where} ipconfig ${ipc.address} is the subnet gateway`);
        const owner = seen.get(ipc.address);
        if (owner) throw invalid(`ipconfig ${ipc.address} is on both ${owner} and ${where}`);
        seen.set(ipc.address, where);
      }
    }
  }
  checkIpv6(topo);
  return topo;
}

export function loadTopology(file?: string): Topology {
  if (!file) return defaultTopology();
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`cannot read topology file ${file}: ${(err as Error).message}`);
  }
  return parseTopology(raw);
}

/** Whether two IPv4 CIDRs share an address. */
function overlaps(a: Address4, b: Address4): boolean {
  return a.isInSubnet(b) || b.isInSubnet(a);
}

function sameCidr(a: string, b: string): boolean {
  const x = new Address4(a);
  const y = new Address4(b);
  return x.subnetMask === y.subnetMask && x.startAddress().correctForm() === y.startAddress().correctForm();
}

/** One NIC of a VM as the VM and the fabric see it. */
export interface NicView extends SimNic {
  /** 0 for the primary NIC (`nic`), i for extraNics[i - 1]. */
  index: number;
  /** The VM's link: eth0, eth1, eth2. */
  link: string;
  /** The NIC's subnet (CIDR) and that subnet's gateway. */
  subnet: string;
  gateway: string;
  /** Its subnet's ARM name: "default" for vnet.subnet, "subnet<i+1>" for vnet.extraSubnets[i]. */
  subnetName: string;
  /** The NIC's key in drop counters (nicKey): the VM's name for eth0, "vm1/eth1" for the others. */
  key: string;
  /** The NIC object of the topology itself (vm.nic or vm.extraNics[i]), for changing it in place. */
  source: SimNic;
}

/** The subnet (and gateway and ARM name) a CIDR names in the VNet. */
function subnetOf(topo: Pick<Topology, "vnet">, cidr: string): { subnet: string; gateway: string; subnetName: string } {
  if (sameCidr(cidr, topo.vnet.subnet)) return { subnet: topo.vnet.subnet, gateway: topo.vnet.gateway, subnetName: "default" };
  const i = topo.vnet.extraSubnets.findIndex((s) => sameCidr(s.subnet, cidr));
  if (i < 0) throw new Error(`${cidr} is no subnet of the VNet`);
  return { ...topo.vnet.extraSubnets[i], subnetName: `subnet${i + 1}` };
}

/** Every NIC of a VM in order: the primary NIC (eth0) first, then extraNics as eth1, eth2. */
export function nicsOf(vm: Vm, topo: Pick<Topology, "vnet">): NicView[] {
  const all: Array<{ nic: SimNic; subnet: string }> = [
    { nic: vm.nic, subnet: topo.vnet.subnet },
    ...vm.extraNics.map((nic) => ({ nic, subnet: nic.subnet })),
  ];
  return all.map(({ nic, subnet }, index) => {
    const where = subnetOf(topo, subnet);
    return {
      mac: nic.mac,
      primary: nic.primary,
      secondaries: nic.secondaries,
      ipv6: nic.ipv6,
      index,
      link: `eth${index}`,
      ...where,
      key: nicKey(vm.name, index),
      source: nic,
    };
  });
}

/** A NIC's key in drop counters: "vm1" for eth0 (as for a VM with one NIC), "vm1/eth1" for the next. */
export function nicKey(vmName: string, index: number): string {
  return index === 0 ? vmName : `${vmName}/eth${index}`;
}

/** The ipconfigs of one NIC, its primary first. */
export function nicIpConfigs(nic: Pick<SimNic, "primary" | "secondaries">): SimIpConfig[] {
  return [nic.primary, ...nic.secondaries];
}

/** All ipconfigs of a VM, on every NIC: the primary NIC's first, each NIC's primary first. */
export function ipConfigsOf(vm: Vm): SimIpConfig[] {
  return [vm.nic, ...vm.extraNics].flatMap(nicIpConfigs);
}

/** An ipconfig's ARM name: its own, else ipconfig1 for its NIC's primary and one derived from the address for a secondary. */
export function ipConfigName(nic: Pick<SimNic, "primary">, ipc: SimIpConfig): string {
  if (ipc.name) return ipc.name;
  return ipc.address === nic.primary.address ? "ipconfig1" : `ipconfig-${ipc.address.replace(/\./g, "-")}`;
}

/** A NIC's IPv6 ipconfigs, primary first; none when it is IPv4 only (every NIC but a primary one with `ipv6`). */
export function nicIp6Configs(nic: Pick<SimNic, "ipv6">): SimIp6Config[] {
  return nic.ipv6 ? [nic.ipv6.primary, ...nic.ipv6.secondaries] : [];
}

/** The VM's IPv6 ipconfigs (its primary NIC's), primary first; none when its NIC is IPv4 only. */
export function ipv6ConfigsOf(vm: Vm): SimIp6Config[] {
  return nicIp6Configs(vm.nic);
}

/** Whether the topology has a dual-stack subnet: only then is IPv6 on anywhere in the simulator. */
export function hasIpv6(topo: Topology): boolean {
  return topo.vnet.subnet6 !== undefined;
}

/** An IPv6 ipconfig's ARM name: its own, else ipconfig-v6 for its NIC's IPv6 primary and one derived from the address for a secondary. */
export function ipConfigName6(nic: Pick<SimNic, "ipv6">, ipc: SimIp6Config): string {
  if (ipc.name) return ipc.name;
  return ipc.address === nic.ipv6?.primary.address ? "ipconfig-v6" : `ipconfig-v6-${ipc.address.replace(/:/g, "-")}`;
}

/** Azure keeps the first four addresses of an IPv6 subnet (::0 to ::3), as it does in IPv4. */
export function reservedInSubnet6(subnet6: string, address: string): boolean {
  return new Address6(address).bigInt() - new Address6(subnet6).startAddress().bigInt() < 4n;
}

/** The IPv6 rules: a /64 subnet inside the address space, ipconfigs inside it and not reserved, each address once. */
function checkIpv6(topo: Topology): void {
  const fail = (message: string): never => {
    throw new Error(`invalid topology: ${message}`);
  };
  const { addressSpace6, subnet6 } = topo.vnet;
  const inside = (address: string, range: string) => new Address6(address).isInSubnet(new Address6(range));
  if (subnet6 === undefined) {
    const v6 = topo.vms.find((vm) => vm.nic.ipv6) ? "vms[].nic.ipv6" : undefined;
    const other = [
      v6,
      topo.internet.hostAddress6 !== undefined ? "internet.hostAddress6" : undefined,
      topo.onPrem.cidr6 !== undefined || topo.onPrem.hostAddress6 !== undefined ? "onPrem.cidr6" : undefined,
    ].find((f) => f !== undefined);
    if (other) fail(`${other} needs a dual-stack subnet (vnet.subnet6)`);
    return;
  }
  if (addressSpace6 === undefined) fail("vnet.subnet6 needs vnet.addressSpace6");
  const space = addressSpace6 as string;
  if (new Address6(subnet6).subnetMask !== 64) fail(`vnet.subnet6 ${subnet6} must be a /64 (Azure's only IPv6 subnet size)`);
  if (!new Address6(subnet6).isInSubnet(new Address6(space))) fail(`vnet.subnet6 ${subnet6} is not inside vnet.addressSpace6 ${space}`);
  const seen = new Map<string, string>();
  for (const vm of topo.vms) {
    const names = ipv6ConfigsOf(vm).map((c) => ipConfigName6(vm.nic, c).toLowerCase());
    if (new Set(names).size !== names.length) fail(`${vm.name} has two IPv6 ipconfigs of one name`);
    for (const ipc of ipv6ConfigsOf(vm)) {
      if (!inside(ipc.address, subnet6)) fail(`${vm.name} ipconfig ${ipc.address} is not inside ${subnet6}`);
      if (reservedInSubnet6(subnet6, ipc.address))
        fail(`${vm.name} ipconfig ${ipc.address} is one of the four addresses Azure reserves in ${subnet6}`);
      const owner = seen.get(ipc.address);
      if (owner) fail(`ipconfig ${ipc.address} is on both ${owner} and ${vm.name}`);
      seen.set(ipc.address, vm.name);
      if (ipc.publicIp6 !== undefined && inside(ipc.publicIp6, space)) fail(`${vm.name} publicIp6 ${ipc.publicIp6} is inside the VNet`);
    }
  }
  if (topo.internet.hostAddress6 !== undefined && inside(topo.internet.hostAddress6, space))
    fail(`internet.hostAddress6 ${topo.internet.hostAddress6} is inside the VNet`);
  const { cidr6, hostAddress6 } = topo.onPrem;
  if ((cidr6 === undefined) !== (hostAddress6 === undefined)) fail("onPrem.cidr6 and onPrem.hostAddress6 go together");
  if (cidr6 !== undefined && hostAddress6 !== undefined) {
    if (!inside(hostAddress6, cidr6)) fail(`onPrem.hostAddress6 ${hostAddress6} is not inside onPrem.cidr6 ${cidr6}`);
    if (new Address6(cidr6).isInSubnet(new Address6(space)) || new Address6(space).isInSubnet(new Address6(cidr6)))
      fail(`onPrem.cidr6 ${cidr6} overlaps vnet.addressSpace6 ${space}`);
  }
}
