/**
 * The managed plugin on a VM that nobody prepared: no /var/lib/azure-vnet, no
 * /run/xtables.lock, settings made only with `docker plugin set`, then a
 * reboot (fresh /run, dockerd started again) with nothing made by hand.
 *
 * The simulated VM has its own mount namespace with a tmpfs /run; /var/lib is
 * the machine's, so a fresh one is bound over it inside the VM only (as a VM's
 * disk, it is bound again at every boot of the VM). The machine's own
 * /var/lib and /run are never touched.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { waitFor } from "../../sim/exec";
import { Harness } from "./helpers/sim-harness";
import { MODE_OPTIONS } from "./helpers/docker";
import { ManagedPlugin, PLUGIN_NAME } from "./helpers/managed-plugin";
import { buildInfo, versionText } from "../../driver/version";

const VM = "vm1";
const NAME = PLUGIN_NAME;
const METRICS = "127.0.0.1:9417";

describe("the managed plugin on a VM with nothing prepared, and after its reboot", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  const plugin = new ManagedPlugin(sim);
  /** The VM's /var/lib, kept on the machine like a disk. */
  let varLib = "";
  let startedAt = "";

  const docker = (args: string[], timeoutMs = 60_000) => sim.exec(VM, "docker", args, { allowFailure: true, timeoutMs });
  const ok = async (args: string[]) => {
    const r = await docker(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const inVm = (cmd: string, args: string[]) => sim.exec(VM, cmd, args, { allowFailure: true, timeoutMs: 30_000 });
  const ipOf = async (name: string) =>
    (await ok(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name])).trim();
  const exists = async (path: string) => (await inVm("test", ["-e", path])).code === 0;
  /** The VM's disk as its /var/lib, in the VM's mount namespace only. */
  const mountDisk = async () => {
    const mounted = await inVm("mount", ["--bind", varLib, "/var/lib"]);
    assert.equal(mounted.code, 0, mounted.stderr);
  };
  /** The plugin's own lines in the VM's dockerd log (its stderr), from this run. */
  const pluginLog = () =>
    readFileSync(sim.paths(VM).log, "utf8")
      .split("\n")
      .map((line) => /msg="(\S+) (\w+) +(.*)" plugin=/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && m[1] >= startedAt)
      .map((m) => ({ level: m[2], text: m[3] }));

  before(async function () {
    this.timeout(600_000);
    await sim.down();
    await sim.up(defaultTopology());
    startedAt = new Date().toISOString();
    varLib = join(sim.paths(VM).dir, "disk-var-lib");
    rmSync(varLib, { recursive: true, force: true });
    mkdirSync(varLib, { recursive: true });
    await plugin.build(VM);
    await mountDisk();
    await inVm("rm", ["-f", "/run/xtables.lock"]);
    assert.equal(await exists("/var/lib/azure-vnet"), false, "the VM still has /var/lib/azure-vnet");
    assert.equal(await exists("/run/xtables.lock"), false, "the VM still has /run/xtables.lock");
  });

  after(async function () {
    this.timeout(120_000);
    await h.stopAll();
    await sim.down();
    rmSync(plugin.dir, { recursive: true, force: true });
    if (varLib) rmSync(varLib, { recursive: true, force: true });
  });

  it("enables with nothing made by hand, taking the settings made with docker plugin set", async function () {
    await plugin.set(VM, ["LOG_LEVEL=debug", `AZURE_VNET_METRICS_LISTEN=${METRICS}`]);
    await plugin.enable(VM);
    // The plugin made its state directory, private, in the VM's /var/lib.
    const mode = await inVm("stat", ["-c", "%a", "/var/lib/azure-vnet"]);
    assert.equal(mode.stdout.trim(), "700", mode.stderr);
    assert.ok(existsSync(join(varLib, "azure-vnet/state.json")), "no checkpoint in the VM's /var/lib/azure-vnet");
    // METRICS: the metrics listener answers in the VM's network namespace.
    const metrics = await inVm("curl", ["-sf", "--max-time", "5", `http://${METRICS}/metrics`]);
    assert.equal(metrics.code, 0, metrics.stderr);
    assert.match(metrics.stdout, /^azure_vnet_/m);
    // LOG_LEVEL: debug lines appear, after a first line naming the build.
    await waitFor("a debug line in the plugin's log", () => pluginLog().some((l) => l.level === "debug"), 20_000, 250);
    const first = pluginLog()[0];
    assert.equal(first.text, `starting version=${buildInfo().version} commit=${buildInfo().commit}`);
  });

  it("describes itself with the version and commit it was built from", async function () {
    const description = await ok(["plugin", "inspect", "-f", "{{.Config.Description}}", NAME]);
    assert.ok(description.endsWith(`; ${versionText()}`), description);
  });

  it("gives a container an address, keeping the state where the host's tools read it", async function () {
    await ok(["network", "create", "-d", NAME, "--ipam-driver", NAME, ...MODE_OPTIONS, "--subnet", "10.0.0.0/24", "vnet"]);
    await ok(["run", "-d", "--init", "--name", "r1", "--network", "vnet", "--restart", "always", "local/busybox", "sleep", "3600"]);
    assert.equal(await ipOf("r1"), "10.0.0.10");
    assert.match(readFileSync(join(varLib, "azure-vnet/state.json"), "utf8"), /"10\.0\.0\.10"/);
    const status = await sim.exec(VM, process.execPath, [join(__dirname, "../../driver/main.js"), "status", "--no-metadata"], {
      allowFailure: true,
      timeoutMs: 30_000,
    });
    assert.equal(status.stdout.split("\n")[0], versionText(), status.stderr);
    assert.match(status.stdout, /10\.0\.0\.10/);
  });

  it("comes back after a reboot with a fresh /run and nothing made by hand", async function () {
    this.timeout(240_000);
    await sim.rebootVm(VM, {
      // The VM's disk is there again at boot; /run is empty.
      beforeDocker: async () => {
        await mountDisk();
        assert.equal(await exists("/var/lib/azure-vnet/state.json"), true, "the VM's disk lost the state");
        assert.equal(await exists("/run/xtables.lock"), false, "/run survived the reboot");
      },
    });
    await waitFor(
      "r1 to run again with its address",
      async () => (await docker(["inspect", "-f", "{{.State.Running}}", "r1"])).stdout.trim() === "true",
      90_000,
      500,
    );
    assert.equal(await ok(["plugin", "inspect", "-f", "{{.Enabled}}", NAME]), "true");
    assert.equal(await ipOf("r1"), "10.0.0.10");
    // The address works: the container reaches the internet through the VM, as before the reboot.
    await h.whoami({ edge: "inet" }, 8080);
    const out = await docker(["exec", "r1", "timeout", "5", "wget", "-q", "-O", "-", "http://198.51.100.10:8080/"]);
    assert.equal(out.stdout.trim(), "203.0.113.4", out.stderr);
  });

  it("disables and enables again after the reboot, and serves a new container", async function () {
    this.timeout(180_000);
    await plugin.disable(VM);
    await plugin.enable(VM);
    await ok(["run", "-d", "--init", "--name", "r2", "--network", "vnet", "local/busybox", "sleep", "3600"]);
    assert.equal(await ipOf("r2"), "10.0.0.11");
    await ok(["rm", "-f", "r1", "r2"]);
    await ok(["network", "rm", "vnet"]);
  });
});
