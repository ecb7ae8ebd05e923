/**
 * Swarm services on azure-vnet: vm1 a manager, vm2 a worker, the managed
 * plugin on both (swarm takes no legacy plugin), a `--config-only` network on
 * each node holding that node's settings and a `--scope swarm --config-from`
 * network on the manager. Each node's own IPAM gives its tasks its own
 * ipconfigs; the service's replicas reach each other across the VMs with
 * those addresses, and removing the service gives every address back.
 */
import { strict as assert } from "node:assert";
import { readFileSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { waitFor } from "../../sim/exec";
import { type PortCheck, SWARM_PORTS, checkSwarmPorts, formSwarm, leaveSwarm } from "../../sim/swarm";
import { MODE_OPTIONS, WHOAMI_CMD, fetchOnceUp, httpCaller } from "./helpers/docker";
import { ManagedPlugin, PLUGIN_NAME } from "./helpers/managed-plugin";
import { assertConsistent } from "./helpers/invariants";
import { checkpointPath } from "./helpers/vm-state";
import { secondariesOf } from "./helpers/topologies";

const NAME = PLUGIN_NAME;
const VMS = ["vm1", "vm2"];
const SERVICE = "web";
/** As many tasks as a VM has secondary ipconfigs in the default topology. */
const PER_VM = 8;
const NETWORK = "vnet";
const STACK_FILE = resolve(__dirname, "../../../examples/swarm-stack/docker-stack.yml");

describe("swarm services on an azure-vnet swarm network, across two VMs", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const plugin = new ManagedPlugin(sim);
  const topology = defaultTopology();
  const ports: Record<string, PortCheck[]> = {};

  const docker = (vm: string, args: string[], timeoutMs = 60_000) => sim.exec(vm, "docker", args, { allowFailure: true, timeoutMs });
  const ok = async (vm: string, args: string[], timeoutMs = 60_000) => {
    const r = await docker(vm, args, timeoutMs);
    assert.equal(r.code, 0, `docker ${args.join(" ")} on ${vm} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** The service's task containers running on a node: name -> address on the swarm network (a task that stops meanwhile is left out). */
  const tasksOn = async (vm: string): Promise<Map<string, string>> => {
    const ids = (await ok(vm, ["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${SERVICE}`])).split(/\s+/).filter(Boolean);
    const tasks = new Map<string, string>();
    for (const id of ids) {
      const r = await docker(vm, ["inspect", "-f", `{{.Name}} {{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`, id]);
      const [name, address] = r.stdout.trim().replace(/^\//, "").split(" ");
      if (r.code === 0 && address) tasks.set(name, address);
    }
    return tasks;
  };

  /** Waits until every VM runs `count` tasks, as `countOn` counts them. */
  const waitForTasks = (count: number, countOn: (vm: string) => Promise<number>) =>
    waitFor(`${count} tasks on each VM`, async () => (await Promise.all(VMS.map(countOn))).every((n) => n === count), 90_000, 500);
  const serviceTasks = async (vm: string) => (await tasksOn(vm)).size;

  /** The networks a node's plugin has records of. */
  const networksOf = (vm: string): string[] =>
    Object.keys(
      (JSON.parse(readFileSync(checkpointPath(sim, vm), "utf8")) as { data: { network: { networks: object } } }).data.network.networks,
    );

  before(async function () {
    this.timeout(600_000);
    await sim.down();
    await sim.up(topology);
    // Before the swarm exists: then dockerd holds these ports itself.
    ports["vm1->vm2"] = await checkSwarmPorts(sim, "vm1", "vm2");
    ports["vm2->vm1"] = await checkSwarmPorts(sim, "vm2", "vm1");
    await plugin.build("vm1");
    await plugin.createFromDir("vm2");
    // vm1's dockerd restarts in a test: its docker-socket mount names a socket outside /run (see ManagedPlugin.enable).
    await Promise.all(VMS.map((vm) => plugin.enable(vm, { restartable: vm === "vm1" })));
    await formSwarm(sim, "vm1", ["vm2"]);
  });

  after(async function () {
    this.timeout(180_000);
    await leaveSwarm(sim, ["vm2", "vm1"]).catch(() => undefined);
    await sim.down();
    rmSync(plugin.dir, { recursive: true, force: true });
  });

  it("lets swarm's ports through the fabric between the VMs' primary addresses, seen from the sender's own address", function () {
    for (const [path, checks] of Object.entries(ports)) {
      const from = topology.vms.find((v) => v.name === path.split("->")[0])?.nic.primary.address;
      assert.deepEqual(
        checks.map((c) => `${c.port}/${c.proto} ${c.seenAs || c.error}`),
        SWARM_PORTS.map((p) => `${p.port}/${p.proto} ${from}`),
        path,
      );
    }
  });

  it("forms a swarm of both VMs, the plugin enabled on each", async function () {
    assert.equal(await ok("vm1", ["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"]), "active true");
    assert.equal(await ok("vm2", ["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"]), "active false");
    for (const vm of VMS) assert.equal(await ok(vm, ["plugin", "inspect", "-f", "{{.Enabled}}", NAME]), "true");
  });

  it("creates a swarm network from a config-only network on each node", async function () {
    for (const vm of VMS)
      await ok(vm, [
        "network",
        "create",
        "--config-only",
        "--ipam-driver",
        NAME,
        "--subnet",
        topology.vnet.subnet,
        ...MODE_OPTIONS,
        `${NETWORK}-config`,
      ]);
    await ok("vm1", ["network", "create", "-d", NAME, "--scope", "swarm", "--config-from", `${NETWORK}-config`, NETWORK]);
    assert.equal(await ok("vm1", ["network", "inspect", "-f", "{{.Scope}} {{.Driver}}", NETWORK]), `swarm ${NAME}`);
    const id = await ok("vm1", ["network", "inspect", "-f", "{{.Id}}", NETWORK]);
    assert.match(id, /^[0-9a-z]{25}$/, "a swarm network's id");
  });

  it("runs the service's replicas on both VMs, each task with one of its own node's ipconfigs", async function () {
    this.timeout(120_000);
    await ok(
      "vm1",
      [
        "service",
        "create",
        "--detach",
        "--init",
        "--name",
        SERVICE,
        "--replicas",
        "4",
        "--replicas-max-per-node",
        String(PER_VM),
        "--network",
        NETWORK,
        "--no-resolve-image",
        "local/busybox",
        ...WHOAMI_CMD,
      ],
      60_000,
    );
    await waitForTasks(2, serviceTasks);
    const all: string[] = [];
    for (const vm of VMS) {
      const own = secondariesOf(topology, vm);
      for (const [task, address] of await tasksOn(vm)) {
        assert.ok(own.includes(address), `task ${task} on ${vm} has ${address}, not one of ${vm}'s ipconfigs`);
        all.push(address);
      }
      await assertConsistent(sim, vm, NETWORK);
    }
    assert.equal(new Set(all).size, 4, `two tasks share an address: ${all}`);
  });

  it("lets tasks reach each other across the VMs by address, each with its own source address", async function () {
    const [one, two] = await Promise.all(VMS.map(tasksOn));
    for (const [fromVm, from, to] of [
      ["vm1", one, two],
      ["vm2", two, one],
    ] as const) {
      for (const [task, address] of from) {
        for (const target of to.values()) {
          const answer = httpCaller(await fetchOnceUp(sim, fromVm, task, `http://${target}:8080/cgi-bin/ip`));
          assert.equal(answer, address, `${task} on ${fromVm} reached ${target} as ${answer}`);
        }
      }
    }
  });

  it("resolves the service's name and tasks.<name> on every node to the tasks of both VMs, and serves by name", async function () {
    const [one, two] = await Promise.all(VMS.map(tasksOn));
    const everyTask = [...one.values(), ...two.values()].sort();
    for (const [vm, tasks] of [
      ["vm1", one],
      ["vm2", two],
    ] as const) {
      const [task, address] = [...tasks][0];
      for (const name of [SERVICE, `tasks.${SERVICE}`]) {
        const r = await docker(vm, ["exec", task, "nslookup", name, "127.0.0.11"]);
        const answers = [...r.stdout.matchAll(/^Address: (\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]).sort();
        assert.deepEqual(answers, everyTask, `${name} from ${task} on ${vm}:\n${r.stdout}${r.stderr}`);
      }
      assert.equal(httpCaller(await fetchOnceUp(sim, vm, task, `http://${SERVICE}:8080/cgi-bin/ip`)), address);
    }
  });

  it("after the manager's dockerd restarts, runs the service again with no address held twice or left behind", async function () {
    this.timeout(180_000);
    // As `systemctl restart docker`: dockerd stops its containers and the plugin, and starts both again.
    await sim.stopVmDocker("vm1", { keepContainers: true });
    await sim.startVmDocker("vm1");
    await waitFor(
      "four tasks running again",
      async () => (await Promise.all(VMS.map(serviceTasks))).reduce((a, b) => a + b) === 4,
      120_000,
      500,
    );
    const all: string[] = [];
    for (const vm of VMS) {
      const view = await assertConsistent(sim, vm, NETWORK);
      for (const address of view.containers.values()) {
        assert.ok(secondariesOf(topology, vm).includes(address), `${address} on ${vm}`);
        all.push(address);
      }
    }
    assert.equal(new Set(all).size, 4, `two tasks share an address: ${all}`);
  });

  it("scales up to every ipconfig of both VMs and back down, each address held once and the rest given back", async function () {
    this.timeout(120_000);
    await ok("vm1", ["service", "scale", "--detach", `${SERVICE}=${2 * PER_VM}`]);
    await waitForTasks(PER_VM, serviceTasks);
    for (const vm of VMS) {
      const view = await assertConsistent(sim, vm, NETWORK);
      assert.deepEqual(view.held, [...secondariesOf(topology, vm)].sort(), `${vm} holds not exactly its ipconfigs`);
    }
    await ok("vm1", ["service", "scale", "--detach", `${SERVICE}=2`]);
    await waitFor("two tasks left", async () => (await Promise.all(VMS.map(serviceTasks))).reduce((a, b) => a + b) === 2, 60_000, 500);
    let held = 0;
    for (const vm of VMS) held += (await assertConsistent(sim, vm, NETWORK)).held.length;
    assert.equal(held, 2, "the plugins hold addresses of tasks that are gone");
  });

  it("removing the service gives every address back on both nodes", async function () {
    this.timeout(120_000);
    await ok("vm1", ["service", "rm", SERVICE]);
    await waitForTasks(0, serviceTasks);
    for (const vm of VMS) {
      const view = await assertConsistent(sim, vm, NETWORK);
      assert.deepEqual(view.held, [], `${vm}'s plugin still holds addresses`);
      // The node drops its instance of the swarm network with its last task: no bridge or record is left.
      assert.deepEqual(networksOf(vm), [], `${vm}'s plugin still has a network`);
      assert.doesNotMatch((await sim.exec(vm, "ip", ["-o", "link"])).stdout, /\bazv[bhc]/);
    }
  });

  it("deploys the example stack onto the swarm network, its tasks on both VMs with their own addresses", async function () {
    this.timeout(120_000);
    await ok("vm1", ["stack", "deploy", "--resolve-image", "never", "-c", STACK_FILE, "demo"], 60_000);
    const stackTasks = async (vm: string) =>
      (await ok(vm, ["ps", "-q", "--filter", "label=com.docker.stack.namespace=demo"])).split(/\s+/).filter(Boolean).length;
    await waitForTasks(2, stackTasks);
    for (const vm of VMS) {
      const view = await assertConsistent(sim, vm, NETWORK);
      assert.equal(view.held.length, 2);
      for (const address of view.held) assert.ok(secondariesOf(topology, vm).includes(address), `${address} on ${vm}`);
    }
    await ok("vm1", ["stack", "rm", "demo"]);
    await waitForTasks(0, stackTasks);
    for (const vm of VMS) assert.deepEqual((await assertConsistent(sim, vm, NETWORK)).held, []);
  });
});
