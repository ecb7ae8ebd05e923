/**
 * Every network option a user can pass (`docker network create -o k=v`,
 * compose `driver_opts`), validated and documented in this one table.
 * docs/options.md is checked against it by a unit test.
 */
import { canonicalCidr, canonicalIpCidr, normaliseMac } from "../lib/address";
import { isIfName } from "../dataplane/validate";
import { PluginError } from "../errors";

/** How a network's containers are plugged in: see driver/network/modes.ts. */
export const NETWORK_MODES = ["bridge", "transparent"] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

export interface NetworkOptions {
  mode: NetworkMode;
  snat: boolean;
  nonMasqueradeCidrs: string[] | undefined;
  allowImds: boolean;
  /** ARM ids of the Application Security Groups its containers' ipconfigs join (--ipconfig-management arm). */
  applicationSecurityGroups?: string[];
  /** ARM ids of the load-balancer backend pools its containers' ipconfigs join (--ipconfig-management arm). */
  lbBackendPools?: string[];
  /** The NIC the network must use: an interface name, or a MAC in the plugin's spelling (see parseParent). */
  parent?: string;
}

/** Private ranges a VNet, its peerings and on-premises networks usually use. */
export const DEFAULT_NON_MASQUERADE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

interface OptionSpec {
  name: string;
  values: string;
  default: string;
  description: string;
  apply(value: string, into: NetworkOptions): void;
}

function bool(name: string, value: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new PluginError(`network option ${name}=${shown(value)} is invalid: use true or false`);
}

function shown(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 60 ? `${clean.slice(0, 60)}…` : clean;
}

export const NETWORK_OPTIONS: OptionSpec[] = [
  {
    name: "mode",
    values: NETWORK_MODES.join(" | "),
    default: "bridge",
    description:
      "How containers are plugged in; the NIC itself is never enslaved or re-addressed in either. `bridge`: a Linux bridge per network on the VM, routed to the NIC, each container's port guarded against spoofing. `transparent`: no bridge; each container's host-side veth is routed on its own, with proxy ARP and strict reverse-path filtering, so the VM's routing itself drops spoofed sources. When to choose which: [how-it-works.md](how-it-works.md#bridge-or-transparent).",
    apply(value, into) {
      const mode = NETWORK_MODES.find((m) => m === value);
      if (!mode) throw new PluginError(`network option mode=${shown(value)} is not supported: use ${NETWORK_MODES.join(" or ")}`);
      into.mode = mode;
    },
  },
  {
    name: "snat",
    values: "true | false",
    default: "true",
    description:
      "Masquerade container traffic that leaves the VNet to the VM's primary address. Turn it off for networks whose ipconfigs have public IPs of their own, so they reach the internet as themselves.",
    apply(value, into) {
      into.snat = bool("snat", value);
    },
  },
  {
    name: "non-masquerade-cidrs",
    values: "comma-separated IPv4 CIDRs (and IPv6 ones, for a network created with --ipv6)",
    default: DEFAULT_NON_MASQUERADE.join(","),
    description:
      "Destinations reached without masquerade, under the container's own address: the VNet, peered VNets, on-premises. The NIC's subnets, 168.63.129.16 and 169.254.169.254 are always included, and on a dual-stack network its IPv6 /64. Setting it replaces the default list.",
    apply(value, into) {
      into.nonMasqueradeCidrs = parseCidrList(value, "network option non-masquerade-cidrs");
    },
  },
  {
    name: "allow-imds",
    values: "true | false",
    default: "false",
    description:
      "Let containers reach the Instance Metadata Service (169.254.169.254). Off by default: IMDS hands out the VM's identity and tokens.",
    apply(value, into) {
      into.allowImds = bool("allow-imds", value);
    },
  },
  {
    name: "application-security-groups",
    values: "comma-separated ARM ids of Application Security Groups",
    default: "(none)",
    description:
      "With `--ipconfig-management arm` only: each container's ipconfig joins these Application Security Groups while the container exists, so NSG rules written for the groups follow the containers. An id reads `/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/applicationSecurityGroups/<name>`. Costs a NIC update per batch of new containers: [ipconfig-management.md](ipconfig-management.md#security-groups-and-load-balancer-pools).",
    apply(value, into) {
      into.applicationSecurityGroups = parseArmIds(value, "application-security-groups", ASG_ID, ASG_FORM);
    },
  },
  {
    name: "lb-backend-pools",
    values: "comma-separated ARM ids of load-balancer backend pools",
    default: "(none)",
    description:
      "With `--ipconfig-management arm` only: each container's ipconfig joins these load-balancer backend pools while the container exists, so the load balancer sends traffic to the containers. An id reads `/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/loadBalancers/<lb>/backendAddressPools/<pool>`. Costs a NIC update per batch of new containers: [ipconfig-management.md](ipconfig-management.md#security-groups-and-load-balancer-pools).",
    apply(value, into) {
      into.lbBackendPools = parseArmIds(value, "lb-backend-pools", POOL_ID, POOL_FORM);
    },
  },
  {
    name: "parent",
    values: "an interface name (eth1) or a MAC (00:0d:3a:…, 00-0D-3A-…, 000d3a…, 000d.3a…)",
    default: "(the NIC holding --subnet)",
    description:
      "The NIC whose ipconfigs the network hands out: one of the VM's NICs in the metadata, holding `--subnet`. Needed when two NICs are in the subnet; otherwise the NIC holding the subnet is used. A network on a secondary NIC gets that NIC's policy routing, so its containers' packets leave through it: [how-it-works.md](how-it-works.md#networks-on-a-secondary-nic).",
    apply(value, into) {
      into.parent = parseParent(value);
    },
  },
];

