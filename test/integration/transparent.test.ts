/**
 * Real packets through transparent mode's routed ports. As in
 * topology.test.ts, the test's own (throwaway) namespace plays the VM and the
 * dataplane under test runs in-process as the plugin would; child namespaces
 * play the fabric (gateway 10.0.0.1, VNet host 10.0.0.9, an "internet" host,
 * the platform addresses; it delivers the ipconfigs to the NIC's MAC and
 * counts what arrives per source) and two containers, 10.0.0.5 and 10.0.0.6,
 * whose host veths are routed ports, not bridge ports.
 *
 * What it shows: a container's own address passes; a spoofed source (the
 * other container's address, an unassigned one, an outside one) never reaches
 * the fabric: through the port's strict rp_filter (also with conf/all loose,
 * 2, as many images set it), and through the firewall's source check when the
 * port's rp_filter has been turned off; with neither the spoof gets out, so
 * the test can tell. Also proxy ARP, container to container through the
 * VM, inbound from the fabric, SNAT, the platform blocks, no IPv6 on the
 * port, and that removing the veths takes routes and sysctls with them.
 */
import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { LinuxDataplane } from "../../driver/dataplane";
import { FirewallNetwork } from "../../driver/dataplane/firewall";
import { cmd, ipLink, linkNames, readSysctl, routeLines, sh } from "./support/host";
import { clearBackend, dockerLikeBaseline } from "./support/iptables";
import { ChildNamespaces } from "./support/netns";
import { packetChecks } from "./support/packets";
import { buildFabric, plugContainer } from "./support/fabric";
import { writeFileSync } from "node:fs";

assertThrowawayNetns();

const UPLINK = "azr-eth0";
const FABRIC_END = "azr-fab";
const VM_IP = "10.0.0.4";
const GROUP = 0x10000042;
// Host ends carry the plugin's prefix: the firewall's source check matches `azvh+`.
const CONTAINERS = [
  { suffix: "c1", ip: "10.0.0.5", mac: "02:42:0a:00:00:05", host: "azvhit0000005", peer: "azvcit0000005" },
  { suffix: "c2", ip: "10.0.0.6", mac: "02:42:0a:00:00:06", host: "azvhit0000006", peer: "azvcit0000006" },
];
const NETWORK: FirewallNetwork = {
  id: "routed",
  mode: "transparent",
  portGroup: GROUP,
  subnet: "10.0.0.0/24",
  primaryAddress: VM_IP,
  snat: true,
  nonMasqueradeCidrs: ["10.1.0.0/16"],
  allowImds: false,
};
const RP_ALL = "/proc/sys/net/ipv4/conf/all/rp_filter";

