/**
 * The operator subcommands of azure-vnet-plugin: `status` and `doctor`. They
 * take serve's flags (same state dir, metadata source and socket) so that
 * whatever the daemon is started with, the same words inspect it.
 */
import type { Command } from "commander";
import { registerServeOptions, resolveServeConfig } from "../config";
import { LinuxDataplane } from "../dataplane";
import { readReconcileReport } from "../reconcile/report";
import { readCheckpoint } from "./checkpoint-view";
import { renderDoctor, runDoctor } from "./doctor";
import { type Facts, gatherFacts, linuxKernelReader } from "./facts";
import { probeMetadata } from "./metadata-probe";
import { probePluginStatus, probeSocket } from "./socket-probe";
import { choosePlugin, type PluginLocation } from "./locate";
import { probe } from "./probed";
import { dockerEndpoint, listDockerPlugins } from "../reconcile/docker-engine";
import { buildStatus, renderStatus } from "./status";
import { buildInfo, versionText } from "../version";

/** The serve flags that say where to look; the others are accepted but hidden, so one set of flags fits all. */
const INSPECTION_FLAGS = new Set(["--socket", "--state-dir", "--metadata-source", "--metadata-file", "--imds-url", "--wireserver-url"]);

interface OperatorFlags extends Record<string, unknown> {
  json?: boolean;
  timeout?: string;
  metadata?: boolean;
}

function withCommonOptions(cmd: Command): Command {
  registerServeOptions(cmd);
  for (const option of cmd.options) if (!option.long || !INSPECTION_FLAGS.has(option.long)) option.hideHelp();
  return cmd
    .option("--json", "print JSON instead of text")
    .option("--timeout <ms>", "how long to wait for the metadata service, Docker's API and the plugin's socket", "2000");
}

function timeoutOf(flags: OperatorFlags): number {
  const ms = Number(flags.timeout);
  if (!Number.isInteger(ms) || ms < 1 || ms > 60_000) throw new Error(`--timeout ${flags.timeout}: give milliseconds from 1 to 60000`);
  return ms;
}

async function collect(flags: OperatorFlags, env: NodeJS.ProcessEnv, opts: { askAllSources: boolean }): Promise<Facts> {
  const { askAllSources } = opts;
  const config = resolveServeConfig(flags, env);
  const timeoutMs = timeoutOf(flags);
  const location = await locate(flags, env, config.socket, timeoutMs);
  const dataplane = new LinuxDataplane({ netlinkTimeoutMs: timeoutMs * 2 });
  try {
    return await gatherFacts({
      stateDir: config.stateDir,
      checkpoint: () => readCheckpoint(config.stateDir),
      ...(flags.metadata !== false && { metadata: () => probeMetadata(config, { timeoutMs, all: askAllSources }) }),
      kernel: linuxKernelReader(dataplane),
      socket: () => probeSocket(location.socket, timeoutMs),
      daemon: () => probePluginStatus(location.socket, timeoutMs),
      lastReconcile: () => readReconcileReport(config.stateDir),
      location,
      reconcileIntervalSeconds: config.reconcileInterval,
    });
  } finally {
    await dataplane.close();
  }
}

/** The plugin to inspect: --socket (or AZURE_VNET_SOCKET) when given, else what Docker's API says is enabled, else the legacy socket. */
async function locate(flags: OperatorFlags, env: NodeJS.ProcessEnv, resolved: string, timeoutMs: number): Promise<PluginLocation> {
  const given = typeof flags.socket === "string" || (env.AZURE_VNET_SOCKET ?? "") !== "";
  const plugins = await probe(() => listDockerPlugins(env, timeoutMs));
  const docker = dockerEndpoint(env);
  const dockerSocket = docker.kind === "unix" && env.DOCKER_HOST ? docker.socketPath : undefined;
  return choosePlugin({ ...(given && { given: resolved }), legacySocket: resolved, plugins, ...(dockerSocket && { dockerSocket }) });
}

function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

/** A report as printed: text under a line naming this build, JSON with its version and commit (`azureVnet`). */
export function reportOutput(report: object, render: () => string, json: boolean | undefined): string {
  return json ? JSON.stringify({ azureVnet: buildInfo(), ...report }, null, 2) : `${versionText()}\n${render()}`;
}

export function registerOperatorCommands(program: Command, env: NodeJS.ProcessEnv = process.env): void {
  withCommonOptions(
    program
      .command("status")
      .description(
        "show networks, pools, addresses per NIC and endpoints, from the plugin's state and the kernel (read-only; Docker is asked only which plugin is enabled, and need not answer)",
      )
      .option("--no-metadata", "do not ask the metadata service (free addresses are then unknown)"),
  ).action(async (flags: OperatorFlags) => {
    const report = buildStatus(await collect(flags, env, { askAllSources: false }));
    print(reportOutput(report, () => renderStatus(report), flags.json));
  });

  withCommonOptions(
    program
      .command("doctor")
      .description("check what breaks containers on this VM and say how to fix it; exit code 0 when healthy, 1 when not"),
  ).action(async (flags: OperatorFlags) => {
    const report = runDoctor(await collect(flags, env, { askAllSources: true }));
    print(reportOutput(report, () => renderDoctor(report), flags.json));
    process.exitCode = report.healthy ? 0 : 1;
  });
}
