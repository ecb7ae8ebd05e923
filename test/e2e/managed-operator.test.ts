/**
 * The operator commands against the managed plugin on a simulated VM: status
 * finds it through Docker's API, doctor is healthy, then its docker-socket
 * mount is pointed at something that is not Docker's socket and doctor names
 * it, and the fix doctor prints, run as printed, makes it healthy again. Also
 * an ipconfig added to the NIC is usable with --ip at once.
 */
import { strict as assert } from "node:assert";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { waitFor } from "../../sim/exec";
import { PLUGIN_MAIN } from "../../sim/plugin-process";
import type { StatusReport } from "../../driver/cli/status";
import type { DoctorReport } from "../../driver/cli/doctor";
import { MODE_OPTIONS } from "./helpers/docker";
import { IMDS_URL } from "./helpers/platform";
import { ManagedPlugin, PLUGIN_NAME as NAME } from "./helpers/managed-plugin";

describe("operator commands and fresh ipconfigs with the managed plugin on the simulator", function () {
  this.timeout(180_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const plugin = new ManagedPlugin(sim);

  const inVm = (cmd: string, args: string[], timeoutMs = 60_000) => sim.exec("vm1", cmd, args, { allowFailure: true, timeoutMs });
  const ok = async (cmd: string, args: string[]) => {
    const r = await inVm(cmd, args);
    assert.equal(r.code, 0, `${cmd} ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const operator = (...args: string[]) => inVm(process.execPath, [PLUGIN_MAIN, ...args]);
  const doctorJson = async () => {
    const r = await operator("doctor", "--json");
    return { code: r.code, report: JSON.parse(r.stdout) as DoctorReport };
  };
  const checkOf = (report: DoctorReport, id: string) => report.checks.find((c) => c.id === id);
  /** Doctor once a reconciliation after `since` has been reported (the first runs about a second after enable). */
  const doctorAfter = async (since: number) => {
    let last = await doctorJson();
    await waitFor(
      "a reconciliation reported after the change",
      async () => {
        last = await doctorJson();
        const finding = checkOf(last.report, "docker-api")?.finding ?? "";
        const at = /at (\d{4}-\d\d-\d\dT[\d:.]+Z)/.exec(finding)?.[1];
        return at !== undefined && Date.parse(at) >= since;
      },
      30_000,
      500,
    );
    return last;
  };

  before(async function () {
    this.timeout(600_000);
    await sim.down();
    await sim.up(defaultTopology());
    const built = await plugin.build("vm1");
    console.log(`      built on vm1 in ${built.seconds.toFixed(1)} s`);
    await plugin.enable("vm1");
    await ok("docker", ["network", "create", "-d", NAME, "--ipam-driver", NAME, ...MODE_OPTIONS, "--subnet", "10.0.0.0/24", "vnet"]);
  });

  after(async function () {
    this.timeout(120_000);
    await sim.down();
    rmSync(plugin.dir, { recursive: true, force: true });
  });

  it("status finds the managed plugin through Docker's API and shows it running", async function () {
    const id = await ok("docker", ["plugin", "inspect", "-f", "{{.Id}}", NAME]);
    const r = await operator("status", "--json");
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as StatusReport;
    assert.equal(s.plugin.how, "managed");
    assert.equal(s.plugin.socket, `/run/docker/plugins/${id}/azvnet.sock`);
    assert.equal(s.plugin.answering, true, s.plugin.error);
    assert.deepEqual(s.plugin.managed, { name: NAME, id, enabled: true });
    const text = await operator("status");
    assert.match(
      text.stdout,
      new RegExp(
        `^plugin: managed plugin ${NAME} \\(id ${id.slice(0, 12)}\\), enabled, socket /run/docker/plugins/${id}/azvnet\\.sock$`,
        "m",
      ),
    );
    assert.match(text.stdout, /^plugin socket: \S+ answering$/m);
  });

  it("doctor finds the managed plugin healthy (exit 0), its reconciliation included", async function () {
    const { code, report } = await doctorAfter(0);
    assert.equal(
      code,
      0,
      JSON.stringify(
        report.checks.filter((c) => c.verdict !== "PASS"),
        null,
        2,
      ),
    );
    assert.equal(checkOf(report, "plugin")?.verdict, "PASS");
    assert.equal(checkOf(report, "socket")?.verdict, "PASS");
    assert.equal(checkOf(report, "docker-api")?.verdict, "PASS");
    assert.equal(checkOf(report, "reconcile")?.verdict, "PASS");
    const text = await operator("doctor");
    assert.equal(text.code, 0, text.stdout);
    assert.match(text.stdout, /^healthy: /m);
  });

  it("an ipconfig added to the NIC is granted to --ip at once, although the plugin read the metadata seconds ago", async function () {
    // A container without --ip first: the plugin's cached NIC answer is now fresh (it keeps one for 10 s).
    await ok("docker", ["run", "-d", "--init", "--name", "warm", "--network", "vnet", "local/busybox", "sleep", "3600"]);
    await sim.addIpConfig("vm1", "10.0.0.40");
    // As `az network nic ip-config create` returns once IMDS lists the address: the simulated IMDS takes up to half a second.
    await waitFor(
      "IMDS to list 10.0.0.40",
      async () =>
        (await inVm("curl", ["-sS", "--noproxy", "*", "-m", "2", "-H", "Metadata: true", IMDS_URL])).stdout.includes('"10.0.0.40"'),
      5_000,
      100,
    );
    const t0 = Date.now();
    await ok("docker", [
      "run",
      "-d",
      "--init",
      "--name",
      "fresh",
      "--network",
      "vnet",
      "--ip",
      "10.0.0.40",
      "local/busybox",
      "sleep",
      "3600",
    ]);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(await ok("docker", ["inspect", "-f", "{{.NetworkSettings.Networks.vnet.IPAddress}}", "fresh"]), "10.0.0.40");
    console.log(`      docker run --ip of an ipconfig added just before took ${seconds.toFixed(1)} s`);
    // An --ip that is no ipconfig is refused with the az command for this VM's resource group, the NIC looked up by its MAC.
    const refused = await inVm("docker", ["run", "--rm", "--network", "vnet", "--ip", "10.0.0.99", "local/busybox", "true"]);
    assert.notEqual(refused.code, 0);
    assert.ok(
      refused.stderr.includes(
        `--resource-group sim-rg --nic-name "$(az network nic list --resource-group sim-rg --query "[?macAddress=='00-0D-3A-00-00-01'].name" --output tsv)" --name ipconfig-10-0-0-99`,
      ),
      refused.stderr,
    );
    await ok("docker", ["rm", "-f", "warm", "fresh"]);
  });

  it("doctor names the docker-socket mount when it is not Docker's socket (exit 1), and its fix, run as printed, makes it healthy", async function () {
    this.timeout(240_000);
    const wrong = join(sim.paths("vm1").dir, "not-docker.sock");
    writeFileSync(wrong, "");
    await ok("docker", ["plugin", "disable", "-f", NAME]);
    await ok("docker", ["plugin", "set", NAME, `docker-socket.source=${wrong}`]);
    const brokenAt = Date.now();
    await ok("docker", ["plugin", "enable", NAME]);

    const broken = await doctorAfter(brokenAt);
    assert.equal(broken.code, 1);
    const api = checkOf(broken.report, "docker-api");
    assert.equal(api?.verdict, "FAIL");
    assert.match(
      api?.finding ?? "",
      /^the plugin cannot reach Docker's API at unix:\/\/\/run\/docker\.sock \(tried at [\d:.TZ-]+\): .*; the docker-socket mount \(its source is .*not-docker\.sock\) is not Docker's socket/,
    );
    const fix = api?.fix?.[0] ?? "";
    assert.match(
      fix,
      new RegExp(
        `^docker plugin disable -f ${NAME} && docker plugin set ${NAME} docker-socket\\.source=\\S+ && docker plugin enable ${NAME}$`,
      ),
    );
    assert.equal(checkOf(broken.report, "reconcile")?.verdict, "FAIL");
    const text = await operator("doctor");
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^FAIL +docker-api +the plugin cannot reach Docker's API/m);
    assert.ok(text.stdout.includes(`fix: ${fix}`), text.stdout);

    // The fix exactly as doctor printed it, in the VM's shell.
    const fixedAt = Date.now();
    const r = await inVm("sh", ["-c", fix], 120_000);
    assert.equal(r.code, 0, `${fix}: ${r.stderr}`);
    const healthy = await doctorAfter(fixedAt);
    assert.equal(
      healthy.code,
      0,
      JSON.stringify(
        healthy.report.checks.filter((c) => c.verdict !== "PASS"),
        null,
        2,
      ),
    );
  });
});
