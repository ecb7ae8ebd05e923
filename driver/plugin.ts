/**
 * Wiring and lifecycle of the plugin daemon: lock the state directory, load
 * the checkpoint, repair the kernel to it, and only then open the socket
 * Docker talks to; then reconcile with Docker in the background. The rules
 * themselves live in the modules wired here.
 */
import type { ServeConfig } from "./config";
import type { Logger } from "./log";
import { bindRecordedEndpoints, Checkpoint, emptyCheckpoint, openCheckpointStore } from "./checkpoint";
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
import { DockerApi, DockerReconcileReport, DockerReconciler, dockerodeApi } from "./reconcile/docker";
import { reconcileCycle } from "./reconcile/cycle";
import { ReconcileLoop } from "./reconcile/loop";
import { StateTrust } from "./reconcile/trust";
import { createProtocolApp, serveUnixSocket } from "./protocol/server";
import { acquireInstanceLock, type InstanceLock } from "./state/instance-lock";
import { errorMessage } from "./errors";
import { type MetricsServer, PluginMetrics, observedSource, serveMetrics } from "./metrics";

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
  const store = openCheckpointStore(config.stateDir, opts.bootIdPath, undefined, (problem) =>
    logger.error("checkpoint not durable", { problem }),
  );
  const loaded = await store.load();
  for (const problem of loaded.problems) logger.warn("checkpoint problem", { problem });
  const checkpoint = loaded.data ?? emptyCheckpoint();
  bindRecordedEndpoints(checkpoint);
  const counts = { networks: Object.keys(checkpoint.network.networks).length, endpoints: Object.keys(checkpoint.network.endpoints).length };
  logger.info("checkpoint loaded", { source: loaded.source, ...counts, rebooted: loaded.rebooted });
  const persist = () => store.save(checkpoint);
  const trust = new StateTrust(checkpoint, loaded, logger);

  // Pools are read on each scrape, so the closure may refer to the manager made just below.
  const metrics = config.metricsListen
    ? new PluginMetrics({
        pools: (): Promise<IpamReport> => ipam.report(),
        onCollectError: (error) => logger.warn("metrics: cannot read the pools", { error }),
      })
    : undefined;
  const metadata = new MetadataCache(
    metadataSourceFor(config, metrics && ((s) => observedSource(s, (name) => metrics.metadataFailed(name)))),
  );
  const liveEndpoint = (id: string) => Object.hasOwn(checkpoint.network.endpoints, id);
  const ipam = new AddressManager({
    metadata,
    state: checkpoint.ipam,
    persist,
    admission: trust.admission,
    liveEndpoint,
    onWarning: (m, f) => logger.warn(m, f),
  });
  const dataplane =
    opts.dataplane ?? new LinuxDataplane({ onNetlinkError: (err) => logger.error("netlink socket error", { error: err.message }) });
  const network = new NetworkManager({ dataplane, pools: ipam, state: checkpoint.network, persist, logger });

  // Untrusted state may not know every network: what it does not explain stays until Docker has spoken.
  const reconcile = await network.repairKernel({ removeOrphans: trust.verified });
  metrics?.reconcileFailed(reconcile.errors.length);
  await releaseDeadEndpoints(checkpoint.network, dataplane, { network }, logger);
  // A reboot or a crash may have left nothing to save yet: the checkpoint carries this boot's id from now on.
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
    docker: opts.docker ?? dockerodeApi(),
    state: checkpoint.network,
    network,
    ipam,
    logger,
    graceMs: config.reconcileGrace * 1000,
    adopt: () => !trust.verified,
  });
  const run = reconcileCycle({
    docker,
    trust,
    network,
    persist,
    stateDir: config.stateDir,
    logger,
    onFailure: () => metrics?.reconcileFailed(1),
  });
  const loop = new ReconcileLoop({ run, intervalMs: config.reconcileInterval * 1000 });
  loop.start();

  return {
    checkpoint,
    ipam,
    network,
    reconcile,
    reconcileNow: async () => {
      await loop.runNow();
      return docker.last;
    },
    async close() {
      await loop.close();
      await server.close();
      await metricsServer?.close();
      await dataplane.close();
      await lock.release();
    },
  };
}
