/**
 * Bringing the kernel in line with the records (start-up, and again once a
 * damaged checkpoint is confirmed by Docker): what the kernel model wants is
 * (re)built, and with `removeOrphans` what no record explains is removed.
 * Both modes take the same steps (modes.ts says what each builds): a bridge
 * network gets its bridge and its endpoints their routes via it; a
 * transparent network has no bridge, and each live endpoint's host veth is
 * made a routed port again with its route.
 */
import type { Dataplane } from "../dataplane";
import type { Logger } from "../log";
import { errorMessage } from "../errors";
import { shortId } from "../lib/text";
import { desiredKernel, diffKernel } from "./kernel-model";
import { ensureNetworkKernel, setUpEndpointKernel } from "./modes";
import { syncGuards } from "./guards";
import { syncNicRouting } from "./nic-routing";
import { BRIDGE_PREFIX, type NetworkState } from "./records";

export interface KernelRepairReport {
  bridgesEnsured: number;
  /** Live endpoints put back in order: their route, and a routed port's settings (guards are counted apart). */
  routesEnsured: number;
  /** Endpoints whose host veth is gone (the container's namespace died, or the VM rebooted). */
  endpointsWithoutLink: string[];
  orphanLinksRemoved: string[];
  orphanRoutesRemoved: string[];
  orphanGuardsRemoved: string[];
  /** Secondary NICs' rules and table routes put back, and the plugin's own no network needs any more removed. */
  nicRoutingAdded: string[];
  nicRoutingRemoved: string[];
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
    nicRoutingAdded: [],
    nicRoutingRemoved: [],
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
    const what = net.options.mode === "bridge" ? `bridge ${net.bridge}` : `network ${shortId(net.id)}`;
    // False for a network without a bridge: nothing to count.
    if (await attempt(what, () => ensureNetworkKernel(dp, net))) report.bridgesEnsured++;
  }

  const links = new Set((await dp.listLinks()).map((l) => l.name));
  const desired = desiredKernel(state, links);
  report.endpointsWithoutLink = desired.withoutLink.filter((e) => e.mode).map((e) => shortId(e.endpointId));
  for (const ep of desired.live) {
    // Each endpoint's own pieces; the guards follow below, all in one step.
    const setUp = async () => void (await setUpEndpointKernel(dp, { ...ep, mac: undefined }));
    if (await attempt(`route ${ep.address}`, setUp)) report.routesEnsured++;
  }

  if (opts.removeOrphans) {
    // Links named like ours that no record explains: a crash between the
    // kernel change and the checkpoint, or a network removed while the plugin was down.
    let routes = new Map<string, string[]>();
    await attempt("read container routes", async () => void (routes = await dp.listContainerRoutesOn([...desired.routes.keys()])));
    const diff = diffKernel(desired, { links, routes });
    // All at once: the dataplane deletes veths and drops flows in batches.
    const linksRemoved = await Promise.all(
      diff.orphanLinks.map((name) =>
        attempt(`remove ${name}`, name.startsWith(BRIDGE_PREFIX) ? () => dp.removeBridge(name) : () => removeOrphanPort(dp, name)),
      ),
    );
    report.orphanLinksRemoved.push(...diff.orphanLinks.filter((_, i) => linksRemoved[i]));
    // An endpoint's clean-up removes its route last: a route left over means
    // the clean-up was cut short, so the address's flows go too.
    const routesRemoved = await Promise.all(
      diff.leftoverRoutes.map(async ({ address, dev }) => {
        await attempt(`flows of ${address}`, () => dp.forgetFlows(address));
        return attempt(`remove route ${address}`, () => dp.removeContainerRoute(address, dev));
      }),
    );
    report.orphanRoutesRemoved.push(...diff.leftoverRoutes.filter((_, i) => routesRemoved[i]).map((r) => r.address));
  }

  // One step for every guard, however many endpoints there are; an endpoint
  // recorded without its MAC gets the one its guard or its container end has.
  await attempt(
    "port guards",
    async () => void report.orphanGuardsRemoved.push(...(await syncGuards(state, dp, opts.removeOrphans)).removed),
  );

  await attempt("policy routing", async () => {
    const result = await syncNicRouting(dp, state, opts.removeOrphans ? "others" : "none");
    report.nicRoutingAdded.push(...result.added);
    report.nicRoutingRemoved.push(...result.removed);
    report.errors.push(...result.problems.map((p) => `policy routing: ${p}`));
  });

  await attempt("firewall", opts.applyFirewall);
  const level = report.errors.length ? "warn" : "info";
  logger[level]("kernel reconciled", {
    bridges: report.bridgesEnsured,
    routes: report.routesEnsured,
    endpointsWithoutLink: report.endpointsWithoutLink.length,
    orphanLinksRemoved: report.orphanLinksRemoved.join(",") || "none",
    orphanRoutesRemoved: report.orphanRoutesRemoved.join(",") || "none",
    orphanGuardsRemoved: report.orphanGuardsRemoved.join(",") || "none",
    nicRoutingAdded: report.nicRoutingAdded.join(", ") || "none",
    nicRoutingRemoved: report.nicRoutingRemoved.join(", ") || "none",
    errors: report.errors.join("; ") || "none",
  });
  return report;
}

/**
 * A host veth no record explains: its endpoint's clean-up was cut short. The
 * flows of the address it is routed to (a routed port's /32 lives on it) go
 * before the veth does, so a crash in between leaves the marker in place.
 */
async function removeOrphanPort(dp: Dataplane, name: string): Promise<boolean> {
  const addresses = (await dp.listContainerRoutesOn([name])).get(name) ?? [];
  for (const address of addresses) await dp.forgetFlows(address);
  return dp.removeEndpointLink(name);
}
