/**
 * A dual-stack network's IPv6 on the real kernel: the bridge with the
 * link-local gateway (usable at once, answering neighbour solicitations),
 * containers' /128 routes, IPv6 forwarding after accept_ra, and the port
 * guards with real frames: a container sends IPv6 only from its own address,
 * and a neighbour advertisement only for its own addresses.
 */
import { strict as assert } from "node:assert";
import { resolve } from "node:path";
import { assertThrowawayNetns } from "./support/guard";
import { LinkOps } from "../../driver/dataplane/links";
import { Rtnl } from "../../driver/dataplane/netlink";
import { Nfnl } from "../../driver/dataplane/nfnetlink";
import { NftPortGuards } from "../../driver/dataplane/nft-guards";
import { readSysctl, sh } from "./support/host";
import { ChildNamespaces } from "./support/netns";

assertThrowawayNetns();

const SEND_NA = resolve(__dirname, "../../../sim/tools/send-na.py");
const BRIDGE = "azvbv6test";
/** Stands in for the VM's NIC (its accept_ra is what the plugin must keep working). */
const NIC = "azvnic6";
const GW6 = "fe80::1";
const C1 = { suffix: "c1", port: "azvh61", peer: "azvp61", address: "10.0.0.5", address6: "fd00:db8:1::5", mac: "02:42:0a:00:00:05" };
const C2 = { suffix: "c2", port: "azvh62", peer: "azvp62", address: "10.0.0.6", address6: "fd00:db8:1::6", mac: "02:42:0a:00:00:06" };
const SPOOFED6 = "fd00:db8:1::99";

