/**
 * Port guards as the records want them: every bridge-mode endpoint whose host
 * veth is present gets a guard for its MAC and address (a transparent
 * network's routed ports need none: the VM's routing checks their sources). An endpoint recorded without
 * a MAC (adopted from Docker, which seldom knows a remote driver's MAC) gets
 * the one its old guard allowed or, failing that, the one its container end
 * carries; one that stays unknown keeps a port without a guard of its own,
 * which drops every frame.
 */
import type { Dataplane, PortGuard } from "../dataplane";
import { desiredKernel, guardOf, isGuarded } from "./kernel-model";
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
 * explains go. MACs found on the way are written into the records.
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
  return dp.syncPortGuards(wanted, removeOthers);
}
