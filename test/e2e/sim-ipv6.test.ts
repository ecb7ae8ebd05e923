/**
 * The simulator's dual-stack subnet, proved with real packets: IPv6 between
 * VMs through the fabric, delivery only to IPv6 ipconfigs, anti-spoofing of
 * sources and of neighbour advertisements, internet only from an ipconfig
 * with a public IPv6 (as that address), on-premises without NAT, and the
 * IPv6 ipconfigs in IMDS and the wireserver, asked from inside a VM; and a
 * second NIC that stays IPv4 only.
 */
import { strict as assert } from "node:assert";
import { resolve } from "node:path";
import { Simulator } from "../../sim/simulator";
import { parseTopology, type Topology } from "../../sim/topology";
import { FABRIC_GATEWAY6, FABRIC_MAC } from "../../sim/names";
import { waitFor } from "../../sim/exec";
import { E2E_MODE } from "./helpers/docker";
import { Harness } from "./helpers/sim-harness";

const SEND_NA = resolve(__dirname, "../../../sim/tools/send-na.py");
const IMDS_NET = "http://169.254.169.254/metadata/instance/network?api-version=2021-02-01";
const WIRESERVER = "http://168.63.129.16/machine/plugins?comp=nmagent&type=getinterfaceinfov1";
const SUBNET6 = "fd00:db8:deca:1::/64";
const V6 = {
  vm1: "fd00:db8:deca:1::4",
  vm2: "fd00:db8:deca:1::5",
  /** vm1's secondaries: one without a public IPv6, one with. */
  vm1Private: "fd00:db8:deca:1::10",
  vm1Public: "fd00:db8:deca:1::11",
  /** An address of the subnet that is no ipconfig. */
  none: "fd00:db8:deca:1::99",
  vm1Pip: "2001:db8:200::4",
  vm1SecondaryPip: "2001:db8:200::11",
  inet: "2001:db8:100::10",
  onprem: "fd00:1234:5678::10",
};
const vm1 = { vm: "vm1" };
const vm2 = { vm: "vm2" };
const inet = { edge: "inet" as const };
const onprem = { edge: "onprem" as const };

function dualStackTopology(): Topology {
  return parseTopology({
    vnet: {
      addressSpace: "10.0.0.0/16",
      subnet: "10.0.0.0/24",
      gateway: "10.0.0.1",
      addressSpace6: "fd00:db8:deca::/48",
      subnet6: SUBNET6,
      extraSubnets: [{ subnet: "10.0.1.0/24", gateway: "10.0.1.1" }],
    },
    vms: [
      {
        name: "vm1",
        nic: {
          mac: "00:0d:3a:00:00:01",
          primary: { address: "10.0.0.4", publicIp: "203.0.113.4" },
          secondaries: [],
          ipv6: {
            primary: { address: V6.vm1, publicIp6: V6.vm1Pip },
            secondaries: [{ address: V6.vm1Private }, { address: V6.vm1Public, publicIp6: V6.vm1SecondaryPip }],
          },
        },
      },
      {
        name: "vm2",
        nic: { mac: "00:0d:3a:00:00:02", primary: { address: "10.0.0.5" }, secondaries: [], ipv6: { primary: { address: V6.vm2 } } },
        // A second NIC, IPv4 only: IPv6 is the primary NIC's.
        extraNics: [{ mac: "00:0d:3a:00:01:02", subnet: "10.0.1.0/24", primary: { address: "10.0.1.5" }, secondaries: [] }],
      },
    ],
    internet: { hostAddress: "198.51.100.10", hostAddress6: V6.inet },
    onPrem: { cidr: "192.168.100.0/24", hostAddress: "192.168.100.10", cidr6: "fd00:1234:5678::/64", hostAddress6: V6.onprem },
  });
}

const url = (address: string, port: number) => `http://[${address}]:${port}/`;

