/**
 * Ipconfigs on demand (`--ipconfig-management arm`) against the simulated
 * Azure Resource Manager, from NICs that carry their primary ipconfig only:
 * the plugin on each VM finds its NIC through IMDS and ARM with the VM's
 * managed identity, keeps a warm pool, grows it for containers and gives it
 * back after the cooldown. What ARM has committed is the fabric's truth
 * (`sim.topology`): an address is delivered only once its NIC operation has
 * succeeded, so a container that answers from another VM proves its
 * ipconfig is real.
 *
 * The scale and fault tests run once, in the bridge pass on Docker 20.10:
 * ARM management is the IPAM's, the same in every dataplane mode; the other
 * passes run the pool's life cycle and the race for one address.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { Simulator } from "../../sim/simulator";
import { parseTopology, type Topology } from "../../sim/topology";
import { armPluginArgs } from "../../sim/arm-tls";
import { PluginProcess } from "../../sim/plugin-process";
import { sleep, waitFor } from "../../sim/exec";
import { runPool } from "../../bench/measure";
import { lbBackendPoolId, resourceGroupId } from "../../sim/platform/arm-ids";
import { CREATE_NETWORK, DockerCli, E2E_MODE, WHOAMI_CMD, httpCaller } from "./helpers/docker";
import { Harness } from "./helpers/sim-harness";
import { assertConsistent } from "./helpers/invariants";

const VMS = ["vm1", "vm2"] as const;
type VmName = (typeof VMS)[number];
const NETWORK = "vnet";
const SUBNET = "10.0.0.0/22";
const PRIMARY: Record<VmName, string> = { vm1: "10.0.0.4", vm2: "10.0.0.5" };
const WARM = 8;
const COOLDOWN_S = 5;
/** Everything but the one pass that runs the scale and fault tests skips them. */
const FULL = E2E_MODE === "bridge" && process.env.AZSIM_ENGINE !== "debian13";
/** A load balancer with no static backends: only ipconfigs that join its pool through ARM get its traffic. */
const LB = { name: "lb1", pool: "backend", frontendIp: "203.0.113.100", frontendPort: 80, backendPort: 8080 };
const INET = { edge: "inet" } as const;
const INET_HOST = "198.51.100.10";

/** Two VMs in a /22 whose NICs have their primary ipconfig only. */
function emptyNicTopology(): Topology {
  const vm = (name: VmName, mac: string, publicIp: string) => ({
    name,
    nic: { mac, primary: { address: PRIMARY[name], publicIp }, secondaries: [] },
  });
  return parseTopology({
    vnet: { addressSpace: "10.0.0.0/16", subnet: SUBNET, gateway: "10.0.0.1" },
    vms: [vm("vm1", "00:0d:3a:00:00:01", "203.0.113.4"), vm("vm2", "00:0d:3a:00:00:02", "203.0.113.5")],
    internet: { hostAddress: INET_HOST, names: { "example.com": INET_HOST } },
    onPrem: { cidr: "192.168.100.0/24", hostAddress: "192.168.100.10" },
    loadBalancers: [{ ...LB, protocol: "tcp", backendPool: [] }],
  });
}

