/**
 * A release as users get it: the managed plugin built on vm1 and pushed to
 * the simulator's registry as REGISTRY/azure-vnet:VERSION
 * (plugin-build.sh --push), then installed by that name on vm2, which never
 * built or created it, and used there as the network driver of a container
 * that talks to vm1's.
 */
import { strict as assert } from "node:assert";
import { rmSync } from "node:fs";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { MODE_OPTIONS, WHOAMI_CMD, fetchOnceUp, httpCaller } from "./helpers/docker";
import { ManagedPlugin } from "./helpers/managed-plugin";
import { PACKAGE_VERSION, registryTags, releasePlugin } from "./helpers/release";

describe("azure-vnet released through a registry: pushed from vm1, installed by name on vm2", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  let plugin: ManagedPlugin;

  const ok = async (vm: string, args: string[], timeoutMs = 60_000) => {
    const r = await sim.exec(vm, "docker", args, { allowFailure: true, timeoutMs });
    assert.equal(r.code, 0, `docker ${args.join(" ")} on ${vm} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const ipOf = (vm: string, container: string) =>
    ok(vm, ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container]);
  const createNetwork = (vm: string) =>
    ok(vm, [
      "network",
      "create",
      "-d",
      plugin.name,
      "--ipam-driver",
      plugin.name,
      ...MODE_OPTIONS,
      "--subnet",
      sim.topology.vnet.subnet,
      "vnet",
    ]);

  before(async function () {
    this.timeout(120_000);
    await sim.down();
    await sim.up(defaultTopology());
    plugin = releasePlugin(sim);
  });

  after(async function () {
    this.timeout(120_000);
    await sim.down();
    if (plugin) rmSync(plugin.dir, { recursive: true, force: true });
  });

  it(`builds on vm1 and pushes azure-vnet:${PACKAGE_VERSION} to the registry host`, async function () {
    this.timeout(400_000);
    assert.deepEqual(await registryTags(sim, "azure-vnet"), [], "the registry starts empty");
    const built = await plugin.build("vm1", { push: true });
    assert.match(built.output, /plugin-build: pushed /);
    assert.deepEqual(await registryTags(sim, "azure-vnet"), [PACKAGE_VERSION]);
    console.log(`      built and pushed from vm1 in ${built.seconds.toFixed(1)} s as ${plugin.name}`);
  });

  it("installs by name on vm2, which never built or created it, and enables it", async function () {
    this.timeout(300_000);
    assert.equal(await ok("vm2", ["plugin", "ls", "-q"]), "", "vm2 has a plugin before the install");
    const seconds = await plugin.install("vm2");
    assert.equal(await ok("vm2", ["plugin", "inspect", "-f", "{{.Enabled}} {{.PluginReference}}", plugin.name]), `true ${plugin.name}`);
    // Nothing of the build is on vm2: no rootfs image, only what the registry served.
    assert.equal(await ok("vm2", ["images", "-q", "azure-vnet-plugin-*"]), "");
    console.log(`      installed on vm2 from the registry in ${seconds.toFixed(1)} s`);
  });

  it("gives a container on vm2 a VNet address that reaches a container on vm1", async function () {
    this.timeout(180_000);
    await plugin.enable("vm1");
    await createNetwork("vm1");
    await createNetwork("vm2");
    await ok("vm1", ["run", "-d", "--init", "--name", "server", "--network", "vnet", "busybox", ...WHOAMI_CMD]);
    await ok("vm2", ["run", "-d", "--init", "--name", "client", "--network", "vnet", "busybox", "sleep", "600"]);
    const server = await ipOf("vm1", "server");
    const client = await ipOf("vm2", "client");
    assert.ok(
      sim.vm("vm1").nic.secondaries.some((s) => s.address === server),
      `vm1's container got ${server}`,
    );
    assert.ok(
      sim.vm("vm2").nic.secondaries.some((s) => s.address === client),
      `vm2's container got ${client}`,
    );
    assert.equal(httpCaller(await fetchOnceUp(sim, "vm2", "client", `http://${server}:8080/cgi-bin/ip`)), client);
  });
});
