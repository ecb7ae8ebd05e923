/**
 * The plugin's Prometheus metrics. Everything lives in a registry of its own
 * (never prom-client's global one), so tests and a second instance in one
 * process do not see each other's numbers.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { errorMessage } from "../errors";
import type { IpamReport } from "../ipam";
import type { RequestObservation } from "../protocol/server";

export interface PluginMetricsOptions {
  /** Read on every scrape; addresses change with every container, so nothing is cached. */
  pools?: () => Promise<IpamReport>;
  /** Node's process metrics (memory, CPU, event loop); on by default. */
  processMetrics?: boolean;
  /** Told when reading the pools for a scrape fails; the scrape itself still succeeds. */
  onCollectError?: (message: string) => void;
}

/** Paths that are no plugin method share one label, so a fuzzer cannot grow the series without bound. */
export const UNKNOWN_METHOD = "unknown";

export class PluginMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"method" | "outcome">;
  private readonly durations: Histogram<"method" | "outcome">;
  private readonly reconcileErrors: Counter;
  private readonly metadataErrors: Counter<"source">;

  constructor(opts: PluginMetricsOptions = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "azure_vnet_requests_total",
      help: "Plugin API requests from Docker, by method and outcome (ok, rejected, timeout, internal).",
      labelNames: ["method", "outcome"],
      registers,
    });
    this.durations = new Histogram({
      name: "azure_vnet_request_duration_seconds",
      help: "Time from receiving a plugin API request to answering it.",
      labelNames: ["method", "outcome"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "azure_vnet_reconcile_errors_total",
      help: "Steps of kernel reconciliation (bridges, routes, links, firewall) that failed.",
      registers,
    });
    this.metadataErrors = new Counter({
      name: "azure_vnet_metadata_fetch_errors_total",
      help: "Failed reads of the VM's NIC configuration, by source (imds, wireserver, file:...).",
      labelNames: ["source"],
      registers,
    });
    const pools = opts.pools;
    if (pools) {
      new Gauge({
        name: "azure_vnet_pool_addresses",
        help: "Addresses of each pool: free secondary ipconfigs, used (held by containers or --aux-address), flagged (held although the ipconfig is gone).",
        labelNames: ["pool", "state"],
        registers,
        async collect() {
          let report: IpamReport;
          try {
            report = await pools();
          } catch (err) {
            opts.onCollectError?.(errorMessage(err));
            return;
          }
          // Pools come and go with networks: start from nothing so removed ones disappear.
          this.reset();
          for (const p of report.pools) {
            this.set({ pool: p.poolId, state: "free" }, p.free.length);
            this.set({ pool: p.poolId, state: "used" }, p.used.length);
            this.set({ pool: p.poolId, state: "flagged" }, p.flagged.length);
          }
        },
      });
    }
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "azure_vnet_" });
  }

  observeRequest(o: RequestObservation): void {
    const labels = { method: o.method ?? UNKNOWN_METHOD, outcome: o.outcome };
    this.requests.inc(labels);
    this.durations.observe(labels, o.durationMs / 1000);
  }

  reconcileFailed(count: number): void {
    if (count > 0) this.reconcileErrors.inc(count);
  }

  metadataFailed(source: string): void {
    this.metadataErrors.inc({ source });
  }

  /** The text exposition format and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
