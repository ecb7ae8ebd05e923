import assert from "node:assert/strict";
import type { IpamReport, PoolReport } from "../../../driver/ipam";
import { PluginMetrics, observedSource } from "../../../driver/metrics";

function pool(poolId: string, free: number, used: number, flagged: string[] = []): PoolReport {
  const addresses = (n: number, base: number) => Array.from({ length: n }, (_, i) => `10.0.0.${base + i}`);
  return {
    poolId,
    addressSpace: "AzureVNetLocal",
    subnet: "10.0.0.0/24",
    gateway: "10.0.0.1",
    nicMac: "00:0d:3a:00:00:01",
    primaryAddress: "10.0.0.4",
    refCount: 1,
    free: addresses(free, 100),
    used: addresses(used, 10).map((address) => ({ address, kind: "endpoint" as const, flagged: flagged.includes(address) })),
    flagged,
    auxAddresses: [],
  };
}

const report = (pools: PoolReport[]): IpamReport => ({ metadata: { stale: false }, pools });

async function scrape(m: PluginMetrics): Promise<string> {
  return (await m.exposition()).body;
}

describe("PluginMetrics", () => {
  it("counts requests by method and outcome and times them", async () => {
    const m = new PluginMetrics({ processMetrics: false });
    m.observeRequest({ method: "IpamDriver.RequestAddress", outcome: "ok", durationMs: 3 });
    m.observeRequest({ method: "IpamDriver.RequestAddress", outcome: "ok", durationMs: 7 });
    m.observeRequest({ method: "IpamDriver.RequestAddress", outcome: "rejected", durationMs: 1 });
    const text = await scrape(m);
    assert.match(text, /^azure_vnet_requests_total\{method="IpamDriver\.RequestAddress",outcome="ok"\} 2$/m);
    assert.match(text, /^azure_vnet_requests_total\{method="IpamDriver\.RequestAddress",outcome="rejected"\} 1$/m);
    assert.match(text, /^azure_vnet_request_duration_seconds_bucket\{le="0\.005",method="IpamDriver\.RequestAddress",outcome="ok"\} 1$/m);
    assert.match(text, /^azure_vnet_request_duration_seconds_count\{method="IpamDriver\.RequestAddress",outcome="ok"\} 2$/m);
    assert.match(text, /^azure_vnet_request_duration_seconds_sum\{method="IpamDriver\.RequestAddress",outcome="ok"\} 0\.01$/m);
  });

  it("puts every path that is no method under one label", async () => {
    const m = new PluginMetrics({ processMetrics: false });
    for (let i = 0; i < 50; i++) m.observeRequest({ method: undefined, outcome: "rejected", durationMs: 0 });
    assert.match(await scrape(m), /^azure_vnet_requests_total\{method="unknown",outcome="rejected"\} 50$/m);
  });

  it("reads free, used and flagged addresses per pool on every scrape", async () => {
    let pools = [pool("AzureVNetLocal/10.0.0.0/24", 5, 2, ["10.0.0.11"]), pool("AzureVNetLocal/10.0.0.0/24/10.0.0.16/28", 1, 0)];
    const m = new PluginMetrics({ processMetrics: false, pools: async () => report(pools) });
    let text = await scrape(m);
    assert.match(text, /^azure_vnet_pool_addresses\{pool="AzureVNetLocal\/10\.0\.0\.0\/24",state="free"\} 5$/m);
    assert.match(text, /^azure_vnet_pool_addresses\{pool="AzureVNetLocal\/10\.0\.0\.0\/24",state="used"\} 2$/m);
    assert.match(text, /^azure_vnet_pool_addresses\{pool="AzureVNetLocal\/10\.0\.0\.0\/24",state="flagged"\} 1$/m);
    pools = [pool("AzureVNetLocal/10.0.0.0/24", 4, 3)];
    text = await scrape(m);
    assert.match(text, /^azure_vnet_pool_addresses\{pool="AzureVNetLocal\/10\.0\.0\.0\/24",state="used"\} 3$/m);
    assert.doesNotMatch(text, /10\.0\.0\.16\/28/, "a removed pool disappears");
  });

  it("still answers a scrape when the pools cannot be read", async () => {
    const errors: string[] = [];
    const m = new PluginMetrics({
      processMetrics: false,
      pools: async () => {
        throw new Error("state lock timed out");
      },
      onCollectError: (e) => errors.push(e),
    });
    m.observeRequest({ method: "Plugin.Activate", outcome: "ok", durationMs: 1 });
    assert.match(await scrape(m), /azure_vnet_requests_total/);
    assert.deepEqual(errors, ["state lock timed out"]);
  });

  it("counts reconcile and metadata errors", async () => {
    const m = new PluginMetrics({ processMetrics: false });
    m.reconcileFailed(0);
    m.reconcileFailed(2);
    const failing = observedSource({ name: "imds", fetch: async () => Promise.reject(new Error("HTTP 500")) }, (s) => m.metadataFailed(s));
    await assert.rejects(failing.fetch(), /HTTP 500/);
    await assert.rejects(failing.fetch(), /HTTP 500/);
    const fine = observedSource({ name: "wireserver", fetch: async () => [] }, (s) => m.metadataFailed(s));
    assert.deepEqual(await fine.fetch(), []);
    const text = await scrape(m);
    assert.match(text, /^azure_vnet_reconcile_errors_total 2$/m);
    assert.match(text, /^azure_vnet_metadata_fetch_errors_total\{source="imds"\} 2$/m);
    assert.doesNotMatch(text, /source="wireserver"/);
  });

  it("adds the process metrics unless told not to, in a registry of its own", async () => {
    const a = new PluginMetrics();
    const b = new PluginMetrics({ processMetrics: false });
    a.observeRequest({ method: "Plugin.Activate", outcome: "ok", durationMs: 1 });
    assert.match(await scrape(a), /^azure_vnet_process_resident_memory_bytes \d+/m);
    assert.doesNotMatch(await scrape(b), /process_resident_memory_bytes|Plugin\.Activate/);
  });
});
