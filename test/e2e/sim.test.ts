/**
 * The simulator proves its own behaviour with real packets: every fabric rule
 * and every platform endpoint it models (docs/simulator.md), on two VMs with dockerd.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { FABRIC_MAC } from "../../sim/names";
import { Harness } from "./helpers/sim-harness";
import { diffSnapshots, snapshotHost, HostSnapshot } from "./helpers/host-snapshot";
import { E2E_MODE } from "./helpers/docker";
import { defaultEngine } from "../../sim/engines";

const IMDS_NET = "http://169.254.169.254/metadata/instance/network?api-version=2021-02-01";
const WIRESERVER = "http://168.63.129.16/machine/plugins?comp=nmagent&type=getinterfaceinfov1";
const vm1 = { vm: "vm1" };
const vm2 = { vm: "vm2" };
const inet = { edge: "inet" as const };
const onprem = { edge: "onprem" as const };

// The simulator itself, without the plugin: the same in every network mode, so it runs in the bridge pass only.
(E2E_MODE === "bridge" ? describe : describe.skip)("simulated Azure network", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  let hostBefore: HostSnapshot;
  let upSeconds = 0;

  before(async function () {
    await sim.down();
    hostBefore = await snapshotHost();
    const t0 = Date.now();
    // Both engines in one network: vm2 runs the one the others do not.
    const topology = defaultTopology();
    topology.vms[1].engine = defaultEngine() === "debian13" ? "debian12" : "debian13";
    await sim.up(topology);
    upSeconds = (Date.now() - t0) / 1000;
    console.log(`      sim up: ${upSeconds.toFixed(2)} s`);
  });

  after(async function () {
    await h.stopAll();
    await sim.down();
  });

  it("brings 2 VMs with dockerd up in under 30 s", async function () {
    assert.ok(upSeconds < 30, `sim up took ${upSeconds} s`);
    const st = sim.status();
    assert.deepEqual(
      st.vms.map((v) => [v.name, v.running]),
      [
        ["vm1", true],
        ["vm2", true],
      ],
    );
    for (const name of ["vm1", "vm2"]) {
      const r = await sim.exec(name, "docker", ["image", "ls", "--format", "{{.Repository}}"]);
      assert.match(r.stdout, /local\/busybox/);
    }
  });

  it("configures only the primary address on the VM's eth0, with a default route via the gateway", async function () {
    const addrs = await h.exec(vm1, "ip", ["-4", "-o", "addr", "show", "dev", "eth0"]);
    assert.deepEqual(
      [...addrs.stdout.matchAll(/inet (\S+)/g)].map((m) => m[1]),
      ["10.0.0.4/24"],
    );
    const route = await h.exec(vm1, "ip", ["route", "show", "default"]);
    assert.match(route.stdout, /default via 10\.0\.0\.1 dev eth0/);
    const link = await h.exec(vm1, "ip", ["-o", "link", "show", "eth0"]);
    assert.match(link.stdout, /link\/ether 00:0d:3a:00:00:01/);
  });

  it("shows the gateway and other VNet addresses at 12:34:56:78:9a:bc", async function () {
    assert.ok(await h.ping(vm1, "10.0.0.1"));
    assert.ok(await h.ping(vm1, "10.0.0.5"));
    const neigh = await h.exec(vm1, "ip", ["neigh", "show", "dev", "eth0"]);
    assert.match(neigh.stdout, new RegExp(`10\\.0\\.0\\.1 lladdr ${FABRIC_MAC}`));
    assert.match(neigh.stdout, new RegExp(`10\\.0\\.0\\.5 lladdr ${FABRIC_MAC}`));
  });

  it("drops packets for an address that is no ipconfig, and counts them", async function () {
    const c0 = await sim.dropCounters();
    assert.equal(await h.ping(vm1, "10.0.0.99"), false);
    const c1 = await sim.dropCounters();
    assert.ok(c1.undeliverable > c0.undeliverable, "undeliverable counter did not move");
  });

  it("drops and counts a spoofed source IP and a spoofed source MAC", async function () {
    await h.exec(vm1, "ip", ["addr", "add", "10.0.0.200/32", "dev", "eth0"]);
    try {
      const c0 = await sim.dropCounters();
      assert.equal(await h.ping(vm1, "10.0.0.5", ["-I", "10.0.0.200"]), false);
      const c1 = await sim.dropCounters();
      assert.ok(c1.spoofedIp.vm1 > c0.spoofedIp.vm1, "spoofed IP not counted");
    } finally {
      await h.exec(vm1, "ip", ["addr", "del", "10.0.0.200/32", "dev", "eth0"]);
    }
    await h.exec(vm1, "ip", ["link", "set", "eth0", "address", "02:00:00:00:00:99"]);
    try {
      const c0 = await sim.dropCounters();
      assert.equal(await h.ping(vm1, "10.0.0.5"), false);
      const c1 = await sim.dropCounters();
      assert.ok(c1.spoofedMac.vm1 > c0.spoofedMac.vm1, "spoofed MAC not counted");
    } finally {
      await h.exec(vm1, "ip", ["link", "set", "eth0", "address", "00:0d:3a:00:00:01"]);
    }
    assert.ok(await h.ping(vm1, "10.0.0.5"), "vm1 did not recover after restoring its MAC");
  });

  it("NATs the primary to its public IP on the way to the internet, and leads inbound public traffic in", async function () {
    await h.whoami(inet, 8080);
    const out = await h.curl(vm1, "http://198.51.100.10:8080/");
    assert.equal(out.stdout.trim(), "203.0.113.4");
    await h.whoami(vm1, 8081);
    const back = await h.curl(inet, "http://203.0.113.4:8081/");
    assert.equal(back.stdout.trim(), "198.51.100.10");
  });

  it("lets a secondary with its own public IP out as itself, and drops a secondary without one", async function () {
    await h.exec(vm1, "ip", ["addr", "add", "10.0.0.17/32", "dev", "eth0"]);
    await h.exec(vm1, "ip", ["addr", "add", "10.0.0.11/32", "dev", "eth0"]);
    try {
      const own = await h.curl(vm1, "http://198.51.100.10:8080/", 3, ["--interface", "10.0.0.17"]);
      assert.equal(own.stdout.trim(), "203.0.113.17");
      const c0 = await sim.dropCounters();
      const none = await h.curl(vm1, "http://198.51.100.10:8080/", 2, ["--interface", "10.0.0.11"]);
      assert.notEqual(none.code, 0, "a secondary without public IP reached the internet");
      const c1 = await sim.dropCounters();
      assert.ok(c1.noPublicIp > c0.noPublicIp);
      // The internet cannot address private ipconfigs directly.
      const direct = await h.curl(inet, "http://10.0.0.4:8081/", 2);
      assert.notEqual(direct.code, 0);
    } finally {
      await h.exec(vm1, "ip", ["addr", "del", "10.0.0.17/32", "dev", "eth0"]);
      await h.exec(vm1, "ip", ["addr", "del", "10.0.0.11/32", "dev", "eth0"]);
    }
  });

  it("talks to on-premises without NAT, both ways", async function () {
    await h.whoami(onprem, 8082);
    const out = await h.curl(vm2, "http://192.168.100.10:8082/");
    assert.equal(out.stdout.trim(), "10.0.0.5");
    await h.whoami(vm2, 8083);
    const back = await h.curl(onprem, "http://10.0.0.5:8083/");
    assert.equal(back.stdout.trim(), "192.168.100.10");
  });

  it("applies NSG rules to ipconfig addresses", async function () {
    await h.exec(vm2, "ip", ["addr", "add", "10.0.0.27/32", "dev", "eth0"]);
    try {
      await h.whoami(vm2, 23, "10.0.0.27");
      await h.whoami(vm2, 24, "10.0.0.27");
      const c0 = await sim.dropCounters();
      const denied = await h.curl(vm1, "http://10.0.0.27:23/", 2);
      assert.notEqual(denied.code, 0, "the NSG deny rule let tcp/23 through");
      assert.ok((await sim.dropCounters()).nsg > c0.nsg);
      const allowed = await h.curl(vm1, "http://10.0.0.27:24/", 2);
      assert.equal(allowed.stdout.trim(), "10.0.0.4");
    } finally {
      await h.exec(vm2, "ip", ["addr", "del", "10.0.0.27/32", "dev", "eth0"]);
    }
  });

  it("spreads load balancer flows over the backend pool's ipconfigs", async function () {
    await h.exec(vm1, "ip", ["addr", "add", "10.0.0.12/32", "dev", "eth0"]);
    await h.exec(vm2, "ip", ["addr", "add", "10.0.0.22/32", "dev", "eth0"]);
    try {
      await h.whoami(vm1, 8080, "10.0.0.12", "backend-vm1");
      await h.whoami(vm2, 8080, "10.0.0.22", "backend-vm2");
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await h.curl(inet, "http://203.0.113.100/");
        seen.add(r.stdout.trim());
      }
      assert.deepEqual([...seen].sort(), ["198.51.100.10 backend-vm1", "198.51.100.10 backend-vm2"]);
    } finally {
      await h.exec(vm1, "ip", ["addr", "del", "10.0.0.12/32", "dev", "eth0"]);
      await h.exec(vm2, "ip", ["addr", "del", "10.0.0.22/32", "dev", "eth0"]);
    }
  });

  it("answers IMDS with the asking VM's NIC, and refuses without the Metadata header", async function () {
    const r1 = await h.curl(vm1, IMDS_NET, 3, [], ["Metadata: true"]);
    const doc1 = JSON.parse(r1.stdout);
    assert.equal(doc1.interface[0].macAddress, "000D3A000001");
    assert.equal(doc1.interface[0].ipv4.ipAddress[0].privateIpAddress, "10.0.0.4");
    assert.equal(doc1.interface[0].ipv4.ipAddress.length, 9);
    const r2 = await h.curl(vm2, IMDS_NET, 3, [], ["Metadata: true"]);
    assert.equal(JSON.parse(r2.stdout).interface[0].macAddress, "000D3A000002");
    const refused = await h.curl(vm1, IMDS_NET, 3, ["-o", "/dev/null", "-w", "%{http_code}"]);
    assert.equal(refused.stdout.trim(), "400");
    const compute = await h.curl(vm1, "http://169.254.169.254/metadata/instance/compute?api-version=2021-02-01", 3, [], ["Metadata: true"]);
    assert.equal(JSON.parse(compute.stdout).name, "vm1");
  });

  it("answers IMDS asked from a container address of the VM with that VM's data", async function () {
    await h.exec(vm2, "ip", ["addr", "add", "10.0.0.23/32", "dev", "eth0"]);
    try {
      const r = await h.curl(vm2, IMDS_NET, 3, ["--interface", "10.0.0.23"], ["Metadata: true"]);
      assert.equal(JSON.parse(r.stdout).interface[0].macAddress, "000D3A000002");
    } finally {
      await h.exec(vm2, "ip", ["addr", "del", "10.0.0.23/32", "dev", "eth0"]);
    }
  });

  it("serves the wireserver interface XML and Azure DNS", async function () {
    const xml = await h.curl(vm2, WIRESERVER);
    assert.match(xml.stdout, /<Interface MacAddress="000D3A000002" IsPrimary="true">/);
    assert.match(xml.stdout, /<IPAddress Address="10\.0\.0\.5" IsPrimary="true"\s*\/>/);
    const dns = await h.exec(vm1, "docker", ["run", "--rm", "local/busybox", "nslookup", "vm2"]);
    assert.match(dns.stdout, /Address:\s+10\.0\.0\.5/);
    const ext = await h.exec(vm1, "busybox", ["nslookup", "example.com", "168.63.129.16"]);
    assert.match(ext.stdout, /Address:\s+198\.51\.100\.10/);
  });

  it("runs each VM's dockerd from its engine, with compose v1 and v2 and busybox by its public name", async function () {
    const seen = new Set<string>();
    for (const name of ["vm1", "vm2"]) {
      const vm = { vm: name };
      const server = await h.exec(vm, "docker", ["version", "--format", "{{.Server.Version}}"]);
      assert.match(server.stdout, sim.engine(name) === "debian13" ? /^26\.1\./ : /^20\.10\./, `${name}: ${server.stderr}`);
      seen.add(sim.engine(name));
      assert.match((await h.exec(vm, "docker", ["compose", "version", "--short"])).stdout, /^v?2\.26\./);
      assert.match((await h.exec(vm, "docker-compose", ["version", "--short"])).stdout, /^1\.29\./);
      const run = await h.exec(vm, "docker", ["run", "--rm", "docker.io/library/busybox:latest", "echo", "public name"]);
      assert.equal(run.stdout.trim(), "public name", run.stderr);
    }
    assert.deepEqual([...seen].sort(), ["debian12", "debian13"]);
  });

  it("serves a registry host by name: an image pushed from vm1 is pulled and run on vm2", async function () {
    const dns = await h.exec(vm1, "busybox", ["nslookup", sim.topology.registry.name]);
    assert.match(dns.stdout, new RegExp(`Address:\\s+${sim.topology.registry.hostAddress.replace(/\./g, "\\.")}`));
    const ref = `${sim.registry}/sim-test/busybox:1`;
    for (const [vm, args] of [
      [vm1, ["tag", "busybox:latest", ref]],
      [vm1, ["push", ref]],
      [vm2, ["pull", ref]],
    ] as const) {
      const r = await h.exec(vm, "docker", [...args], 60_000);
      assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    }
    const run = await h.exec(vm2, "docker", ["run", "--rm", ref, "echo", "from the registry"]);
    assert.equal(run.stdout.trim(), "from the registry", run.stderr);
  });

  it("fault knobs: IMDS 500, down, then back", async function () {
    sim.setKnobs({ imds: { status: 500 } });
    await new Promise((r) => setTimeout(r, 700));
    const failing = await h.curl(vm1, IMDS_NET, 3, ["-o", "/dev/null", "-w", "%{http_code}"], ["Metadata: true"]);
    assert.equal(failing.stdout.trim(), "500");
    sim.setKnobs({ imds: { down: true } });
    await new Promise((r) => setTimeout(r, 700));
    const down = await h.curl(vm1, IMDS_NET, 2, [], ["Metadata: true"]);
    assert.notEqual(down.code, 0);
    sim.setKnobs({});
    await new Promise((r) => setTimeout(r, 700));
    const ok = await h.curl(vm1, IMDS_NET, 3, [], ["Metadata: true"]);
    assert.equal(JSON.parse(ok.stdout).interface[0].macAddress, "000D3A000001");
  });

  it("makes an ipconfig added at run time reachable and known to IMDS, and a removed one unreachable", async function () {
    await sim.addIpConfig("vm1", "10.0.0.30");
    await h.exec(vm1, "ip", ["addr", "add", "10.0.0.30/32", "dev", "eth0"]);
    try {
      assert.ok(await h.ping(vm2, "10.0.0.30"), "new ipconfig not reachable");
      await new Promise((r) => setTimeout(r, 700));
      const doc = JSON.parse((await h.curl(vm1, IMDS_NET, 3, [], ["Metadata: true"])).stdout);
      assert.ok(doc.interface[0].ipv4.ipAddress.some((a: { privateIpAddress: string }) => a.privateIpAddress === "10.0.0.30"));
      await sim.removeIpConfig("vm1", "10.0.0.30");
      assert.equal(await h.ping(vm2, "10.0.0.30"), false, "removed ipconfig still reachable");
      await new Promise((r) => setTimeout(r, 700));
      const after = JSON.parse((await h.curl(vm1, IMDS_NET, 3, [], ["Metadata: true"])).stdout);
      assert.ok(!after.interface[0].ipv4.ipAddress.some((a: { privateIpAddress: string }) => a.privateIpAddress === "10.0.0.30"));
    } finally {
      await h.exec(vm1, "ip", ["addr", "del", "10.0.0.30/32", "dev", "eth0"]);
    }
  });

  it("sim down leaves the machine's own namespace exactly as it was", async function () {
    await h.stopAll();
    const t0 = Date.now();
    await sim.down();
    console.log(`      sim down: ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    await sim.down(); // idempotent
    const after = await snapshotHost();
    assert.deepEqual(diffSnapshots(hostBefore, after), []);
  });

  it("sim down cleans up after an up that was killed halfway", async function () {
    const cli = require.resolve("../../sim/cli");
    const child = spawn(process.execPath, [cli, "up"], { env: { ...process.env, AZSIM_DIR: sim.dir }, stdio: "ignore" });
    // Long enough to have made namespaces and started dockerd, short of finishing.
    await new Promise((r) => setTimeout(r, 700));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    await new Simulator(sim.dir).down();
    assert.deepEqual(diffSnapshots(hostBefore, await snapshotHost()), []);
  });
});
