/**
 * Container ports as the records want them. Every bridge-mode endpoint whose
 * host veth is present gets a guard for its MAC and address. An endpoint
 * recorded without a MAC (adopted from Docker, which seldom knows a remote
 * driver's MAC) gets the one its old guard allowed or, failing that, the one
 * its container end carries; one that stays unknown keeps a port without a
 * guard of its own, which drops every frame. A transparent network's routed
 * ports need no guard (the VM's routing checks their sources); what they do
 * need, their group, sysctls and route, is put back when someone changed it.
 */
import type { Dataplane, PortGuard } from "../dataplane";
import { desiredKernel, guardOf, isGuarded, routedPortProblems } from "./kernel-model";
import { setUpEndpointKernel } from "./modes";
import type { EndpointRecord, NetworkState } from "./records";

/** The MAC of an endpoint's container end, without Docker's help; undefined if it cannot be found. */
export async function findEndpointMac(dp: Dataplane, ep: EndpointRecord): Promise<string | undefined> {
  const guard = await dp.readPortGuard(ep.hostVeth).catch(() => undefined);
  if (guard?.mac && guard.address === ep.address) return guard.mac;
  return dp.endpointPeerMac(ep.hostVeth).catch(() => undefined);
}

/**
 * Makes the kernel's guards match the records in one dataplane step (nothing
 * is rewritten when they already do); with `removeOthers`, guards no record
 * explains go. MACs found on the way are written into the records. Routed
 * ports not as the plugin set them up are set up again and counted as
 * repaired; when all are in place that costs one route dump and a few sysctl
 * reads per port.
 */
export async function syncGuards(
  state: NetworkState,
  dp: Dataplane,
  removeOthers: boolean,
): Promise<{ repaired: string[]; removed: string[] }> {
  const links = new Set((await dp.listLinks()).map((l) => l.name));
  const wanted: PortGuard[] = [];
  for (const ep of desiredKernel(state, links).live) {
    if (!isGuarded(ep)) continue;
    const record = state.endpoints[ep.endpointId];
    const mac = record.mac ?? (await findEndpointMac(dp, record));
    if (mac) record.mac = ep.mac = mac;
    const guard = guardOf(ep);
    if (guard) wanted.push(guard);
  }
  const guards = await dp.syncPortGuards(wanted, removeOthers);
  const ports = await syncRoutedPorts(state, dp, links);
  return { repaired: [...guards.repaired, ...ports], removed: guards.removed };
}

/** Sets up again each live transparent endpoint's routed port whose group, sysctls or route someone changed; returns those ports. */
async function syncRoutedPorts(state: NetworkState, dp: Dataplane, links: ReadonlySet<string>): Promise<string[]> {
  const ports = desiredKernel(state, links).live.filter((e) => e.mode === "transparent");
  if (ports.length === 0) return [];
  const routes = await dp.listContainerRoutesOn(ports.map((p) => p.hostVeth));
  const fixed: string[] = [];
  for (const ep of ports) {
    const routed = routes.get(ep.hostVeth)?.includes(ep.address) ?? false;
    if (routed && routedPortProblems(ep, await dp.readRoutedPort(ep.hostVeth)).length === 0) continue;
    await setUpEndpointKernel(dp, ep);
    fixed.push(ep.hostVeth);
  }
  return fixed;
}
