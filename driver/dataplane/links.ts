/**
 * Owns the link and route operations of the routed bridge and of routed
 * (transparent) ports, in the terms the network layer uses. Each one is
 * idempotent: calling it again after a success, or after a crash half way
 * through, converges on the same state.
 *
 * The VM's NIC is never touched. Bridge mode, per network: a bridge with no IP
 * address, proxy ARP on (so the VM answers containers' ARP for the gateway and
 * every other VNet address and routes those packets out of the NIC); per
 * container: a veth pair whose host end is a bridge port, and a /32 route to
 * the container's address through the bridge for inbound traffic.
 * Transparent mode, per container: a veth pair whose host end is a port of its
 * own with those same settings (and strict rp_filter, its network's link
 * group, no IPv6), and the /32 route through that port.
 */
import { createHash } from "node:crypto";
import { PluginError } from "../errors";
import { macFromBytes, normaliseMac } from "../lib/address";
import { DataplaneError } from "./errors";
import { AddressInfo, LinkInfo, Rtnl } from "./netlink";
import {
  effectiveRpFilter,
  enableIpv6Without,
  getAcceptRa,
  setAcceptRa,
  setIpv6Forwarding,
  getIpv6Disabled,
  getProxyArp,
  getProxyDelay,
  setIpForward,
  setIpv6Disabled,
  setProxyArp,
  setProxyDelay,
  setRpFilter,
} from "./sysctl";
import { assertIfName, assertIPv4, assertIPv6, assertMac, assertMtu } from "./validate";

/**
 * The link group of host veths being deleted (see removeEndpointLinks): every
 * link in it is deleted with the next batch, so the plugin puts nothing else
 * there. Outside the range of transparent networks' port groups (records.ts).
 */
export const RETIRING_GROUP = 0x20000000;

export interface EndpointLinkSpec {
  /** The bridge the host end joins; none for a routed (transparent) port, which joins nothing. */
  bridge?: string;
  /** Stays on the VM, as a bridge port or a routed port. */
  hostName: string;
  /** Left in the VM's namespace; Docker moves it into the container. */
  peerName: string;
  mtu: number;
  peerMac?: string;
}

export interface EndpointLink {
  host: LinkInfo;
  /** Undefined once the peer has left this namespace (moved into a container). */
  peer?: LinkInfo;
}

/** What a routed (transparent) port carries, as read back; see LinkOps.ensureRoutedPort. */
export interface RoutedPortState {
  /** Its link group; 0 is the default group. */
  group: number;
  up: boolean;
  proxyArp?: boolean;
  /** In jiffies. */
  proxyDelay?: number;
  /**
   * 0 off, 1 strict, 2 loose, as the kernel applies it: the larger of the
   * port's own value and conf/all's. On a port without an address, as routed
   * ports are, loose rejects what strict does; only 0 checks nothing.
   */
  rpFilter?: number;
  /** Undefined when the kernel has no IPv6. */
  ipv6Disabled?: boolean;
}

export interface NicLinkInfo {
  name: string;
  index: number;
  mac?: string;
  mtu: number;
  up: boolean;
  addresses: Array<Pick<AddressInfo, "address" | "prefixLen">>;
}

/**
 * A stable, locally administered unicast MAC for a bridge. Containers cache the
 * bridge's MAC as their gateway's; deriving it from the name keeps it the same
 * when the bridge is re-created (after a reboot or a plugin restart).
 */
export function bridgeMac(name: string): string {
  const digest = createHash("sha256").update(`azure-vnet bridge ${name}`).digest();
  digest[0] = (digest[0] & 0xfc) | 0x02;
  return macFromBytes(digest.subarray(0, 6));
}

export class LinkOps {
  constructor(private readonly nl: Rtnl) {}

