/**
 * Bringing the kernel in line with the records (start-up, and again once a
 * damaged checkpoint is confirmed by Docker): what the kernel model wants is
 * (re)built, and with `removeOrphans` what no record explains is removed.
 */
import type { Dataplane } from "../dataplane";
import type { Logger } from "../log";
import { errorMessage } from "../errors";
import { shortId } from "../lib/text";
import { desiredKernel, diffKernel } from "./kernel-model";
import { syncGuards } from "./guards";
import { BRIDGE_PREFIX, type NetworkState } from "./records";

export interface KernelRepairReport {
  bridgesEnsured: number;
  routesEnsured: number;
  /** Endpoints whose host veth is gone (the container's namespace died, or the VM rebooted). */
  endpointsWithoutLink: string[];
  orphanLinksRemoved: string[];
  orphanRoutesRemoved: string[];
  orphanGuardsRemoved: string[];
  errors: string[];
}

export interface RepairOptions {
  /**
   * False while the checkpoint is not trusted (recovered from damage): what it
   * does not explain may belong to a container it forgot, so nothing is removed.
   */
  removeOrphans: boolean;
  /** Applies the firewall for the recorded networks (or leaves it, while untrusted). */
  applyFirewall: () => Promise<void>;
}

/** A repair that found nothing to do. */
export function emptyRepairReport(): KernelRepairReport {
  return {
    bridgesEnsured: 0,
    routesEnsured: 0,
    endpointsWithoutLink: [],
    orphanLinksRemoved: [],
    orphanRoutesRemoved: [],
    orphanGuardsRemoved: [],
    errors: [],
  };
}

export async function repairKernel(state: NetworkState, dp: Dataplane, opts: RepairOptions, logger: Logger): Promise<KernelRepairReport> {
  const report = emptyRepairReport();
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

  for (const net of Object.values(state.networks)) {
    if (await attempt(`bridge ${net.bridge}`, () => dp.ensureBridge(net.bridge, net.mtu))) report.bridgesEnsured++;
  }

  const links = new Set((await dp.listLinks()).map((l) => l.name));
  const desired = desiredKernel(state, links);
  report.endpointsWithoutLink = desired.withoutLink.filter((e) => e.bridge).map((e) => shortId(e.endpointId));
  for (const ep of desired.live) {
    if (await attempt(`route ${ep.address}`, () => dp.addContainerRoute(ep.address, ep.bridge as string))) report.routesEnsured++;
  }

  if (opts.removeOrphans) {
    // Links named like ours that no record explains: a crash between the
    // kernel change and the checkpoint, or a network removed while the plugin was down.
    const routes = new Map<string, string[]>();
    for (const bridge of desired.routes.keys()) {
      await attempt(`routes of ${bridge}`, async () => void routes.set(bridge, await dp.listContainerRoutes(bridge)));
    }
    const diff = diffKernel(desired, { links, routes });
    for (const name of diff.orphanLinks) {
      const remove = name.startsWith(BRIDGE_PREFIX) ? () => dp.removeBridge(name) : () => dp.removeEndpointLink(name);
      if (await attempt(`remove ${name}`, remove)) report.orphanLinksRemoved.push(name);
    }
    for (const { address, bridge } of diff.leftoverRoutes) {
      if (await attempt(`remove route ${address}`, () => dp.removeContainerRoute(address, bridge)))
        report.orphanRoutesRemoved.push(address);
    }
  }

  // One step for every guard, however many endpoints there are; an endpoint
  // recorded without its MAC gets the one its guard or its container end has.
  await attempt(
    "port guards",
    async () => void report.orphanGuardsRemoved.push(...(await syncGuards(state, dp, opts.removeOrphans)).removed),
  );

  await attempt("firewall", opts.applyFirewall);
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
