/**
 * `docker plugin upgrade` from the previous release to this one, across a
 * checkpoint schema change, with containers running: the previous release is
 * built from the repository's history (test/e2e/previous-release.json names
 * its commit), both are pushed to the simulator's registry, vm2 installs the
 * previous one by name and runs a container on it, then upgrades. The
 * container keeps its address and its connectivity, the checkpoint is
 * migrated to the new schema with nothing lost, and new containers work.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { run } from "../../sim/exec";
import { MODE_OPTIONS, WHOAMI_CMD, fetchOnceUp, httpCaller } from "./helpers/docker";
import { ManagedPlugin } from "./helpers/managed-plugin";
import { PACKAGE_VERSION, releasePlugin, releaseRef } from "./helpers/release";

const REPO = resolve(__dirname, "../../..");
const PREVIOUS = JSON.parse(readFileSync(join(REPO, "test/e2e/previous-release.json"), "utf8")) as {
  version: string;
  commit: string;
  schema: number;
};
/** The name the network uses: an install alias, so it stays the same across the upgrade. */
const ALIAS = "azure-vnet:latest";

interface Checkpoint {
  schema: number;
  writer?: { version?: string };
  data: { network: { endpoints: Record<string, { address: string }> } };
}

describe("docker plugin upgrade from the previous release, across a checkpoint schema change, with containers running", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  let current: ManagedPlugin;
  let workdir = "";
  let hasHistory = true;

  const docker = (vm: string, args: string[], timeoutMs = 120_000) => sim.exec(vm, "docker", args, { allowFailure: true, timeoutMs });
  const ok = async (vm: string, args: string[], timeoutMs = 120_000) => {
    const r = await docker(vm, args, timeoutMs);
    assert.equal(r.code, 0, `docker ${args.join(" ")} on ${vm} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const ipOf = (vm: string, container: string) =>
    ok(vm, ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container]);
  const checkpoint = (vm: string): Checkpoint =>
    JSON.parse(readFileSync(join(sim.paths(vm).pluginState, "state.json"), "utf8")) as Checkpoint;

  /** The previous release's tree from git, bundled with the packages its own package-lock.json pins, built and pushed from vm1. */
  async function pushPrevious(): Promise<void> {
    workdir = mkdtempSync(join(tmpdir(), "azv-previous-"));
    const tree = join(workdir, "tree");
    await run("mkdir", ["-p", tree]);
    const archive = join(workdir, "tree.tar");
    await run("git", ["-C", REPO, "archive", "-o", archive, PREVIOUS.commit]);
    await run("tar", ["-xf", archive, "-C", tree]);
    // Its own packages, not this checkout's: a release may use one that this checkout has since dropped.
    await run("npm", ["ci", "--prefix", tree, "--no-audit", "--no-fund", "--prefer-offline"], { timeoutMs: 600_000 });
    await run("node", [join(tree, "scripts/bundle.mjs")], { timeoutMs: 120_000 });
    const ref = releaseRef(sim, PREVIOUS.version);
    const build = await sim.exec("vm1", "bash", [join(tree, "scripts/plugin-build.sh"), "--offline-base", "--name", ref, "--replace"], {
      allowFailure: true,
      timeoutMs: 400_000,
    });
    assert.equal(build.code, 0, `building ${PREVIOUS.version} (${PREVIOUS.commit}) failed: ${build.stderr || build.stdout}`);
    await ok("vm1", ["plugin", "push", ref], 300_000);
  }

  before(async function () {
    this.timeout(900_000);
    const has = await run("git", ["-C", REPO, "cat-file", "-e", `${PREVIOUS.commit}^{commit}`], { allowFailure: true });
    if (has.code !== 0) {
      hasHistory = false;
      console.log(`      SKIPPED: commit ${PREVIOUS.commit} of release ${PREVIOUS.version} is not in this clone (a clone with --depth?)`);
      this.skip();
    }
    await sim.down();
    await sim.up(defaultTopology());
    await pushPrevious();
    current = releasePlugin(sim);
    await current.build("vm1", { push: true });
    // vm1 serves the containers vm2's reach, on this release.
    await current.enable("vm1");
  });

  after(async function () {
    this.timeout(180_000);
    if (!hasHistory) return;
    await sim.down();
    if (current) rmSync(current.dir, { recursive: true, force: true });
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  it(`runs containers on ${PREVIOUS.version}, installed by name on vm2, with schema ${PREVIOUS.schema} checkpoints`, async function () {
    this.timeout(300_000);
    // The previous release needs what it always needed on a host: its bind sources made first.
    await sim.exec("vm2", "mkdir", ["-p", "/var/lib/azure-vnet"]);
    await sim.exec("vm2", "touch", ["/run/xtables.lock"]);
    await sim.exec("vm2", "ln", ["-sf", sim.paths("vm2").socket, "/run/docker.sock"]);
    await ok("vm2", ["plugin", "install", "--grant-all-permissions", "--alias", ALIAS, releaseRef(sim, PREVIOUS.version)], 300_000);
    const net = (name: string) => [
      ...["network", "create", "-d", name, "--ipam-driver", name, ...MODE_OPTIONS],
      ...["--subnet", sim.topology.vnet.subnet, "vnet"],
    ];
    await ok("vm1", net(current.name));
    await ok("vm2", net(ALIAS));
    await ok("vm1", ["run", "-d", "--init", "--name", "server", "--network", "vnet", "busybox", ...WHOAMI_CMD]);
    await ok("vm2", ["run", "-d", "--init", "--name", "before", "--network", "vnet", "busybox", "sleep", "3600"]);
    const before = await ipOf("vm2", "before");
    const server = await ipOf("vm1", "server");
    assert.equal(httpCaller(await fetchOnceUp(sim, "vm2", "before", `http://${server}:8080/cgi-bin/ip`)), before);
    const cp = checkpoint("vm2");
    assert.equal(cp.schema, PREVIOUS.schema, "the previous release writes its own schema");
    assert.ok(
      Object.values(cp.data.network.endpoints).some((e) => e.address === before),
      "the container's endpoint is in the checkpoint",
    );
  });

  it(`upgrades to ${PACKAGE_VERSION} in place: the container keeps its address and reach, the checkpoint migrates`, async function () {
    this.timeout(300_000);
    const before = await ipOf("vm2", "before");
    const server = await ipOf("vm1", "server");
    const endpointsBefore = Object.keys(checkpoint("vm2").data.network.endpoints).sort();
    // A plugin in use is disabled with -f; its containers keep running meanwhile. The new release is
    // another tag of the same repository, which the CLI would otherwise ask to confirm.
    await ok("vm2", ["plugin", "disable", "-f", ALIAS]);
    const upgraded = await docker(
      "vm2",
      ["plugin", "upgrade", "--grant-all-permissions", "--skip-remote-check", ALIAS, releaseRef(sim, PACKAGE_VERSION)],
      300_000,
    );
    assert.equal(upgraded.code, 0, `upgrade failed: ${upgraded.stderr}`);
    await ok("vm2", ["plugin", "enable", ALIAS]);
    assert.match(
      await ok("vm2", ["plugin", "inspect", "-f", "{{.Config.Description}}", ALIAS]),
      new RegExp(PACKAGE_VERSION.replace(/\./g, "\\.")),
    );
    assert.equal(await ipOf("vm2", "before"), before, "the running container kept its address");
    assert.equal(httpCaller(await fetchOnceUp(sim, "vm2", "before", `http://${server}:8080/cgi-bin/ip`)), before);
    // The new release rewrites the checkpoint in its schema on its first change; make one.
    await ok("vm2", ["run", "-d", "--init", "--name", "after", "--network", "vnet", "busybox", "sleep", "3600"]);
    const after = await ipOf("vm2", "after");
    assert.notEqual(after, before);
    assert.equal(httpCaller(await fetchOnceUp(sim, "vm2", "after", `http://${server}:8080/cgi-bin/ip`)), after);
    const cp = checkpoint("vm2");
    assert.ok(cp.schema > PREVIOUS.schema, `the checkpoint has schema ${cp.schema} after the upgrade`);
    assert.equal(cp.writer?.version, PACKAGE_VERSION);
    const endpointsAfter = Object.keys(cp.data.network.endpoints).sort();
    for (const id of endpointsBefore) assert.ok(endpointsAfter.includes(id), `endpoint ${id.slice(0, 12)} survived the migration`);
    assert.equal(endpointsAfter.length, endpointsBefore.length + 1);
  });
});
