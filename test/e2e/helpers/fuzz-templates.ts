/**
 * Well-formed protocol requests with bad values, one generator per kind of
 * mistake. Each names its "guards": the fields that make it fail (or make it
 * a no-op). Mutators in fuzz-cases.ts never touch a guard, so no mutation can
 * turn a request that must fail into one that allocates an address or builds
 * a network, and the plugin's state must come out of the run unchanged.
 */
import { Rng } from "./fuzz-rng";
import { E2E_MODE } from "./docker";
import { FIREWALL_PAYLOADS, HOSTILE_KEYS, HOSTILE_STRINGS, randomId, randomMac } from "./fuzz-values";

/** What the plugin holds when the fuzzer starts: one network with one container in it. */
export interface FuzzContext {
  networkId: string;
  poolId: string;
  subnet: string;
  prefix: number;
  gateway: string;
  primary: string;
  /** The running container's endpoint and address. */
  endpointId: string;
  heldAddress: string;
  /** Secondary ipconfigs nobody holds: only ever sent in no-op releases. */
  freeIpConfigs: string[];
  /** Addresses inside the subnet that are no secondary ipconfig of this NIC. */
  notIpConfigs: string[];
  /** IPv4 subnets that are no subnet of this VM's NICs. */
  foreignSubnets: string[];
}

/** "error": must fail. "any": a no-op or read-only call that may succeed. */
export type Expect = "error" | "any";
export type Path = (string | number)[];
export type Json = unknown;

export interface Template {
  method: string;
  label: string;
  body: Record<string, Json>;
  guards: Path[];
  expect: Expect;
  /** Part of the out-of-order family: calls about IDs the plugin never saw. */
  outOfOrder?: boolean;
}

export const NO_ARG_METHODS = [
  "Plugin.Activate",
  "NetworkDriver.GetCapabilities",
  "IpamDriver.GetCapabilities",
  "IpamDriver.GetDefaultAddressSpaces",
];
const NETWORK_OPTION_NAMES = ["non-masquerade-cidrs", "snat", "mode", "allow-imds"];
const LOCAL = "AzureVNetLocal";
const GLOBAL = "AzureVNetGlobal";

/** Pool IDs nothing in the plugin can turn into a pool (not a NIC subnet, or not a pool ID at all). */
function nonAdoptablePoolId(rng: Rng, c: FuzzContext): string {
  return rng.pick([
    `${LOCAL}/${rng.pick(c.foreignSubnets)}`,
    `${GLOBAL}/${rng.pick(c.foreignSubnets)}`,
    `${LOCAL}/10.0.0.0/23`,
    `${LOCAL}/${c.subnet.replace(/\/\d+$/, "/0")}`,
    "constructor",
    "toString",
    "valueOf",
    "hasOwnProperty",
    "__proto__",
    "prototype",
    LOCAL,
    `${LOCAL}/`,
    `pool-${rng.hex(8)}`,
    "a".repeat(4096),
  ]);
}

/** Pool IDs the plugin does not hold; releasing them must change nothing. */
function unknownPoolId(rng: Rng, c: FuzzContext): string {
  return rng.chance(0.7)
    ? nonAdoptablePoolId(rng, c)
    : rng.pick([`${GLOBAL}/${c.subnet}`, `${LOCAL}/${c.subnet}/${c.subnet.replace(/\.0\/\d+$/, ".16/28")}`]);
}

function badAddressFor(rng: Rng, c: FuzzContext): string {
  const network = c.subnet.split("/")[0];
  return rng.pick([
    c.primary,
    c.heldAddress,
    c.gateway,
    network,
    ...c.notIpConfigs,
    "10.9.0.5",
    "192.168.100.10",
    "0.0.0.0",
    "255.255.255.255",
    "fd00::5",
    "::1",
  ]);
}

function dockerEndpointOptions(rng: Rng): Record<string, Json> {
  return rng.pick<Record<string, Json>>([
    {},
    { "com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": [] },
    { "com.docker.network.endpoint.macaddress": randomMac(rng) },
    { "com.docker.network.endpoint.dnsnames": ["x", "y"] },
  ]);
}

/**
 * Generic network options with at least one entry that is invalid whatever
 * the others hold: an option value aimed at the firewall rules, an unknown
 * key, or a value of the wrong type.
 */
