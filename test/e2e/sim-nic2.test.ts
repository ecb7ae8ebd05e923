/**
 * VMs with a second NIC in a second subnet, proved with real packets: each
 * NIC is its own link in the VM, the fabric delivers an ipconfig's packets to
 * the NIC holding it and checks every NIC's source MAC and addresses on its
 * own, and IMDS and the wireserver list both NICs.
 */
import { strict as assert } from "node:assert";
import { resolve } from "node:path";
import { Simulator } from "../../sim/simulator";
import { FABRIC_MAC } from "../../sim/names";
import { Harness } from "./helpers/sim-harness";
import { diffSnapshots, snapshotHost, HostSnapshot } from "./helpers/host-snapshot";
import { E2E_MODE } from "./helpers/docker";
import { twoNicTopology } from "./helpers/topologies";

const IMDS_NET = "http://169.254.169.254/metadata/instance/network?api-version=2021-02-01";
const ARM_CLIENT = resolve(__dirname, "../../sim/tools/arm-client.js");
const WIRESERVER = "http://168.63.129.16/machine/plugins?comp=nmagent&type=getinterfaceinfov1";
const vm1 = { vm: "vm1" };
const vm2 = { vm: "vm2" };
/** Routing tables (and rule priorities) of the policy routes a test adds: vm1 from eth1's primary, vm2 from eth0's. */
const ETH1_TABLE = "101";
const ETH0_TABLE = "102";

interface ImdsInterface {
  macAddress: string;
  ipv4: { ipAddress: { privateIpAddress: string }[]; subnet: { address: string; prefix: string }[] };
}

