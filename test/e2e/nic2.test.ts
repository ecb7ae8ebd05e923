/**
 * Networks on a VM with two NICs. vm1 and vm2 each have eth0 in 10.0.0.0/24
 * and eth1 in 10.0.1.0/24; vm3 has eth0 only. The fabric accepts from a NIC
 * only that NIC's MAC and ipconfigs, so a container with an eth1 ipconfig
 * works only if its packets leave through eth1 whatever their destination
 * (the VM's default route goes out of eth0), and one with an eth0 ipconfig
 * only if they leave through eth0 (the VM's connected route to 10.0.1.0/24
 * goes out of eth1). The plugin routes them by source (a table and rules per
 * NIC); these tests send real packets and read the fabric's drop counters
 * for both NICs.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { Simulator } from "../../sim/simulator";
import { parseTopology, type Topology } from "../../sim/topology";
import { PluginProcess } from "../../sim/plugin-process";
import { CREATE_NETWORK, DockerCli, WHOAMI_CMD, fetchOnceUp, httpCaller, sleeperArgs } from "./helpers/docker";
import { Harness } from "./helpers/sim-harness";

const FRONT = "10.0.0.0/24";
const BACK = "10.0.1.0/24";
const VM1_ETH1_MAC = "00:0d:3a:00:01:01";
const VM1_ETH1_PUBLIC = "203.0.113.14";
const VM1_ETH1_SECONDARIES = ["10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.1.13"];
const VM1_ETH0_SECONDARIES = ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"];
const VM2_BACK = "10.0.1.20";
const VM3 = "10.0.0.6";
const INET_HOST = "198.51.100.10";
const ONPREM_HOST = "192.168.100.10";
const PORT = 9090;

/** Two VMs, each with a NIC in the front subnet and one in the back subnet. */
function twoNicTopology(): Topology {
  const ipcs = (list: string[]) => list.map((address) => ({ address }));
  return parseTopology({
    vnet: {
      addressSpace: "10.0.0.0/16",
      subnet: FRONT,
      gateway: "10.0.0.1",
      extraSubnets: [{ subnet: BACK, gateway: "10.0.1.1" }],
    },
    vms: [
      {
        name: "vm1",
        nic: {
          mac: "00:0d:3a:00:00:01",
          primary: { address: "10.0.0.4", publicIp: "203.0.113.4" },
          secondaries: ipcs(VM1_ETH0_SECONDARIES),
        },
        extraNics: [
          {
            mac: VM1_ETH1_MAC,
            subnet: BACK,
            primary: { address: "10.0.1.4", publicIp: VM1_ETH1_PUBLIC },
            secondaries: ipcs(VM1_ETH1_SECONDARIES),
          },
        ],
      },
      {
        name: "vm2",
        nic: { mac: "00:0d:3a:00:00:02", primary: { address: "10.0.0.5", publicIp: "203.0.113.5" }, secondaries: ipcs(["10.0.0.20"]) },
        extraNics: [{ mac: "00:0d:3a:00:01:02", subnet: BACK, primary: { address: "10.0.1.5" }, secondaries: ipcs([VM2_BACK]) }],
      },
      { name: "vm3", nic: { mac: "00:0d:3a:00:00:03", primary: { address: VM3 }, secondaries: [] } },
    ],
    internet: { hostAddress: INET_HOST, names: { "example.com": INET_HOST } },
    onPrem: { cidr: "192.168.100.0/24", hostAddress: ONPREM_HOST },
  });
}