  /**
   * Creates the bridge or brings an existing one in line: MTU, sysctls, up.
   * The MAC is set at creation (or when one is given explicitly) and otherwise
   * left alone, since changing it under running containers breaks their ARP caches.
   */
  async ensureBridge(name: string, mtu: number, opts: { mac?: string } = {}): Promise<LinkInfo> {
    assertIfName(name, "bridge name");
    assertMtu(mtu);
    const wantedMac = opts.mac === undefined ? undefined : assertMac(opts.mac);
    // Before the bridge exists, so that it inherits forwarding=1 like every other link.
    await setIpForward({ on: true });
    let link = await this.nl.getLink(name);
    if (!link) {
      try {
        await this.nl.createBridge(name, { mtu, mac: wantedMac ?? bridgeMac(name) });
      } catch (err) {
        // Another caller created it between our check and our request: fix it up below.
        if (!(err instanceof DataplaneError && err.code === "EEXIST")) throw err;
      }
      link = await this.mustGet(name, "bridge");
      if (link.kind === "bridge") {
        // An MTU given at creation is not "set by the user" to the bridge driver, which would then
        // lower it to the smallest port's. Only a change through a set request pins it.
        await this.nl.setMtu(link.index, mtu === 68 ? 69 : mtu - 1);
        await this.nl.setMtu(link.index, mtu);
        link = await this.mustGet(name, "bridge");
      }
    }
    this.expectKind(link, "bridge");
    if (link.mtu !== mtu) await this.nl.setMtu(link.index, mtu);
    if (wantedMac && link.mac !== wantedMac) await this.nl.setMac(link.index, wantedMac);
    await setProxyArp(name, { on: true });
    await setProxyDelay(name, 0);
    // Strict: a container can only send from an address routed to its own bridge (the kernel
    // applies the larger of this and conf/all/rp_filter, so a host-wide "loose" still wins).
    await setRpFilter(name, 1);
    if (!link.up) await this.nl.setUp(link.index);
    return this.mustGet(name, "bridge");
  }

  /**
   * IPv6 for a dual-stack network's bridge: on, with no address of the
   * kernel's own making, and the containers' gateway `gateway6` (link-local)
   * added without duplicate address detection, so it answers at once. Then
   * IPv6 forwarding for the whole VM, after the NIC's accept_ra is made 2
   * where it was 1: a router ignores router advertisements unless accept_ra
   * is 2, and a VM that learns its IPv6 default route from them (Azure's
   * DHCPv6 setups) would lose it when the route expires.
   */
  async ensureBridgeIpv6(name: string, gateway6: string, nic: string): Promise<void> {
    assertIfName(name, "bridge name");
    assertIfName(nic, "NIC name");
    const gw = assertIPv6(gateway6, "IPv6 gateway");
    const link = await this.mustGet(name, "bridge");
    this.expectKind(link, "bridge");
    await enableIpv6Without(name);
    await this.nl.addAddress6(link.index, gw, 64);
    await this.ensureIpv6Forwarding(nic);
  }

  /** IPv6 forwarding on, after the NIC's accept_ra 1 is made 2 (see ensureBridgeIpv6). */
  async ensureIpv6Forwarding(nic: string): Promise<void> {
    assertIfName(nic, "NIC name");
    if ((await getAcceptRa(nic)) === 1) await setAcceptRa(nic, 2);
    await setIpv6Forwarding();
  }

  /** Routes a container's IPv6 address (/128) to its bridge, replacing a route for it through another link. */
  async addContainerRoute6(ip: string, dev: string): Promise<void> {
    const address = assertIPv6(ip, "container IPv6 address");
    assertIfName(dev, "interface name");
    const link = await this.nl.getLink(dev);
    if (!link) throw new DataplaneError(`add route ${address}`, "ENODEV", `${dev} does not exist`);
    await this.nl.replaceRoute6(address, link.index);
  }

  /** Removes the /128 only if it goes through `dev`; a missing link or route is fine. */
  async removeContainerRoute6(ip: string, dev: string): Promise<void> {
    const address = assertIPv6(ip, "container IPv6 address");
    assertIfName(dev, "interface name");
    const link = await this.nl.getLink(dev);
    if (!link) return;
    await this.nl.deleteRoute6(address, link.index);
  }

  /** Container IPv6 addresses (/128 routes) through each of these links, in one route dump; absent links are left out. */
  async listContainerRoutes6On(names: readonly string[]): Promise<Map<string, string[]>> {
    return this.routesByLink(names, () => this.nl.listHostRoutes6());
  }

  /** Host routes from `list` (one dump) grouped by these links; links that do not exist are left out. */
  private async routesByLink(
    names: readonly string[],
    list: () => Promise<{ dst: string; oif?: number }[]>,
  ): Promise<Map<string, string[]>> {
    names.forEach((n) => assertIfName(n, "interface name"));
    const wanted = new Set(names);
    const byIndex = new Map((await this.nl.listLinks()).filter((l) => wanted.has(l.name)).map((l) => [l.index, l.name]));
    const out = new Map([...byIndex.values()].map((name) => [name, [] as string[]]));
    for (const r of await list()) {
      const name = r.oif === undefined ? undefined : byIndex.get(r.oif);
      if (name !== undefined) out.get(name)?.push(r.dst);
    }
    return out;
  }

