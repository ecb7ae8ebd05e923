/**
 * Wiring and lifecycle of the plugin daemon: load the checkpoint, reconcile
 * the kernel to it, and only then open the socket Docker talks to.
 */
import type { ServeConfig } from "./config";
import type { Logger } from "./log";
import { Checkpoint, emptyCheckpoint, openCheckpointStore } from "./checkpoint";
import { Dataplane, LinuxDataplane } from "./dataplane";
import { AddressManager, AutoSource, FileSource, ImdsSource, type IpamReport, MetadataCache, MetadataSource, WireserverSource } from "./ipam";
import { NetworkManager } from "./network/manager";
import { KernelReconcileReport, reconcileKernel } from "./reconcile/kernel";
import { releaseDeadEndpoints } from "./reconcile/reclaim";
import { DockerApi, DockerReconcileReport, DockerReconciler, dockerodeApi } from "./reconcile/docker";
import { writeReconcileReport } from "./reconcile/report";
import { createProtocolApp, serveUnixSocket } from "./protocol/server";
import { acquireInstanceLock, type InstanceLock } from "./state/instance-lock";
import { errorMessage } from "./errors";
import { type MetricsServer, PluginMetrics, observedSource, serveMetrics } from "./metrics";

export interface RunningPlugin {
  readonly checkpoint: Checkpoint;
  readonly ipam: AddressManager;
  readonly network: NetworkManager;
  readonly reconcile: KernelReconcileReport;
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
  const { config } = opts;
  const t0 = Date.now();
  // Before anything reads the checkpoint or touches the kernel.
  const lock = await acquireInstanceLock(config.stateDir);
  try {
    return await startLocked(opts, t0, lock);
  } catch (err) {
    await lock.release();
    throw err;
  }
}

