/**
 * Nothing lost: the plugin killed at random during container churn, dockerd
 * restarted with and without live-restore, the VM rebooted, the state file
 * damaged. After each, every address is either held by a running container
 * or free, and the kernel holds nothing stale.
 */
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { PluginProcess, callPlugin } from "../../sim/plugin-process";
import { sleep, waitFor } from "../../sim/exec";
import { CREATE_NETWORK, sleeperArgs } from "./helpers/docker";
import { Harness } from "./helpers/sim-harness";
import { assertConsistent } from "./helpers/invariants";

const FAST_RECONCILE = { AZURE_VNET_RECONCILE_INTERVAL: "2", AZURE_VNET_RECONCILE_GRACE: "3" };
const CREATE = [...CREATE_NETWORK, "--subnet", "10.0.0.0/24", "vnet"];
/** Seeded, so a failing churn can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe("resilience: crashes, restarts, reboots, damaged state", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  const plugin = new PluginProcess(sim, "vm1", FAST_RECONCILE);
  const docker = (args: string[], timeoutMs = 60_000) => sim.exec("vm1", "docker", args, { allowFailure: true, timeoutMs });
  const ok = async (args: string[]) => {
    const r = await docker(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const reachableFromVm2 = async (addresses: string[]) => {
    for (const ip of addresses) assert.ok(await h.ping({ vm: "vm2" }, ip), `${ip} unreachable from vm2`);
  };

  before(async function () {
    await sim.down();
    await sim.up(defaultTopology());
    await plugin.start();
    await ok(CREATE);
  });

  after(async function () {
    await h.stopAll();
    // Containers go while the plugin still answers (else dockerd waits ~15 s per call for it).
    await sim.down();
    await plugin.stop();
  });

  it("survives SIGKILL at random points during 200 container starts and stops", async function () {
    const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100000);
    const rand = prng(seed);
    console.log(`      chaos seed ${seed} (replay with CHAOS_SEED=${seed})`);
    let kills = 0;
    let ops = 0;
    let failures = 0;
    let stops = 0;
    const total = Number(process.env.CHAOS_OPS ?? 200);
    let stop = false;
    // Killer: SIGKILL the plugin at random moments, restart it soon after.
    const killer = (async () => {
      while (!stop) {
        await sleep(1500 + rand() * 2500);
        if (stop) break;
        await plugin.stop("SIGKILL");
        kills++;
        await sleep(50 + rand() * 400);
        await plugin.start();
      }
    })();
    const worker = async (w: number) => {
      while (ops < total) {
        ops++;
        const name = `churn-${w}-${ops}`;
        const run = await docker(["run", "-d", "--init", "--name", name, "--network", "vnet", "local/busybox", "sleep", "600"]);
        ops++;
        if (run.code !== 0) failures++;
        // Mostly killed and removed at once; sometimes stopped first, so the
        // endpoint goes while the container still exists, then removed.
        if (rand() < 0.8) await docker(["rm", "-f", name]);
        else {
          stops++;
          await docker(["stop", "-t", "1", name]);
          await docker(["rm", "-f", name]);
        }
      }
    };
    try {
      await Promise.all([0, 1, 2, 3].map(worker));
    } finally {
      stop = true;
      await killer;
    }
    console.log(
      `      ${ops} operations (${stops} stops before removal), ${kills} plugin kills, ${failures} container starts refused while the plugin was down`,
    );
    assert.ok(kills >= 3, `only ${kills} kills: the churn was too short to test anything`);
    // What the kills left (grants whose endpoint never came, endpoints whose removal was lost) comes back
    // by itself: the reconciliation's clocks run on across the restarts, so within the grace and two runs.
    const settling = Date.now();
    const empty = await assertConsistent(sim, "vm1", "vnet", 20_000);
    assert.equal(empty.containers.size, 0);
    console.log(`      every address free again ${((Date.now() - settling) / 1000).toFixed(1)} s after the churn`);
    // Leave a few running and check the VM settles: no duplicate, no leak, no orphan.
    for (let i = 0; i < 4; i++)
      await ok(["run", "-d", "--init", "--name", `keep-${i}`, "--network", "vnet", "local/busybox", "sleep", "600"]);
    const view = await assertConsistent(sim, "vm1", "vnet");
    assert.equal(view.containers.size, 4);
    await reachableFromVm2([...view.containers.values()]);
    await ok(["rm", "-f", "keep-0", "keep-1", "keep-2", "keep-3"]);
    await assertConsistent(sim, "vm1", "vnet");
  });

  it("brings restart-policy containers back with working addresses after a dockerd restart", async function () {
    await ok(sleeperArgs("sticky", "vnet", ["--restart", "always", "--ip", "10.0.0.13"]));
    await ok(["run", "-d", "--init", "--restart", "always", "--name", "sticky2", "--network", "vnet", "local/busybox", "sleep", "600"]);
    await sim.stopVmDocker("vm1", { keepContainers: true });
    await sim.startVmDocker("vm1");
    const view = await assertConsistent(sim, "vm1", "vnet");
    assert.equal(view.containers.get("sticky"), "10.0.0.13");
    assert.ok(view.containers.has("sticky2"));
    await reachableFromVm2([...view.containers.values()]);
  });

  it("keeps live-restored containers and their addresses across a dockerd restart with live-restore", async function () {
    await ok(["rm", "-f", "sticky", "sticky2"]);
    await sim.stopVmDocker("vm1", { keepContainers: true });
    await sim.startVmDocker("vm1", ["--live-restore"]);
    await ok(["run", "-d", "--init", "--name", "live", "--network", "vnet", "--ip", "10.0.0.15", "local/busybox", "sleep", "600"]);
    const pidBefore = await ok(["inspect", "-f", "{{.State.Pid}}", "live"]);
    await sim.stopVmDocker("vm1", { keepContainers: true });
    assert.ok(await h.ping({ vm: "vm2" }, "10.0.0.15"), "the container lost its network while dockerd was down");
    await sim.startVmDocker("vm1", ["--live-restore"]);
    assert.equal(await ok(["inspect", "-f", "{{.State.Pid}}", "live"]), pidBefore, "the container was restarted");
    const view = await assertConsistent(sim, "vm1", "vnet");
    assert.equal(view.containers.get("live"), "10.0.0.15");
    await ok(["rm", "-f", "live"]);
    await sim.stopVmDocker("vm1", { keepContainers: true });
    await sim.startVmDocker("vm1");
  });

  it("rebuilds what the networks need after a VM reboot and brings restart-policy containers back", async function () {
    await ok(sleeperArgs("boot1", "vnet", ["--restart", "always", "--ip", "10.0.0.12"]));
    await ok(["run", "-d", "--init", "--restart", "always", "--name", "boot2", "--network", "vnet", "local/busybox", "sleep", "600"]);
    const bootBefore = readFileSync(sim.paths("vm1").bootId, "utf8");
    // The plugin's unit starts before docker.service, as on a real VM.
    await sim.rebootVm("vm1", { beforeDocker: async () => void (await plugin.start()) });
    assert.notEqual(readFileSync(sim.paths("vm1").bootId, "utf8"), bootBefore);
    const view = await assertConsistent(sim, "vm1", "vnet", 60_000);
    assert.equal(view.containers.get("boot1"), "10.0.0.12");
    assert.ok(view.containers.has("boot2"));
    await reachableFromVm2([...view.containers.values()]);
    const log = readFileSync(plugin.logFile, "utf8");
    assert.match(log, /rebooted=true/);
    await ok(["rm", "-f", "boot1", "boot2"]);
    await assertConsistent(sim, "vm1", "vnet");
  });

  describe("a damaged state file", function () {
    const stateFile = () => join(sim.paths("vm1").pluginState, "state.json");
    const damages: Array<[string, (f: string) => void]> = [
      ["emptied", (f) => writeFileSync(f, "")],
      ["truncated", (f) => writeFileSync(f, readFileSync(f).subarray(0, 40))],
      ["zero-filled", (f) => writeFileSync(f, Buffer.alloc(readFileSync(f).length))],
      ["garbage", (f) => writeFileSync(f, "{ not json at all")],
    ];
    for (const [what, damage] of damages) {
      it(`recovers from a ${what} state file without crash-looping or handing out a taken address`, async function () {
        await ok(["run", "-d", "--init", "--name", "holder", "--network", "vnet", "local/busybox", "sleep", "600"]);
        const held = (await assertConsistent(sim, "vm1", "vnet")).containers.get("holder");
        await plugin.stop("SIGKILL");
        damage(stateFile());
        const logStart = existsSync(plugin.logFile) ? readFileSync(plugin.logFile, "utf8").length : 0;
        await plugin.start();
        const log = () => readFileSync(plugin.logFile, "utf8").slice(logStart);
        try {
          assert.match(log(), /checkpoint problem/);
          // Until Docker has confirmed which addresses are taken, none is handed out.
          const early = await docker(["run", "-d", "--init", "--name", "early", "--network", "vnet", "local/busybox", "sleep", "600"]);
          if (early.code !== 0) assert.match(early.stderr, /rebuilding it from Docker before handing out addresses/);
          await waitFor("the plugin to confirm its state with Docker", () => /state confirmed with Docker/.test(log()), 15_000, 200);
          await ok(["run", "-d", "--init", "--name", "newcomer", "--network", "vnet", "local/busybox", "sleep", "600"]);
          const view = await assertConsistent(sim, "vm1", "vnet");
          assert.equal(view.containers.get("holder"), held);
          assert.notEqual(view.containers.get("newcomer"), held);
        } finally {
          await docker(["rm", "-f", "holder", "newcomer", "early"]);
        }
        await assertConsistent(sim, "vm1", "vnet");
      });
    }

    it("rebuilds from Docker when no generation is usable, refusing new addresses until then", async function () {
      await ok(["run", "-d", "--init", "--name", "survivor", "--network", "vnet", "--ip", "10.0.0.16", "local/busybox", "sleep", "600"]);
      await plugin.stop("SIGKILL");
      const dir = sim.paths("vm1").pluginState;
      for (const f of ["state.json", "state.json.1", "state.json.2", "state.json.3"])
        if (existsSync(join(dir, f))) writeFileSync(join(dir, f), "garbage");
      // Docker unreachable for a moment: the plugin must not hand out addresses blind.
      const blind = new PluginProcess(sim, "vm1", { ...FAST_RECONCILE, DOCKER_HOST: "unix:///nonexistent.sock" });
      await blind.start();
      const pools = await callPlugin(blind.socket, "IpamDriver.RequestPool", {
        AddressSpace: "AzureVNetLocal",
        Pool: "10.0.0.0/24",
        SubPool: "",
        Options: {},
        V6: false,
      });
      assert.equal(pools.status, 200);
      const refused = await callPlugin(blind.socket, "IpamDriver.RequestAddress", {
        PoolID: (pools.body as { PoolID: string }).PoolID,
        Address: "",
        Options: { "com.docker.network.endpoint.name": "x" },
      });
      assert.equal(refused.status, 500);
      assert.match(JSON.stringify(refused.body), /rebuilding it from Docker/);
      await blind.stop("SIGKILL");
      const logStart = readFileSync(plugin.logFile, "utf8").length;
      await plugin.start();
      await waitFor(
        "the plugin to rebuild its state from Docker",
        () => /state confirmed with Docker/.test(readFileSync(plugin.logFile, "utf8").slice(logStart)),
        15_000,
        200,
      );
      const view = await assertConsistent(sim, "vm1", "vnet");
      assert.equal(view.containers.get("survivor"), "10.0.0.16");
      await ok(["run", "-d", "--init", "--name", "after-rebuild", "--network", "vnet", "local/busybox", "sleep", "600"]);
      const after = await assertConsistent(sim, "vm1", "vnet");
      assert.notEqual(after.containers.get("after-rebuild"), "10.0.0.16");
      await reachableFromVm2([...after.containers.values()]);
      await ok(["rm", "-f", "survivor", "after-rebuild"]);
    });
  });
});