describe("ipconfigs on demand through Azure Resource Manager (--ipconfig-management arm)", function () {
  this.timeout(180_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  const plugins: Record<VmName, PluginProcess> = { vm1: new PluginProcess(sim, "vm1"), vm2: new PluginProcess(sim, "vm2") };
  const cli: Record<VmName, DockerCli> = { vm1: new DockerCli(sim, "vm1"), vm2: new DockerCli(sim, "vm2") };
  const started: Record<VmName, string[]> = { vm1: [], vm2: [] };

  const startPlugin = (vm: VmName) => plugins[vm].start(armPluginArgs(WARM, COOLDOWN_S));
  /** Committed secondary ipconfigs of a VM's NIC: name -> address. */
  const secondaries = (vm: VmName): Map<string, string> =>
    new Map((sim.vm(vm).nic.secondaries ?? []).map((s) => [s.name ?? s.address, s.address] as const));
  /** The addresses of the ipconfigs the plugin made (it names them azvnet-…). */
  const own = (vm: VmName): string[] => [...secondaries(vm)].filter(([name]) => name.startsWith("azvnet-")).map(([, a]) => a);
  const log = (vm: VmName) => readFileSync(plugins[vm].logFile, "utf8");
  const knobs = async (k: Parameters<Simulator["setKnobs"]>[0]) => {
    sim.setKnobs(k);
    // The platform reads knobs.json every 200 ms.
    await sleep(500);
  };
  const start = async (vm: VmName, name: string, extra: string[] = []) => {
    started[vm].push(name);
    return cli[vm].start(name, NETWORK, extra);
  };
  const removeAll = async (vm: VmName) => {
    await cli[vm].remove(started[vm]);
    started[vm] = [];
  };
  /** Waits until the plugin has made exactly `count` ipconfigs on the VM's NIC. */
  const poolSettles = (vm: VmName, count: number, timeoutMs: number) =>
    waitFor(`${count} ipconfigs of the plugin's on ${vm}'s NIC (now ${own(vm).length})`, () => own(vm).length === count, timeoutMs, 250);

  before(async function () {
    this.timeout(300_000);
    await sim.down();
    await sim.up(emptyNicTopology());
    for (const vm of VMS) await startPlugin(vm);
    for (const vm of VMS) await cli[vm].ok([...CREATE_NETWORK, "--subnet", SUBNET, NETWORK]);
  });

  afterEach(async () => knobs({}));

  after(async function () {
    this.timeout(180_000);
    for (const vm of VMS) await removeAll(vm).catch(() => undefined);
    await h.stopAll();
    for (const vm of VMS) await plugins[vm].stop();
    await sim.down();
  });

  it("grows each empty NIC to the warm target through ARM, with ipconfigs named azvnet-… in the NIC's subnet", async function () {
    for (const vm of VMS) await poolSettles(vm, WARM, 60_000);
    for (const vm of VMS) {
      const names = [...secondaries(vm).keys()];
      assert.equal(names.length, WARM, `${vm} has ${names.join(", ")}`);
      for (const name of names) assert.match(name, /^azvnet-[0-9a-f]{8}$/);
    }
    const all = [...own("vm1"), ...own("vm2")];
    assert.equal(new Set(all).size, all.length, `an address is on both NICs: ${all.join(", ")}`);
    assert.match(log("vm1"), /managing the NIC's ipconfigs through Azure Resource Manager/);
  });

  it("gives containers addresses it adds through ARM when the pool runs dry, reachable from the other VM with their own source", async function () {
    const count = WARM + 6;
    const runs = await runPool(
      Array.from({ length: count }, (_, i) => `grow${i}`),
      8,
      (name) => start("vm1", name),
    );
    for (const r of runs) assert.equal(r.code, 0, `${r.name}: ${r.stderr}`);
    const addresses = await Promise.all(runs.map((r) => cli.vm1.ipOf(r.name)));
    assert.equal(new Set(addresses).size, count, addresses.join(", "));
    const ipconfigs = new Set(own("vm1"));
    for (const a of addresses) assert.ok(ipconfigs.has(a), `${a} is not an ipconfig the plugin made: ${[...ipconfigs].join(", ")}`);
    // Seen by vm2 with its own address: the fabric delivers it, so ARM committed it.
    await h.whoami({ vm: "vm2" }, 8080);
    for (const name of [runs[0].name, runs[count - 1].name]) {
      const r = await cli.vm1.run(["exec", name, "timeout", "5", "wget", "-q", "-O", "-", `http://${PRIMARY.vm2}:8080/`]);
      assert.equal(r.code, 0, `${name} could not reach vm2: ${r.stderr}`);
      assert.equal(r.stdout.trim(), await cli.vm1.ipOf(name));
    }
    // The pool grows back to the warm target beyond what is used.
    await poolSettles("vm1", count + WARM, 60_000);
  });

  it("returns the ipconfigs above the target once the containers are gone and the cooldown has passed", async function () {
    await removeAll("vm1");
    await poolSettles("vm1", WARM, (COOLDOWN_S + 60) * 1000);
    await assertConsistent(sim, "vm1", NETWORK);
  });

  it("makes an address given with --ip an ipconfig when it is not one yet", async function () {
    const address = "10.0.2.77";
    assert.ok(!own("vm1").includes(address));
    const r = await start("vm1", "fixed", ["--ip", address]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await cli.vm1.ipOf("fixed"), address);
    assert.ok(own("vm1").includes(address), `${address} is not on vm1's NIC`);
    assert.ok(await h.ping({ vm: "vm2" }, address), `vm2 cannot reach ${address}`);
  });

  it("of two VMs asking for the same new address at once, one gets it and the other a clear error", async function () {
    const address = "10.0.2.88";
    const [a, b] = await Promise.all(VMS.map((vm) => start(vm, "race", ["--ip", address])));
    const winners = [a, b].filter((r) => r.code === 0);
    assert.equal(winners.length, 1, `vm1: ${a.code} ${a.stderr}; vm2: ${b.code} ${b.stderr}`);
    const loser = a.code === 0 ? b : a;
    assert.match(loser.stderr, new RegExp(`${address.replace(/\./g, "\\.")}.*another ipconfig in the virtual network has that address`));
    const holders = VMS.filter((vm) => own(vm).includes(address));
    assert.equal(holders.length, 1, `${address} is on ${holders.join(" and ") || "no NIC"}`);
  });

  (FULL ? it : it.skip)(
    "starts 250 containers 8 at a time from the pool, every one reachable from vm2, and gives every ipconfig back",
    async function () {
      this.timeout(900_000);
      await removeAll("vm1");
      await removeAll("vm2");
      const count = 250;
      const runs = await runPool(
        Array.from({ length: count }, (_, i) => `many${i}`),
        8,
        (name) => start("vm1", name),
      );
      const failed = runs.filter((r) => r.code !== 0);
      assert.equal(failed.length, 0, failed.map((r) => `${r.name}: ${r.stderr.trim()}`).join("\n"));
      const view = await assertConsistent(sim, "vm1", NETWORK, 120_000);
      const addresses = [...view.containers.values()];
      assert.equal(new Set(addresses).size, count);
      const ipconfigs = new Set(own("vm1"));
      assert.deepEqual(
        addresses.filter((a) => !ipconfigs.has(a)),
        [],
        "containers with an address that is not an ipconfig of vm1",
      );
      const unreachable = (await runPool(addresses, 16, async (a) => ((await h.ping({ vm: "vm2" }, a)) ? undefined : a))).filter(
        (a) => a !== undefined,
      );
      assert.deepEqual(unreachable, [], "addresses vm2 cannot reach");
      await removeAll("vm1");
      await poolSettles("vm1", WARM, (COOLDOWN_S + 120) * 1000);
      await assertConsistent(sim, "vm1", NETWORK);
    },
  );

  (FULL ? it : it.skip)("killed with SIGKILL during a NIC PUT, it leaves no duplicate and no orphan ipconfig", async function () {
    this.timeout(300_000);
    await removeAll("vm1");
    await poolSettles("vm1", WARM, (COOLDOWN_S + 60) * 1000);
    // Slow operations, so the kill lands while one runs.
    await knobs({ arm: { provisioningDelayMs: 8_000 } });
    const before = log("vm1").length;
    const runs = Promise.all(Array.from({ length: WARM + 4 }, (_, i) => start("vm1", `kill${i}`)));
    await waitFor(
      "a NIC PUT of the plugin's",
      () => /adding ipconfigs through Azure Resource Manager/.test(log("vm1").slice(before)),
      30_000,
      100,
    );
    await plugins.vm1.stop("SIGKILL");
    await runs;
    await knobs({});
    await startPlugin("vm1");
    // Docker got errors for the requests the kill cut off; every container that did start is kept.
    const running = (await cli.vm1.ok(["ps", "-q", "--filter", `network=${NETWORK}`])).split(/\s+/).filter(Boolean).length;
    await poolSettles("vm1", running + WARM, 90_000);
    const ipconfigs = [...secondaries("vm1").values()];
    assert.equal(new Set(ipconfigs).size, ipconfigs.length, "an address is on the NIC twice");
    await removeAll("vm1");
    await poolSettles("vm1", WARM, (COOLDOWN_S + 60) * 1000);
    await assertConsistent(sim, "vm1", NETWORK);
  });

  (FULL ? it : it.skip)("waits out ARM's throttling (429 with Retry-After), logs it, and serves every container", async function () {
    this.timeout(300_000);
    await removeAll("vm1");
    await poolSettles("vm1", WARM, (COOLDOWN_S + 60) * 1000);
    const before = log("vm1").length;
    await knobs({ arm: { callsPerMinute: 6 } });
    const runs = await runPool(
      Array.from({ length: WARM + 4 }, (_, i) => `throttled${i}`),
      4,
      (name) => start("vm1", name),
    );
    await waitFor("a throttling warning", () => /429|TooManyRequests|throttl/i.test(log("vm1").slice(before)), 60_000, 250);
    await knobs({});
    // Requests that waited longer than Docker allows failed with the plugin's words; started again, they get addresses.
    for (const r of runs.filter((x) => x.code !== 0)) {
      assert.match(r.stderr, /Azure Resource Manager/, `${r.name}: ${r.stderr}`);
      await cli.vm1.remove([r.name]);
      const again = await start("vm1", r.name);
      assert.equal(again.code, 0, `${r.name} after the throttling: ${again.stderr}`);
    }
    await assertConsistent(sim, "vm1", NETWORK);
  });

  (FULL ? it : it.skip)(
    "names the az command that fixes a VM without a managed identity or a role, and recovers once fixed",
    async function () {
      this.timeout(300_000);
      await removeAll("vm1");
      await poolSettles("vm1", WARM, (COOLDOWN_S + 60) * 1000);
      for (const [fault, words] of [
        [{ identity: false }, /az vm identity assign/],
        [{ role: false }, /az role assignment create/],
      ] as const) {
        // The free ipconfigs are WARM: the containers beyond them need ARM.
        await poolSettles("vm1", WARM, (COOLDOWN_S + 60) * 1000);
        await knobs({ vms: { vm1: fault } });
        // A new start asks IMDS for a new token and reads the NIC again.
        await plugins.vm1.stop();
        await startPlugin("vm1");
        const runs = await runPool(
          Array.from({ length: WARM + 3 }, (_, i) => `fault${i}`),
          4,
          (name) => start("vm1", name),
        );
        const failed = runs.filter((r) => r.code !== 0);
        assert.ok(failed.length >= 3, `${runs.length - failed.length} of ${runs.length} containers started with ${JSON.stringify(fault)}`);
        for (const r of failed) assert.match(r.stderr, words, r.stderr);
        await knobs({});
        for (const r of failed) {
          await cli.vm1.remove([r.name]);
          const again = await waitForStart(r.name);
          assert.equal(again.code, 0, `${r.name} once fixed: ${again.stderr}`);
        }
        await removeAll("vm1");
      }
      await assertConsistent(sim, "vm1", NETWORK);
    },
  );

  (FULL ? it : it.skip)(
    "puts the ipconfigs of a network's containers into its load balancer pool and security group while they exist",
    async function () {
      this.timeout(300_000);
      const pool = lbBackendPoolId(LB.name, LB.pool);
      const asg = `${resourceGroupId()}/providers/Microsoft.Network/applicationSecurityGroups/web`;
      const net = "balanced";
      const frontend = `http://${LB.frontendIp}:${LB.frontendPort}/cgi-bin/ip`;
      const ipconfigOf = (address: string) => sim.vm("vm1").nic.secondaries.find((s) => s.address === address);
      await cli.vm1.ok([
        ...CREATE_NETWORK,
        "--subnet",
        SUBNET,
        "-o",
        `lb-backend-pools=${pool}`,
        "-o",
        `application-security-groups=${asg}`,
        net,
      ]);
      try {
        // Nothing is in the pool yet: the frontend leads nowhere.
        assert.notEqual((await h.curl(INET, frontend, 2)).code, 0, "the frontend answered with an empty pool");
        const before = log("vm1").length;
        const run = await cli.vm1.run(["run", "-d", "--init", "--name", "web", "--network", net, "local/busybox", ...WHOAMI_CMD]);
        assert.equal(run.code, 0, run.stderr);
        const address = await cli.vm1.ipOf("web");
        // CreateEndpoint answered once ARM had committed the memberships.
        assert.deepEqual(ipconfigOf(address)?.loadBalancerBackendAddressPools, [pool]);
        assert.deepEqual(ipconfigOf(address)?.applicationSecurityGroups, [asg]);
        assert.match(log("vm1").slice(before), /waiting for the ipconfig to join the network's security groups and backend pools/);
        // A container of the plain network is in neither.
        const plain = await start("vm1", "plain");
        assert.equal(plain.code, 0, plain.stderr);
        const plainIpconfig = ipconfigOf(await cli.vm1.ipOf("plain"));
        assert.equal(plainIpconfig?.loadBalancerBackendAddressPools, undefined);
        assert.equal(plainIpconfig?.applicationSecurityGroups, undefined);
        // The internet reaches the container through the frontend, as itself.
        let out = "";
        await waitFor(
          "the load balancer's frontend to answer",
          async () => {
            const r = await h.curl(INET, frontend, 3);
            out = r.stdout;
            return r.code === 0;
          },
          15_000,
          250,
        );
        assert.equal(httpCaller(out), INET_HOST);
        await cli.vm1.remove(["web"]);
        // The release clears the memberships (or the cooldown returns the ipconfig altogether).
        await waitFor(
          `${address} to leave the pool and the group`,
          () => {
            const c = ipconfigOf(address);
            return c?.loadBalancerBackendAddressPools === undefined && c?.applicationSecurityGroups === undefined;
          },
          30_000,
          250,
        );
        assert.notEqual((await h.curl(INET, frontend, 3)).code, 0, "the frontend still reaches the removed container's address");
      } finally {
        await cli.vm1.remove(["web"]);
        await cli.vm1.run(["network", "rm", net]);
      }
    },
  );

  /** Starts a container, trying again while the plugin has not yet retried ARM after a fix (it looks every 15 s). */
  async function waitForStart(name: string) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await start("vm1", name);
      if (r.code === 0 || Date.now() > deadline) return r;
      await cli.vm1.remove([name]);
      await sleep(2_000);
    }
  }
});
