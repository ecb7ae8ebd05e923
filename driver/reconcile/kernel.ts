/**
 * Start-up reconciliation of the kernel to the checkpoint: bridges and routes
 * the networks need are (re)built, links and routes the plugin made but no
 * longer records are removed, and the firewall is applied whole.
 */
import type { Dataplane } from "../dataplane";
import type { Logger } from "../log";
import { errorMessage } from "../errors";
import { syncGuards } from "../network/guards";
import { BRIDGE_PREFIX, HOST_VETH_PREFIX, NetworkState, PEER_VETH_PREFIX } from "../network/records";

export interface KernelReconcileReport {
  bridgesEnsured: number;
  routesEnsured: number;
  /** Endpoints whose host veth is gone (the container's namespace died, or the VM rebooted). */
  endpointsWithoutLink: string[];
  orphanLinksRemoved: string[];
  orphanRoutesRemoved: string[];
  orphanGuardsRemoved: string[];
  errors: string[];
}

export async function reconcileKernel(
  state: NetworkState,
  dp: Dataplane,
  applyFirewall: () => Promise<void>,
  logger: Logger,
  /**
   * False while the checkpoint is not trusted (recovered from damage): what it
   * does not explain may belong to a container it forgot, so nothing is removed.
   */
  removeOrphans = true,
): Promise<KernelReconcileReport> {
  const report: KernelReconcileReport = { bridgesEnsured: 0, routesEnsured: 0, endpointsWithoutLink: [], orphanLinksRemoved: [], orphanRoutesRemoved: [], orphanGuardsRemoved: [], errors: [] };
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      // A step that reports `false` found nothing to do (e.g. a veth already
      // gone with its removed peer).
      return (await fn()) !== false;
    } catch (err) {
      report.errors.push(`${what}: ${errorMessage(err)}`);
      return false;
    }
  };

  const networks = Object.values(state.networks);
  const endpoints = Object.values(state.endpoints);
  for (const net of networks) {
    if (await attempt(`bridge ${net.bridge}`, () => dp.ensureBridge(net.bridge, net.mtu))) report.bridgesEnsured++;
  }

  const links = new Map((await dp.listLinks()).map((l) => [l.name, l]));
  for (const ep of endpoints) {
    const net = state.networks[ep.networkId];
    if (!net) continue;
    if (!links.has(ep.hostVeth)) {
      report.endpointsWithoutLink.push(ep.id.slice(0, 12));
      continue;
    }
    if (await attempt(`route ${ep.address}`, () => dp.addContainerRoute(ep.address, net.bridge))) report.routesEnsured++;
  }

  // Links named like ours that no record explains: a crash between the kernel
  // change and the checkpoint, or a network removed while the plugin was down.
  const bridges = new Set(networks.map((n) => n.bridge));
  const hostVeths = new Set(endpoints.map((e) => e.hostVeth));
  const peerVeths = new Set(endpoints.map((e) => e.peerVeth));
  for (const name of removeOrphans ? links.keys() : []) {
    let remove: (() => Promise<boolean>) | undefined;
    if (name.startsWith(BRIDGE_PREFIX) && !bridges.has(name)) remove = () => dp.removeBridge(name);
    else if (name.startsWith(HOST_VETH_PREFIX) && !hostVeths.has(name)) remove = () => dp.removeEndpointLink(name);
    else if (name.startsWith(PEER_VETH_PREFIX) && !peerVeths.has(name)) remove = () => dp.removeEndpointLink(name);
    if (remove && (await attempt(`remove ${name}`, remove))) report.orphanLinksRemoved.push(name);
  }

  for (const net of removeOrphans ? networks : []) {
    const wanted = new Set(endpoints.filter((e) => e.networkId === net.id && links.has(e.hostVeth)).map((e) => e.address));
    let routes: string[] = [];
    await attempt(`routes of ${net.bridge}`, async () => void (routes = await dp.listContainerRoutes(net.bridge)));
    for (const ip of routes) {
      if (!wanted.has(ip) && (await attempt(`remove route ${ip}`, () => dp.removeContainerRoute(ip, net.bridge)))) report.orphanRoutesRemoved.push(ip);
    }
  }

  // One step for every guard, however many endpoints there are; an endpoint
  // recorded without its MAC gets the one its guard or its container end has.
  await attempt("port guards", async () => void report.orphanGuardsRemoved.push(...(await syncGuards(state, dp, removeOrphans)).removed));

  await attempt("firewall", applyFirewall);
  const level = report.errors.length ? "warn" : "info";
  logger[level]("kernel reconciled", {
    bridges: report.bridgesEnsured,
    routes: report.routesEnsured,
    endpointsWithoutLink: report.endpointsWithoutLink.length,
    orphanLinksRemoved: report.orphanLinksRemoved.join(",") || "none",
    orphanRoutesRemoved: report.orphanRoutesRemoved.join(",") || "none",
    orphanGuardsRemoved: report.orphanGuardsRemoved.join(",") || "none",
    errors: report.errors.join("; ") || "none",
  });
  return report;
}
