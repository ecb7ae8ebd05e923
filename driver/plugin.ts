/**
 * Wiring and lifecycle of the plugin daemon: lock the state directory, load
 * the checkpoint, repair the kernel to it, and only then open the socket
 * Docker talks to; then reconcile with Docker in the background. The rules
 * themselves live in the modules wired here.
 */
import { IdleGate } from "./lib/idle-gate";
import type { ServeConfig } from "./config";
import type { Logger } from "./log";
import { CHECKPOINT_SCHEMA, Checkpoint, emptyCheckpoint, openCheckpointStore, type Persist } from "./checkpoint";
import { Dataplane, LinuxDataplane } from "./dataplane";
import {
  AddressManager,
  AutoSource,
  FileSource,
  ImdsSource,
  type IpamReport,
  MetadataCache,
  MetadataSource,
  WireserverSource,
} from "./ipam";
import { NetworkManager } from "./network/manager";
import type { KernelRepairReport } from "./network/repair";
import { releaseDeadEndpoints } from "./reconcile/reclaim";
import { DockerApi, DockerReconcileReport, DockerReconciler } from "./reconcile/docker";
import { describeDockerEndpoint, dockerEndpoint, dockerEngineApi } from "./reconcile/docker-engine";
import { daemonMemory, type PluginStatusReply, readReconcileReport } from "./reconcile/report";
import { reconcileCycle } from "./reconcile/cycle";
import { ReconcileLoop } from "./reconcile/loop";
import { StateTrust } from "./reconcile/trust";
import { createProtocolApp, serveUnixSocket } from "./protocol/server";
import { acquireInstanceLock, type InstanceLock } from "./state/instance-lock";
import { errorMessage } from "./errors";
// Not "./metrics": its registry loads prom-client, which only a daemon with metrics on needs (pluginMetrics).
import type { PluginMetrics } from "./metrics/registry";
import { observedSource } from "./metrics/observed-source";
import { type MetricsServer, serveMetrics } from "./metrics/server";

export interface RunningPlugin {
  readonly checkpoint: Checkpoint;
  readonly ipam: AddressManager;
  readonly network: NetworkManager;
  readonly reconcile: KernelRepairReport;
  /** Reconcile with Docker now (after any run in progress); resolves with its report. */
  reconcileNow(): Promise<DockerReconcileReport | undefined>;
  close(): Promise<void>;
}

export interface StartOptions {
  config: ServeConfig;
  logger: Logger;
  dataplane?: Dataplane;
  bootIdPath?: string;
  docker?: DockerApi;
}

/** `observe` wraps each underlying source (for metrics), not the fallback chain around them. */
export function metadataSourceFor(config: ServeConfig, observe: (source: MetadataSource) => MetadataSource = (s) => s): MetadataSource {
  const imds = () => observe(new ImdsSource({ baseUrl: config.imdsUrl }));
  const wireserver = () => observe(new WireserverSource({ baseUrl: config.wireserverUrl }));
  switch (config.metadataSource) {
    case "imds":
      return imds();
    case "wireserver":
      return wireserver();
    case "file":
      return observe(new FileSource(config.metadataFile as string));
    default:
      return new AutoSource(imds(), wireserver());
  }
}

export async function startPlugin(opts: StartOptions): Promise<RunningPlugin> {
  // Before anything reads the checkpoint or touches the kernel.
  const lock = await acquireInstanceLock(opts.config.stateDir);
  try {
    return await startLocked(opts, lock);
  } catch (err) {
    await lock.release();
    throw err;
  }
}

