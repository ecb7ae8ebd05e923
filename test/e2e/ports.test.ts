/**
 * Port publishing with real dockerd on the simulator: `docker run -p` and
 * compose `ports:` reach the container from another VM through the VM's
 * primary address with the caller's own address kept, from a container on the
 * same VM (hairpin), after a plugin restart that lost the rules; the port
 * closes with the container, and a port already published is refused.
 */
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { PluginProcess } from "../../sim/plugin-process";
import { CREATE_NETWORK, composeFileForMode } from "./helpers/docker";

const VM1_PRIMARY = "10.0.0.4";
const VM2_PRIMARY = "10.0.0.5";
/** Answers HTTP on 80 with the caller's address (busybox httpd CGI). */
const WHOAMI_80 = [
  "sh",
  "-c",
  "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www",
];
/** busybox httpd reports IPv4 callers as [::ffff:a.b.c.d]. */
const caller = (out: string) =>
  out
    .trim()
    .replace(/^\[?::ffff:/, "")
    .replace(/\]$/, "");

describe("port publishing (-p, compose ports:) on the simulator", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const plugins = { vm1: new PluginProcess(sim, "vm1"), vm2: new PluginProcess(sim, "vm2") };

  const docker = (vm: string, args: string[], timeoutMs = 60_000) => sim.exec(vm, "docker", args, { allowFailure: true, timeoutMs });
  const ok = async (vm: string, args: string[]) => {
    const r = await docker(vm, args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} on ${vm} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** GET from a VM's own namespace (its primary address is the source). */
  const get = (vm: string, url: string) => sim.exec(vm, "curl", ["-s", "-m", "5", url], { allowFailure: true, timeoutMs: 15_000 });
  /**
   * The same, retried while the server starts (busybox httpd is up a moment after `docker run` returns,
   * and its first answers can come before the CGI script's output does): until an answer with a body.
   */
  const getOnceUp = async (vm: string, url: string) => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await get(vm, url);
      if ((r.code === 0 && r.stdout.trim() !== "") || Date.now() > deadline) return r;
      await new Promise((done) => setTimeout(done, 300));
    }
  };
  /** What a failed request is explained by: the container's state, its published ports and the DNAT rules. */
  const explain = async (name: string) => {
    const state = await docker("vm1", [
      "inspect",
      "-f",
      "{{.State.Status}} {{json .NetworkSettings.Ports}} {{json .NetworkSettings.Networks}}",
      name,
    ]);
    return `container: ${state.stdout.trim() || state.stderr.trim()}; DNAT rules: ${(await publishedRules("vm1")).join(" | ") || "none"}`;
  };
  const natRules = async (vm: string) => (await sim.exec(vm, "iptables-save", ["-t", "nat"])).stdout;
  const publishedRules = async (vm: string) =>
    (await natRules(vm)).split("\n").filter((l) => l.startsWith("-A AZURE-VNET-DNAT ") && l.includes(" -j DNAT "));

  before(async function () {
    await sim.down();
    await sim.up(defaultTopology());
    await Promise.all([plugins.vm1.start(), plugins.vm2.start()]);
    await ok("vm1", [...CREATE_NETWORK, "--subnet", "10.0.0.0/24", "vnet"]);
  });

  after(async function () {
    await docker("vm1", ["rm", "-f", "web", "web2", "web3", "client"]);
    await sim.down();
    await Promise.all([plugins.vm1.stop(), plugins.vm2.stop()]);
  });

  it("reaches -p 8080:80 from another VM through the primary address, and the server sees that VM's address", async function () {
    await ok("vm1", ["run", "-d", "--init", "--name", "web", "--network", "vnet", "-p", "8080:80", "local/busybox", ...WHOAMI_80]);
    const r = await getOnceUp("vm2", `http://${VM1_PRIMARY}:8080/cgi-bin/ip`);
    assert.equal(r.code, 0, `curl from vm2 failed: ${r.stderr}`);
    assert.equal(caller(r.stdout), VM2_PRIMARY);
    const rules = await publishedRules("vm1");
    assert.equal(rules.length, 1, rules.join("\n"));
    assert.match(rules[0], /--dport 8080 .* -j DNAT --to-destination 10\.0\.0\.\d+:80$/);
  });

  it("reaches it from the VM itself and from a container on the same VM (hairpin)", async function () {
    const own = await get("vm1", `http://${VM1_PRIMARY}:8080/cgi-bin/ip`);
    assert.equal(own.code, 0, `curl on vm1 failed: ${own.stderr}`);
    assert.equal(caller(own.stdout), VM1_PRIMARY);
    await ok("vm1", ["run", "-d", "--init", "--name", "client", "--network", "vnet", "local/busybox", "sleep", "600"]);
    const clientAddress = await ok("vm1", ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "client"]);
    const r = await docker("vm1", ["exec", "client", "timeout", "5", "wget", "-q", "-O", "-", `http://${VM1_PRIMARY}:8080/cgi-bin/ip`]);
    assert.equal(r.code, 0, `wget from a container on vm1 failed: ${r.stderr}`);
    assert.equal(caller(r.stdout), clientAddress, "a hairpinned connection keeps the client container's address");
  });

  it("refuses a second container publishing the same port, naming the port and the holder", async function () {
    const r = await docker("vm1", [
      "run",
      "-d",
      "--init",
      "--name",
      "web2",
      "--network",
      "vnet",
      "-p",
      "8080:80",
      "local/busybox",
      ...WHOAMI_80,
    ]);
    assert.notEqual(r.code, 0, "the second -p 8080:80 must fail");
    assert.match(r.stderr, /port 8080\/tcp is already published by azure-vnet endpoint [0-9a-f]{12} \(container address 10\.0\.0\.\d+/);
    await docker("vm1", ["rm", "-f", "web2"]);
    const still = await get("vm2", `http://${VM1_PRIMARY}:8080/cgi-bin/ip`);
    assert.equal(caller(still.stdout), VM2_PRIMARY, "the first container keeps its port");
  });

  it("refuses -p with a port Docker would pick, and on loopback", async function () {
    const pick = await docker("vm1", ["run", "-d", "--name", "web2", "--network", "vnet", "-p", "80", "local/busybox", "sleep", "60"]);
    assert.notEqual(pick.code, 0);
    assert.match(pick.stderr, /on a port Docker would pick/);
    await docker("vm1", ["rm", "-f", "web2"]);
    const loop = await docker("vm1", [
      "run",
      "-d",
      "--name",
      "web2",
      "--network",
      "vnet",
      "-p",
      "127.0.0.1:8081:80",
      "local/busybox",
      "sleep",
      "60",
    ]);
    assert.notEqual(loop.code, 0);
    assert.match(loop.stderr, /on a loopback address/);
    await docker("vm1", ["rm", "-f", "web2"]);
  });

  it("publishes again after a plugin restart that found its rules gone (from the checkpoint)", async function () {
    await plugins.vm1.stop();
    await sim.exec("vm1", "iptables", ["-w", "-t", "nat", "-F", "AZURE-VNET-DNAT"]);
    assert.equal((await publishedRules("vm1")).length, 0);
    await plugins.vm1.start();
    const deadline = Date.now() + 20_000;
    while ((await publishedRules("vm1")).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    const r = await get("vm2", `http://${VM1_PRIMARY}:8080/cgi-bin/ip`);
    assert.equal(r.code, 0, `curl from vm2 after the restart failed: ${r.stderr}`);
    assert.equal(caller(r.stdout), VM2_PRIMARY);
  });

  it("closes the port and leaves no rule once the container is removed", async function () {
    await ok("vm1", ["rm", "-f", "web"]);
    assert.deepEqual(await publishedRules("vm1"), []);
    const r = await get("vm2", `http://${VM1_PRIMARY}:8080/cgi-bin/ip`);
    assert.notEqual(r.code, 0, "nothing answers on 8080 any more");
    assert.ok(!(await natRules("vm1")).includes("endpoint "), "no rule of the removed endpoint is left");
  });

  it("publishes a restarted container's port again after dockerd was killed and started", async function () {
    await ok("vm1", [
      "run",
      "-d",
      "--init",
      "--name",
      "web3",
      "--restart",
      "always",
      "--network",
      "vnet",
      "-p",
      "8081:80",
      "local/busybox",
      ...WHOAMI_80,
    ]);
    const first = await getOnceUp("vm2", `http://${VM1_PRIMARY}:8081/cgi-bin/ip`);
    assert.equal(caller(first.stdout), VM2_PRIMARY, `curl from vm2 (exit ${first.code}: ${first.stderr}); ${await explain("web3")}`);
    await sim.stopVmDocker("vm1", { keepContainers: true });
    await sim.startVmDocker("vm1");
    const deadline = Date.now() + 30_000;
    while ((await docker("vm1", ["inspect", "-f", "{{.State.Running}}", "web3"])).stdout.trim() !== "true" && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    const r = await getOnceUp("vm2", `http://${VM1_PRIMARY}:8081/cgi-bin/ip`);
    assert.equal(r.code, 0, `curl from vm2 after the dockerd restart failed: ${r.stderr}`);
    assert.equal(caller(r.stdout), VM2_PRIMARY);
    await ok("vm1", ["rm", "-f", "web3"]);
    assert.equal((await publishedRules("vm1")).filter((l) => l.includes("--dport 8081 ")).length, 0);
  });

  it("publishes compose ports: and closes them with compose down", async function () {
    const file = `${sim.dir}/ports-compose.yml`;
    writeFileSync(
      file,
      [
        "version: '2.4'",
        "services:",
        "  web:",
        "    image: local/busybox",
        "    init: true",
        // $$: compose would substitute $REMOTE_ADDR itself.
        `    command: ${JSON.stringify(WHOAMI_80).replace("$REMOTE_ADDR", "$$$$REMOTE_ADDR")}`,
        "    ports:",
        '      - "8090:80"',
        "    networks: [pub]",
        "networks:",
        "  pub:",
        "    driver: azure-vnet",
        "    ipam:",
        "      driver: azure-vnet",
        "      config:",
        "        - subnet: 10.0.0.0/24",
        "",
      ].join("\n"),
    );
    const compose = ["-p", "ports", "-f", composeFileForMode(file, sim.dir)];
    const up = await sim.exec("vm2", "docker-compose", [...compose, "up", "-d"], { allowFailure: true, timeoutMs: 120_000 });
    try {
      assert.equal(up.code, 0, `compose up failed: ${up.stderr}`);
      const r = await getOnceUp("vm1", `http://${VM2_PRIMARY}:8090/cgi-bin/ip`);
      assert.equal(r.code, 0, `curl from vm1 failed: ${r.stderr}`);
      assert.equal(caller(r.stdout), VM1_PRIMARY);
    } finally {
      const down = await sim.exec("vm2", "docker-compose", [...compose, "down"], { allowFailure: true, timeoutMs: 120_000 });
      assert.equal(down.code, 0, `compose down failed: ${down.stderr}`);
    }
    assert.deepEqual(await publishedRules("vm2"), []);
    const closed = await get("vm1", `http://${VM2_PRIMARY}:8090/cgi-bin/ip`);
    assert.notEqual(closed.code, 0);
  });
});
