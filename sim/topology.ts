/**
 * The simulated Azure network: a typed, validated description with a built-in
 * default. Everything the fabric, the platform endpoints and the VMs do is
 * derived from one Topology object.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { Address4 } from "ip-address";
import { EngineSchema } from "./engines";
import { lbBackendPoolId } from "./platform/arm-ids";

const ipv4 = z.string().refine((s) => Address4.isValid(s) && !s.includes("/"), "must be a dotted IPv4 address");
const cidr = z.string().refine((s) => s.includes("/") && Address4.isValid(s), "must be an IPv4 CIDR such as 10.0.0.0/24");
const mac = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, "must be a lower-case MAC such as 00:0d:3a:00:00:01");
const name = z.string().regex(/^[a-z][a-z0-9]{0,9}$/, "must be 1-10 lower-case letters and digits, starting with a letter");

/** Azure's rule for ipconfig names: 1-80 letters, digits, '_', '.', '-'; starts with a letter, digit or '_', ends with a letter, digit or '_'. */
const ipConfigNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/, "must be an Azure ipconfig name (1-80 letters, digits, _ . -)");
const resourceIds = z.array(z.string().min(1)).max(64);

export const IpConfigSchema = z.object({
  address: ipv4,
  publicIp: ipv4.optional(),
  /** The ipconfig's name in Azure Resource Manager; ipConfigName() when absent. */
  name: ipConfigNameSchema.optional(),
  /** How ARM reports the address was chosen; secondaries default to Static, the primary to Dynamic. */
  allocation: z.enum(["Static", "Dynamic"]).optional(),
  /** Resource ids ARM keeps on the ipconfig; a backend pool of a load balancer with a `name` takes the address in (see lbBackends). */
  applicationSecurityGroups: resourceIds.optional(),
  loadBalancerBackendAddressPools: resourceIds.optional(),
});

export const VmSchema = z.object({
  name,
  nic: z.object({
    mac,
    primary: IpConfigSchema,
    secondaries: z.array(IpConfigSchema).max(255),
  }),
  /** The VM's Docker engine; AZSIM_ENGINE (or debian12) when not given. */
  engine: EngineSchema.optional(),
});

export const NsgRuleSchema = z
  .object({
    action: z.enum(["allow", "deny"]),
    /** Destination ipconfig address the rule applies to. */
    destination: ipv4.optional(),
    /** Or every ipconfig in this Application Security Group (its ARM id), as ARM has them at the moment. */
    destinationAsg: z.string().min(1).optional(),
    protocol: z.enum(["tcp", "udp", "icmp", "any"]),
    port: z.number().int().min(1).max(65535).optional(),
  })
  .refine((r) => (r.destination === undefined) !== (r.destinationAsg === undefined), "needs one of destination and destinationAsg");

export const LoadBalancerSchema = z
  .object({
    /** Its name in Azure Resource Manager: with one, ipconfigs join its pool through ARM (lbPoolIdOf). */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,78}$/, "must be an Azure resource name")
      .optional(),
    /** The backend pool's name in ARM. */
    pool: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,78}$/, "must be an Azure resource name")
      .default("backend"),
    frontendIp: ipv4,
    frontendPort: z.number().int().min(1).max(65535),
    backendPort: z.number().int().min(1).max(65535),
    protocol: z.enum(["tcp", "udp"]).default("tcp"),
    /** Addresses always in the pool, whatever ARM says. */
    backendPool: z.array(ipv4).default([]),
  })
  .refine(
    (lb) => lb.backendPool.length > 0 || lb.name !== undefined,
    "needs a backendPool, or a name so ipconfigs can join it through ARM",
  );

export const TopologySchema = z.object({
  vnet: z.object({
    addressSpace: cidr,
    subnet: cidr,
    gateway: ipv4,
  }),
  vms: z.array(VmSchema).min(1).max(8),
  internet: z.object({
    hostAddress: ipv4,
    /** Names the platform DNS answers for internet hosts. */
    names: z.record(z.string(), ipv4).default({}),
  }),
  onPrem: z.object({
    cidr,
    hostAddress: ipv4,
  }),
  /** The container registry host (Debian 13's docker-registry), reached from the VNet through the fabric. */
  registry: z
    .object({
      hostAddress: ipv4.default("192.0.2.10"),
      name: z
        .string()
        .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/, "must be a lower-case DNS name with a dot")
        .default("registry.azsim.internal"),
      port: z.number().int().min(1).max(65535).default(5000),
    })
    .prefault({}),
  nsg: z.array(NsgRuleSchema).default([]),
  loadBalancers: z.array(LoadBalancerSchema).default([]),
});

export type Topology = z.infer<typeof TopologySchema>;
export type Vm = z.infer<typeof VmSchema>;
export type SimIpConfig = z.infer<typeof IpConfigSchema>;
export type LoadBalancer = z.infer<typeof LoadBalancerSchema>;
export type NsgRule = z.infer<typeof NsgRuleSchema>;

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
  return TopologySchema.parse({
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
  const result = TopologySchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid topology: ${problems.join("; ")}`);
  }
  const topo = result.data;
  const subnet = new Address4(topo.vnet.subnet);
  const space = new Address4(topo.vnet.addressSpace);
  if (!subnet.isInSubnet(space))
    throw new Error(`invalid topology: vnet.subnet ${topo.vnet.subnet} is not inside vnet.addressSpace ${topo.vnet.addressSpace}`);
  if (!new Address4(topo.vnet.gateway).isInSubnet(subnet))
    throw new Error(`invalid topology: vnet.gateway ${topo.vnet.gateway} is not inside ${topo.vnet.subnet}`);
  const seen = new Map<string, string>();
  const names = new Set<string>();
  const macs = new Set<string>();
  for (const vm of topo.vms) {
    if (names.has(vm.name)) throw new Error(`invalid topology: VM name ${vm.name} is used twice`);
    names.add(vm.name);
    if (macs.has(vm.nic.mac)) throw new Error(`invalid topology: MAC ${vm.nic.mac} is used twice`);
    macs.add(vm.nic.mac);
    const ipcNames = new Set<string>();
    for (const ipc of [vm.nic.primary, ...vm.nic.secondaries]) {
      const ipcName = ipConfigName(vm, ipc).toLowerCase();
      if (ipcNames.has(ipcName)) throw new Error(`invalid topology: ${vm.name} has two ipconfigs named ${ipConfigName(vm, ipc)}`);
      ipcNames.add(ipcName);
      if (!new Address4(ipc.address).isInSubnet(subnet))
        throw new Error(`invalid topology: ${vm.name} ipconfig ${ipc.address} is not inside ${topo.vnet.subnet}`);
      if (ipc.address === topo.vnet.gateway) throw new Error(`invalid topology: ${vm.name} ipconfig ${ipc.address} is the subnet gateway`);
      const owner = seen.get(ipc.address);
      if (owner) throw new Error(`invalid topology: ipconfig ${ipc.address} is on both ${owner} and ${vm.name}`);
      seen.set(ipc.address, vm.name);
    }
  }
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

/** All ipconfigs of a VM, primary first. */
export function ipConfigsOf(vm: Vm): SimIpConfig[] {
  return [vm.nic.primary, ...vm.nic.secondaries];
}

/** An ipconfig's ARM name: its own, else ipconfig1 for the primary and one derived from the address for a secondary. */
export function ipConfigName(vm: Vm, ipc: SimIpConfig): string {
  if (ipc.name) return ipc.name;
  return ipc.address === vm.nic.primary.address ? "ipconfig1" : `ipconfig-${ipc.address.replace(/\./g, "-")}`;
}
