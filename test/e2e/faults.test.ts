/**
 * Metadata faults on the simulator: IMDS slow, failing, malformed or down at
 * plugin start, the wireserver down, both down, and an ipconfig removed from
 * the NIC while a container uses it. The plugin must keep running and
 * serving what it knows, refuse new work with the reason, and recover when
 * the endpoint comes back.
 */
import { strict as assert } from "node:assert";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { PluginProcess } from "../../sim/plugin-process";
import { isAlive, sleep } from "../../sim/exec";
import type { EndpointKnobs, Knobs } from "../../sim/platform/knobs";
import { Harness } from "./helpers/sim-harness";
import { CREATE_NETWORK, DockerCli } from "./helpers/docker";
import { answeredSince, applyKnobs, logMark } from "./helpers/platform";
import { eventsSince, logSize } from "./helpers/plugin-log";
import { settledCheckpointText } from "./helpers/vm-state";

const NO_METADATA = /cannot read this VM's NIC configuration from imds and wireserver/;

describe("metadata faults", function () {
  this.timeout(180_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  const plugin = new PluginProcess(sim, "vm1", { LOG_FORMAT: "json" });
  const docker = new DockerCli(sim, "vm1");
  const removeLater: string[] = [];
  let serial = 0;
  /** For the closing summary: what the file did. */
  const tally = { faults: 0, restarts: 0, started: 0, refused: 0 };
  const inject = async (knobs: Knobs) => {
    tally.faults += Object.keys(knobs).length;
    await applyKnobs(sim, knobs);
  };

  /** A container name that is new each time, so failed starts never collide. */
  const fresh = (what: string) => `${what}${++serial}`;

  const restartPlugin = async () => {
    tally.restarts += 1;
    await plugin.stop();
    const logFrom = logSize(plugin.logFile);
    const ms = await plugin.start();
    return { ms, pid: plugin.pid, logFrom };
  };

  /** What the plugin last said about its metadata since `from`. */
  const metadataEvents = (from: number) => eventsSince(plugin.logFile, from).filter((e) => /^metadata /.test(e.msg));

  /** Held addresses in the checkpoint: address -> record. */
  const held = async (): Promise<Record<string, { flagged?: boolean }>> => {
    const envelope = JSON.parse(await settledCheckpointText(sim, "vm1")) as {
      data: { ipam: { addresses: Record<string, { flagged?: boolean }> } };
    };
    return envelope.data.ipam.addresses;
  };

  /** Start a container, expecting success; returns its address. */
  const startOk = async (extra: string[] = []) => {
    const name = fresh("c");
    removeLater.push(name);
    const r = await docker.start(name, "vnet", extra);
    assert.equal(r.code, 0, `docker run ${name} failed: ${r.stderr}`);
    tally.started += 1;
    return { name, address: await docker.ipOf(name), ms: r.ms };
  };

  /** Start a container, expecting failure; returns the error text. */
  const startFails = async (extra: string[] = []) => {
    const name = fresh("x");
    removeLater.push(name);
    const r = await docker.start(name, "vnet", extra);
    assert.notEqual(r.code, 0, `docker run ${name} ${extra.join(" ")} succeeded but should have failed`);
    tally.refused += 1;
    return { stderr: r.stderr, ms: r.ms };
  };

  /** Retry `attempt` every 2 s until it returns true, at most `ms` (the metadata cache refreshes every 10 s). */
  const eventually = async (what: string, ms: number, attempt: () => Promise<boolean>) => {
    const t0 = Date.now();
    for (;;) {
      if (await attempt()) return Date.now() - t0;
      if (Date.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
      await sleep(2_000);
    }
  };

  before(async function () {
    await sim.down();
    await sim.up(defaultTopology());
    await applyKnobs(sim, {});
    await plugin.start();
    await docker.ok([...CREATE_NETWORK, "--subnet", "10.0.0.0/24", "vnet"]);
    // A container that runs through every fault below and must stay reachable.
    const steady = await docker.start("steady", "vnet");
    assert.equal(steady.code, 0, steady.stderr);
    assert.equal(await docker.ipOf("steady"), "10.0.0.10");
  });

  afterEach(async function () {
    await docker.remove(removeLater.splice(0));
  });

  after(async function () {
    console.log(
      `    ${tally.faults} faults injected, ${tally.restarts} plugin restarts, ${tally.started} containers started, ${tally.refused} refused as expected`,
    );
    await h.stopAll();
    if (sim.status().up) {
      sim.setKnobs({});
      // While the plugin still answers: dockerd retries a vanished plugin for about 15 s per call.
      await docker.remove(["steady"]);
      await docker.run(["network", "rm", "vnet"]);
    }
    await plugin.stop();
    await sim.down();
  });

  it("serves containers from a slow IMDS that answers within the plugin's timeout", async function () {
    await inject({ imds: { latencyMs: 1500 } });
    const mark = logMark(sim);
    const { ms, logFrom } = await restartPlugin();
    // The socket opens without waiting for metadata.
    assert.ok(ms < 10_000, `the plugin took ${ms} ms to start`);
    const c = await startOk();
    assert.match(c.address, /^10\.0\.0\.1[1-7]$/);
    assert.ok(answeredSince(sim, mark, "imds").includes("200"), "IMDS never answered the plugin");
    assert.deepEqual(answeredSince(sim, mark, "wireserver"), [], "the plugin fell back although IMDS answered in time");
    assert.ok(metadataEvents(logFrom).some((e) => e.msg === "metadata loaded" && e.source === "auto(imds)"));
  });

  const fallbacks: [string, EndpointKnobs][] = [
    ["slower than the plugin's timeout", { latencyMs: 5000 }],
    ["failing with HTTP 500", { status: 500 }],
    ["answering malformed bodies", { malformed: true }],
    ["down at plugin start", { down: true }],
  ];
  for (const [label, knobs] of fallbacks) {
    it(`falls back to the wireserver when IMDS is ${label}`, async function () {
      await inject({ imds: knobs });
      const mark = logMark(sim);
      const { pid, logFrom } = await restartPlugin();
      const c = await startOk();
      assert.match(c.address, /^10\.0\.0\.1[1-7]$/);
      assert.ok(answeredSince(sim, mark, "wireserver").includes("200"), "the wireserver was never asked");
      assert.ok(
        metadataEvents(logFrom).some((e) => e.msg === "metadata loaded" && e.source === "auto(wireserver)"),
        "the plugin did not report the fallback",
      );
      assert.ok(isAlive(pid) && plugin.pid === pid, "the plugin restarted");
    });
  }

  it("keeps using IMDS when only the wireserver is down", async function () {
    await inject({ wireserver: { down: true } });
    const mark = logMark(sim);
    await restartPlugin();
    await startOk();
    assert.ok(answeredSince(sim, mark, "imds").includes("200"));
  });

  it("with IMDS and the wireserver down at start: serves, refuses new containers with the reason, keeps running ones, recovers", async function () {
    const victim = await startOk();
    await inject({ imds: { down: true }, wireserver: { down: true } });
    const { pid, logFrom } = await restartPlugin();

    const refused = await startFails();
    assert.match(refused.stderr, NO_METADATA);
    assert.ok(refused.ms < 15_000, `the refusal took ${refused.ms} ms`);
    assert.ok(
      metadataEvents(logFrom).some((e) => e.msg === "metadata not available yet" && NO_METADATA.test(String(e.error))),
      "the plugin did not log why",
    );
    // Running containers keep their addresses and their traffic.
    assert.ok(await h.ping({ vm: "vm2" }, "10.0.0.10"), "steady became unreachable");
    assert.equal(await docker.ipOf("steady"), "10.0.0.10");
    // Releasing needs no metadata: a container can still be removed, and its address goes.
    await docker.ok(["rm", "-f", victim.name]);
    assert.equal((await held())[victim.address], undefined, `${victim.address} still held after its container was removed`);
    assert.ok((await held())["10.0.0.10"], "steady's address was dropped");

    await applyKnobs(sim, {});
    // The cache backs off after failures (at most 30 s), so the first attempts may still be refused.
    const recoveredIn = await eventually("new containers after the endpoints came back", 45_000, async () => {
      const name = fresh("r");
      removeLater.push(name);
      const r = await docker.start(name, "vnet");
      if (r.code !== 0) assert.match(r.stderr, NO_METADATA);
      return r.code === 0;
    });
    console.log(`    recovered ${recoveredIn} ms after IMDS and the wireserver came back`);
    assert.ok(isAlive(pid) && plugin.pid === pid, "the plugin restarted");
  });

  it("keeps a container whose ipconfig was removed, refuses that address to others, and clears the flag when it returns", async function () {
    const doomed = await startOk(["--ip", "10.0.0.16"]);
    await sim.removeIpConfig("vm1", "10.0.0.16");
    tally.faults += 1;
    const pid = plugin.pid;

    // Until the plugin rereads the metadata, the address is simply taken; then it is no ipconfig at all.
    await eventually("the plugin to see the ipconfig gone", 30_000, async () => {
      const r = await startFails(["--ip", "10.0.0.16"]);
      if (/10\.0\.0\.16 is not an IP configuration/.test(r.stderr)) return true;
      assert.match(r.stderr, /10\.0\.0\.16 is already in use/);
      return false;
    });
    // A new container gets another address; saving that marks the removed one as flagged.
    const other = await startOk();
    assert.notEqual(other.address, "10.0.0.16");
    assert.equal((await held())["10.0.0.16"]?.flagged, true, "the removed ipconfig is not flagged in the checkpoint");
    // The container itself carries on: running, routed on the VM, answering its VM.
    assert.equal(await docker.ok(["inspect", "-f", "{{.State.Running}}", doomed.name]), "true");
    assert.ok(await h.ping({ vm: "vm1" }, "10.0.0.16"), "the VM lost its route to the container");

    await sim.addIpConfig("vm1", "10.0.0.16");
    await eventually("the plugin to see the ipconfig back", 30_000, async () => {
      const r = await startFails(["--ip", "10.0.0.16"]);
      if (/10\.0\.0\.16 is already in use/.test(r.stderr)) return true;
      assert.match(r.stderr, /10\.0\.0\.16 is not an IP configuration/);
      return false;
    });
    await startOk();
    assert.equal((await held())["10.0.0.16"]?.flagged, undefined, "the flag stayed after the ipconfig came back");
    await docker.ok(["rm", "-f", doomed.name]);
    const reuse = await startOk(["--ip", "10.0.0.16"]);
    assert.equal(reuse.address, "10.0.0.16");
    assert.ok(isAlive(pid) && plugin.pid === pid, "the plugin restarted");
  });
});