(E2E_MODE === "bridge" ? describe : describe.skip)("simulated VMs with a second NIC in a second subnet", function () {
  this.timeout(120_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  let hostBefore: HostSnapshot;

  /** A counting rule in vm1's raw table: ICMP to `address` arriving on `link`. */
  const countRule = (link: string, address: string) => [
    "-i",
    link,
    "-d",
    `${address}/32`,
    "-p",
    "icmp",
    "-m",
    "comment",
    "--comment",
    `nic2-${link}`,
    "-j",
    "ACCEPT",
  ];
  /** Packets the counting rule of `link` has seen. */
  const counted = async (link: string): Promise<number> => {
    const list = await h.exec(vm1, "iptables", ["-w", "5", "-t", "raw", "-L", "PREROUTING", "-n", "-v", "-x"]);
    const line = list.stdout.split("\n").find((l) => l.includes(`/* nic2-${link} */`));
    assert.ok(line, `no counting rule for ${link} in:\n${list.stdout}`);
    return Number(line.trim().split(/\s+/)[0]);
  };

  before(async function () {
    await sim.down();
    hostBefore = await snapshotHost();
    await sim.up(twoNicTopology());
  });

  after(async function () {
    await h.stopAll();
    await sim.down();
  });

  it("gives each VM eth1 with its MAC, its primary address and only the connected route", async function () {
    const addrs = await h.exec(vm1, "ip", ["-4", "-o", "addr", "show", "dev", "eth1"]);
    assert.deepEqual(
      [...addrs.stdout.matchAll(/inet (\S+)/g)].map((m) => m[1]),
      ["10.0.1.4/24"],
    );
    const link = await h.exec(vm1, "ip", ["-o", "link", "show", "eth1"]);
    assert.match(link.stdout, /mtu 1500 .*link\/ether 00:0d:3a:00:01:01/);
    const routes = await h.exec(vm1, "ip", ["-4", "route", "show"]);
    const eth1Routes = routes.stdout.split("\n").filter((l) => l.includes("dev eth1"));
    assert.equal(eth1Routes.length, 1, routes.stdout);
    assert.match(eth1Routes[0], /^10\.0\.1\.0\/24 .*src 10\.0\.1\.4/);
    const defaults = routes.stdout.split("\n").filter((l) => l.startsWith("default"));
    assert.deepEqual(defaults.length, 1, routes.stdout);
    assert.match(defaults[0], /^default via 10\.0\.0\.1 dev eth0/);
    const st = sim.status().vms.find((v) => v.name === "vm2");
    assert.deepEqual(
      st?.nics.map((n) => [n.link, n.mac, n.subnet, n.primary]),
      [
        ["eth0", "00:0d:3a:00:00:02", "10.0.0.0/24", "10.0.0.5"],
        ["eth1", "00:0d:3a:00:01:02", "10.0.1.0/24", "10.0.1.5"],
      ],
    );
  });

  /** A policy route in a VM: packets from `from` leave through `link`'s gateway (table and rule priority `table`). */
  const policyRoute = async (vm: { vm: string }, from: string, gateway: string, link: string, table: string) => {
    for (const args of [
      ["rule", "add", "from", from, "table", table, "priority", table],
      ["route", "add", "default", "via", gateway, "dev", link, "table", table],
    ]) {
      const r = await h.exec(vm, "ip", args);
      assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
    }
  };
  const dropPolicyRoute = async (vm: { vm: string }, table: string) => {
    await h.exec(vm, "ip", ["route", "flush", "table", table]);
    await h.exec(vm, "ip", ["rule", "del", "priority", table]);
  };

  it("lets eth1's primary reach the other VM's eth1 in its subnet, and its eth0 through the gateway with policy routes", async function () {
    assert.ok(await h.ping(vm1, "10.0.1.5"), "vm1 eth1 -> vm2 eth1");
    const neigh = await h.exec(vm1, "ip", ["neigh", "show", "dev", "eth1"]);
    assert.match(neigh.stdout, new RegExp(`10\\.0\\.1\\.5 lladdr ${FABRIC_MAC}`));
    await policyRoute(vm1, "10.0.1.4", "10.0.1.1", "eth1", ETH1_TABLE);
    try {
      assert.ok(await h.ping(vm1, "10.0.1.1", ["-I", "10.0.1.4"]), "eth1's gateway did not answer");
      await h.whoami(vm2, 8090, "10.0.0.5");
      // vm2 answers 10.0.1.4 through its own eth1 (the connected route), with eth0's address: Azure drops that.
      const c0 = await sim.dropCounters();
      const lost = await h.curl(vm1, "http://10.0.0.5:8090/", 2, ["--interface", "10.0.1.4"]);
      assert.notEqual(lost.code, 0, "vm2's answer left eth1 with eth0's address and got through");
      const c1 = await sim.dropCounters();
      assert.ok(c1.spoofedIp["vm2/eth1"] > c0.spoofedIp["vm2/eth1"], "vm2's answer out of eth1 was not counted on vm2/eth1");
      assert.equal(c1.spoofedIp.vm1 + c1.spoofedIp["vm1/eth1"], c0.spoofedIp.vm1 + c0.spoofedIp["vm1/eth1"], "vm1's request was dropped");
      // With a policy route on vm2 too, the answer leaves by eth0, the NIC of its source.
      await policyRoute(vm2, "10.0.0.5", "10.0.0.1", "eth0", ETH0_TABLE);
      try {
        const seen = await h.curl(vm1, "http://10.0.0.5:8090/", 3, ["--interface", "10.0.1.4"]);
        assert.equal(seen.stdout.trim(), "10.0.1.4", seen.stderr);
      } finally {
        await dropPolicyRoute(vm2, ETH0_TABLE);
      }
    } finally {
      await dropPolicyRoute(vm1, ETH1_TABLE);
    }
  });

  it("delivers a secondary ipconfig of eth1 on eth1, not on eth0", async function () {
    const onEth0 = countRule("eth0", "10.0.1.10");
    const onEth1 = countRule("eth1", "10.0.1.10");
    await h.exec(vm1, "ip", ["addr", "add", "10.0.1.10/32", "dev", "eth1"]);
    await h.exec(vm1, "iptables", ["-w", "5", "-t", "raw", "-I", "PREROUTING", ...onEth0]);
    await h.exec(vm1, "iptables", ["-w", "5", "-t", "raw", "-I", "PREROUTING", ...onEth1]);
    try {
      for (let i = 0; i < 2; i++) assert.ok(await h.ping(vm2, "10.0.1.10"), "vm2 -> 10.0.1.10 on vm1's eth1");
      assert.equal(await counted("eth1"), 2);
      assert.equal(await counted("eth0"), 0);
    } finally {
      await h.exec(vm1, "iptables", ["-w", "5", "-t", "raw", "-D", "PREROUTING", ...onEth0]);
      await h.exec(vm1, "iptables", ["-w", "5", "-t", "raw", "-D", "PREROUTING", ...onEth1]);
      await h.exec(vm1, "ip", ["addr", "del", "10.0.1.10/32", "dev", "eth1"]);
    }
  });

  it("drops and counts per NIC: an eth1 address sent out of eth0, an eth0 address out of eth1, a wrong MAC on eth1", async function () {
    await h.exec(vm1, "ip", ["addr", "add", "10.0.1.11/32", "dev", "eth0"]);
    try {
      const c0 = await sim.dropCounters();
      assert.equal(await h.ping(vm1, "10.0.0.5", ["-I", "10.0.1.11"]), false, "eth1's address got out of eth0");
      const c1 = await sim.dropCounters();
      assert.ok(c1.spoofedIp.vm1 > c0.spoofedIp.vm1, "not counted on vm1 (eth0)");
      assert.equal(c1.spoofedIp["vm1/eth1"], c0.spoofedIp["vm1/eth1"]);
    } finally {
      await h.exec(vm1, "ip", ["addr", "del", "10.0.1.11/32", "dev", "eth0"]);
    }

    const c0 = await sim.dropCounters();
    // 10.0.1.5 is on eth1's connected route: the packet leaves eth1 with eth0's primary as source.
    assert.equal(await h.ping(vm1, "10.0.1.5", ["-I", "10.0.0.4"]), false, "eth0's address got out of eth1");
    const c1 = await sim.dropCounters();
    assert.ok(c1.spoofedIp["vm1/eth1"] > c0.spoofedIp["vm1/eth1"], "not counted on vm1/eth1");
    assert.equal(c1.spoofedIp.vm1, c0.spoofedIp.vm1);

    // eth0's MAC on eth1: a real MAC of the VM, but not this NIC's.
    await h.exec(vm1, "ip", ["link", "set", "eth1", "address", "00:0d:3a:00:00:01"]);
    try {
      const m0 = await sim.dropCounters();
      assert.equal(await h.ping(vm1, "10.0.1.5"), false);
      const m1 = await sim.dropCounters();
      assert.ok(m1.spoofedMac["vm1/eth1"] > m0.spoofedMac["vm1/eth1"], "wrong MAC on eth1 not counted");
      assert.equal(m1.spoofedMac.vm1, m0.spoofedMac.vm1);
    } finally {
      await h.exec(vm1, "ip", ["link", "set", "eth1", "address", "00:0d:3a:00:01:01"]);
    }
    assert.ok(await h.ping(vm1, "10.0.1.5"), "eth1 did not recover after restoring its MAC");
  });

  it("lists both NICs in IMDS and the wireserver, asked from inside the VM", async function () {
    const doc = JSON.parse((await h.curl(vm1, IMDS_NET, 3, [], ["Metadata: true"])).stdout) as { interface: ImdsInterface[] };
    assert.deepEqual(
      doc.interface.map((i) => [i.macAddress, i.ipv4.subnet, i.ipv4.ipAddress.map((a) => a.privateIpAddress)]),
      [
        [
          "000D3A000001",
          [{ address: "10.0.0.0", prefix: "24" }],
          ["10.0.0.4", "10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15", "10.0.0.16", "10.0.0.17"],
        ],
        ["000D3A000101", [{ address: "10.0.1.0", prefix: "24" }], ["10.0.1.4", "10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.1.13"]],
      ],
    );
    const xml = (await h.curl(vm2, WIRESERVER)).stdout;
    const interfaces = [...xml.matchAll(/<Interface MacAddress="(\w+)" IsPrimary="(\w+)">\s*<IPSubnet Prefix="([\d./]+)">/g)];
    assert.deepEqual(
      interfaces.map((m) => m.slice(1)),
      [
        ["000D3A000002", "true", "10.0.0.0/24"],
        ["000D3A000102", "false", "10.0.1.0/24"],
      ],
    );
    assert.match(xml, /<IPAddress Address="10\.0\.1\.5" IsPrimary="true"\s*\/>/);
    assert.match(xml, /<IPAddress Address="10\.0\.1\.23" IsPrimary="false"\s*\/>/);
    // Asked from eth1's primary (leaving by eth1 through a policy route), IMDS knows the VM too.
    await policyRoute(vm1, "10.0.1.4", "10.0.1.1", "eth1", ETH1_TABLE);
    try {
      const r = await h.curl(vm1, IMDS_NET, 3, ["--interface", "10.0.1.4"], ["Metadata: true"]);
      assert.equal((JSON.parse(r.stdout) as { interface: ImdsInterface[] }).interface[1].macAddress, "000D3A000101", r.stderr);
    } finally {
      await dropPolicyRoute(vm1, ETH1_TABLE);
    }
  });

  it("adds an ipconfig at run time to the NIC whose subnet holds it, and removes it", async function () {
    await sim.addIpConfig("vm2", "10.0.1.40");
    await h.exec(vm2, "ip", ["addr", "add", "10.0.1.40/32", "dev", "eth1"]);
    try {
      assert.deepEqual(
        sim.nics("vm2").map((n) => n.secondaries.some((s) => s.address === "10.0.1.40")),
        [false, true],
      );
      assert.ok(await h.ping(vm1, "10.0.1.40"), "the new ipconfig of eth1 is not reachable");
      await sim.removeIpConfig("vm2", "10.0.1.40");
      assert.equal(await h.ping(vm1, "10.0.1.40"), false, "the removed ipconfig is still reachable");
    } finally {
      await h.exec(vm2, "ip", ["addr", "del", "10.0.1.40/32", "dev", "eth1"]);
    }
  });

  it("commits a NIC PUT on the second NIC through ARM, asked from inside the VM, and delivers its address on eth1", async function () {
    const client = async (...args: string[]) => {
      const r = await sim.exec("vm1", process.execPath, [ARM_CLIENT, ...args], {
        allowFailure: true,
        timeoutMs: 30_000,
        env: { ARM_CLIENT_NIC: "1" },
      });
      assert.equal(r.code, 0, `arm-client ${args.join(" ")}: ${r.stderr}`);
      return JSON.parse(r.stdout) as { status: number; operation?: string; operationStatus?: string };
    };
    const put = await client("add", "web", "10.0.1.50");
    assert.equal(put.status, 200);
    assert.ok(put.operation, "no Azure-AsyncOperation URL");
    assert.equal((await client("wait", put.operation)).operationStatus, "Succeeded");
    assert.deepEqual(
      sim.nics("vm1").map((n) => n.secondaries.filter((s) => s.name === "web").map((s) => s.address)),
      [[], ["10.0.1.50"]],
    );
    await h.exec(vm1, "ip", ["addr", "add", "10.0.1.50/32", "dev", "eth1"]);
    try {
      assert.ok(await h.ping(vm2, "10.0.1.50"), "the address the PUT added to eth1 is not delivered");
    } finally {
      await h.exec(vm1, "ip", ["addr", "del", "10.0.1.50/32", "dev", "eth1"]);
    }
  });

  it("plugs both NICs in again at a reboot, and down leaves the machine as it was", async function () {
    await sim.rebootVm("vm2");
    const link = await h.exec(vm2, "ip", ["-o", "link", "show", "eth1"]);
    assert.match(link.stdout, /link\/ether 00:0d:3a:00:01:02/);
    assert.ok(await h.ping(vm1, "10.0.1.5"), "vm2's eth1 is not back after the reboot");
    await h.stopAll();
    await sim.down();
    assert.deepEqual(diffSnapshots(hostBefore, await snapshotHost()), []);
  });
});
