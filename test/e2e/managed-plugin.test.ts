/**
 * azure-vnet as a managed (v2) plugin: built offline inside a simulated VM's
 * dockerd, installed on vm1 and vm2, then the main flows through the name
 * Docker registered it under, and a dockerd restart that must bring
 * restart-policy containers back with working addresses.
 */
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { waitFor } from "../../sim/exec";
import { Harness } from "./helpers/sim-harness";
import { E2E_MODE, MODE_OPTIONS, WHOAMI_CMD, fetchInContainer, fetchOnceUp as fetchUp, httpCaller } from "./helpers/docker";
import { COMPOSE_VERSIONS, ComposeExample } from "./helpers/compose";
import { ManagedPlugin, PLUGIN_NAME, driverPrograms } from "./helpers/managed-plugin";

const inet = { edge: "inet" as const };
const NAME = PLUGIN_NAME;
/** Secondary ipconfigs of vm1 in the default topology. */
const VM1_SECONDARIES = Array.from({ length: 8 }, (_, i) => `10.0.0.${10 + i}`);

describe("azure-vnet as a managed plugin with real Docker on the simulator", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  const plugin = new ManagedPlugin(sim);
  let imageMegabytes = 0;
  /** Plugin log lines before this are from earlier runs: the VMs' dockerd logs are kept across them. */
  let startedAt = "";

  const docker = (vm: string, args: string[], timeoutMs = 60_000) => sim.exec(vm, "docker", args, { allowFailure: true, timeoutMs });
  const ok = async (vm: string, args: string[]) => {
    const r = await docker(vm, args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} on ${vm} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const ipOf = (vm: string, container: string) =>
    ok(vm, ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container]);
  const run = (vm: string, name: string, extra: string[] = [], cmd: string[] = ["sleep", "3600"]) =>
    ok(vm, ["run", "-d", "--init", "--name", name, ...extra, "local/busybox", ...cmd]);
  const fetchFrom = (vm: string, name: string, url: string) => fetchInContainer(sim, vm, name, url);
  const fetchOnceUp = (vm: string, name: string, url: string) => fetchUp(sim, vm, name, url);
  const caller = httpCaller;

  before(async function () {
    this.timeout(600_000);
    await sim.down();
    await sim.up(defaultTopology());
    startedAt = new Date().toISOString();
    const built = await plugin.build("vm1");
    imageMegabytes = built.imageMegabytes;
    const created = await plugin.createFromDir("vm2");
    console.log(
      `      built and created on vm1 in ${built.seconds.toFixed(1)} s (image ${imageMegabytes} MB); created on vm2 from its directory in ${created.toFixed(1)} s`,
    );
    // vm1 is the VM whose dockerd restarts: its bind sources are kept outside /run (see ManagedPlugin.enable).
    await Promise.all([plugin.enable("vm1", { restartable: true }), plugin.enable("vm2")]);
    for (const vm of ["vm1", "vm2"])
      await ok(vm, ["network", "create", "-d", NAME, "--ipam-driver", NAME, ...MODE_OPTIONS, "--subnet", "10.0.0.0/24", "vnet"]);
  });

  after(async function () {
    this.timeout(120_000);
    await h.stopAll();
    await sim.down();
    rmSync(plugin.dir, { recursive: true, force: true });
  });

  it("builds offline into a small rootfs without a shell, whose iptables and conntrack run", async function () {
    assert.ok(imageMegabytes > 0 && imageMegabytes < 160, `the rootfs image is ${imageMegabytes} MB`);
    assert.equal(existsSync(join(plugin.dir, "rootfs/bin/sh")), false, "the rootfs carries a shell");
    for (const program of driverPrograms())
      assert.ok(existsSync(join(plugin.dir, "rootfs/usr/sbin", program)), `the rootfs lacks ${program}, which the driver runs`);
    const config = JSON.parse(readFileSync(join(plugin.dir, "config.json"), "utf8")) as { interface: { socket: string } };
    assert.equal(config.interface.socket, "azvnet.sock");
    // Docker's own chains are in the nft ruleset, as the plugin's nft variant must see them.
    const nft = await plugin.inRootfs("vm1", "/usr/sbin/iptables-nft-save", ["-t", "filter"]);
    assert.equal(nft.code, 0, nft.stderr);
    assert.match(nft.stdout, /^:DOCKER /m);
    assert.match(nft.stdout, /--comment "azure-vnet /);
    const legacy = await plugin.inRootfs("vm1", "/usr/sbin/iptables-legacy-save", []);
    assert.equal(legacy.code, 0, legacy.stderr);
    // Dual-stack networks run the ip6tables twin of the variant in use (a name made at run time).
    for (const v of ["nft", "legacy"])
      for (const suffix of ["", "-save", "-restore"])
        assert.ok(existsSync(join(plugin.dir, "rootfs/usr/sbin", `ip6tables-${v}${suffix}`)), `the rootfs lacks ip6tables-${v}${suffix}`);
    const six = await plugin.inRootfs("vm1", "/usr/sbin/ip6tables-nft-save", ["-t", "filter"]);
    assert.equal(six.code, 0, six.stderr);
    const ebtables = await plugin.inRootfs("vm1", "/usr/sbin/ebtables-save", ["-t", "nat"]);
    assert.equal(ebtables.code, 0, ebtables.stderr);
    const tables = await plugin.inRootfs("vm1", "/usr/sbin/nft", ["-j", "list", "tables"]);
    assert.equal(tables.code, 0, tables.stderr);
    assert.ok(Array.isArray((JSON.parse(tables.stdout) as { nftables?: unknown }).nftables), "the plugin's own nft reads the ruleset");
    const conntrack = await plugin.inRootfs("vm1", "/usr/sbin/conntrack", ["-L"]);
    assert.equal(conntrack.code, 0, conntrack.stderr);
  });

  it("is enabled on both VMs as network and IPAM driver under its name:tag", async function () {
    for (const vm of ["vm1", "vm2"]) {
      const out = await ok(vm, ["plugin", "inspect", "-f", "{{.Enabled}} {{json .Config.Interface.Types}}", NAME]);
      assert.equal(out, 'true ["docker.networkdriver/1.0","docker.ipamdriver/1.0"]');
    }
    assert.equal(await ok("vm1", ["network", "inspect", "-f", "{{.Driver}} {{.IPAM.Driver}}", "vnet"]), `${NAME} ${NAME}`);
  });

  it("reaches Docker's API through its docker-socket mount, to reconcile with what Docker runs", async function () {
    for (const vm of ["vm1", "vm2"]) {
      await waitFor(`a reconciliation on ${vm}`, () => plugin.lastReconcile(vm) !== undefined, 20_000, 250);
      assert.deepEqual(plugin.lastReconcile(vm)?.error, undefined);
      assert.equal(plugin.lastReconcile(vm)?.ok, true);
    }
  });

  it("gives containers on vm1 and vm2 distinct secondary ipconfig addresses of their own VM", async function () {
    await run("vm1", "c1", ["--network", "vnet"], WHOAMI_CMD);
    await run("vm2", "c2", ["--network", "vnet"], WHOAMI_CMD);
    assert.equal((await ipOf("vm1", "c1")).trim(), "10.0.0.10");
    assert.equal((await ipOf("vm2", "c2")).trim(), "10.0.0.20");
  });

  it(`sets the ${E2E_MODE === "bridge" ? "bridge's" : "routed ports'"} sysctls through its sysctl mount, /proc/sys being read-only in the plugin`, async function () {
    if (E2E_MODE === "transparent") {
      const ports = [...(await sim.exec("vm1", "ip", ["-o", "link", "show", "type", "veth"])).stdout.matchAll(/^\d+: (azvh[0-9a-f]+)@/gm)];
      assert.ok(ports.length > 0, "no routed port");
      for (const [, port] of ports) {
        const read = async (key: string) => (await sim.exec("vm1", "cat", [`/proc/sys/net/${key}`])).stdout.trim();
        const values = [
          await read(`ipv4/conf/${port}/proxy_arp`),
          await read(`ipv4/conf/${port}/rp_filter`),
          await read(`ipv6/conf/${port}/disable_ipv6`),
        ];
        assert.deepEqual(values, ["1", "1", "1"], port);
      }
      return;
    }
    const links = (await sim.exec("vm1", "ip", ["-o", "link", "show", "type", "bridge"])).stdout;
    const bridge = /^\d+: (azvb[0-9a-f]+):/m.exec(links)?.[1];
    assert.ok(bridge, `no plugin bridge among:\n${links}`);
    const proxyArp = await sim.exec("vm1", "cat", [`/proc/sys/net/ipv4/conf/${bridge}/proxy_arp`]);
    assert.equal(proxyArp.stdout.trim(), "1");
  });

  it("carries cross-VM traffic with the containers' real VNet addresses", async function () {
    assert.equal(caller(await fetchOnceUp("vm1", "c1", "http://10.0.0.20:8080/cgi-bin/ip")), "10.0.0.10");
    assert.equal(caller((await fetchFrom("vm2", "c2", "http://10.0.0.10:8080/cgi-bin/ip")).stdout), "10.0.0.20");
  });

  it("sends internet traffic out as the VM's public IP", async function () {
    await h.whoami(inet, 8080);
    assert.equal((await fetchFrom("vm1", "c1", "http://198.51.100.10:8080/")).stdout.trim(), "203.0.113.4");
    const c = await sim.dropCounters();
    assert.equal(c.spoofedIp.vm1 + c.spoofedMac.vm1, 0, "the fabric saw a spoofed packet from vm1");
  });

  for (const version of COMPOSE_VERSIONS) {
    it(`runs the compose example with the managed plugin's name from its .env, with compose ${version}`, async function () {
      const compose = new ComposeExample(sim, "vm1", "compose-managed", `managed-${version}`, version, {
        AZURE_VNET_PLUGIN: NAME,
        WEB_IP: "10.0.0.12",
      });
      await compose.up();
      try {
        const web = await compose.container("web");
        const client = await compose.container("client");
        assert.equal((await ipOf("vm1", web)).trim(), "10.0.0.12");
        const clientIp = (await ipOf("vm1", client)).trim();
        assert.ok(VM1_SECONDARIES.includes(clientIp), `the client got ${clientIp}`);
        assert.equal(caller(await fetchOnceUp("vm1", client, "http://10.0.0.12/cgi-bin/ip")), clientIp);
        assert.equal(caller((await fetchFrom("vm2", "c2", "http://10.0.0.12/cgi-bin/ip")).stdout), "10.0.0.20");
      } finally {
        await compose.down();
      }
    });
  }

  it("brings --restart always containers back with working addresses after dockerd restarts", async function () {
    this.timeout(240_000);
    await run("vm1", "r1", ["--network", "vnet", "--restart", "always"], WHOAMI_CMD);
    // As `systemctl restart docker`: dockerd stops the containers, then the plugin, and starts both again.
    await sim.stopVmDocker("vm1", { keepContainers: true });
    await sim.startVmDocker("vm1");
    await waitFor(
      "r1 to run again",
      async () => (await docker("vm1", ["inspect", "-f", "{{.State.Running}}", "r1"])).stdout.trim() === "true",
      60_000,
      250,
    );
    assert.equal(await ok("vm1", ["plugin", "inspect", "-f", "{{.Enabled}}", NAME]), "true");
    const address = (await ipOf("vm1", "r1")).trim();
    assert.ok(VM1_SECONDARIES.includes(address), `r1 came back with ${address}`);
    assert.equal(caller(await fetchOnceUp("vm2", "c2", `http://${address}:8080/cgi-bin/ip`)), "10.0.0.20");
    assert.equal((await fetchFrom("vm1", "r1", "http://198.51.100.10:8080/")).stdout.trim(), "203.0.113.4");
    // c1 had no restart policy: it stays stopped, and new containers still get addresses.
    assert.equal(await ok("vm1", ["inspect", "-f", "{{.State.Running}}", "c1"]), "false");
    await run("vm1", "late", ["--network", "vnet"]);
    assert.ok(VM1_SECONDARIES.includes((await ipOf("vm1", "late")).trim()));
  });

  it("disables and removes cleanly once its network is gone, leaving no bridge or rule", async function () {
    await ok("vm1", ["rm", "-f", "c1", "r1", "late"]);
    await ok("vm1", ["network", "rm", "vnet"]);
    await ok("vm1", ["plugin", "disable", NAME]);
    await ok("vm1", ["plugin", "rm", NAME]);
    const links = await sim.exec("vm1", "ip", ["-o", "link"]);
    assert.doesNotMatch(links.stdout, /\bazv[bhc]/);
    const rules = await sim.exec("vm1", "iptables-save", []);
    assert.doesNotMatch(rules.stdout, /AZURE-VNET/);
  });

  it("logged no warning or error in the dockerd logs (where plugin output goes), cleanup included", function () {
    const bad: string[] = [];
    for (const vm of ["vm1", "vm2"]) {
      for (const line of readFileSync(sim.paths(vm).log, "utf8").split("\n")) {
        // time="..." level=error msg="<ISO time> <level> <message>" plugin=<id>: the plugin's stderr.
        const m = /msg="(\S+) (warn|error) (.*)" plugin=/.exec(line);
        // The reconciliation with Docker right after a dockerd restart may time out while dockerd
        // is still starting; it runs again later, and is not this file's subject.
        if (m && m[1] >= startedAt && !/reconciled with Docker/.test(m[3])) bad.push(`${vm}: ${m[2]} ${m[3].slice(0, 300)}`);
        // node's own warnings (a flag of the entrypoint it does not like, a deprecation) in the plugin's output.
        const node = /msg="((?:Warning: |\(node:\d+\) ).*)" plugin=/.exec(line);
        if (node && lineTime(line) >= startedAt) bad.push(`${vm}: node: ${node[1].slice(0, 300)}`);
      }
    }
    assert.deepEqual(bad, []);
  });
});

/** A dockerd log line's time="…" as an ISO string (UTC, milliseconds), "" without one. */
function lineTime(line: string): string {
  const at = Date.parse(/^time="([^"]+)"/.exec(line)?.[1] ?? "");
  return Number.isNaN(at) ? "" : new Date(at).toISOString();
}