  /** A link's IPv6 addresses; empty when it has none or does not exist. */
  async addresses6(name: string): Promise<string[]> {
    assertIfName(name, "interface name");
    const link = await this.nl.getLink(name);
    return link ? this.nl.listAddresses6(link.index) : [];
  }

  /** Deletes the bridge (its routes and sysctls go with it). False if it was already gone. */
  async removeBridge(name: string): Promise<boolean> {
    assertIfName(name, "bridge name");
    const link = await this.nl.getLink(name);
    if (!link) return false;
    this.expectKind(link, "bridge");
    return this.nl.deleteLink(link.index);
  }

  async createEndpointLink(spec: EndpointLinkSpec): Promise<EndpointLink> {
    if (spec.bridge !== undefined) assertIfName(spec.bridge, "bridge name");
    assertIfName(spec.hostName, "host interface name");
    assertIfName(spec.peerName, "peer interface name");
    if (spec.hostName === spec.peerName) throw new PluginError("host and peer interface names must differ");
    assertMtu(spec.mtu);
    const peerMac = spec.peerMac === undefined ? undefined : assertMac(spec.peerMac);

    const bridge = spec.bridge === undefined ? undefined : await this.nl.getLink(spec.bridge);
    if (spec.bridge !== undefined && (!bridge || bridge.kind !== "bridge")) {
      throw new DataplaneError("create endpoint link", "ENODEV", `bridge ${spec.bridge} does not exist`);
    }

    let host = await this.nl.getLink(spec.hostName);
    let peer = await this.nl.getLink(spec.peerName);
    if (host) {
      this.expectKind(host, "veth");
      // The peer is either here under the expected name, or in another namespace (moved into the container).
      const peerHere = host.linkNetnsid === undefined;
      const paired = peer !== undefined && peer.linkIndex === host.index && host.linkIndex === peer.index;
      if (peerHere ? !paired : peer !== undefined) {
        throw new PluginError(`link ${spec.hostName} exists and is not paired with ${spec.peerName}`, "conflict");
      }
    } else {
      if (peer) {
        // A peer without its host end is the remains of an earlier pair under our naming scheme.
        this.expectKind(peer, "veth");
        await this.nl.deleteLink(peer.index);
      }
      await this.nl.createVethPair(spec.hostName, spec.peerName, { mtu: spec.mtu, peerMac });
      host = await this.mustGet(spec.hostName, "veth");
      peer = await this.mustGet(spec.peerName, "veth");
    }

    if (peer) {
      if (peer.mtu !== spec.mtu) await this.nl.setMtu(peer.index, spec.mtu);
      if (peerMac && peer.mac !== peerMac) await this.nl.setMac(peer.index, peerMac);
    }
    if (host.mtu !== spec.mtu) await this.nl.setMtu(host.index, spec.mtu);
    if (bridge && host.master !== bridge.index) await this.nl.setMaster(host.index, bridge.index);
    if (!host.up) await this.nl.setUp(host.index);

    return {
      host: await this.mustGet(spec.hostName, "veth"),
      peer: peer ? await this.nl.getLink(peer.index) : undefined,
    };
  }

  /**
   * The MAC of a veth's other end: in this namespace, or in the one it was
   * moved to (a container's), asked through the namespace id the kernel gives
   * for it, without entering that namespace.
   */
  async peerMac(hostName: string): Promise<string | undefined> {
    assertIfName(hostName, "host interface name");
    const host = await this.nl.getLink(hostName);
    if (!host || host.kind !== "veth" || host.linkIndex === undefined) return undefined;
    const peer =
      host.linkNetnsid === undefined
        ? await this.nl.getLink(host.linkIndex)
        : await this.nl.getLinkInNamespace(host.linkIndex, host.linkNetnsid);
    return peer?.mac;
  }

  /** Deletes the pair through its host end. False if it was already gone. */
  async removeEndpointLink(hostName: string): Promise<boolean> {
    const [outcome] = await this.removeEndpointLinks([hostName]);
    if (outcome.status === "rejected") throw outcome.reason;
    return outcome.value;
  }