// The simulator itself, without the plugin: the same in every network mode, so it runs in the bridge pass only.
(E2E_MODE === "bridge" ? describe : describe.skip)("simulated Azure network, dual stack (IPv6)", function () {
  this.timeout(120_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  /** Run in a VM and fail on a non-zero exit. */
  const must = async (place: { vm: string }, cmd: string, args: string[]) => {
    const r = await h.exec(place, cmd, args);
    assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  const addAddress = (place: { vm: string }, address: string) =>
    must(place, "ip", ["-6", "addr", "add", `${address}/128`, "dev", "eth0", "nodad"]);
  const delAddress = (place: { vm: string }, address: string) =>
    h.exec(place, "ip", ["-6", "addr", "del", `${address}/128`, "dev", "eth0"]);
  const ping6 = (place: { vm: string }, target: string, source?: string) =>
    h.ping(place, target, ["-6", ...(source ? ["-I", source] : [])]);

  before(async function () {
    await sim.down();
    await sim.up(dualStackTopology());
    await h.whoami(vm2, 8090, V6.vm2);
    await h.whoami(inet, 8091, V6.inet);
  });

  after(async function () {
    await h.stopAll();
    await sim.down();
  });

  it("configures the primary IPv6 ipconfig as a /128 with a default route via fe80::1234:5678:9abc, and nothing from router advertisements", async function () {
    const addrs = await must(vm1, "ip", ["-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"]);
    assert.deepEqual(
      [...addrs.stdout.matchAll(/inet6 (\S+)/g)].map((m) => m[1]),
      [`${V6.vm1}/128`],
    );
    const route = await must(vm1, "ip", ["-6", "route", "show", "default"]);
    assert.match(route.stdout, new RegExp(`^default via ${FABRIC_GATEWAY6} dev eth0`, "m"));
    const ra = await must(vm1, "sysctl", ["-n", "net.ipv6.conf.eth0.accept_ra", "net.ipv6.conf.eth0.autoconf"]);
    assert.deepEqual(ra.stdout.trim().split(/\s+/), ["0", "0"]);
    // Namespaces that have no IPv6 address keep IPv6 off.
    const registry = await sim.execEdge("registry", "sysctl", ["-n", "net.ipv6.conf.all.disable_ipv6"]);
    assert.equal(registry.stdout.trim(), "1");
  });

  it("carries IPv6 between the VMs' primaries, with the gateway at 12:34:56:78:9a:bc", async function () {
    assert.ok(await ping6(vm1, V6.vm2), "vm1 cannot ping vm2 over IPv6");
    const seen = await h.curl(vm1, url(V6.vm2, 8090));
    assert.equal(seen.stdout.trim(), V6.vm1);
    const neigh = await must(vm1, "ip", ["-6", "neigh", "show", "dev", "eth0"]);
    assert.match(neigh.stdout, new RegExp(`${FABRIC_GATEWAY6} lladdr ${FABRIC_MAC}`));
    // Link-local chatter (DAD, MLD, NDP with the gateway) is allowed and counts as nothing.
    const c = await sim.dropCounters();
    assert.deepEqual(
      [c.spoofedIp6, c.spoofedMac6, c.spoofedNa6],
      [
        { vm1: 0, vm2: 0 },
        { vm1: 0, vm2: 0 },
        { vm1: 0, vm2: 0 },
      ],
    );
  });

  it("delivers a secondary IPv6 ipconfig configured in vm1 to vm1, both ways", async function () {
    await addAddress(vm1, V6.vm1Private);
    try {
      await h.whoami(vm1, 8092, V6.vm1Private);
      const inbound = await h.curl(vm2, url(V6.vm1Private, 8092));
      assert.equal(inbound.stdout.trim(), V6.vm2);
      const outbound = await h.curl(vm1, url(V6.vm2, 8090), 3, ["--interface", V6.vm1Private]);
      assert.equal(outbound.stdout.trim(), V6.vm1Private);
    } finally {
      await delAddress(vm1, V6.vm1Private);
    }
  });

  it("drops and counts IPv6 for an address of the VNet that is no ipconfig", async function () {
    const c0 = await sim.dropCounters();
    assert.equal(await ping6(vm1, V6.none), false);
    const c1 = await sim.dropCounters();
    assert.ok(c1.undeliverable6 > c0.undeliverable6, "undeliverable6 did not move");
  });

  it("drops and counts an IPv6 source that is not an ipconfig of the NIC, and a spoofed MAC", async function () {
    const spoofed = "fd00:db8:deca:1::200";
    await addAddress(vm1, spoofed);
    try {
      const c0 = await sim.dropCounters();
      assert.equal(await ping6(vm1, V6.vm2, spoofed), false);
      const c1 = await sim.dropCounters();
      assert.ok(c1.spoofedIp6.vm1 > c0.spoofedIp6.vm1, "spoofed IPv6 source not counted");
      assert.equal(c1.spoofedIp6.vm2, c0.spoofedIp6.vm2);
    } finally {
      await delAddress(vm1, spoofed);
    }
    await must(vm1, "ip", ["link", "set", "eth0", "address", "02:00:00:00:00:99"]);
    try {
      const c0 = await sim.dropCounters();
      assert.equal(await ping6(vm1, V6.vm2), false);
      const c1 = await sim.dropCounters();
      assert.ok(c1.spoofedMac6.vm1 > c0.spoofedMac6.vm1, "spoofed MAC not counted for IPv6");
    } finally {
      await must(vm1, "ip", ["link", "set", "eth0", "address", "00:0d:3a:00:00:01"]);
    }
    assert.ok(await ping6(vm1, V6.vm2), "vm1 did not recover after restoring its MAC");
  });

  it("drops and counts a neighbour advertisement from vm1 for vm2's address, not one for vm1's own", async function () {
    const c0 = await sim.dropCounters();
    await must(vm1, "python3", [SEND_NA, "eth0", V6.vm1, V6.vm1]);
    const c1 = await sim.dropCounters();
    assert.equal(c1.spoofedNa6.vm1, c0.spoofedNa6.vm1, "an advertisement for vm1's own address was dropped");
    await must(vm1, "python3", [SEND_NA, "eth0", V6.vm1, V6.vm2]);
    const c2 = await sim.dropCounters();
    assert.equal(c2.spoofedNa6.vm1, c1.spoofedNa6.vm1 + 1, "the advertisement for vm2's address was not dropped");
  });

  it("reaches the internet over IPv6 only from ipconfigs with a public IPv6, seen as that address", async function () {
    assert.equal((await h.curl(vm1, url(V6.inet, 8091))).stdout.trim(), V6.vm1Pip);
    await addAddress(vm1, V6.vm1Public);
    await addAddress(vm1, V6.vm1Private);
    try {
      const own = await h.curl(vm1, url(V6.inet, 8091), 3, ["--interface", V6.vm1Public]);
      assert.equal(own.stdout.trim(), V6.vm1SecondaryPip);
      const c0 = await sim.dropCounters();
      const none = await h.curl(vm1, url(V6.inet, 8091), 2, ["--interface", V6.vm1Private]);
      assert.notEqual(none.code, 0, "an IPv6 ipconfig without a public IPv6 reached the internet");
      const fromVm2 = await h.curl(vm2, url(V6.inet, 8091), 2);
      assert.notEqual(fromVm2.code, 0, "vm2's primary, without a public IPv6, reached the internet");
      const c1 = await sim.dropCounters();
      assert.ok(c1.noPublicIp6 >= c0.noPublicIp6 + 2, `noPublicIp6 moved from ${c0.noPublicIp6} to ${c1.noPublicIp6}`);
      // The internet cannot address private IPv6 ipconfigs directly.
      assert.notEqual((await h.curl(inet, url(V6.vm2, 8090), 2)).code, 0);
    } finally {
      await delAddress(vm1, V6.vm1Public);
      await delAddress(vm1, V6.vm1Private);
    }
  });

  it("talks IPv6 to on-premises without NAT", async function () {
    await h.whoami(onprem, 8093, V6.onprem);
    assert.equal((await h.curl(vm2, url(V6.onprem, 8093))).stdout.trim(), V6.vm2);
  });

  it("lists the IPv6 ipconfigs in IMDS and the wireserver, primary first", async function () {
    const doc = JSON.parse((await h.curl(vm1, IMDS_NET, 3, [], ["Metadata: true"])).stdout);
    assert.deepEqual(doc.interface[0].ipv6.ipAddress, [
      { privateIpAddress: V6.vm1, publicIpAddress: V6.vm1Pip },
      { privateIpAddress: V6.vm1Private, publicIpAddress: "" },
      { privateIpAddress: V6.vm1Public, publicIpAddress: V6.vm1SecondaryPip },
    ]);
    assert.equal(doc.interface[0].ipv4.ipAddress[0].privateIpAddress, "10.0.0.4");
    const xml = (await h.curl(vm2, WIRESERVER)).stdout;
    assert.match(xml, /<IPSubnet Prefix="10\.0\.0\.0\/24">/);
    const v6 = /<IPSubnet Prefix="fd00:db8:deca:1::\/64">([\s\S]*?)<\/IPSubnet>/.exec(xml);
    assert.ok(v6, `no IPv6 subnet in ${xml}`);
    assert.deepEqual(
      [...v6[1].matchAll(/<IPAddress Address="([^"]+)" IsPrimary="(true|false)"/g)].map((m) => [m[1], m[2]]),
      [[V6.vm2, "true"]],
    );
  });

  it("adds and removes an IPv6 ipconfig at run time: delivery, anti-spoofing and IMDS follow", async function () {
    const added = "fd00:db8:deca:1::20";
    await addAddress(vm2, added);
    try {
      const c0 = await sim.dropCounters();
      assert.equal(await ping6(vm2, V6.vm1, added), false, "an address that is no ipconfig yet got through");
      assert.ok((await sim.dropCounters()).spoofedIp6.vm2 > c0.spoofedIp6.vm2);
      await sim.addIpConfig("vm2", added.toUpperCase());
      assert.deepEqual(sim.vm("vm2").nic.ipv6?.secondaries, [{ address: added }]);
      assert.ok(await ping6(vm1, added), "the new IPv6 ipconfig is not delivered");
      assert.ok(await ping6(vm2, V6.vm1, added), "the new IPv6 ipconfig may not send");
      // The platform re-reads the topology within half a second.
      const listed = async () => {
        const doc = JSON.parse((await h.curl(vm2, IMDS_NET, 3, [], ["Metadata: true"])).stdout);
        return doc.interface[0].ipv6.ipAddress.map((a: { privateIpAddress: string }) => a.privateIpAddress).join(" ");
      };
      await waitFor("IMDS to list the new IPv6 ipconfig", async () => (await listed()) === `${V6.vm2} ${added}`, 3_000, 100);
      await sim.removeIpConfig("vm2", added);
      const c1 = await sim.dropCounters();
      assert.equal(await ping6(vm1, added), false, "a removed IPv6 ipconfig is still delivered");
      assert.ok((await sim.dropCounters()).undeliverable6 > c1.undeliverable6);
    } finally {
      await delAddress(vm2, added);
    }
  });

  it("keeps IPv6 off on a second NIC: none configured, none taken, and the fabric drops IPv6 sent on it", async function () {
    const off = await must(vm2, "sysctl", ["-n", "net.ipv6.conf.eth1.disable_ipv6"]);
    assert.equal(off.stdout.trim(), "1");
    assert.equal((await sim.execEdge("fabric", "sysctl", ["-n", "net.ipv6.conf.f-vm2-e1.disable_ipv6"])).stdout.trim(), "1");
    await assert.rejects(sim.addIpConfig("vm2", "fd00:db8:deca:1::30", undefined, undefined, 1), /vm2 eth1 has no IPv6 primary ipconfig/);
    // vm2 turns IPv6 on for eth1 itself and sends its own IPv6 address to vm1 through it: the fabric must not carry it.
    const viaEth1 = [
      ["sysctl", "-q", "-w", "net.ipv6.conf.eth1.disable_ipv6=0"],
      ["ip", "-6", "addr", "add", `${V6.vm2}/128`, "dev", "eth1", "nodad"],
      ["ip", "-6", "neigh", "replace", FABRIC_GATEWAY6, "lladdr", FABRIC_MAC, "dev", "eth1", "nud", "permanent"],
      ["ip", "-6", "route", "add", `${V6.vm1}/128`, "via", FABRIC_GATEWAY6, "dev", "eth1"],
    ];
    try {
      for (const [cmd, ...args] of viaEth1) await must(vm2, cmd, args);
      assert.match((await must(vm2, "ip", ["-6", "route", "get", V6.vm1])).stdout, /dev eth1/);
      assert.equal(await ping6(vm2, V6.vm1, V6.vm2), false, "IPv6 sent on vm2's second NIC got through the fabric");
    } finally {
      await h.exec(vm2, "ip", ["-6", "route", "del", `${V6.vm1}/128`, "dev", "eth1"]);
      await h.exec(vm2, "sysctl", ["-q", "-w", "net.ipv6.conf.eth1.disable_ipv6=1"]);
    }
    assert.ok(await ping6(vm2, V6.vm1, V6.vm2), "vm2 cannot reach vm1 over IPv6 on eth0 again");
  });
});
