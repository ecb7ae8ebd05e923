/**
 * Real packets through the routed bridge. The test's own (throwaway) namespace
 * plays the VM, so the dataplane under test runs in-process exactly as the
 * plugin would. Child namespaces play the rest:
 *
 *   fabric  the Azure side of the NIC: the gateway 10.0.0.1, another VNet host
 *           10.0.0.9, an "internet" host 198.51.100.7, a peered range 10.1.0.7,
 *           168.63.129.16 and 169.254.169.254. Like Azure, it delivers the NIC's
 *           ipconfig addresses to the NIC's MAC (static neighbours) and drops
 *           frames from any other MAC and packets from non-ipconfig sources.
 *   c1, c2  containers 10.0.0.5 and 10.0.0.6, set up the way Docker does it.
 *
 * A probe server in the fabric answers with the source address it saw, which
 * shows whether a flow was source-NATed.
 */
import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { LinuxDataplane } from "../../driver/dataplane";
import { bridgeMac } from "../../driver/dataplane/links";
import { FirewallNetwork } from "../../driver/dataplane/firewall";
import { cmd, linkNames, readSysctl, routeLines, sh } from "./support/host";
import { clearBackend, dockerLikeBaseline } from "./support/iptables";
import { ChildNamespaces } from "./support/netns";
import { packetChecks } from "./support/packets";
import { buildFabric, plugContainer } from "./support/fabric";

assertThrowawayNetns();

const BRIDGE = "azt-br0";
const UPLINK = "azt-eth0";
const FABRIC_END = "azt-fab";
const VM_IP = "10.0.0.4";
const CONTAINERS = [
  { suffix: "c1", ip: "10.0.0.5", mac: "02:42:0a:00:00:05", host: "azt-h5", peer: "azt-p5" },
  { suffix: "c2", ip: "10.0.0.6", mac: "02:42:0a:00:00:06", host: "azt-h6", peer: "azt-p6" },
];
const NETWORK: FirewallNetwork = {
  id: "topo",
  mode: "bridge",
  bridge: BRIDGE,
  subnet: "10.0.0.0/24",
  primaryAddress: VM_IP,
  snat: true,
  nonMasqueradeCidrs: ["10.1.0.0/16"],
  allowImds: false,
};