async function startLocked(opts: StartOptions, lock: InstanceLock): Promise<RunningPlugin> {
  const { config, logger } = opts;
  const t0 = Date.now();
  const { checkpoint, persist, flush, trust } = await loadState(opts);
  // Pools are read on each scrape, so the closure may refer to the manager made just below.
  const metrics: PluginMetrics | undefined = config.metricsListen
    ? await pluginMetrics((): Promise<IpamReport> => ipam.report(), logger)
    : undefined;
  const metadata = new MetadataCache(metadataSourceFor(config, metrics && ((s) => observedSource(s, (n) => metrics.metadataFailed(n)))));
  const liveEndpoint = (id: string) => Object.hasOwn(checkpoint.network.endpoints, id);
  const onWarning = (m: string, f: Record<string, string>) => logger.warn(m, f);
  // The network manager is made just below; an address is only asked about once both exist.
  const cleaningUp = (address: string): boolean => network.cleaningUp(address);
  const ipam = new AddressManager({
    metadata,
    state: checkpoint.ipam,
    persist,
    admission: trust.admission,
    liveEndpoint,
    onWarning,
    cleaningUp,
  });
  // Loaded only with --ipconfig-management arm, so that static mode starts and idles as before.
  const warmPool = config.ipconfigManagement === "arm" ? await armManagement(config, logger, ipam, metadata) : undefined;
  const onNetlinkError = (err: Error) => logger.error("netlink socket error", { error: err.message });
  // Kernel clean-up that holds the event loop waits for a lull between Docker's requests.
  const idle = new IdleGate();
  const dataplane = opts.dataplane ?? new LinuxDataplane({ onNetlinkError, idle });
  const network = new NetworkManager({
    dataplane,
    pools: ipam,
    state: checkpoint.network,
    persist,
    logger,
    defaultNonMasqueradeCidrs: config.nonMasqueradeCidrs,
    memberships: warmPool,
    idle,
  });
  warmPool?.setMemberships((address) => network.membershipOf(address));

  // Untrusted state may not know every network: what it does not explain stays until Docker has spoken.
  const reconcile = await network.repairKernel({ removeOrphans: trust.verified });
  metrics?.reconcileFailed(reconcile.errors.length);
  await releaseDeadEndpoints(checkpoint.network, dataplane, { network }, logger);
  // A reboot or a crash may have left nothing to save yet: the checkpoint carries this boot's id from now on.
  await persist();
  warmMetadata(metadata, logger);

  // Before the plugin socket: a metrics address that cannot be used stops the start while Docker has not seen us yet.
  const metricsServer = metrics && (await openMetrics(config, metrics, logger));
  const startedAt = new Date(t0).toISOString();
  const dockerHost = describeDockerEndpoint(dockerEndpoint(process.env));
  const graceMs = config.reconcileGrace * 1000;
  const api = opts.docker ?? dockerEngineApi();
  const docker = new DockerReconciler({
    docker: api,
    state: checkpoint.network,
    network,
    ipam,
    logger,
    graceMs,
    adopt: () => !trust.verified,
    // Lease numbers of a checkpoint recovered from an older generation may be handed out again: no clock is resumed then.
    resume: trust.verified ? (await readReconcileReport(config.stateDir))?.missingSince : undefined,
  });
  // What AzureVnet.Status answers: the reconciler runs only once the socket is open.
  const status = (): PluginStatusReply => ({
    startedAt,
    reconcileIntervalSeconds: config.reconcileInterval,
    dockerHost,
    lastReconcile: docker.last ?? null,
    memory: daemonMemory(),
  });
  const app = createProtocolApp({
    network,
    ipam,
    logger,
    status,
    activity: idle,
    ...(metrics && { onRequest: (o) => metrics.observeRequest(o) }),
  });
  const server = await serveUnixSocket(app, config.socket);
  logger.info("listening", { socket: config.socket, startupMs: Date.now() - t0 });

  const onFailure = () => metrics?.reconcileFailed(1);
  const run = reconcileCycle({ docker, trust, network, persist, stateDir: config.stateDir, logger, onFailure });
  const loop = new ReconcileLoop({ run, intervalMs: config.reconcileInterval * 1000 });
  loop.start();

  const reconcileNow = async () => (await loop.runNow(), docker.last);
  const close = async () => {
    warmPool?.close();
    await loop.close();
    await server.close();
    await metricsServer?.close();
    await network.settled();
    idle.close();
    await flush();
    await dataplane.close();
    await lock.release();
  };
  return { checkpoint, ipam, network, reconcile, reconcileNow, close };
}

/** The checkpoint, how to save it, and whether it can be trusted. */
async function loadState(
  opts: StartOptions,
): Promise<{ checkpoint: Checkpoint; persist: Persist; flush: () => Promise<void>; trust: StateTrust }> {
  const { config, logger } = opts;
  const onDurabilityWarning = (problem: string) => logger.error("checkpoint not durable", { problem });
  const onDeferredFailure = (err: unknown) => logger.error("checkpoint save failed", { error: errorMessage(err) });
  const store = openCheckpointStore(config.stateDir, opts.bootIdPath, undefined, onDurabilityWarning, onDeferredFailure);
  const loaded = await store.load();
  for (const problem of loaded.problems) logger.warn("checkpoint problem", { problem });
  const checkpoint = loaded.data ?? emptyCheckpoint();
  if (loaded.migratedFrom !== undefined) logger.info("checkpoint migrated", { from: loaded.migratedFrom, to: CHECKPOINT_SCHEMA });
  const counts = { networks: Object.keys(checkpoint.network.networks).length, endpoints: Object.keys(checkpoint.network.endpoints).length };
  logger.info("checkpoint loaded", { source: loaded.source, ...counts, rebooted: loaded.rebooted });
  const persist: Persist = (when = "now") => (when === "soon" ? Promise.resolve(store.saveSoon(checkpoint)) : store.save(checkpoint));
  return { checkpoint, persist, flush: () => store.flush(), trust: new StateTrust(checkpoint, loaded, logger) };
}

async function armManagement(config: ServeConfig, logger: Logger, ipam: AddressManager, metadata: MetadataCache) {
  const { startArmManagement } = await import("./ipam/arm");
  const pool = await startArmManagement({ config, logger, host: ipam, metadata });
  ipam.setSupply(pool);
  logger.info("ipconfig management: arm", {
    endpoint: config.armEndpoint,
    warm: config.warmIpTarget,
    min: config.minIpTarget,
    max: config.maxIpTarget,
    cooldownSeconds: config.ipCooldown,
  });
  return pool;
}

async function pluginMetrics(pools: () => Promise<IpamReport>, logger: Logger): Promise<PluginMetrics> {
  const { PluginMetrics } = await import("./metrics/registry");
  return new PluginMetrics({ pools, onCollectError: (error) => logger.warn("metrics: cannot read the pools", { error }) });
}

async function openMetrics(config: ServeConfig, metrics: PluginMetrics, logger: Logger): Promise<MetricsServer | undefined> {
  if (!config.metricsListen) return undefined;
  const server = await serveMetrics(config.metricsListen, metrics, (error) => logger.warn("metrics scrape failed", { error }));
  logger.info("serving metrics", { at: server.where });
  return server;
}

/** Warms the metadata cache; failure is not fatal (known addresses keep serving). */
function warmMetadata(metadata: MetadataCache, logger: Logger): void {
  metadata.get({ maxAgeMs: 0 }).then(
    (snap) => logger.info("metadata loaded", { source: metadata.source.name, nics: snap.nics.length }),
    (err) => logger.warn("metadata not available yet", { error: errorMessage(err) }),
  );
}
