/**
 * Owns what each network mode builds in the kernel, as steps over the
 * dataplane, so the network manager and the start-up repair stay free of
 * per-mode branches. Where things hang is the kernel model's
 * (kernel-model.ts); this file only acts on it.
 *
 *  - bridge: a bridge per network (proxy ARP, strict rp_filter); each host
 *    veth joins it and gets a port guard; container routes point at the bridge.
 *    A dual-stack network's bridge also has IPv6 on, with the containers'
 *    link-local IPv6 gateway; each container's IPv6 address is a /128 route
 *    to the bridge, and its guard allows that address too.
 *  - transparent: no bridge; each host veth is a routed port (its network's
 *    link group, proxy ARP, strict rp_filter, no IPv6) and its container's
 *    /32 route points at it. The VM's routing drops a source that is not
 *    routed back to the port it came in on; nothing per port is added to the
 *    firewall.
 */
import type { Dataplane, EndpointLinkSpec, FirewallPorts } from "../dataplane";
import { PluginError } from "../errors";
import { shortId as short } from "../lib/text";
import { type EndpointKernel, guardOf } from "./kernel-model";
import { GATEWAY6, type NetworkRecord, type NetworkState, portGroup } from "./records";

/** Whatever a network needs before its endpoints. True when it has (and got) a bridge. */
export async function ensureNetworkKernel(dp: Dataplane, net: NetworkRecord): Promise<boolean> {
  switch (net.options.mode) {
    case "bridge":
      await dp.ensureBridge(net.bridge, net.mtu);
      if (net.subnet6) await dp.ensureBridgeIpv6(net.bridge, GATEWAY6, await nicName(dp, net));
      return true;
    case "transparent":
      // No bridge to carry the setting: routing between the NIC and the ports needs it all the same.
      await dp.ensureForwarding();
      if (net.subnet6) await dp.ensureIpv6Forwarding(await nicName(dp, net));
      return false;
  }
}

async function nicName(dp: Dataplane, net: NetworkRecord): Promise<string> {
  const nic = await dp.findLinkByMac(net.nicMac);
  if (!nic) throw new PluginError(`no network interface with MAC ${net.nicMac} on this VM`, "unavailable");
  return nic.name;
}

/**
 * Refuses a network the kernel could not tell apart from another one: every
 * network has a bridge name of its own (made from the first characters of its
 * id), and two transparent networks are told apart by their ports' link
 * group, derived from their ids (a clash is as unlikely as two equal 28-bit hashes).
 */
export function checkNetworkFits(state: NetworkState, net: NetworkRecord): void {
  const namesake = Object.values(state.networks).find((n) => n.id !== net.id && n.bridge === net.bridge);
  if (namesake) {
    throw new PluginError(
      `network ${short(net.id)} would have the bridge name ${net.bridge} of network ${short(namesake.id)}, whose id begins the same; remove it and create it again (a new network gets a new id)`,
      "conflict",
    );
  }
  if (net.options.mode !== "transparent") return;
  const group = portGroup(net.id);
  const clash = Object.values(state.networks).find((n) => n.id !== net.id && n.options.mode === "transparent" && portGroup(n.id) === group);
  if (clash) {
    throw new PluginError(
      `transparent network ${short(net.id)} would share the port group 0x${group.toString(16)} of network ${short(clash.id)}; remove it and create it again (a new network gets a new group)`,
      "conflict",
    );
  }
}

/** How the firewall recognises a network's container traffic: by its bridge, or by its routed ports' link group. */
export function firewallPortsOf(net: NetworkRecord): FirewallPorts {
  switch (net.options.mode) {
    case "bridge":
      return { mode: "bridge", bridge: net.bridge };
    case "transparent":
      return { mode: "transparent", portGroup: portGroup(net.id) };
  }
}

/** The veth pair an endpoint wants: a bridge port, or (transparent) a port of its own. */
export function endpointLinkSpec(ep: EndpointKernel, mtu: number): EndpointLinkSpec {
  return {
    ...(ep.bridge ? { bridge: ep.bridge } : {}),
    hostName: ep.hostVeth,
    peerName: ep.peerVeth,
    mtu,
    ...(ep.mac ? { peerMac: ep.mac } : {}),
  };
}

/**
 * Puts an endpoint whose veth pair exists in order, before its container can
 * send: a bridge port gets its guard (its own MAC and address only) and the
 * route via the bridge; a routed port its link group, proxy ARP and strict
 * rp_filter, then the route via itself. False when a bridge port's guard could
 * not be written for want of a MAC (the port then drops every frame).
 */
export async function setUpEndpointKernel(dp: Dataplane, ep: EndpointKernel): Promise<boolean> {
  switch (ep.mode) {
    case "bridge": {
      const bridge = ep.bridge as string;
      const guard = guardOf(ep);
      if (guard) await dp.addPortGuard(guard);
      await dp.addContainerRoute(ep.address, bridge);
      if (ep.address6) await dp.addContainerRoute6(ep.address6, bridge);
      return guard !== undefined;
    }
    case "transparent":
      await dp.ensureRoutedPort(ep.hostVeth, ep.portGroup as number, ep.address6 ? { gateway6: GATEWAY6 } : {});
      await dp.addPortRoute(ep.address, ep.hostVeth);
      if (ep.address6) await dp.addContainerRoute6(ep.address6, ep.hostVeth);
      return true;
    case undefined:
      throw new Error(`endpoint ${short(ep.endpointId)} belongs to no recorded network`);
  }
}