export function hostileGeneric(rng: Rng): Record<string, Json> {
  const generic: Record<string, Json> = {};
  if (rng.chance(0.4)) generic.snat = rng.pick(["true", "false"]);
  if (rng.chance(0.3)) generic["non-masquerade-cidrs"] = "10.0.0.0/8,172.16.0.0/12";
  const bad = rng.weighted<() => void>([
    [6, () => void (generic[rng.pick(NETWORK_OPTION_NAMES)] = rng.pick(FIREWALL_PAYLOADS))],
    [2, () => void (generic[`${rng.pick(HOSTILE_KEYS)}${rng.hex(4)}`] = rng.pick(FIREWALL_PAYLOADS))],
    [2, () => void (generic[rng.pick(NETWORK_OPTION_NAMES)] = rng.pick<Json>([true, 1, null, ["10.0.0.0/8"], { a: "b" }]))],
  ]);
  bad();
  return generic;
}

function createNetworkBody(rng: Rng, c: FuzzContext, over: Partial<Record<string, Json>>): Record<string, Json> {
  return {
    NetworkID: randomId(rng),
    Options: {
      // Networks the fuzzer creates are of the run's mode, as vnet is.
      "com.docker.network.generic": { ...(rng.chance(0.5) ? {} : { snat: "false" }), ...(E2E_MODE === "bridge" ? {} : { mode: E2E_MODE }) },
      "com.docker.network.enable_ipv6": false,
    },
    IPv4Data: [{ AddressSpace: LOCAL, Pool: c.subnet, Gateway: `${c.gateway}/${c.prefix}` }],
    IPv6Data: [],
    ...over,
  };
}

type Maker = (rng: Rng, c: FuzzContext) => Template;

const T = (method: string, label: string, body: Record<string, Json>, guards: Path[], expect: Expect, outOfOrder = false): Template => ({
  method,
  label,
  body,
  guards,
  expect,
  outOfOrder,
});

/** Requests aimed at the firewall rules through CreateNetwork's generic options, on the real pool. */
export const firewallTemplate: Maker = (rng, c) =>
  T(
    "NetworkDriver.CreateNetwork",
    "firewall option",
    createNetworkBody(rng, c, { Options: { "com.docker.network.generic": hostileGeneric(rng), "com.docker.network.enable_ipv6": false } }),
    [["Options", "com.docker.network.generic"]],
    "error",
  );

/** Calls about IDs or pools the plugin never handed out: the out-of-order family. */
export const OUT_OF_ORDER: readonly (readonly [number, Maker])[] = [
  [2, (rng) => T("NetworkDriver.DeleteNetwork", "unknown network", { NetworkID: randomId(rng) }, [["NetworkID"]], "any", true)],
  [
    3,
    (rng, c) =>
      T(
        "NetworkDriver.CreateEndpoint",
        "endpoint on unknown network",
        {
          NetworkID: randomId(rng),
          EndpointID: randomId(rng),
          Interface: { Address: `${rng.pick(c.freeIpConfigs)}/${c.prefix}`, AddressIPv6: "", MacAddress: randomMac(rng) },
          Options: dockerEndpointOptions(rng),
        },
        [["NetworkID"]],
        "error",
        true,
      ),
  ],
  [
    2,
    (rng, c) =>
      T(
        "NetworkDriver.DeleteEndpoint",
        "unknown endpoint",
        { NetworkID: rng.pick([c.networkId, randomId(rng)]), EndpointID: randomId(rng) },
        [["EndpointID"]],
        "any",
        true,
      ),
  ],
  [
    3,
    (rng, c) =>
      T(
        "NetworkDriver.Join",
        "join before create",
        {
          NetworkID: rng.pick([c.networkId, randomId(rng)]),
          EndpointID: randomId(rng),
          SandboxKey: `/var/run/docker/netns/${rng.hex(12)}`,
          Options: {},
        },
        [["EndpointID"]],
        "error",
        true,
      ),
  ],
  [
    2,
    (rng, c) =>
      T(
        "NetworkDriver.Leave",
        "leave unknown",
        { NetworkID: rng.pick([c.networkId, randomId(rng)]), EndpointID: randomId(rng) },
        [["EndpointID"]],
        "any",
        true,
      ),
  ],
  [2, (rng, c) => T("IpamDriver.ReleasePool", "unknown pool", { PoolID: unknownPoolId(rng, c) }, [["PoolID"]], "any", true)],
  [
    2,
    (rng, c) =>
      T(
        "IpamDriver.ReleaseAddress",
        "unknown pool",
        { PoolID: unknownPoolId(rng, c), Address: rng.pick([c.heldAddress, ...c.freeIpConfigs]) },
        [["PoolID"]],
        "any",
        true,
      ),
  ],
  [
    3,
    (rng, c) =>
      T(
        "IpamDriver.RequestAddress",
        "unknown pool",
        {
          PoolID: nonAdoptablePoolId(rng, c),
          Address: rng.pick(["", ...c.freeIpConfigs]),
          Options: rng.pick([{}, { "com.docker.network.endpoint.name": `c${rng.hex(6)}` }]),
        },
        [["PoolID"]],
        "error",
        true,
      ),
  ],
];