async function startLocked(opts: StartOptions, t0: number, lock: InstanceLock): Promise<RunningPlugin> {
  const { config, logger } = opts;
  const store = openCheckpointStore(config.stateDir, opts.bootIdPath, undefined, (message) => logger.error("checkpoint not durable", { problem: message }));
  const loaded = await store.load();
  for (const problem of loaded.problems) logger.warn("checkpoint problem", { problem });
  const checkpoint = loaded.data ?? emptyCheckpoint();
  logger.info("checkpoint loaded", {
    source: loaded.source,
    networks: Object.keys(checkpoint.network.networks).length,
    endpoints: Object.keys(checkpoint.network.endpoints).length,
    rebooted: loaded.rebooted,
  });
  const persist = () => store.save(checkpoint);
  // A damaged checkpoint may miss addresses handed out since the generation it
  // was recovered from: hand out nothing until Docker has confirmed which
  // containers hold which addresses.
  let verified = checkpoint.trusted !== false && !(loaded.problems.length > 0 && loaded.source !== "primary");
  if (!verified) checkpoint.trusted = false;
  const admission = () =>
    verified
      ? undefined
      : "azure-vnet found its state file damaged and is rebuilding it from Docker before handing out addresses; retry in a few seconds (see the plugin log)";
  if (!verified) logger.warn("checkpoint damaged: new addresses are held back until Docker confirms which are in use", { source: loaded.source });

  // Pools are read on each scrape, so the closure may refer to the manager made just below.
  const metrics: PluginMetrics | undefined = config.metricsListen
    ? new PluginMetrics({ pools: (): Promise<IpamReport> => ipam.report(), onCollectError: (error) => logger.warn("metrics: cannot read the pools", { error }) })
    : undefined;
  const observe = metrics ? (s: MetadataSource) => observedSource(s, (name) => metrics.metadataFailed(name)) : undefined;
  const metadata = new MetadataCache(metadataSourceFor(config, observe));
  const ipam = new AddressManager({
    metadata,
    state: checkpoint.ipam,
    persist,
    admission,
    liveEndpoint: (id) => Object.hasOwn(checkpoint.network.endpoints, id),
    onWarning: (message, fields) => logger.warn(message, fields),
  });
  bindRecordedEndpoints(checkpoint);
  const dataplane = opts.dataplane ?? new LinuxDataplane({ onNetlinkError: (err) => logger.error("netlink socket error", { error: err.message }) });
  const network = new NetworkManager({ dataplane, pools: ipam, state: checkpoint.network, persist, logger });

  // Untrusted state may not know every network: leave the firewall and the
  // port guards as they are until Docker has said which networks exist.
  const reconcile = await reconcileKernel(checkpoint.network, dataplane, async () => (verified ? network.applyFirewall() : undefined), logger, verified);
  metrics?.reconcileFailed(reconcile.errors.length);
  await releaseDeadEndpoints(checkpoint.network, dataplane, { network }, logger);
  // A reboot or a crash may have left nothing to save yet; write what we have
  // so the checkpoint carries this boot's id from now on.
  await persist();
  // Warm the metadata cache; failure is not fatal (known addresses keep serving).
  metadata.get({ maxAgeMs: 0 }).then(
    (snap) => logger.info("metadata loaded", { source: metadata.source.name, nics: snap.nics.length }),
    (err) => logger.warn("metadata not available yet", { error: errorMessage(err) }),
  );

  // Before the plugin socket: a metrics address that cannot be used stops the start while Docker has not seen us yet.
  let metricsServer: MetricsServer | undefined;
  if (metrics && config.metricsListen) {
    metricsServer = await serveMetrics(config.metricsListen, metrics, (error) => logger.warn("metrics scrape failed", { error }));
    logger.info("serving metrics", { at: metricsServer.where });
  }
  const app = createProtocolApp({ network, ipam, logger, ...(metrics && { onRequest: (o) => metrics.observeRequest(o) }) });
  const server = await serveUnixSocket(app, config.socket);
  logger.info("listening", { socket: config.socket, startupMs: Date.now() - t0 });

  const docker = new DockerReconciler({
    docker: opts.docker ?? dockerodeApi(), state: checkpoint.network, network, ipam, logger, graceMs: config.reconcileGrace * 1000,
    adopt: () => !verified,
  });
  const reconcileWithDocker = async (): Promise<boolean> => {
    const report = await docker.runOnce();
    if (!report.ok || report.itemErrors.length) metrics?.reconcileFailed(1);
    if (report.ok && !verified) {
      // Now the checkpoint explains everything Docker runs: what it does not
      // explain in the kernel is left over, and goes.
      await network.exclusive(() => reconcileKernel(checkpoint.network, dataplane, () => network.applyFirewall(), logger, true));
      verified = true;
      delete checkpoint.trusted;
      await persist();
      logger.info("state confirmed with Docker: handing out addresses again");
    } else if (verified) {
      await checkKernel(network, logger);
    }
    await writeReconcileReport(config.stateDir, report).catch((err) => logger.warn("could not record the reconciliation", { error: errorMessage(err) }));
    return report.ok;
  };
  // Shortly after start (Docker may be starting us), then every interval; one
  // run at a time. While Docker does not answer (at boot a legacy plugin
  // starts first), retry sooner: 2 s, doubling up to the interval.
  let running: Promise<boolean> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closing = false;
  let retryMs = 2000;
  const run = (): Promise<boolean> => (running ??= reconcileWithDocker().catch(() => false).finally(() => (running = undefined)));
  const schedule = (ms: number) => {
    if (closing) return;
    timer = setTimeout(async () => {
      const ok = await run();
      if (ok) retryMs = 2000;
      schedule(ok ? config.reconcileInterval * 1000 : Math.min(retryMs, config.reconcileInterval * 1000));
      if (!ok) retryMs *= 2;
    }, ms);
  };
  schedule(1000);

  return {
    checkpoint,
    ipam,
    network,
    reconcile,
    reconcileNow: async () => {
      while (running) await running;
      await run();
      return docker.last;
    },
    async close() {
      closing = true;
      clearTimeout(timer);
      await running;
      await server.close();
      await metricsServer?.close();
      await dataplane.close();
      await lock.release();
    },
  };
}

/**
 * Every reconciliation run also checks what others may have changed behind
 * the plugin's back: a port guard flushed or unhooked by hand, the firewall
 * jumps overtaken by Docker's after a dockerd restart.
 */
async function checkKernel(network: NetworkManager, logger: Logger): Promise<void> {
  try {
    const guards = await network.repairGuards(true);
    if (guards.repaired.length || guards.removed.length) {
      logger.warn("port guards were not as recorded and have been restored", {
        repaired: guards.repaired.join(",") || "none",
        removed: guards.removed.join(",") || "none",
      });
    }
    await network.exclusive(() => network.applyFirewall());
  } catch (err) {
    logger.warn("could not check the port guards and firewall", { error: errorMessage(err) });
  }
}

/**
 * Checkpoints written before addresses named their holders: each endpoint
 * record's address is bound to that endpoint, so a late release cannot free it.
 */
function bindRecordedEndpoints(checkpoint: Checkpoint): void {
  for (const ep of Object.values(checkpoint.network.endpoints)) {
    const record = Object.hasOwn(checkpoint.ipam.addresses, ep.address) ? checkpoint.ipam.addresses[ep.address] : undefined;
    if (record?.kind === "endpoint" && record.endpointId === undefined) record.endpointId = ep.id;
  }
}