/** Cisco's dotted form, three groups of four hex digits. */
const DOTTED_MAC = /^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$/;

/**
 * `-o parent=`: a MAC with separators (`:` `-` or Cisco's dots) becomes the
 * plugin's spelling (lower case, colons); anything else must be an interface
 * name. Twelve hex digits are kept as written: a name or a bare MAC, told
 * apart against the VM's links when the network is made.
 */
export function parseParent(value: string): string {
  const text = value.trim();
  const dotted = DOTTED_MAC.test(text) ? text.replace(/\./g, "") : undefined;
  const mac = normaliseMac(dotted ?? text);
  if (mac && (dotted || !isIfName(text))) return mac;
  if (isIfName(text)) return text;
  throw new PluginError(
    `network option parent=${shown(value)} is neither an interface name (1-15 of a-z A-Z 0-9 _ . -) nor a MAC address such as 00:0d:3a:12:34:56`,
  );
}

/** ARM's resource names: letters, digits, `_ . - ( )`; provider and type segments in any case, as ARM takes them. */
const NAME = "[A-Za-z0-9_.()-]{1,80}";
const GROUP = "/subscriptions/[0-9A-Fa-f-]{36}/resourceGroups/[A-Za-z0-9_.()-]{1,90}/providers/Microsoft\\.Network";
const ASG_ID = new RegExp(`^${GROUP}/applicationSecurityGroups/${NAME}$`, "i");
const POOL_ID = new RegExp(`^${GROUP}/loadBalancers/${NAME}/backendAddressPools/${NAME}$`, "i");
const ASG_FORM = "/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/applicationSecurityGroups/<name>";
const POOL_FORM = "/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/loadBalancers/<lb>/backendAddressPools/<pool>";

/** A comma-separated list of ARM resource ids of one form, without repeats (ARM compares ids in any case). */
function parseArmIds(value: string, name: string, form: RegExp, shape: string): string[] {
  const ids: string[] = [];
  for (const id of value.split(",").map((c) => c.trim())) {
    if (!id) continue;
    if (!form.test(id)) throw new PluginError(`network option ${name}: ${shown(id)} is not an id of the form ${shape}`);
    if (!ids.some((known) => known.toLowerCase() === id.toLowerCase())) ids.push(id);
  }
  if (ids.length === 0) throw new PluginError(`network option ${name} names no id: give one or more, comma-separated`);
  return ids;
}

/** Whether the network puts its containers' ipconfigs into security groups or backend pools (ARM mode's work). */
export function hasMemberships(options: Pick<NetworkOptions, "applicationSecurityGroups" | "lbBackendPools">): boolean {
  return (options.applicationSecurityGroups?.length ?? 0) + (options.lbBackendPools?.length ?? 0) > 0;
}

/** A comma-separated list of IPv4 CIDRs, canonical; throws PluginError naming `what` and the first bad entry. */
export function parseCidrList(value: string, what: string): string[] {
  return value
    .split(",")
    .map((c) => c.trim())
    .filter(Boolean)
    .map((c) => {
      const canonical = canonicalCidr(c) ?? (c.includes(":") ? canonicalIpCidr(c, 6) : undefined);
      if (!canonical) throw new PluginError(`${what}: ${shown(c)} is not an IPv4 CIDR such as 10.1.0.0/16`);
      return canonical;
    });
}

export function parseNetworkOptions(generic: Record<string, unknown>): NetworkOptions {
  const opts: NetworkOptions = { mode: "bridge", snat: true, nonMasqueradeCidrs: undefined, allowImds: false };
  for (const [key, raw] of Object.entries(generic)) {
    const spec = NETWORK_OPTIONS.find((o) => o.name === key);
    if (!spec) {
      throw new PluginError(`unknown network option ${shown(key)}; azure-vnet knows: ${NETWORK_OPTIONS.map((o) => o.name).join(", ")}`);
    }
    if (typeof raw !== "string") throw new PluginError(`network option ${key} must be a string`);
    spec.apply(raw, opts);
  }
  return opts;
}

/** Endpoint options Docker itself adds; user --driver-opt keys are not used by azure-vnet. */
export function checkEndpointOptions(options: Record<string, unknown>): void {
  for (const key of Object.keys(options)) {
    if (!key.startsWith("com.docker.")) {
      throw new PluginError(`unknown endpoint option ${shown(key)}; azure-vnet takes no per-endpoint --driver-opt`);
    }
  }
}
