/**
 * The plugin with real dockerd on two simulated VMs: addresses, packets and
 * their source addresses, compose, connect/disconnect, cleanup, errors, and a
 * plugin restart. The plugin runs with its production defaults.
 */
import { strict as assert } from "node:assert";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { Harness } from "./helpers/sim-harness";
import { CREATE_NETWORK, E2E_MODE, WHOAMI_CMD, imdsGetArgs } from "./helpers/docker";
import { COMPOSE_VERSIONS, ComposeExample } from "./helpers/compose";
import { PluginProcess } from "../../sim/plugin-process";

const vm1 = { vm: "vm1" };
const vm2 = { vm: "vm2" };
const inet = { edge: "inet" as const };
const onprem = { edge: "onprem" as const };
const CREATE = CREATE_NETWORK;

describe("azure-vnet plugin with real Docker on the simulator", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  const plugins = { vm1: new PluginProcess(sim, "vm1"), vm2: new PluginProcess(sim, "vm2") };

  const docker = async (vm: string, args: string[], timeoutMs = 60_000) => sim.exec(vm, "docker", args, { allowFailure: true, timeoutMs });
  const ok = async (vm: string, args: string[]) => {
    const r = await docker(vm, args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} on ${vm} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const ipOf = (vm: string, container: string) =>
    ok(vm, ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container]).then((s) => s.trim());
  const run = (vm: string, name: string, extra: string[] = [], cmd: string[] = ["sleep", "3600"]) =>
    ok(vm, ["run", "-d", "--init", "--name", name, ...extra, "local/busybox", ...cmd]);
  const inContainer = (vm: string, name: string, cmd: string[]) => docker(vm, ["exec", name, ...cmd]);
  // busybox-static's `wget -T` crashes; its `timeout` applet bounds the wait instead.
  const fetchFrom = (vm: string, name: string, url: string) => inContainer(vm, name, ["timeout", "5", "wget", "-q", "-O", "-", url]);
  /** busybox httpd reports IPv4 callers as [::ffff:a.b.c.d]. */
  const caller = (out: string) =>
    out
      .trim()
      .replace(/^\[?::ffff:/, "")
      .replace(/\]$/, "");

  before(async function () {
    await sim.down();
    await sim.up(defaultTopology());
    await Promise.all([plugins.vm1.start(), plugins.vm2.start()]);
    for (const vm of ["vm1", "vm2"]) await ok(vm, [...CREATE, "--subnet", "10.0.0.0/24", "vnet"]);
  });

  after(async function () {
    await h.stopAll();
    // Containers go while the plugins still answer (else dockerd waits ~15 s per call for them).
    await sim.down();
    await Promise.all([plugins.vm1.stop(), plugins.vm2.stop()]);
  });

  it("gives containers on vm1 and vm2 distinct secondary ipconfig addresses of their own VM", async function () {
    await run("vm1", "c1", ["--network", "vnet"], WHOAMI_CMD);
    await run("vm2", "c2", ["--network", "vnet"], WHOAMI_CMD);
    const a1 = await ipOf("vm1", "c1");
    const a2 = await ipOf("vm2", "c2");
    assert.equal(a1, "10.0.0.10");
    assert.equal(a2, "10.0.0.20");
  });

  it("gives the container exactly one interface besides lo, with the subnet gateway as default route", async function () {
    const links = await inContainer("vm1", "c1", ["ip", "-o", "link"]);
    assert.deepEqual([...links.stdout.matchAll(/^\d+: ([^:@]+)/gm)].map((m) => m[1]).sort(), ["eth0", "lo"]);
    const route = await inContainer("vm1", "c1", ["ip", "route"]);
    assert.match(route.stdout, /default via 10\.0\.0\.1 dev eth0/);
    const mtu = await inContainer("vm1", "c1", ["cat", "/sys/class/net/eth0/mtu"]);
    assert.equal(mtu.stdout.trim(), "1500");
  });

  it(`plugs the container in as the ${E2E_MODE} mode says: ${E2E_MODE === "bridge" ? "a port of the network's bridge" : "a routed port of its own, no bridge"}`, async function () {
    const iflink = (await inContainer("vm1", "c1", ["cat", "/sys/class/net/eth0/iflink"])).stdout.trim();
    const port = new RegExp(`^${iflink}: (azvh[^:@]+)`, "m").exec((await h.exec(vm1, "ip", ["-o", "link"])).stdout)?.[1];
    assert.ok(port, `no host veth with index ${iflink}`);
    const master = /\bmaster (\S+)/.exec((await h.exec(vm1, "ip", ["-o", "link", "show", port])).stdout)?.[1];
    const route = (await h.exec(vm1, "ip", ["route", "show", "10.0.0.10/32"])).stdout.trim();
    const sysctl = async (key: string) => (await h.exec(vm1, "cat", [`/proc/sys/net/${key}`])).stdout.trim();
    if (E2E_MODE === "bridge") {
      assert.match(master ?? "", /^azvb/);
      assert.equal(route, `10.0.0.10 dev ${master} proto static scope link`);
    } else {
      assert.equal(master, undefined, "the host veth joins no bridge");
      assert.doesNotMatch((await h.exec(vm1, "ip", ["-o", "link", "show", "type", "bridge"])).stdout, /azvb/);
      assert.equal(route, `10.0.0.10 dev ${port} proto static scope link`);
      assert.deepEqual(
        [
          await sysctl(`ipv4/conf/${port}/proxy_arp`),
          await sysctl(`ipv4/conf/${port}/rp_filter`),
          await sysctl(`ipv6/conf/${port}/disable_ipv6`),
        ],
        ["1", "1", "1"],
      );
    }
  });

  it("connects two containers on one VM, each seeing the other's own address", async function () {
    await run("vm1", "c3", ["--network", "vnet"], WHOAMI_CMD);
    try {
      const a3 = await ipOf("vm1", "c3");
      assert.equal(caller((await fetchFrom("vm1", "c3", "http://10.0.0.10:8080/cgi-bin/ip")).stdout), a3);
      assert.equal(caller((await fetchFrom("vm1", "c1", `http://${a3}:8080/cgi-bin/ip`)).stdout), "10.0.0.10");
    } finally {
      await ok("vm1", ["rm", "-f", "c3"]);
    }
  });

  it("connects containers across VMs, each seeing the other's real VNet address", async function () {
    assert.equal(caller((await fetchFrom("vm1", "c1", "http://10.0.0.20:8080/cgi-bin/ip")).stdout), "10.0.0.10");
    assert.equal(caller((await fetchFrom("vm2", "c2", "http://10.0.0.10:8080/cgi-bin/ip")).stdout), "10.0.0.20");
  });

  it("connects VMs and containers both ways", async function () {
    const fromVm = await h.curl(vm2, "http://10.0.0.10:8080/cgi-bin/ip");
    assert.equal(caller(fromVm.stdout), "10.0.0.5");
    await h.whoami(vm2, 9090);
    assert.equal((await fetchFrom("vm1", "c1", "http://10.0.0.5:9090/")).stdout.trim(), "10.0.0.10");
    // The VM reaches its own container too.
    assert.equal(caller((await h.curl(vm1, "http://10.0.0.10:8080/cgi-bin/ip")).stdout), "10.0.0.4");
  });

  it("sends internet traffic out as the VM's public IP, on-premises traffic as the container's own address", async function () {
    await h.whoami(inet, 8080);
    await h.whoami(onprem, 8080);
    assert.equal((await fetchFrom("vm1", "c1", "http://198.51.100.10:8080/")).stdout.trim(), "203.0.113.4");
    assert.equal((await fetchFrom("vm1", "c1", "http://192.168.100.10:8080/")).stdout.trim(), "10.0.0.10");
    const c = await sim.dropCounters();
    assert.equal(c.spoofedIp.vm1 + c.spoofedMac.vm1, 0, "the fabric saw a spoofed packet from vm1");
  });

  it("resolves names through Docker's DNS: other containers and Azure DNS", async function () {
    const peer = await inContainer("vm1", "c1", ["nslookup", "c1."]);
    assert.match(peer.stdout, /Address:\s+10\.0\.0\.10/);
    const azure = await inContainer("vm1", "c1", ["nslookup", "vm2."]);
    assert.match(azure.stdout, /Address:\s+10\.0\.0\.5/);
  });

  it("keeps containers off the wireserver's HTTP ports and IMDS, but not DNS", async function () {
    const ws = await fetchFrom("vm1", "c1", "http://168.63.129.16/?comp=versions");
    assert.notEqual(ws.code, 0, "a container reached the wireserver on port 80");
    const alt = await fetchFrom("vm1", "c1", "http://168.63.129.16:32526/");
    assert.notEqual(alt.code, 0, "a container reached the wireserver on port 32526");
    const imds = await inContainer("vm1", "c1", imdsGetArgs("instance/network?api-version=2021-02-01"));
    assert.notEqual(imds.code, 0, "a container reached IMDS");
    const dns = await inContainer("vm1", "c1", ["nslookup", "example.com", "168.63.129.16"]);
    assert.match(dns.stdout, /198\.51\.100\.10/);
  });

  it("honours --ip, and refuses the primary address and addresses that are no ipconfig", async function () {
    await run("vm1", "fixed", ["--network", "vnet", "--ip", "10.0.0.14"]);
    assert.equal(await ipOf("vm1", "fixed"), "10.0.0.14");
    const primary = await docker("vm1", ["run", "-d", "--name", "bad1", "--network", "vnet", "--ip", "10.0.0.4", "local/busybox", "true"]);
    assert.notEqual(primary.code, 0);
    assert.match(primary.stderr, /10\.0\.0\.4 is the VM's primary address/);
    const foreign = await docker("vm1", ["run", "-d", "--name", "bad2", "--network", "vnet", "--ip", "10.0.0.99", "local/busybox", "true"]);
    assert.notEqual(foreign.code, 0);
    assert.match(foreign.stderr, /10\.0\.0\.99 is not an IP configuration/);
    assert.match(foreign.stderr, /az network nic ip-config create/);
    await docker("vm1", ["rm", "-f", "bad1", "bad2"]);
  });

  it("returns the address on stop and rm, and reuses it", async function () {
    await ok("vm1", ["rm", "-f", "fixed"]);
    await run("vm1", "again", ["--network", "vnet", "--ip", "10.0.0.14"]);
    assert.equal(await ipOf("vm1", "again"), "10.0.0.14");
    await ok("vm1", ["stop", "-t", "1", "again"]);
    await run("vm1", "third", ["--network", "vnet", "--ip", "10.0.0.14"]);
    assert.equal(await ipOf("vm1", "third"), "10.0.0.14");
    await ok("vm1", ["rm", "-f", "again", "third"]);
  });

  it("attaches and detaches with docker network connect/disconnect", async function () {
    await run("vm2", "late");
    await ok("vm2", ["network", "connect", "vnet", "late"]);
    const addrs = (await ipOf("vm2", "late")).split(" ");
    assert.ok(addrs.includes("10.0.0.21"), `expected 10.0.0.21 among ${addrs}`);
    assert.ok(await h.ping(vm1, "10.0.0.21"));
    await ok("vm2", ["network", "disconnect", "vnet", "late"]);
    assert.equal(await h.ping(vm1, "10.0.0.21"), false);
    await run("vm2", "reuse", ["--network", "vnet", "--ip", "10.0.0.21"]);
    await ok("vm2", ["rm", "-f", "late", "reuse"]);
  });

  for (const version of COMPOSE_VERSIONS) {
    it(`runs the static-address compose example, addresses from its .env, with compose ${version}`, async function () {
      const compose = new ComposeExample(sim, "vm1", "compose-static-ip", `demo-${version}`, version, {
        WEB_IP: "10.0.0.15",
        WORKER_IP: "10.0.0.16",
      });
      await compose.up();
      try {
        assert.equal(await ipOf("vm1", await compose.container("web")), "10.0.0.15");
        assert.equal(await ipOf("vm1", await compose.container("worker")), "10.0.0.16");
        const page = await h.curl(vm2, "http://10.0.0.15/");
        assert.equal(page.stdout.trim(), "hello from web");
      } finally {
        await compose.down();
      }
    });
  }

  it("explains exhaustion, a wrong --subnet and a wrong --gateway in the docker CLI output", async function () {
    const wrongSubnet = await docker("vm2", [...CREATE, "--subnet", "10.9.0.0/24", "wrongsub"]);
    assert.notEqual(wrongSubnet.code, 0);
    assert.match(wrongSubnet.stderr, /10\.9\.0\.0\/24 is not a subnet of this VM's NICs/);
    assert.match(wrongSubnet.stderr, /--subnet 10\.0\.0\.0\/24/);
    const wrongGw = await docker("vm2", [...CREATE, "--subnet", "10.0.0.0/24", "--gateway", "10.0.0.254", "wronggw"]);
    assert.notEqual(wrongGw.code, 0);
    assert.match(wrongGw.stderr, /gateway of 10\.0\.0\.0\/24 is 10\.0\.0\.1/);
    // vm2 has 8 secondaries, one held by c2: 7 more fit, the 8th does not.
    for (let i = 0; i < 7; i++) await run("vm2", `fill${i}`, ["--network", "vnet"]);
    const full = await docker("vm2", ["run", "-d", "--name", "overflow", "--network", "vnet", "local/busybox", "true"]);
    assert.notEqual(full.code, 0);
    assert.match(full.stderr, /az network nic ip-config create/);
    await docker("vm2", ["rm", "-f", "overflow", ...Array.from({ length: 7 }, (_, i) => `fill${i}`)]);
  });

  it("names the subnet to pass when the network is created without --subnet", async function () {
    const r = await docker("vm2", [...CREATE, "nosubnet"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /create the network with --subnet 10\.0\.0\.0\/24/);
  });

  it("limits a network to its --ip-range and keeps --aux-address reservations out of it", async function () {
    await ok("vm1", [...CREATE, "--subnet", "10.0.0.0/24", "--ip-range", "10.0.0.12/30", "--aux-address", "router=10.0.0.13", "ranged"]);
    try {
      const auto = await ok("vm1", ["run", "--rm", "--network", "ranged", "local/busybox", "ip", "-4", "-o", "addr", "show", "eth0"]);
      assert.match(auto, /inet 10\.0\.0\.12\/24/);
      const aux = await docker("vm1", ["run", "--rm", "--network", "ranged", "--ip", "10.0.0.13", "local/busybox", "true"]);
      assert.match(aux.stderr, /10\.0\.0\.13 is reserved by --aux-address/);
      const outside = await docker("vm1", ["run", "--rm", "--network", "ranged", "--ip", "10.0.0.11", "local/busybox", "true"]);
      assert.match(outside.stderr, /10\.0\.0\.11 is outside this network's --ip-range 10\.0\.0\.12\/30/);
    } finally {
      await ok("vm1", ["network", "rm", "ranged"]);
    }
  });

  it("keeps running containers connected and their addresses reserved across a plugin restart", async function () {
    await plugins.vm1.stop("SIGTERM");
    assert.ok(await h.ping(vm2, "10.0.0.10"), "c1 unreachable while the plugin is down");
    await plugins.vm1.start();
    assert.equal(caller((await fetchFrom("vm2", "c2", "http://10.0.0.10:8080/cgi-bin/ip")).stdout), "10.0.0.20");
    await run("vm1", "after", ["--network", "vnet"]);
    assert.notEqual(await ipOf("vm1", "after"), "10.0.0.10");
    await ok("vm1", ["rm", "-f", "after"]);
  });

  it("leaves no bridge, veth or rule behind after the containers and the network are removed", async function () {
    await ok("vm1", ["rm", "-f", "c1"]);
    await ok("vm1", ["network", "rm", "vnet"]);
    const links = await h.exec(vm1, "ip", ["-o", "link"]);
    assert.doesNotMatch(links.stdout, /\bazv[bhc]/);
    const rules = await h.exec(vm1, "iptables-save", []);
    assert.doesNotMatch(rules.stdout, /AZURE-VNET/);
    const bridgeRules = await h.exec(vm1, "ebtables-save", []);
    assert.doesNotMatch(bridgeRules.stdout, /AZURE-VNET|AZV-/);
    const bridgeTables = await h.exec(vm1, "nft", ["list", "tables", "bridge"]);
    assert.doesNotMatch(bridgeTables.stdout, /azure-vnet/, "the guard table goes with the last network");
    const routes = await h.exec(vm1, "ip", ["route"]);
    assert.doesNotMatch(routes.stdout, /10\.0\.0\.10 /);
  });
});
