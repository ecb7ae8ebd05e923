/**
 * Hostile input against the real plugin on a simulated VM: at least 10,000
 * malformed, oversized, wrong-typed, unknown-path, wrong-method and
 * out-of-order requests, option values aimed at the firewall rules, and
 * bytes that are not HTTP. The process must survive, answer each in bounded
 * time with a JSON error, and leave its state and the kernel as they were.
 * FUZZ_SEED replays a run; FUZZ_COUNT changes its length.
 */
import { strict as assert } from "node:assert";
import { Simulator } from "../../sim/simulator";
import { PluginProcess, callPlugin } from "../../sim/plugin-process";
import { isAlive, sleep } from "../../sim/exec";
import { diffSnapshots } from "./helpers/host-snapshot";
import { CREATE_NETWORK, DockerCli } from "./helpers/docker";
import { fuzzSeed } from "./helpers/fuzz-rng";
import { runFuzz, summarise } from "./helpers/fuzz-run";
import type { FuzzContext } from "./helpers/fuzz-templates";
import { eventsSince, logSize } from "./helpers/plugin-log";
import { singleVmTopology } from "./helpers/topologies";
import { VmSnapshot, snapshotVm } from "./helpers/vm-state";

const COUNT = Number(process.env.FUZZ_COUNT ?? 10_000);

describe("hostile input", function () {
  this.timeout(300_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  // Reconciliation with Docker runs all along, every second with a one-second grace: the
  // networks and endpoints the fuzzer makes on the socket are ones Docker does not know.
  const plugin = new PluginProcess(sim, "vm1", { LOG_FORMAT: "json", AZURE_VNET_RECONCILE_INTERVAL: "1", AZURE_VNET_RECONCILE_GRACE: "1" });
  const docker = new DockerCli(sim, "vm1");

  /**
   * Snapshots until two in a row agree, so Docker's own settling after a start
   * is not blamed on the fuzzer: each container start puts dockerd's jump above
   * the plugin's, and the plugin's next reconciliation (every second here)
   * puts its own back on top, so two snapshots must be more than a run apart.
   */
  const settled = async (): Promise<VmSnapshot> => {
    let last = await snapshotVm(sim, "vm1");
    for (let i = 0; i < 10; i++) {
      await sleep(1500);
      const next = await snapshotVm(sim, "vm1");
      if (diffSnapshots(last, next).length === 0) return next;
      last = next;
    }
    return last;
  };

  before(async function () {
    await sim.down();
    await sim.up(singleVmTopology());
    await plugin.start();
    await docker.ok([...CREATE_NETWORK, "--subnet", "10.0.0.0/24", "vnet"]);
    const held = await docker.start("held", "vnet");
    assert.equal(held.code, 0, held.stderr);
  });

  after(async function () {
    if (sim.status().up) {
      // While the plugin still answers: dockerd retries a vanished plugin for about 15 s per call.
      await docker.remove(["held", "next"]);
      await docker.run(["network", "rm", "vnet"]);
    }
    await plugin.stop();
    await sim.down();
  });

  it(`survives ${COUNT} hostile requests and changes neither its state nor the kernel`, async function () {
    const [address, endpointId] = (
      await docker.ok(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.EndpointID}}{{end}}", "held"])
    ).split(" ");
    assert.equal(address, "10.0.0.10");
    const context: FuzzContext = {
      networkId: await docker.ok(["network", "inspect", "-f", "{{.Id}}", "vnet"]),
      poolId: "AzureVNetLocal/10.0.0.0/24",
      subnet: "10.0.0.0/24",
      prefix: 24,
      gateway: "10.0.0.1",
      primary: "10.0.0.4",
      endpointId,
      heldAddress: address,
      freeIpConfigs: ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15", "10.0.0.16", "10.0.0.17"],
      notIpConfigs: ["10.0.0.5", "10.0.0.20", "10.0.0.99", "10.0.0.200"],
      foreignSubnets: ["10.9.0.0/24", "10.1.0.0/24", "192.168.100.0/24"],
    };
    const before = await settled();
    assert.match(before.checkpoint, /"AzureVNetLocal\/10\.0\.0\.0\/24"/, "the network's pool is not the one the fuzzer aims at");
    const pid = plugin.pid;
    const logFrom = logSize(plugin.logFile);
    const seed = fuzzSeed();
    console.log(`    fuzz seed ${seed} (FUZZ_SEED=${seed} replays this run)`);

    const report = await runFuzz({
      seed,
      count: COUNT,
      socket: plugin.socket,
      context,
      concurrency: 8,
      timeoutMs: 2_000,
      onProgress: (done) => {
        if (done % 500 === 0) assert.ok(isAlive(pid), `the plugin died after ${done} requests (seed ${seed})`);
      },
    });
    console.log(summarise(report).replace(/^/gm, "    "));

    assert.ok(isAlive(pid) && plugin.pid === pid, "the plugin process is not the one that started");
    assert.equal(report.sent, COUNT);
    assert.deepEqual(report.failures.slice(0, 10), [], `seed ${seed}: ${report.failures.length} bad answers`);
    assert.equal(report.internalErrors, 0, "internal errors");
    const logged = eventsSince(plugin.logFile, logFrom).filter((e) => e.level === "error");
    assert.deepEqual(logged.slice(0, 5), [], "the plugin logged errors");
    // Most requests must get past the JSON parser, into validation and the handlers.
    const validated = report.byStage.validation + report.byStage.handler + report.byStage["handler-ok"];
    assert.ok(validated >= report.sent * 0.6, `only ${validated} of ${report.sent} requests reached validation or a handler`);
    assert.ok(report.byStage.handler + report.byStage["handler-ok"] >= report.sent * 0.25, "too few requests reached a handler");

    const after = await settled();
    assert.deepEqual(diffSnapshots(before, after), [], "state or kernel changed");

    // And it still works: the next container gets the next address.
    const next = await docker.start("next", "vnet");
    assert.equal(next.code, 0, next.stderr);
    assert.equal(await docker.ipOf("next"), "10.0.0.11");
    assert.equal((await callPlugin(plugin.socket, "Plugin.Activate")).status, 200);
    await docker.remove(["next"]);
  });
});