describe("transparent mode with real packets", function () {
  this.timeout(120_000);
  const spaces = new ChildNamespaces("routed");
  const dp = new LinuxDataplane();
  let fab = "";
  let c1 = "";
  let c2 = "";
  let iptables = "";
  let baseLinks: string[] = [];
  let baseRoutes: string[] = [];
  const { seenSource, ping, fabricCounters } = packetChecks(spaces, () => fab);
  let rpAllBefore = "";

  /** c1 sends UDP to the fabric host from `source` (an address it adds to its eth0 first); how many such packets arrived. */
  async function spoofFromC1(source: string, counter: string): Promise<number> {
    const before = (await fabricCounters())[counter] ?? 0;
    await spaces.exec(c1, "ip", ["addr", "add", `${source}/32`, "dev", "eth0"]);
    try {
      // The probe binds the spoofed source itself; the fabric's counters say whether anything got out.
      await Promise.all([seenSource(c1, "udp", "10.0.0.9", 7, source), ping(c1, "10.0.0.9", source)]);
    } finally {
      await spaces.exec(c1, "ip", ["addr", "del", `${source}/32`, "dev", "eth0"]);
    }
    return ((await fabricCounters())[counter] ?? 0) - before;
  }

  before(async () => {
    baseLinks = await linkNames();
    baseRoutes = await routeLines();
    rpAllBefore = readSysctl("ipv4/conf/all/rp_filter");
    const version = await sh("iptables", "-V");
    iptables = version.includes("nf_tables") ? "iptables-nft" : "iptables-legacy";
    await dockerLikeBaseline(iptables);

    fab = await spaces.add("fab");
    c1 = await spaces.add("c1");
    c2 = await spaces.add("c2");

    await buildFabric(spaces, { fab, uplink: UPLINK, fabricEnd: FABRIC_END, vmIp: VM_IP, containers: CONTAINERS });

    // The plugin's part (ip_forward, a routed port per container, its route), then Docker's.
    await dp.ensureForwarding();
    for (const c of CONTAINERS) {
      await dp.createEndpointLink({ hostName: c.host, peerName: c.peer, mtu: 1500, peerMac: c.mac });
      await dp.ensureRoutedPort(c.host, GROUP);
      await dp.addPortRoute(c.ip, c.host);
      await plugContainer(spaces, c);
    }
    await dp.applyFirewall({ networks: [NETWORK] });

    await spaces.serve(fab, ["tcp:7", "udp:7", "udp:53", "tcp:80", "tcp:32526"]);
    await spaces.serve(c1, ["tcp:8080"]);
  });

  after(async () => {
    try {
      writeFileSync(RP_ALL, `${rpAllBefore}\n`);
      await spaces.cleanup();
    } finally {
      for (const n of [UPLINK, ...CONTAINERS.map((c) => c.host)]) await cmd("ip", ["link", "del", n]);
      await dp.removeFirewall().catch(() => undefined);
      await clearBackend(iptables);
      await dp.close();
    }
  });

  it("makes each host veth a routed port: no master, its network's group, proxy ARP at once, strict rp_filter, no IPv6", async () => {
    for (const c of CONTAINERS) {
      const link = await ipLink(c.host);
      assert.equal(link?.master, undefined);
      assert.equal((link as { group?: string } | undefined)?.group, String(GROUP));
      assert.equal(readSysctl(`ipv4/conf/${c.host}/proxy_arp`), "1");
      assert.equal(readSysctl(`ipv4/neigh/${c.host}/proxy_delay`), "0");
      assert.equal(readSysctl(`ipv4/conf/${c.host}/rp_filter`), "1");
      assert.equal(readSysctl(`ipv6/conf/${c.host}/disable_ipv6`), "1");
      assert.equal((await sh("ip", "addr", "show", "dev", c.host)).includes("inet"), false, "the port has no address at all");
      assert.deepEqual(await dp.readRoutedPort(c.host), {
        group: GROUP,
        up: true,
        proxyArp: true,
        proxyDelay: 0,
        rpFilter: 1,
        ipv6Disabled: true,
      });
    }
    assert.ok((await routeLines()).includes(`10.0.0.5 dev ${CONTAINERS[0].host} proto static scope link`));
    assert.deepEqual(
      await dp.listContainerRoutesOn([CONTAINERS[0].host, CONTAINERS[1].host, "azvhnosuchlink"]),
      new Map([
        [CONTAINERS[0].host, ["10.0.0.5"]],
        [CONTAINERS[1].host, ["10.0.0.6"]],
      ]),
    );
  });

  it("runs with Docker's DROP policy, so the plugin's ACCEPT rules matter", async () => {
    assert.match(await sh(iptables, "-w", "-S", "FORWARD"), /^-P FORWARD DROP$/m);
  });

  it("container → VNet host and back: its own address, no NAT", async () => {
    assert.equal(await seenSource(c1, "udp", "10.0.0.9", 7), "10.0.0.5");
    assert.equal(await seenSource(c1, "tcp", "10.0.0.9", 7), "10.0.0.5");
    assert.equal(await seenSource(c2, "tcp", "10.0.0.9", 7), "10.0.0.6");
    assert.ok(await ping(fab, "10.0.0.5", "10.0.0.9"), "10.0.0.9 → c1");
  });

  it("inbound from another VM reaches the container by its /32 route alone, from the caller's own address", async () => {
    const r = await spaces.probe(fab, ["ask", "tcp", "10.0.0.5", "8080", "1500", "10.0.0.9"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { from: "10.0.0.9", to: "10.0.0.5" });
    assert.equal(readSysctl(`ipv4/conf/${UPLINK}/proxy_arp`), "0", "the NIC answers no ARP for the containers");
  });

  it("a spoofed source never reaches the fabric: another container's address, an unassigned one, an outside one", async () => {
    const before = await fabricCounters();
    assert.equal(await spoofFromC1("10.0.0.6", "from-c2"), 0, "c1 posing as c2");
    assert.equal(await spoofFromC1("10.0.0.7", "foreign-source"), 0, "c1 with an address nobody holds");
    assert.equal(await spoofFromC1("198.51.100.99", "foreign-source"), 0, "c1 with an outside address");
    assert.ok(((await fabricCounters())["from-c1"] ?? 0) >= (before["from-c1"] ?? 0));
    assert.equal(await seenSource(c1, "udp", "10.0.0.9", 7), "10.0.0.5", "c1's own address still passes");
    assert.equal(await seenSource(c2, "udp", "10.0.0.9", 7), "10.0.0.6", "and c2 is unaffected");
  });

  it("holds with conf/all/rp_filter loose (2): on a port without an address, loose rejects what strict does", async () => {
    await sh(iptables, "-w", "-t", "raw", "-F", "AZURE-VNET-SOURCE");
    writeFileSync(RP_ALL, "2\n");
    try {
      assert.equal(await spoofFromC1("10.0.0.6", "from-c2"), 0);
      assert.equal(await seenSource(c1, "udp", "10.0.0.9", 7), "10.0.0.5");
    } finally {
      writeFileSync(RP_ALL, `${rpAllBefore}\n`);
      await dp.applyFirewall({ networks: [NETWORK] });
    }
  });

  it("holds with the port's rp_filter turned off, through the firewall's source check; with neither, it would not", async () => {
    const portRp = `/proc/sys/net/ipv4/conf/${CONTAINERS[0].host}/rp_filter`;
    writeFileSync(RP_ALL, "0\n");
    writeFileSync(portRp, "0\n");
    try {
      assert.equal(await spoofFromC1("10.0.0.6", "from-c2"), 0, "the raw source check drops it");
      assert.deepEqual((await dp.readRoutedPort(CONTAINERS[0].host))?.rpFilter, 0, "the port's effective rp_filter is off");
      // The test can tell: without either check the spoof gets out.
      await sh(iptables, "-w", "-t", "raw", "-F", "AZURE-VNET-SOURCE");
      assert.ok((await spoofFromC1("10.0.0.6", "from-c2")) > 0, "with no check at all, c1 got out as 10.0.0.6");
      await dp.applyFirewall({ networks: [NETWORK] });
      assert.equal(await spoofFromC1("10.0.0.6", "from-c2"), 0, "re-applied, it holds again");
    } finally {
      writeFileSync(RP_ALL, `${rpAllBefore}\n`);
      await dp.ensureRoutedPort(CONTAINERS[0].host, GROUP);
      await dp.applyFirewall({ networks: [NETWORK] });
    }
    assert.equal(readSysctl(`ipv4/conf/${CONTAINERS[0].host}/rp_filter`), "1", "ensureRoutedPort puts it back");
  });

  it("holds with the firewall's source check gone but rp_filter strict: the ports' own sysctl", async () => {
    await sh(iptables, "-w", "-t", "raw", "-F", "AZURE-VNET-SOURCE");
    try {
      assert.equal(await spoofFromC1("10.0.0.6", "from-c2"), 0);
    } finally {
      await dp.applyFirewall({ networks: [NETWORK] });
    }
  });

  it("proxy ARP: the gateway, VNet hosts and the other container all resolve to the port's MAC, at once", async () => {
    await sh("ip", "-n", c1, "neigh", "flush", "all");
    const started = Date.now();
    assert.ok(await ping(c1, "10.0.0.9"));
    const elapsed = Date.now() - started;
    assert.ok(await ping(c1, "198.51.100.7"));
    assert.ok(await ping(c1, "10.0.0.6"), "c1 → c2, routed through the VM");
    const neigh = JSON.parse(await sh("ip", "-n", c1, "-j", "neigh", "show", "dev", "eth0")) as Array<{ dst: string; lladdr?: string }>;
    const portMac = (await ipLink(CONTAINERS[0].host))!.address;
    for (const ip of ["10.0.0.9", "10.0.0.1", "10.0.0.6"]) assert.equal(neigh.find((n) => n.dst === ip)?.lladdr, portMac, ip);
    assert.ok(elapsed < 700, `first ping with ARP took ${elapsed} ms`);
  });

  it("containers reach each other and the VM, and the VM reaches them", async () => {
    assert.ok(await ping(c2, "10.0.0.5"), "c2 → c1");
    assert.ok(await ping(undefined, "10.0.0.6"), "VM → c2");
    assert.ok(await ping(c1, VM_IP), "c1 → VM");
  });

  it("container → internet leaves as the VM's primary address; a non-masquerade range keeps its own", async () => {
    assert.equal(await seenSource(c1, "tcp", "198.51.100.7", 7), VM_IP);
    assert.equal(await seenSource(c1, "udp", "10.1.0.7", 7), "10.0.0.5");
  });

  it("168.63.129.16: DNS works, the wireserver ports and IMDS are blocked, unless the network allows IMDS", async () => {
    assert.equal(await seenSource(c1, "udp", "168.63.129.16", 53), "10.0.0.5");
    assert.equal(await seenSource(c1, "tcp", "168.63.129.16", 80), undefined);
    assert.equal(await seenSource(c1, "tcp", "168.63.129.16", 32526), undefined);
    assert.equal(await seenSource(c1, "tcp", "169.254.169.254", 80), undefined);
    await dp.applyFirewall({ networks: [{ ...NETWORK, allowImds: true }] });
    assert.equal(await seenSource(c1, "tcp", "169.254.169.254", 80), "10.0.0.5");
    // A port outside the network's group is not the network's: Docker's DROP policy stops it.
    await sh("ip", "link", "set", CONTAINERS[0].host, "group", "default");
    assert.equal(await seenSource(c1, "udp", "10.0.0.9", 7), undefined);
    await dp.ensureRoutedPort(CONTAINERS[0].host, GROUP);
    assert.equal(await seenSource(c1, "udp", "10.0.0.9", 7), "10.0.0.5");
    await dp.applyFirewall({ networks: [NETWORK] });
    assert.equal(await seenSource(c1, "tcp", "169.254.169.254", 80), undefined);
  });

  it("only the NIC's MAC and ipconfig addresses ever reached the fabric", async () => {
    const counters = await fabricCounters();
    assert.equal(counters["foreign-mac"], 0);
    assert.equal(counters["foreign-source"], 0);
  });

  it("removing the veths takes their routes and sysctls along; the VM is back where it started", async () => {
    await spaces.cleanup();
    for (const c of CONTAINERS) await dp.removeEndpointLink(c.host);
    assert.equal(await dp.removeFirewall(), true);
    await cmd("ip", ["link", "del", UPLINK]);
    assert.deepEqual(await linkNames(), baseLinks);
    assert.deepEqual(await routeLines(), baseRoutes);
    const state = await dp.readFirewall();
    assert.deepEqual([state.forwardChain, state.rawChain, state.rawRules], [false, false, []]);
  });
});
