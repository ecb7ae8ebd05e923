/**
 * The few /proc/sys/net values the routed bridge and the routed (transparent)
 * ports depend on. /proc/sys/net is
 * per network namespace: it shows the namespace of the process that opens it.
 * Writes happen only when the value differs, so a correctly configured host
 * with a read-only /proc/sys still works.
 */
import { readFile, writeFile } from "../lib/fs-async";
import { DataplaneError } from "./errors";
import { assertIfName } from "./validate";

/**
 * A managed plugin's /proc/sys is read-only (Docker's default for plugin
 * containers), so its config.json binds the host's /proc/sys/net at another
 * path and names that path here.
 */
const ROOT = process.env.AZURE_VNET_SYSCTL_NET_DIR || "/proc/sys/net";

async function readInt(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "EIO";
    if (code === "ENOENT") return undefined;
    throw new DataplaneError(`read ${path}`, code);
  }
  const value = Number(text.trim());
  if (!Number.isInteger(value)) throw new DataplaneError(`read ${path}`, "EBADVALUE", JSON.stringify(text.trim()));
  return value;
}

async function writeInt(path: string, value: number): Promise<boolean> {
  const current = await readInt(path);
  if (current === undefined) throw new DataplaneError(`write ${path}`, "ENOENT");
  if (current === value) return false;
  try {
    await writeFile(path, `${value}\n`);
  } catch (err) {
    throw new DataplaneError(`write ${path}`, (err as NodeJS.ErrnoException).code ?? "EIO");
  }
  return true;
}

const paths = {
  ipForward: () => `${ROOT}/ipv4/ip_forward`,
  proxyArp: (dev: string) => `${ROOT}/ipv4/conf/${assertIfName(dev)}/proxy_arp`,
  proxyDelay: (dev: string) => `${ROOT}/ipv4/neigh/${assertIfName(dev)}/proxy_delay`,
  rpFilter: (dev: string) => `${ROOT}/ipv4/conf/${assertIfName(dev)}/rp_filter`,
  // Absent when the kernel runs without IPv6 (ipv6.disable=1).
  disableIpv6: (dev: string) => `${ROOT}/ipv6/conf/${assertIfName(dev)}/disable_ipv6`,
  ipv6Forwarding: () => `${ROOT}/ipv6/conf/all/forwarding`,
  acceptRa: (dev: string) => `${ROOT}/ipv6/conf/${assertIfName(dev)}/accept_ra`,
  addrGenMode: (dev: string) => `${ROOT}/ipv6/conf/${assertIfName(dev)}/addr_gen_mode`,
  // Exists only while br_netfilter is loaded.
  bridgeNfCallIptables: () => `${ROOT}/bridge/bridge-nf-call-iptables`,
};

export async function getIpForward(): Promise<boolean> {
  return (await readInt(paths.ipForward())) === 1;
}

/** Also sets forwarding on every existing interface (the kernel propagates it). */
export async function setIpForward(state: { on: boolean }): Promise<boolean> {
  return writeInt(paths.ipForward(), state.on ? 1 : 0);
}

export async function getProxyArp(dev: string): Promise<boolean | undefined> {
  const v = await readInt(paths.proxyArp(dev));
  return v === undefined ? undefined : v === 1;
}

export async function setProxyArp(dev: string, state: { on: boolean }): Promise<boolean> {
  return writeInt(paths.proxyArp(dev), state.on ? 1 : 0);
}

/** In jiffies; 0 makes proxy ARP answers immediate instead of randomly delayed up to 0.8 s. */
export async function getProxyDelay(dev: string): Promise<number | undefined> {
  return readInt(paths.proxyDelay(dev));
}

export async function setProxyDelay(dev: string, jiffies: number): Promise<boolean> {
  if (!Number.isInteger(jiffies) || jiffies < 0) throw new DataplaneError("proxy_delay", "EINVAL", String(jiffies));
  return writeInt(paths.proxyDelay(dev), jiffies);
}

/** 0 off, 1 strict, 2 loose. The kernel uses the larger of this and conf/all. */
export async function getRpFilter(dev: string): Promise<number | undefined> {
  return readInt(paths.rpFilter(dev));
}

/** What the kernel applies on a link: the larger of its own value and conf/all's; undefined when the link does not exist. */
export async function effectiveRpFilter(dev: string): Promise<number | undefined> {
  const own = await getRpFilter(dev);
  if (own === undefined) return undefined;
  return Math.max(own, (await readInt(`${ROOT}/ipv4/conf/all/rp_filter`)) ?? 0);
}

export async function setRpFilter(dev: string, mode: 0 | 1 | 2): Promise<boolean> {
  if (mode !== 0 && mode !== 1 && mode !== 2) throw new DataplaneError("rp_filter", "EINVAL", String(mode));
  return writeInt(paths.rpFilter(dev), mode);
}

/** Whether IPv6 is off on a link; undefined when the link or IPv6 itself does not exist. */
export async function getIpv6Disabled(dev: string): Promise<boolean | undefined> {
  const v = await readInt(paths.disableIpv6(dev));
  return v === undefined ? undefined : v === 1;
}

/**
 * Turns IPv6 off on a link: no link-local address, and every IPv6 packet
 * arriving on it dropped. A kernel without IPv6 has nothing to turn off. True if it wrote.
 */
export async function setIpv6Disabled(dev: string): Promise<boolean> {
  if ((await getIpv6Disabled(dev)) !== false) return false;
  return writeInt(paths.disableIpv6(dev), 1);
}

/** Undefined when br_netfilter is not loaded (bridged frames then skip iptables). */
export async function getBridgeNfCallIptables(): Promise<boolean | undefined> {
  const v = await readInt(paths.bridgeNfCallIptables());
  return v === undefined ? undefined : v === 1;
}

export async function setBridgeNfCallIptables(on: boolean): Promise<boolean> {
  return writeInt(paths.bridgeNfCallIptables(), on ? 1 : 0);
}

/** net.ipv6.conf.all.forwarding is 1; false also when the kernel has no IPv6. */
export async function getIpv6Forwarding(): Promise<boolean> {
  return (await readInt(paths.ipv6Forwarding())) === 1;
}

/** Sets forwarding on every IPv6 interface too (the kernel propagates conf/all). True if it wrote. */
export async function setIpv6Forwarding(): Promise<boolean> {
  return writeInt(paths.ipv6Forwarding(), 1);
}

export async function getAcceptRa(dev: string): Promise<number | undefined> {
  return readInt(paths.acceptRa(dev));
}

export async function setAcceptRa(dev: string, value: 0 | 1 | 2): Promise<boolean> {
  return writeInt(paths.acceptRa(dev), value);
}

/**
 * IPv6 on for a link whose addresses the plugin gives it: addr_gen_mode 1
 * first (no address of the kernel's own making), then disable_ipv6 0. True if it wrote.
 */
export async function enableIpv6Without(dev: string): Promise<boolean> {
  const gen = await writeInt(paths.addrGenMode(dev), 1);
  const on = await writeInt(paths.disableIpv6(dev), 0);
  return gen || on;
}
