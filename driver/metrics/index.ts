/** Prometheus metrics of the plugin daemon; off unless --metrics-listen is set. */
export { PluginMetrics, type PluginMetricsOptions, UNKNOWN_METHOD } from "./registry";
export { observedSource } from "./observed-source";
export { type MetricsServer, serveMetrics } from "./server";