  /**
   * Deletes pairs through their host ends, together: the kernel spends most of
   * a veth deletion waiting for grace periods with the caller's thread held,
   * and a batch waits for them once. Two or more pairs are moved into
   * RETIRING_GROUP and deleted with one call; one goes by itself. Each name
   * gets its own outcome: false if it was already gone, an error if it names
   * something other than a veth (which is left alone).
   */
  async removeEndpointLinks(hostNames: readonly string[]): Promise<PromiseSettledResult<boolean>[]> {
    const found = await Promise.allSettled(
      hostNames.map(async (name) => {
        assertIfName(name, "host interface name");
        const link = await this.nl.getLink(name);
        if (link) this.expectKind(link, "veth");
        return link;
      }),
    );
    const present = found.flatMap((f) => (f.status === "fulfilled" && f.value ? [f.value] : []));
    const removed = await this.deleteVeths(present);
    return found.map((f): PromiseSettledResult<boolean> => {
      if (f.status === "rejected") return f;
      return f.value ? (removed.get(f.value.name) ?? { status: "fulfilled", value: false }) : { status: "fulfilled", value: false };
    });
  }

  private async deleteVeths(links: LinkInfo[]): Promise<Map<string, PromiseSettledResult<boolean>>> {
    const one = async (link: LinkInfo) => [link.name, (await Promise.allSettled([this.nl.deleteLink(link.index)]))[0]] as const;
    if (links.length < 2) return new Map(await Promise.all(links.map(one)));
    const marked: LinkInfo[] = [];
    const out = new Map<string, PromiseSettledResult<boolean>>();
    for (const link of links) {
      try {
        await this.nl.setGroup(link.name, RETIRING_GROUP);
        marked.push(link);
      } catch (err) {
        // Gone in the meantime (its container's namespace took it): nothing to delete.
        out.set(
          link.name,
          err instanceof DataplaneError && err.code === "ENODEV"
            ? { status: "fulfilled", value: false }
            : { status: "rejected", reason: err },
        );
      }
    }
    if (marked.length === 0) return out;
    try {
      await this.nl.deleteGroup(RETIRING_GROUP);
      for (const link of marked) out.set(link.name, { status: "fulfilled", value: true });
    } catch {
      // A kernel that refuses the group (a link in it that cannot be deleted so): one by one.
      for (const [name, outcome] of await Promise.all(marked.map(one))) out.set(name, outcome);
    }
    return out;
  }

  /**
   * Routes the container's address to its bridge. Replaces a route for the same
   * address that points elsewhere (a leftover from a crashed run), since the
   * address is now assigned to this container.
   */
  async addContainerRoute(ip: string, bridge: string): Promise<void> {
    assertIPv4(ip, "container address");
    assertIfName(bridge, "bridge name");
    const link = await this.nl.getLink(bridge);
    if (!link || link.kind !== "bridge") {
      throw new DataplaneError(`add route ${ip}`, "ENODEV", `bridge ${bridge} does not exist`);
    }
    await this.nl.addRoute(ip, link.index, { replace: true });
  }

  /**
   * Makes a host veth a routed (transparent) port, before its container can
   * send: its network's link group (what the firewall knows its network by),
   * proxy ARP answering at once (the container's ARP for its gateway or any
   * other address gets the port's MAC, and the VM routes the packet), strict
   * rp_filter (a source not routed back to this port is dropped), IPv6 off
   * (no link-local path from the container to the VM), and up.
   */
  async ensureRoutedPort(hostName: string, group: number, opts: { gateway6?: string } = {}): Promise<void> {
    assertIfName(hostName, "host interface name");
    const link = await this.nl.getLink(hostName);
    if (!link) throw new DataplaneError(`set up port ${hostName}`, "ENODEV", `link ${hostName} does not exist`);
    this.expectKind(link, "veth");
    if ((link.group ?? 0) !== group) await this.nl.setGroup(link.index, group);
    await setProxyArp(hostName, { on: true });
    await setProxyDelay(hostName, 0);
    await setRpFilter(hostName, 1);
    // A dual-stack network's port: IPv6 on with only the containers' link-local gateway, as a bridge's.
    if (opts.gateway6 === undefined) await setIpv6Disabled(hostName);
    else {
      await enableIpv6Without(hostName);
      await this.nl.addAddress6(link.index, assertIPv6(opts.gateway6, "IPv6 gateway"), 64);
    }
    if (!link.up) await this.nl.setUp(link.index);
  }

