/**
 * Wiring and lifecycle of the plugin daemon: load the checkpoint, reconcile
 * the kernel to it, and only then open the socket Docker talks to.
 */
import type { ServeConfig } from "./config";
import type { Logger } from "./log";
import { Checkpoint, emptyCheckpoint, openCheckpointStore } from "./checkpoint";
import { Dataplane, LinuxDataplane } from "./dataplane";
import { AddressManager, AutoSource, FileSource, ImdsSource, MetadataCache, MetadataSource, WireserverSource } from "./ipam";
import { NetworkManager } from "./network/manager";
import { KernelReconcileReport, reconcileKernel } from "./reconcile/kernel";
import { createProtocolApp, serveUnixSocket } from "./protocol/server";
import { errorMessage } from "./errors";

export interface RunningPlugin {
  readonly checkpoint: Checkpoint;
  readonly ipam: AddressManager;
  readonly network: NetworkManager;
  readonly reconcile: KernelReconcileReport;
  close(): Promise<void>;
}

export interface StartOptions {
  config: ServeConfig;
  logger: Logger;
  dataplane?: Dataplane;
  bootIdPath?: string;
}

export function metadataSourceFor(config: ServeConfig): MetadataSource {
  const imds = () => new ImdsSource({ baseUrl: config.imdsUrl });
  const wireserver = () => new WireserverSource({ baseUrl: config.wireserverUrl });
  switch (config.metadataSource) {
    case "imds":
      return imds();
    case "wireserver":
      return wireserver();
    case "file":
      return new FileSource(config.metadataFile as string);
    default:
      return new AutoSource(imds(), wireserver());
  }
}

export async function startPlugin(opts: StartOptions): Promise<RunningPlugin> {
  const { config, logger } = opts;
  const t0 = Date.now();
  const store = openCheckpointStore(config.stateDir, opts.bootIdPath);
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

  const metadata = new MetadataCache(metadataSourceFor(config));
  const ipam = new AddressManager({ metadata, state: checkpoint.ipam, persist });
  const dataplane = opts.dataplane ?? new LinuxDataplane({ onNetlinkError: (err) => logger.error("netlink socket error", { error: err.message }) });
  const network = new NetworkManager({ dataplane, pools: ipam, state: checkpoint.network, persist, logger });

  const reconcile = await reconcileKernel(checkpoint.network, dataplane, () => network.applyFirewall(), logger);
  // A reboot or a crash may have left nothing to save yet; write what we have
  // so the checkpoint carries this boot's id from now on.
  await persist();
  // Warm the metadata cache; failure is not fatal (known addresses keep serving).
  metadata.get({ maxAgeMs: 0 }).then(
    (snap) => logger.info("metadata loaded", { source: metadata.source.name, nics: snap.nics.length }),
    (err) => logger.warn("metadata not available yet", { error: errorMessage(err) }),
  );

  const app = createProtocolApp({ network, ipam, logger });
  const server = await serveUnixSocket(app, config.socket);
  logger.info("listening", { socket: config.socket, startupMs: Date.now() - t0 });

  return {
    checkpoint,
    ipam,
    network,
    reconcile,
    async close() {
      await server.close();
      await dataplane.close();
    },
  };
}