describe("routed bridge with real packets", function () {
  this.timeout(120_000);
  const spaces = new ChildNamespaces("topo");
  const dp = new LinuxDataplane();
  let fab = "";
  let c1 = "";
  let c2 = "";
  let vmMac = "";
  let iptables = "";
  let baseLinks: string[] = [];
  let baseRoutes: string[] = [];
  const { seenSource, ping, fabricCounters } = packetChecks(spaces, () => fab);

  before(async () => {
    baseLinks = await linkNames();
    baseRoutes = await routeLines();
    const version = await sh("iptables", "-V");
    iptables = version.includes("nf_tables") ? "iptables-nft" : "iptables-legacy";
    // Docker's FORWARD policy is DROP: the plugin's rules must let its traffic through.
    await dockerLikeBaseline(iptables);

    fab = await spaces.add("fab");
    c1 = await spaces.add("c1");
    c2 = await spaces.add("c2");

    // The VM's NIC: one end of a veth, the other end in the fabric.
    vmMac = await buildFabric(spaces, {
      fab,
      uplink: UPLINK,
      fabricEnd: FABRIC_END,
      vmIp: VM_IP,
      containers: CONTAINERS,
      firstRules: [["-s", "10.0.0.5", "-p", "icmp", "-m", "comment", "--comment", "icmp-from-c1", "-j", "ACCEPT"]],
    });

    // The plugin's part, then Docker's part of each container.
    await dp.ensureBridge(BRIDGE, 1500);
    for (const c of CONTAINERS) {
      await dp.createEndpointLink({ bridge: BRIDGE, hostName: c.host, peerName: c.peer, mtu: 1500, peerMac: c.mac });
      await dp.addContainerRoute(c.ip, BRIDGE);
      await plugContainer(spaces, c);
    }
    await dp.applyFirewall({ networks: [NETWORK] });

    await spaces.serve(fab, ["tcp:7", "udp:7", "udp:53", "tcp:80", "tcp:32526"]);
    await spaces.serve(c1, ["tcp:8080"]);
  });

  after(async () => {
    try {
      await spaces.cleanup();
    } finally {
      for (const n of [UPLINK, BRIDGE, ...CONTAINERS.map((c) => c.host)]) await cmd("ip", ["link", "del", n]);
      await dp.removeFirewall().catch(() => undefined);
      await clearBackend(iptables);
      await dp.close();
    }
  });

  it("runs with Docker's DROP policy and br_netfilter on, so the plugin's ACCEPT rules matter", async () => {
    assert.match(await sh(iptables, "-w", "-S", "FORWARD"), /^-P FORWARD DROP$/m);
    assert.equal(readSysctl("bridge/bridge-nf-call-iptables"), "1");
  });

  it("container → VNet host: its own address, no NAT", async () => {
    assert.equal(await seenSource(c1, "udp", "10.0.0.9", 7), "10.0.0.5");
    assert.equal(await seenSource(c1, "tcp", "10.0.0.9", 7), "10.0.0.5");
    assert.equal(await seenSource(c2, "tcp", "10.0.0.9", 7), "10.0.0.6");
  });

  it("ping container → fabric host and fabric host → container", async () => {
    const before = (await fabricCounters())["icmp-from-c1"];
    assert.ok(await ping(c1, "10.0.0.9"), "c1 → 10.0.0.9");
    assert.ok((await fabricCounters())["icmp-from-c1"] > before, "the echo request came from 10.0.0.5");
    assert.ok(await ping(fab, "10.0.0.5", "10.0.0.9"), "10.0.0.9 → c1");
    assert.ok(await ping(fab, "10.0.0.6", "10.0.0.9"), "10.0.0.9 → c2");
  });

  it("fabric host → container connection arrives from the host's own address", async () => {
    const r = await spaces.probe(fab, ["ask", "tcp", "10.0.0.5", "8080", "1500", "10.0.0.9"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { from: "10.0.0.9", to: "10.0.0.5" });
  });

  it("container → internet leaves as the VM's primary address", async () => {
    assert.equal(await seenSource(c1, "tcp", "198.51.100.7", 7), VM_IP);
    assert.equal(await seenSource(c1, "udp", "198.51.100.7", 7), VM_IP);
  });

  it("container → a non-masquerade range keeps its own address", async () => {
    assert.equal(await seenSource(c1, "udp", "10.1.0.7", 7), "10.0.0.5");
  });

  it("168.63.129.16: DNS works with the container's address, the wireserver ports are blocked", async () => {
    assert.equal(await seenSource(c1, "udp", "168.63.129.16", 53), "10.0.0.5");
    assert.equal(await seenSource(c1, "tcp", "168.63.129.16", 80), undefined);
    assert.equal(await seenSource(c1, "tcp", "168.63.129.16", 32526), undefined);
    assert.equal(await seenSource(fab, "tcp", "168.63.129.16", 80), "168.63.129.16", "the server does listen");
  });

  it("IMDS is blocked unless the network allows it", async () => {
    assert.equal(await seenSource(c1, "tcp", "169.254.169.254", 80), undefined);
    await dp.applyFirewall({ networks: [{ ...NETWORK, allowImds: true }] });
    assert.equal(await seenSource(c1, "tcp", "169.254.169.254", 80), "10.0.0.5");
    await dp.applyFirewall({ networks: [NETWORK] });
    assert.equal(await seenSource(c1, "tcp", "169.254.169.254", 80), undefined);
  });

  it("containers on one bridge reach each other, and the VM reaches them", async () => {
    assert.ok(await ping(c1, "10.0.0.6"), "c1 → c2");
    assert.ok(await ping(undefined, "10.0.0.5"), "VM → c1");
    assert.ok(await ping(c1, VM_IP), "c1 → VM");
  });

  it("without the plugin's rules Docker's DROP policy stops the traffic, and re-applying restores it", async () => {
    await dp.removeFirewall();
    assert.equal(await seenSource(c1, "udp", "10.0.0.9", 7), undefined);
    assert.ok(!(await ping(c1, "10.0.0.6")), "bridged traffic goes through FORWARD too");
    await dp.applyFirewall({ networks: [NETWORK] });
    assert.equal(await seenSource(c1, "udp", "10.0.0.9", 7), "10.0.0.5");
    assert.ok(await ping(c1, "10.0.0.6"));
  });

  it("proxy ARP: the gateway and VNet hosts resolve to the bridge's MAC, at once", async () => {
    await sh("ip", "-n", c1, "neigh", "flush", "all");
    const started = Date.now();
    assert.ok(await ping(c1, "10.0.0.9"));
    const elapsed = Date.now() - started;
    assert.ok(await ping(c1, "198.51.100.7"));
    const neigh = JSON.parse(await sh("ip", "-n", c1, "-j", "neigh", "show", "dev", "eth0")) as Array<{
      dst: string;
      lladdr?: string;
    }>;
    const mac = (ip: string) => neigh.find((n) => n.dst === ip)?.lladdr;
    assert.equal(mac("10.0.0.9"), bridgeMac(BRIDGE));
    assert.equal(mac("10.0.0.1"), bridgeMac(BRIDGE));
    // A neighbour on the same bridge answers for itself: its route points back at the bridge, so no proxy reply.
    assert.ok(await ping(c1, "10.0.0.6"));
    const again = JSON.parse(await sh("ip", "-n", c1, "-j", "neigh", "show", "dev", "eth0")) as typeof neigh;
    assert.equal(again.find((n) => n.dst === "10.0.0.6")?.lladdr, CONTAINERS[1].mac);
    // With the kernel's default proxy_delay an answer can take up to 0.8 s.
    assert.ok(elapsed < 700, `first ping with ARP took ${elapsed} ms`);
  });

  it("only the NIC's MAC and ipconfig addresses ever reached the fabric", async () => {
    const counters = await fabricCounters();
    assert.equal(counters["foreign-mac"], 0);
    assert.equal(counters["foreign-source"], 0);
    const neigh = JSON.parse(await sh("ip", "-n", fab, "-j", "neigh", "show")) as Array<{ lladdr?: string }>;
    assert.ok(neigh.length > 0);
    for (const n of neigh) if (n.lladdr) assert.equal(n.lladdr, vmMac);
  });

  it("tearing down returns the VM namespace to where it started", async () => {
    await spaces.cleanup();
    for (const c of CONTAINERS) {
      await dp.removeContainerRoute(c.ip, BRIDGE);
      // The peers go with the container namespaces, and the host ends with them; the kernel
      // does that asynchronously, so the link may or may not still be there.
      await dp.removeEndpointLink(c.host);
    }
    assert.equal(await dp.removeFirewall(), true);
    assert.equal(await dp.removeBridge(BRIDGE), true);
    // The uplink went with the fabric namespace, where its other end was.
    await cmd("ip", ["link", "del", UPLINK]);
    assert.deepEqual(await linkNames(), baseLinks);
    assert.deepEqual(await routeLines(), baseRoutes);
    const state = await dp.readFirewall();
    assert.deepEqual([state.forwardChain, state.postroutingChain], [false, false]);
  });
});
