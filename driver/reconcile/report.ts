/**
 * The last reconciliation with Docker, kept beside the checkpoint so that
 * `azure-vnet-plugin status` can show it without asking the daemon.
 */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import type { DockerReconcileReport } from "./docker";

export const RECONCILE_REPORT_FILE = "last-reconcile.json";

export async function writeReconcileReport(stateDir: string, report: DockerReconcileReport): Promise<void> {
  const file = join(stateDir, RECONCILE_REPORT_FILE);
  await fs.writeFile(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(`${file}.tmp`, file);
}

export async function readReconcileReport(stateDir: string): Promise<DockerReconcileReport | undefined> {
  try {
    return JSON.parse(await fs.readFile(join(stateDir, RECONCILE_REPORT_FILE), "utf8")) as DockerReconcileReport;
  } catch {
    return undefined;
  }
}
