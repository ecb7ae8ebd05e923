/**
 * One reconciliation run as the daemon does it: with Docker first, then the
 * kernel. The first run that reaches Docker after a damaged checkpoint
 * confirms the state and repairs the kernel in full; every other run checks
 * what others may have changed behind the plugin's back (a port guard
 * flushed or unhooked by hand, a secondary NIC's rules flushed, the firewall
 * jumps overtaken by Docker's after a dockerd restart). Each run's outcome is written beside the checkpoint.
 */
import type { Logger } from "../log";
import { errorMessage } from "../errors";
import type { NetworkManager } from "../network/manager";
import type { DockerReconciler } from "./docker";
import { writeReconcileReport } from "./report";
import type { StateTrust } from "./trust";

export interface CycleDeps {
  docker: DockerReconciler;
  trust: StateTrust;
  network: Pick<NetworkManager, "repairKernel" | "repairGuards" | "reapplyFirewall" | "repairNicRouting">;
  persist: () => Promise<void>;
  stateDir: string;
  logger: Logger;
  /** Told about each failed run or item (metrics). */
  onFailure?: () => void;
}

/** Returns the run: it resolves true when Docker answered. */
export function reconcileCycle(d: CycleDeps): () => Promise<boolean> {
  return async () => {
    const report = await d.docker.runOnce();
    if (!report.ok || report.itemErrors.length) d.onFailure?.();
    if (report.ok && !d.trust.verified) {
      // Now the checkpoint explains everything Docker runs: what it does not
      // explain in the kernel is left over, and goes.
      await d.network.repairKernel({ removeOrphans: true });
      d.trust.confirm();
      await d.persist();
      d.logger.info("state confirmed with Docker: handing out addresses again");
    } else if (d.trust.verified) {
      await checkKernel(d.network, d.logger);
    }
    await writeReconcileReport(d.stateDir, report).catch((err) =>
      d.logger.warn("could not record the reconciliation", { error: errorMessage(err) }),
    );
    return report.ok;
  };
}

async function checkKernel(network: CycleDeps["network"], logger: Logger): Promise<void> {
  try {
    const guards = await network.repairGuards({ removeOthers: true });
    if (guards.repaired.length || guards.removed.length) {
      logger.warn("port guards or routed ports were not as recorded and have been restored", {
        repaired: guards.repaired.join(",") || "none",
        removed: guards.removed.join(",") || "none",
      });
    }
    const routing = await network.repairNicRouting();
    if (routing.added.length || routing.removed.length || routing.problems.length) {
      logger.warn("policy routing of secondary NICs was not as the networks need it and has been restored", {
        added: routing.added.join(", ") || "none",
        removed: routing.removed.join(", ") || "none",
        problems: routing.problems.join("; ") || "none",
      });
    }
    // Docker puts its own jumps on top whenever it starts a container: routine, not a warning.
    if (await network.reapplyFirewall()) logger.info("firewall put back as planned (a jump overtaken or a chain changed)");
  } catch (err) {
    logger.warn("could not check the port guards, policy routing and firewall", { error: errorMessage(err) });
  }
}