/** Well-formed requests whose values are wrong for this VM and this plugin. */
export const BAD_VALUES: readonly (readonly [number, Maker])[] = [
  [3, firewallTemplate],
  [
    2,
    (rng, c) =>
      T(
        "NetworkDriver.CreateNetwork",
        "foreign subnet",
        createNetworkBody(rng, c, { IPv4Data: [{ AddressSpace: LOCAL, Pool: rng.pick(c.foreignSubnets) }] }),
        [["IPv4Data"]],
        "error",
      ),
  ],
  [
    1,
    (rng, c) =>
      T(
        "NetworkDriver.CreateNetwork",
        "global space",
        createNetworkBody(rng, c, { IPv4Data: [{ AddressSpace: GLOBAL, Pool: c.subnet }] }),
        [["IPv4Data"]],
        "error",
      ),
  ],
  [
    1,
    (rng, c) =>
      T(
        "NetworkDriver.CreateNetwork",
        "ipv6",
        createNetworkBody(rng, c, { IPv6Data: [{ AddressSpace: LOCAL, Pool: "fd00::/64" }] }),
        [["IPv6Data"]],
        "error",
      ),
  ],
  [
    1,
    (rng, c) =>
      T(
        "NetworkDriver.CreateNetwork",
        "two subnets",
        createNetworkBody(rng, c, {
          IPv4Data: [
            { AddressSpace: LOCAL, Pool: c.subnet },
            { AddressSpace: LOCAL, Pool: rng.pick(c.foreignSubnets) },
          ],
        }),
        [["IPv4Data"]],
        "error",
      ),
  ],
  [
    2,
    (rng, c) => {
      const variant = rng.int(4);
      const iface = { Address: `${rng.pick(c.freeIpConfigs)}/${c.prefix}`, AddressIPv6: "", MacAddress: randomMac(rng) };
      const guards: Path[] = [["NetworkID"]];
      let options = dockerEndpointOptions(rng);
      if (variant === 0) [iface.Address, guards[1]] = [`${rng.pick(["10.9.0.5", "192.168.100.10"])}/${c.prefix}`, ["Interface", "Address"]];
      if (variant === 1) [iface.Address, guards[1]] = [`${c.heldAddress}/${c.prefix}`, ["Interface", "Address"]];
      if (variant === 2) [iface.AddressIPv6, guards[1]] = ["fd00::5/64", ["Interface", "AddressIPv6"]];
      if (variant === 3)
        [options, guards[1]] = [
          { [`${rng.pick(HOSTILE_KEYS.filter((k) => !k.includes("\n")))}x${rng.hex(3)}`]: rng.pick(HOSTILE_STRINGS) },
          ["Options"],
        ];
      return T(
        "NetworkDriver.CreateEndpoint",
        `bad endpoint ${variant}`,
        { NetworkID: c.networkId, EndpointID: randomId(rng), Interface: iface, Options: options },
        guards,
        "error",
      );
    },
  ],
  [
    1,
    (rng, c) =>
      T(
        "NetworkDriver.EndpointOperInfo",
        "oper info",
        { NetworkID: rng.pick([c.networkId, randomId(rng)]), EndpointID: rng.pick([c.endpointId, randomId(rng)]) },
        [],
        "any",
      ),
  ],
  [
    1,
    (rng, c) =>
      T(
        "NetworkDriver.ProgramExternalConnectivity",
        "program",
        { NetworkID: rng.pick([c.networkId, randomId(rng)]), EndpointID: randomId(rng), Options: dockerEndpointOptions(rng) },
        [],
        "any",
      ),
  ],
  [
    1,
    (rng, c) =>
      T(
        "NetworkDriver.RevokeExternalConnectivity",
        "revoke",
        { NetworkID: rng.pick([c.networkId, randomId(rng)]), EndpointID: randomId(rng) },
        [],
        "any",
      ),
  ],
  [
    1,
    (rng, c) =>
      T(
        "NetworkDriver.AllocateNetwork",
        "allocate",
        { NetworkID: randomId(rng), Options: {}, IPv4Data: [{ AddressSpace: LOCAL, Pool: c.subnet }], IPv6Data: [] },
        [],
        "any",
      ),
  ],
  [1, (rng) => T("NetworkDriver.FreeNetwork", "free", { NetworkID: randomId(rng) }, [], "any")],
  [
    1,
    (rng) =>
      T(
        rng.pick(["NetworkDriver.DiscoverNew", "NetworkDriver.DiscoverDelete"]),
        "discover",
        { DiscoveryType: rng.pick([1, 2, 0]), DiscoveryData: { Address: "10.0.0.5", self: false } },
        [],
        "any",
      ),
  ],
  [1, (rng) => T(rng.pick(NO_ARG_METHODS), "no arguments", {}, [], "any")],
  [
    2,
    (rng) =>
      T(
        "IpamDriver.RequestPool",
        "ipv6 pool",
        { AddressSpace: LOCAL, Pool: rng.pick(["", "fd00::/64"]), SubPool: "", Options: {}, V6: true },
        [["V6"]],
        "error",
      ),
  ],
  [
    2,
    (rng, c) =>
      T(
        "IpamDriver.RequestPool",
        "foreign subnet",
        {
          AddressSpace: rng.pick([LOCAL, GLOBAL, ""]),
          Pool: rng.pick([...c.foreignSubnets, "10.0.0.0/16", "10.0.0.0/25"]),
          SubPool: "",
          Options: {},
          V6: false,
        },
        [["Pool"]],
        "error",
      ),
  ],
  [
    1,
    (rng, c) =>
      T(
        "IpamDriver.RequestPool",
        "unknown space",
        {
          AddressSpace: rng.pick(["default", "local", "AzureVNetlocal", "constructor", "__proto__", "x"]),
          Pool: c.subnet,
          SubPool: "",
          Options: {},
          V6: false,
        },
        [["AddressSpace"]],
        "error",
      ),
  ],
  [
    1,
    (rng, c) =>
      T(
        "IpamDriver.RequestPool",
        "range outside",
        { AddressSpace: LOCAL, Pool: c.subnet, SubPool: rng.pick(["10.9.0.0/28", "10.0.0.0/23", "0.0.0.0/0"]), Options: {}, V6: false },
        [["Pool"], ["SubPool"]],
        "error",
      ),
  ],
  [
    2,
    (rng, c) =>
      T(
        "IpamDriver.RequestPool",
        "unknown ipam option",
        {
          AddressSpace: LOCAL,
          Pool: c.subnet,
          SubPool: "",
          Options: {
            [rng.pick(["__proto__", "constructor", "toString", "hasOwnProperty", "snat", "driver"])]: "1",
            [`x-${rng.hex(4)}`]: rng.pick(HOSTILE_STRINGS),
          },
          V6: false,
        },
        [["Options"]],
        "error",
      ),
  ],
  [
    4,
    (rng, c) =>
      T(
        "IpamDriver.RequestAddress",
        "bad address",
        {
          PoolID: c.poolId,
          Address: badAddressFor(rng, c),
          Options: rng.pick([
            {},
            { "com.docker.network.endpoint.name": `c${rng.hex(6)}` },
            { "com.docker.network.endpoint.macaddress": randomMac(rng) },
          ]),
        },
        [["PoolID"], ["Address"]],
        "error",
      ),
  ],
  [
    1,
    (rng, c) => {
      const address = rng.pick(["", c.gateway, c.primary, c.heldAddress, "10.9.0.1"]);
      const ok = address === "" || address === c.gateway;
      return T(
        "IpamDriver.RequestAddress",
        "gateway",
        { PoolID: c.poolId, Address: address, Options: { RequestAddressType: "com.docker.network.gateway" } },
        [["PoolID"], ["Address"], ["Options"]],
        ok ? "any" : "error",
      );
    },
  ],
  [
    1,
    (rng, c) =>
      T(
        "IpamDriver.ReleaseAddress",
        "not held",
        { PoolID: c.poolId, Address: rng.pick([...c.freeIpConfigs, ...c.notIpConfigs, c.primary, c.gateway, "10.9.0.5"]) },
        [["PoolID"], ["Address"]],
        "any",
      ),
  ],
  [
    1,
    (rng, c) =>
      T(
        "NetworkDriver.Join",
        "bad sandbox",
        {
          NetworkID: c.networkId,
          EndpointID: randomId(rng),
          SandboxKey: rng.pick(["relative/path", "/var/run/$(reboot)", "/a b", "/x\n", rng.pick(HOSTILE_STRINGS)]),
          Options: {},
        },
        [["EndpointID"], ["SandboxKey"]],
        "error",
      ),
  ],
];

/** A random template from either family. */
export function anyTemplate(rng: Rng, c: FuzzContext): Template {
  return rng.chance(0.3) ? rng.weighted(OUT_OF_ORDER)(rng, c) : rng.weighted(BAD_VALUES)(rng, c);
}
