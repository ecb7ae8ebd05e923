import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { PluginError } from "../../driver/errors";
import { DataplaneError } from "../../driver/dataplane/errors";
import { bridgeMac, LinkOps } from "../../driver/dataplane/links";
import { Rtnl } from "../../driver/dataplane/netlink";
import { cmd, difference, ipLink, ipLinks, linkNames, readSysctl, routeLines, sh } from "./support/host";
import { ChildNamespaces } from "./support/netns";

assertThrowawayNetns();

const BR = "azl-br0";
const BR2 = "azl-br1";
const HOST = "azl-h1";
const PEER = "azl-p1";

/** Everything iproute2 says about the links, minus what changes on its own (counters, timers). */
async function linkState(): Promise<string> {
  const links = await ipLinks();
  return JSON.stringify(links.map((l) => ({ n: l.ifname, i: l.ifindex, a: l.address, m: l.mtu, f: l.flags, ma: l.master })));
}

function isConflict(err: unknown): boolean {
  return err instanceof PluginError && err.code === "conflict";
}

describe("link operations", () => {
  const nl = new Rtnl();
  const ops = new LinkOps(nl);
  const spaces = new ChildNamespaces("links");

  afterEach(async () => {
    for (const n of [HOST, PEER, BR, BR2, "azl-x1", "azl-x2"]) await cmd("ip", ["link", "del", n]);
    await spaces.cleanup();
  });
  after(() => nl.close());

  describe("ensureBridge", () => {
    it("creates exactly one bridge, up, with a stable MAC, the MTU and the sysctls", async () => {
      const before = await linkNames();
      const link = await ops.ensureBridge(BR, 1400);
      assert.deepEqual(difference(await linkNames(), before), [BR]);
      const seen = await ipLink(BR);
      assert.equal(seen?.linkinfo?.info_kind, "bridge");
      assert.equal(seen?.mtu, 1400);
      assert.ok(seen?.flags.includes("UP"));
      assert.equal(seen?.address, bridgeMac(BR));
      assert.equal(link.mac, bridgeMac(BR));
      assert.equal(readSysctl(`ipv4/conf/${BR}/proxy_arp`), "1");
      assert.equal(readSysctl(`ipv4/neigh/${BR}/proxy_delay`), "0");
      assert.equal(readSysctl(`ipv4/conf/${BR}/rp_filter`), "1");
      assert.equal(readSysctl(`ipv4/conf/${BR}/forwarding`), "1");
      assert.equal(readSysctl("ipv4/ip_forward"), "1");
      assert.equal((await sh("ip", "-4", "-o", "addr", "show", "dev", BR)).trim(), "", "the bridge has no IPv4 address");
    });

    it("twice is the same as once", async () => {
      await ops.ensureBridge(BR, 1400);
      const once = await linkState();
      await ops.ensureBridge(BR, 1400);
      assert.equal(await linkState(), once);
    });

    it("repairs a bridge whose MTU, state or sysctls drifted", async () => {
      await ops.ensureBridge(BR, 1400);
      await sh("ip", "link", "set", BR, "down", "mtu", "1500");
      await sh("sysctl", "-qw", `net.ipv4.conf.${BR}.proxy_arp=0`, `net.ipv4.neigh.${BR}.proxy_delay=80`);
      await ops.ensureBridge(BR, 1400);
      const seen = await ipLink(BR);
      assert.equal(seen?.mtu, 1400);
      assert.ok(seen?.flags.includes("UP"));
      assert.equal(readSysctl(`ipv4/conf/${BR}/proxy_arp`), "1");
      assert.equal(readSysctl(`ipv4/neigh/${BR}/proxy_delay`), "0");
    });

    it("keeps its MTU when a port with a smaller MTU joins", async () => {
      await ops.ensureBridge(BR, 1500);
      await ops.createEndpointLink({ bridge: BR, hostName: HOST, peerName: PEER, mtu: 1400 });
      assert.equal((await ipLink(BR))?.mtu, 1500);
      assert.equal((await ipLink(BR))?.address, bridgeMac(BR), "the MAC does not follow the ports");
    });

    it("refuses to take over a link of another kind", async () => {
      await sh("ip", "link", "add", BR, "type", "veth", "peer", "name", "azl-x1");
      const before = await linkState();
      await assert.rejects(ops.ensureBridge(BR, 1500), isConflict);
      await assert.rejects(ops.removeBridge(BR), isConflict);
      assert.equal(await linkState(), before);
    });
  });

  describe("removeBridge", () => {
    it("removes exactly the bridge, and reports false the second time", async () => {
      const before = await linkNames();
      await ops.ensureBridge(BR, 1500);
      assert.equal(await ops.removeBridge(BR), true);
      assert.deepEqual(await linkNames(), before);
      assert.equal(await ops.removeBridge(BR), false);
    });
  });

  describe("endpoint links", () => {
    const spec = { bridge: BR, hostName: HOST, peerName: PEER, mtu: 1450, peerMac: "02:42:0a:00:00:05" };

    it("creates exactly a veth pair: host end on the bridge and up, peer with the MAC and MTU", async () => {
      await ops.ensureBridge(BR, 1500);
      const before = await linkNames();
      const ep = await ops.createEndpointLink(spec);
      assert.deepEqual(difference(await linkNames(), before).sort(), [HOST, PEER]);
      const host = await ipLink(HOST);
      const peer = await ipLink(PEER);
      assert.equal(host?.master, BR);
      assert.ok(host?.flags.includes("UP"));
      assert.equal(host?.mtu, 1450);
      assert.equal(peer?.address, "02:42:0a:00:00:05");
      assert.equal(peer?.mtu, 1450);
      assert.ok(!peer?.flags.includes("UP"), "the peer is left for Docker to bring up");
      assert.equal(peer?.master, undefined);
      assert.equal(ep.peer?.mac, "02:42:0a:00:00:05");
      assert.equal(ep.host.index, host?.ifindex);
    });

    it("twice is the same as once, and it repairs drift", async () => {
      await ops.ensureBridge(BR, 1500);
      await ops.createEndpointLink(spec);
      const once = await linkState();
      await ops.createEndpointLink(spec);
      assert.equal(await linkState(), once);
      await sh("ip", "link", "set", HOST, "nomaster", "down");
      await ops.createEndpointLink(spec);
      assert.equal(await linkState(), once);
    });

    it("still works after Docker moved the peer into the container", async () => {
      await ops.ensureBridge(BR, 1500);
      await ops.createEndpointLink(spec);
      assert.equal(await ops.peerMac(HOST), "02:42:0a:00:00:05", "the peer's MAC, here");
      const ctr = await spaces.add("ctr");
      await sh("ip", "link", "set", PEER, "netns", ctr);
      assert.equal(await ops.peerMac(HOST), "02:42:0a:00:00:05", "the peer's MAC, read in the container's namespace");
      const ep = await ops.createEndpointLink(spec);
      assert.equal(ep.peer, undefined);
      assert.equal(ep.host.name, HOST);
      assert.equal(await ops.removeEndpointLink(HOST), true);
      assert.equal(await ipLink(HOST), undefined);
      const inCtr = await spaces.sh(ctr, "ip", "-o", "link", "show");
      assert.ok(!inCtr.includes(PEER), "deleting the host end removed the peer inside the container too");
    });

    it("replaces a leftover peer whose host end is gone", async () => {
      await ops.ensureBridge(BR, 1500);
      await sh("ip", "link", "add", "azl-x1", "type", "veth", "peer", "name", PEER);
      const before = await linkNames();
      await ops.createEndpointLink(spec);
      assert.deepEqual(difference(await linkNames(), before), [HOST]);
      assert.deepEqual(difference(before, await linkNames()), ["azl-x1"]);
      assert.equal((await nl.getLink(HOST))?.linkIndex, (await nl.getLink(PEER))?.index);
    });

    it("refuses names taken by unrelated links, changing nothing", async () => {
      await ops.ensureBridge(BR, 1500);
      await ops.ensureBridge(BR2, 1500);
      const before = await linkState();
      await assert.rejects(ops.createEndpointLink({ ...spec, hostName: BR2 }), isConflict);
      await assert.rejects(ops.createEndpointLink({ ...spec, peerName: BR2 }), isConflict);
      await sh("ip", "link", "add", "azl-x1", "type", "veth", "peer", "name", "azl-x2");
      const withPair = await linkState();
      await assert.rejects(ops.createEndpointLink({ ...spec, hostName: "azl-x1" }), isConflict);
      assert.equal(await linkState(), withPair);
      await assert.rejects(ops.removeEndpointLink(BR2), isConflict);
      await sh("ip", "link", "del", "azl-x1");
      assert.equal(await linkState(), before);
    });

    it("needs the bridge to exist", async () => {
      await assert.rejects(ops.createEndpointLink(spec), (err: unknown) => err instanceof DataplaneError && err.code === "ENODEV");
    });

    it("removes both ends, and reports false the second time", async () => {
      await ops.ensureBridge(BR, 1500);
      const before = await linkNames();
      await ops.createEndpointLink(spec);
      assert.equal(await ops.removeEndpointLink(HOST), true);
      assert.deepEqual(await linkNames(), before);
      assert.equal(await ops.removeEndpointLink(HOST), false);
    });
  });

  describe("container routes", () => {
    const expected = `10.0.0.5 dev ${BR} proto static scope link`;

    it("adds exactly one /32 route, idempotently, and removes exactly it", async () => {
      await ops.ensureBridge(BR, 1500);
      const before = await routeLines();
      await ops.addContainerRoute("10.0.0.5", BR);
      assert.deepEqual(difference(await routeLines(), before), [expected]);
      await ops.addContainerRoute("10.0.0.5", BR);
      assert.deepEqual(difference(await routeLines(), before), [expected]);
      assert.deepEqual(await ops.listContainerRoutes(BR), ["10.0.0.5"]);
      await ops.removeContainerRoute("10.0.0.5", BR);
      assert.deepEqual(await routeLines(), before);
      await ops.removeContainerRoute("10.0.0.5", BR);
      assert.deepEqual(await routeLines(), before);
    });

    it("takes over a stale route to another bridge, and removes only its own", async () => {
      await ops.ensureBridge(BR, 1500);
      await ops.ensureBridge(BR2, 1500);
      const before = await routeLines();
      await ops.addContainerRoute("10.0.0.5", BR2);
      await ops.addContainerRoute("10.0.0.5", BR);
      assert.deepEqual(difference(await routeLines(), before), [expected]);
      await ops.removeContainerRoute("10.0.0.5", BR2);
      assert.deepEqual(difference(await routeLines(), before), [expected], "a route via another bridge stays");
      await ops.removeContainerRoute("10.0.0.5", BR);
      assert.deepEqual(await routeLines(), before);
    });

    it("treats a missing bridge as nothing to remove, but refuses to add through one", async () => {
      await ops.removeContainerRoute("10.0.0.5", BR);
      await assert.rejects(ops.addContainerRoute("10.0.0.5", BR), /ENODEV/);
      assert.deepEqual(await ops.listContainerRoutes(BR), []);
    });
  });

  describe("NIC discovery", () => {
    it("finds the link by MAC in any notation, preferring the one with no master", async () => {
      await ops.ensureBridge(BR, 1500);
      // Like a synthetic NIC and its accelerated-networking VF: one MAC on two links, the VF enslaved.
      await sh("ip", "link", "add", "azl-x1", "address", "00:0d:3a:f8:a1:b2", "type", "veth", "peer", "name", "azl-x2");
      await sh("ip", "link", "set", "azl-x2", "address", "00:0d:3a:f8:a1:b2", "master", BR);
      for (const form of ["000D3AF8A1B2", "00:0d:3a:f8:a1:b2", "00-0D-3A-F8-A1-B2"]) {
        assert.equal((await ops.findLinkByMac(form))?.name, "azl-x1");
      }
      assert.equal(await ops.findLinkByMac("02:00:00:00:00:99"), undefined);
      await assert.rejects(ops.findLinkByMac("not-a-mac"), /invalid MAC/);
    });

    it("reports a NIC's MTU and addresses", async () => {
      await sh("ip", "link", "add", "azl-x1", "mtu", "1500", "type", "veth", "peer", "name", "azl-x2");
      await sh("ip", "addr", "add", "10.0.0.4/24", "dev", "azl-x1");
      await sh("ip", "addr", "add", "10.0.0.10/24", "dev", "azl-x1");
      const nic = await ops.nicInfo("azl-x1");
      assert.equal(nic?.mtu, 1500);
      assert.deepEqual(nic?.addresses, [
        { address: "10.0.0.4", prefixLen: 24 },
        { address: "10.0.0.10", prefixLen: 24 },
      ]);
      assert.equal(await ops.nicInfo("azl-none"), undefined);
    });
  });

  describe("input validation", () => {
    const badNames = ["", "a b", "x;reboot", "a\nb", "0123456789abcdef", "..", "a/b", "$(id)", "-j ACCEPT", "br0\t"];
    const badIps = ["10.0.0.256", "10.0.0.5/32", "10.0.0.5 ", "::1", "10.0.0.05", "10.0.0.5;ls"];

    it("rejects invalid names, addresses, MACs and MTUs before anything changes", async () => {
      const links = await linkState();
      const routes = await routeLines();
      const invalid = (err: unknown) => err instanceof PluginError && err.code === "invalid";
      for (const bad of badNames) {
        await assert.rejects(ops.ensureBridge(bad, 1500), invalid);
        await assert.rejects(ops.removeBridge(bad), invalid);
        await assert.rejects(ops.createEndpointLink({ bridge: bad, hostName: HOST, peerName: PEER, mtu: 1500 }), invalid);
        await assert.rejects(ops.createEndpointLink({ bridge: BR, hostName: bad, peerName: PEER, mtu: 1500 }), invalid);
        await assert.rejects(ops.createEndpointLink({ bridge: BR, hostName: HOST, peerName: bad, mtu: 1500 }), invalid);
        await assert.rejects(ops.removeEndpointLink(bad), invalid);
        await assert.rejects(ops.addContainerRoute("10.0.0.5", bad), invalid);
        await assert.rejects(ops.nicInfo(bad), invalid);
      }
      for (const bad of badIps) {
        await assert.rejects(ops.addContainerRoute(bad, BR), invalid);
        await assert.rejects(ops.removeContainerRoute(bad, BR), invalid);
      }
      await assert.rejects(ops.ensureBridge(BR, 1e6), invalid);
      await assert.rejects(ops.ensureBridge(BR, 1500, { mac: "01:00:5e:00:00:01" }), invalid);
      await assert.rejects(ops.createEndpointLink({ bridge: BR, hostName: HOST, peerName: HOST, mtu: 1500 }), invalid);
      await assert.rejects(ops.createEndpointLink({ bridge: BR, hostName: HOST, peerName: PEER, mtu: 1500, peerMac: "02:42" }), invalid);
      assert.equal(await linkState(), links);
      assert.deepEqual(await routeLines(), routes);
    });
  });
});
