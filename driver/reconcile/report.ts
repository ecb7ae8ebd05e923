/**
 * The last reconciliation with Docker, kept beside the checkpoint so that
 * `azure-vnet-plugin status` can show it without asking the daemon, and the
 * daemon's own answer to AzureVnet.Status on its socket, which carries it too
 * (a managed plugin's state directory need not be visible on the host).
 */
import * as fs from "../lib/fs-async";
import { join } from "node:path";
import type { DockerReconcileReport } from "./docker";

export const RECONCILE_REPORT_FILE = "last-reconcile.json";

/** What the daemon answers to AzureVnet.Status. */
export interface PluginStatusReply {
  /** When the daemon started (ISO time). */
  startedAt: string;
  reconcileIntervalSeconds: number;
  /** Where the daemon reaches Docker's API, as DOCKER_HOST spells it. */
  dockerHost: string;
  /** Null until the first reconciliation has run. */
  lastReconcile: DockerReconcileReport | null;
  /** The daemon's memory when it answered (bytes): resident in all, and V8's heap and the memory V8 objects hold outside it. */
  memory?: DaemonMemory;
}

export interface DaemonMemory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

export function daemonMemory(): DaemonMemory {
  const { rss, heapTotal, heapUsed, external } = process.memoryUsage();
  return { rss, heapTotal, heapUsed, external };
}

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