  /** A routed port's settings as the kernel has them; undefined when the link does not exist. */
  async readRoutedPort(hostName: string): Promise<RoutedPortState | undefined> {
    assertIfName(hostName, "host interface name");
    const link = await this.nl.getLink(hostName);
    if (!link) return undefined;
    return {
      group: link.group ?? 0,
      up: link.up,
      proxyArp: await getProxyArp(hostName),
      proxyDelay: await getProxyDelay(hostName),
      rpFilter: await effectiveRpFilter(hostName),
      ipv6Disabled: await getIpv6Disabled(hostName),
    };
  }

  /**
   * Routes the container's address to its routed port (`ip/32 dev <port> scope
   * link`), replacing a route for the same address that points elsewhere.
   */
  async addPortRoute(ip: string, hostName: string): Promise<void> {
    assertIPv4(ip, "container address");
    assertIfName(hostName, "host interface name");
    const link = await this.nl.getLink(hostName);
    if (!link || link.kind !== "veth") {
      throw new DataplaneError(`add route ${ip}`, "ENODEV", `port ${hostName} does not exist`);
    }
    await this.nl.addRoute(ip, link.index, { replace: true });
  }

  /** Removes the route only if it points at this bridge; a missing bridge or route is fine. */
  async removeContainerRoute(ip: string, bridge: string): Promise<void> {
    assertIPv4(ip, "container address");
    assertIfName(bridge, "bridge name");
    const link = await this.nl.getLink(bridge);
    if (!link) return;
    await this.nl.deleteRoute(ip, link.index);
  }

  /** Container addresses routed to the bridge (for reconciliation). */
  async listContainerRoutes(bridge: string): Promise<string[]> {
    assertIfName(bridge, "bridge name");
    const link = await this.nl.getLink(bridge);
    if (!link) return [];
    const routes = await this.nl.listRoutes(link.index);
    return routes.filter((r) => r.table === 254 && r.prefixLen === 32 && r.type === "UNICAST").map((r) => r.dst);
  }

  /**
   * Container addresses routed through each of these links (bridges or routed
   * ports), read in one route dump; links that do not exist are left out.
   */
  async listContainerRoutesOn(names: readonly string[]): Promise<Map<string, string[]>> {
    return this.routesByLink(names, async () =>
      (await this.nl.listRoutes()).filter((r) => r.table === 254 && r.prefixLen === 32 && r.type === "UNICAST"),
    );
  }

  /**
   * The link carrying this MAC. With accelerated networking the NIC's MAC is
   * also on its SR-IOV virtual function, which is enslaved to the synthetic
   * NIC: prefer the link with no master, then one with no kind (a real device).
   */
  async findLinkByMac(mac: string): Promise<LinkInfo | undefined> {
    const wanted = normaliseMac(mac);
    if (wanted === undefined) throw new PluginError(`invalid MAC address ${JSON.stringify(mac)}`);
    const rank = (l: LinkInfo) => (l.master === undefined ? 0 : 2) + (l.kind === undefined ? 0 : 1);
    const matches = (await this.nl.listLinks()).filter((l) => l.mac === wanted);
    matches.sort((a, b) => rank(a) - rank(b) || a.index - b.index);
    return matches[0];
  }

  async nicInfo(name: string): Promise<NicLinkInfo | undefined> {
    assertIfName(name, "interface name");
    const link = await this.nl.getLink(name);
    if (!link) return undefined;
    const addresses = (await this.nl.listAddresses(link.index)).map((a) => ({
      address: a.address,
      prefixLen: a.prefixLen,
    }));
    return { name: link.name, index: link.index, mac: link.mac, mtu: link.mtu, up: link.up, addresses };
  }

  private async mustGet(ref: string | number, kind: string): Promise<LinkInfo> {
    const link = await this.nl.getLink(ref);
    if (!link) throw new DataplaneError(`get ${kind} ${ref}`, "ENODEV", "vanished right after being set up");
    return link;
  }

  private expectKind(link: LinkInfo, kind: string): void {
    if (link.kind !== kind) {
      throw new PluginError(
        `a link named ${link.name} already exists and is not a ${kind} (it is ${link.kind ?? "a device"}); ` +
          `remove it or choose another name`,
        "conflict",
      );
    }
  }
}