describe("networks on a VM with two NICs (policy routing by source)", function () {
  this.timeout(180_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  const plugin = new PluginProcess(sim, "vm1");
  const plugin2 = new PluginProcess(sim, "vm2");
  const docker = new DockerCli(sim, "vm1");
  const docker2 = new DockerCli(sim, "vm2");
  let baseline = "";

  /** The VM's rules and every routing table, the way `ip` prints them. */
  const routing = async () => {
    const rules = await sim.exec("vm1", "ip", ["-4", "rule", "show"]);
    const routes = await sim.exec("vm1", "ip", ["-4", "route", "show", "table", "all"]);
    return `${rules.stdout}\n${routes.stdout}`;
  };
  /** Spoofed-source and spoofed-MAC drops the fabric counted on either of vm1's NICs. */
  const vm1Drops = async () => {
    const c = await sim.dropCounters();
    const of = (r: Record<string, number>) => (r.vm1 ?? 0) + (r["vm1/eth1"] ?? 0);
    return of(c.spoofedIp) + of(c.spoofedMac);
  };
  const caller = async (container: string, url: string) => httpCaller(await fetchOnceUp(sim, "vm1", container, url));

  before(async function () {
    this.timeout(300_000);
    await sim.down();
    await sim.up(twoNicTopology());
    baseline = await routing();
    await plugin.start();
    await plugin2.start();
    await h.whoami({ vm: "vm2" }, PORT);
    await h.whoami({ vm: "vm3" }, PORT);
    await h.whoami({ edge: "inet" }, PORT);
    await h.whoami({ edge: "onprem" }, PORT);
    await docker.ok([...CREATE_NETWORK, "--subnet", FRONT, "front"]);
    await docker.ok([...CREATE_NETWORK, "--subnet", BACK, "-o", `parent=${VM1_ETH1_MAC.toUpperCase()}`, "back"]);
    await docker2.ok([...CREATE_NETWORK, "--subnet", BACK, "back"]);
    const b2 = await docker2.run([
      "run",
      "-d",
      "--init",
      "--name",
      "b2",
      "--network",
      "back",
      "--ip",
      VM2_BACK,
      "local/busybox",
      ...WHOAMI_CMD,
    ]);
    assert.equal(b2.code, 0, b2.stderr);
  });

  after(async function () {
    this.timeout(180_000);
    await docker.remove(["b1", "f1", "boot"]).catch(() => undefined);
    await docker2.remove(["b2"]).catch(() => undefined);
    await h.stopAll();
    await plugin.stop();
    await plugin2.stop();
    await sim.down();
  });

  it("gives a container on the back network one of eth1's ipconfigs; a VM in that subnet sees it with its own address", async function () {
    const r = await docker.start("b1", "back");
    assert.equal(r.code, 0, r.stderr);
    const ip = await docker.ipOf("b1");
    assert.ok(VM1_ETH1_SECONDARIES.includes(ip), `b1 got ${ip}, not an ipconfig of eth1`);
    assert.equal(await caller("b1", `http://10.0.1.5:${PORT}/`), ip);
  });

  it("sends its packets to the other subnet and on-premises out of eth1 with its own address, and the fabric drops none", async function () {
    const before = await vm1Drops();
    const ip = await docker.ipOf("b1");
    assert.equal(await caller("b1", `http://${VM3}:${PORT}/`), ip, "vm3 saw another source");
    assert.equal(await caller("b1", `http://${ONPREM_HOST}:${PORT}/`), ip, "on-premises saw another source");
    assert.equal(await vm1Drops(), before, "the fabric dropped spoofed packets from vm1");
  });

  it("sends its internet traffic out as eth1's primary, which the internet sees as that ipconfig's public IP", async function () {
    const before = await vm1Drops();
    assert.equal(await caller("b1", `http://${INET_HOST}:${PORT}/`), VM1_ETH1_PUBLIC);
    assert.equal(await vm1Drops(), before);
  });

  it("keeps traffic between the two networks of one VM local, each side seeing the other's address", async function () {
    const r = await docker.run(["run", "-d", "--init", "--name", "f1", "--network", "front", "local/busybox", ...WHOAMI_CMD]);
    assert.equal(r.code, 0, r.stderr);
    const f1 = await docker.ipOf("f1");
    assert.ok(VM1_ETH0_SECONDARIES.includes(f1), `f1 got ${f1}`);
    const b1 = await docker.ipOf("b1");
    assert.equal(await caller("b1", `http://${f1}:8080/cgi-bin/ip`), b1);
  });

  it("sends a front container's packets for the back subnet out of eth0, and a back container on vm2 answers through its own eth1", async function () {
    const before = await vm1Drops();
    const f1 = await docker.ipOf("f1");
    // vm1's own connected route to 10.0.1.0/24 is eth1, whose fabric port would drop f1's address.
    assert.equal(await caller("f1", `http://${VM2_BACK}:8080/cgi-bin/ip`), f1);
    assert.equal(await vm1Drops(), before);
    const c = await sim.dropCounters();
    assert.equal((c.spoofedIp.vm2 ?? 0) + (c.spoofedIp["vm2/eth1"] ?? 0), 0, "the fabric dropped spoofed packets from vm2");
  });

  it("refuses a parent that is not the subnet's NIC, or no NIC at all, naming it", async function () {
    const wrong = await docker.run([...CREATE_NETWORK, "--subnet", BACK, "-o", "parent=eth0", "wrong"]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /eth0/);
    assert.match(wrong.stderr, /10\.0\.1\.0\/24/);
    const none = await docker.run([...CREATE_NETWORK, "--subnet", BACK, "-o", "parent=eth7", "nothere"]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /eth7/);
    const bad = await docker.run([...CREATE_NETWORK, "--subnet", BACK, "-o", "parent=eth1;reboot", "bad"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /parent/);
  });

  it("keeps the back network working across a plugin restart and a VM reboot", async function () {
    await plugin.stop("SIGKILL");
    await plugin.start();
    const ip = await docker.ipOf("b1");
    assert.equal(await caller("b1", `http://${VM3}:${PORT}/`), ip);
    await docker.remove(["b1"]);

    assert.equal((await docker.run(sleeperArgs("boot", "back", ["--restart", "always", "--ip", "10.0.1.12"]))).code, 0);
    await sim.rebootVm("vm1", { beforeDocker: async () => void (await plugin.start()) });
    const before = await vm1Drops();
    assert.equal(await docker.ipOf("boot"), "10.0.1.12");
    const r = await sim.exec("vm1", "docker", ["exec", "boot", "ping", "-c", "1", "-W", "2", VM3], { allowFailure: true });
    assert.equal(r.code, 0, `boot cannot reach vm3 after the reboot: ${r.stdout}${r.stderr}`);
    assert.equal(await vm1Drops(), before);
    assert.match(readFileSync(plugin.logFile, "utf8"), /rebooted=true/);
  });

  it("leaves no rule, table or route behind once both networks are gone", async function () {
    await docker.remove(["boot", "f1", "b1"]);
    assert.notEqual(await routing(), baseline, "the back network had no policy routing to remove");
    await docker.ok(["network", "rm", "back", "front"]);
    assert.equal(await routing(), baseline);
    const links = await sim.exec("vm1", "ip", ["-o", "link", "show"]);
    assert.doesNotMatch(links.stdout, /azv/);
  });
});