describe("dual-stack bridge on the real kernel (IPv6 routes, gateway, guards)", function () {
  this.timeout(60_000);
  const ns = new ChildNamespaces("v6");
  const nl = new Rtnl();
  const ops = new LinkOps(nl);
  let nfnl: Nfnl;
  let guards: NftPortGuards;
  const c: Record<string, string> = {};

  /** ICMPv6 echo requests a namespace has received. */
  const echoes = async (name: string) => Number(/Icmp6InEchos\s+(\d+)/.exec(await ns.sh(name, "cat", "/proc/net/snmp6"))?.[1]);
  /** True if an echo was answered; `count` gives neighbour discovery time to resolve again after a failure. */
  const ping = async (name: string, target: string, from?: string, count = 1) =>
    (await ns.exec(name, "busybox", ["ping", "-6", "-c", String(count), "-W", "1", ...(from ? ["-I", from] : []), target])).code === 0;
  const neighMac = async (address: string) => /lladdr (\S+)/.exec(await sh("ip", "-6", "neigh", "show", address, "dev", BRIDGE))?.[1];

  before(async () => {
    await sh("ip", "link", "set", "lo", "up");
    await sh("ip", "link", "add", NIC, "type", "veth", "peer", "name", `${NIC}p`);
    await sh("sysctl", "-qw", `net.ipv6.conf.${NIC}.accept_ra=1`);
    await ops.ensureBridge(BRIDGE, 1500);
    for (const k of [C1, C2]) {
      c[k.suffix] = await ns.add(k.suffix);
      await ops.createEndpointLink({ bridge: BRIDGE, hostName: k.port, peerName: k.peer, mtu: 1500, peerMac: k.mac });
      await sh("ip", "link", "set", k.peer, "netns", c[k.suffix]);
      await ns.sh(c[k.suffix], "ip", "link", "set", k.peer, "up");
      await ns.sh(c[k.suffix], "ip", "-6", "addr", "add", `${k.address6}/128`, "dev", k.peer, "nodad");
      await ns.sh(c[k.suffix], "ip", "-6", "route", "add", `${GW6}/128`, "dev", k.peer);
      await ns.sh(c[k.suffix], "ip", "-6", "route", "add", "default", "via", GW6, "dev", k.peer);
    }
    await ns.sh(c.c1, "ip", "-6", "addr", "add", `${SPOOFED6}/128`, "dev", C1.peer, "nodad");
    nfnl = new Nfnl();
    guards = new NftPortGuards({ nfnl: () => nfnl });
  });
  after(async () => {
    await guards?.removeAll();
    await sh("ip", "link", "del", BRIDGE).catch(() => undefined);
    await sh("ip", "link", "del", NIC).catch(() => undefined);
    await sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=0");
    nfnl?.close();
    await ns.cleanup();
    await nl.close();
  });

  it("turns IPv6 on for the bridge with only the gateway, makes accept_ra 2 on the NIC, then forwards", async () => {
    assert.equal(readSysctl("ipv6/conf/all/forwarding"), "0");
    await ops.ensureBridgeIpv6(BRIDGE, GW6, NIC);
    assert.equal(readSysctl(`ipv6/conf/${NIC}/accept_ra`), "2");
    assert.equal(readSysctl("ipv6/conf/all/forwarding"), "1");
    // The kernel's own link-local address, if IPv6 was on when the bridge came up, may stay beside it.
    assert.ok((await ops.addresses6(BRIDGE)).includes(GW6));
    const flags = await sh("ip", "-6", "addr", "show", "dev", BRIDGE);
    assert.doesNotMatch(flags, /inet6 fe80::1\/64 [^\n]*tentative/, "the gateway must be usable at once");
    // Again: nothing changes, nothing fails.
    await ops.ensureBridgeIpv6(BRIDGE, GW6, NIC);
    assert.equal((await ops.addresses6(BRIDGE)).filter((a) => a === GW6).length, 1);
  });

  it("routes each container's /128 to the bridge and lists and removes them", async () => {
    for (const k of [C1, C2]) await ops.addContainerRoute6(k.address6, BRIDGE);
    assert.deepEqual((await ops.listContainerRoutes6On([BRIDGE])).get(BRIDGE)?.sort(), [C1.address6, C2.address6]);
    // Unguarded ports, before any guard table exists: c1 reaches c2 through the gateway (NDP for fe80::1 works).
    assert.ok(await ping(c.c1, C2.address6), "c1 cannot reach c2 over IPv6");
  });

  it("without guards a container can send from any IPv6 address (what the guards are for)", async () => {
    const before = await echoes(c.c2);
    await ping(c.c1, C2.address6, SPOOFED6);
    assert.ok((await echoes(c.c2)) > before, "the spoofed echo did not reach c2");
  });

  it("with guards, passes IPv6 from the port's own address and drops a spoofed source", async () => {
    await guards.sync(
      [C1, C2].map((k) => ({ port: k.port, address: k.address, mac: k.mac, address6: k.address6 })),
      true,
    );
    assert.ok(await ping(c.c1, C2.address6), "c1 cannot reach c2 with its own address through the guard");
    const before = await echoes(c.c2);
    await ping(c.c1, C2.address6, SPOOFED6);
    assert.equal(await echoes(c.c2), before, "a spoofed IPv6 source got through the guard");
  });

  it("drops a neighbour advertisement for another container's address, and passes one for the port's own", async () => {
    assert.ok(await ping(c.c1, C2.address6));
    assert.ok(await ping(c.c2, C1.address6));
    assert.equal(await neighMac(C2.address6), C2.mac);
    await ns.sh(c.c1, "python3", SEND_NA, C1.peer, C1.address6, C2.address6);
    assert.equal(await neighMac(C2.address6), C2.mac, "c1's advertisement took over c2's address on the VM");
    await sh("ip", "-6", "neigh", "replace", C1.address6, "lladdr", "02:00:00:00:00:01", "dev", BRIDGE, "nud", "stale");
    await ns.sh(c.c1, "python3", SEND_NA, C1.peer, C1.address6, C1.address6);
    assert.equal(await neighMac(C1.address6), C1.mac, "an advertisement for the port's own address was dropped");
    // c1 hears its own advertisements too: what they left in its own cache goes.
    await ns.sh(c.c1, "ip", "-6", "neigh", "flush", "dev", C1.peer);
  });

  it("a port whose guard has no IPv6 address sends no IPv6 at all", async () => {
    await guards.add({ port: C1.port, address: C1.address, mac: C1.mac });
    assert.equal(await ping(c.c1, C2.address6), false);
    await guards.add({ port: C1.port, address: C1.address, mac: C1.mac, address6: C1.address6 });
    assert.ok(await ping(c.c1, C2.address6, undefined, 4));
  });

  it("removes a container's /128 only through its own link", async () => {
    await ops.removeContainerRoute6(C1.address6, "lo");
    assert.ok((await ops.listContainerRoutes6On([BRIDGE])).get(BRIDGE)?.includes(C1.address6));
    await ops.removeContainerRoute6(C1.address6, BRIDGE);
    assert.deepEqual((await ops.listContainerRoutes6On([BRIDGE])).get(BRIDGE), [C2.address6]);
  });
});
