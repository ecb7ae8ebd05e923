import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { DataplaneError } from "../../driver/dataplane/errors";
import { decodeIPv4, decodeMac, encodeIPv4, encodeMac, Rtnl } from "../../driver/dataplane/netlink";
import { cmd, difference, ipLink, linkNames, routeLines, sh } from "./support/host";

assertThrowawayNetns();

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof DataplaneError && err.code === code);
}

describe("netlink wrapper", () => {
  const nl = new Rtnl();
  const names = ["aznl-br0", "aznl-br1", "aznl-h0", "aznl-p0"];

  afterEach(async () => {
    for (const n of names) await cmd("ip", ["link", "del", n]);
  });
  after(() => nl.close());

  it("encodes and decodes IPv4 and MAC addresses", () => {
    assert.deepEqual([...encodeIPv4("10.0.255.1")], [10, 0, 255, 1]);
    assert.equal(decodeIPv4(Buffer.from([192, 168, 0, 7])), "192.168.0.7");
    assert.equal(decodeIPv4(Buffer.from([1, 2, 3])), undefined);
    assert.equal(decodeMac(encodeMac("02:AA:bb:0c:0d:0e")), "02:aa:bb:0c:0d:0e");
    assert.equal(decodeMac(encodeMac("000D3AF8A1B2")), "00:0d:3a:f8:a1:b2");
    for (const bad of ["10.0.0.256", "10.0.0", "010.0.0.1", "10.0.0.1 ", "1.2.3.4/32", ""]) {
      assert.throws(() => encodeIPv4(bad), /invalid/);
    }
    for (const bad of ["01:00:5e:00:00:01", "00:00:00:00:00:00", "02:00:00:00:00", "zz:00:00:00:00:00"]) {
      assert.throws(() => encodeMac(bad), /invalid/);
    }
  });

  it("creates a bridge with the given MTU and MAC, and reports EEXIST on a second create", async () => {
    const before = await linkNames();
    await nl.createBridge("aznl-br0", { mtu: 1400, mac: "02:00:00:aa:bb:cc" });
    assert.deepEqual(difference(await linkNames(), before), ["aznl-br0"]);
    const seen = await ipLink("aznl-br0");
    assert.equal(seen?.linkinfo?.info_kind, "bridge");
    assert.equal(seen?.mtu, 1400);
    assert.equal(seen?.address, "02:00:00:aa:bb:cc");
    const mine = await nl.getLink("aznl-br0");
    assert.equal(mine?.kind, "bridge");
    assert.equal(mine?.index, seen?.ifindex);
    await rejectsWithCode(nl.createBridge("aznl-br0", { mtu: 1400 }), "EEXIST");
  });

  it("creates a veth pair with the peer's name, MAC and MTU built by hand", async () => {
    const before = await linkNames();
    await nl.createVethPair("aznl-h0", "aznl-p0", { mtu: 1450, peerMac: "02:42:0a:00:00:05" });
    assert.deepEqual(difference(await linkNames(), before).sort(), ["aznl-h0", "aznl-p0"]);
    const host = await ipLink("aznl-h0");
    const peer = await ipLink("aznl-p0");
    assert.equal(peer?.address, "02:42:0a:00:00:05");
    assert.equal(peer?.mtu, 1450);
    assert.equal(host?.mtu, 1450);
    assert.equal(host?.linkinfo?.info_kind, "veth");
    const h = await nl.getLink("aznl-h0");
    const p = await nl.getLink("aznl-p0");
    assert.equal(h?.linkIndex, p?.index, "host end points at the peer");
    assert.equal(p?.linkIndex, h?.index, "peer points at the host end");
  });

  it("sets master, up/down, MTU and MAC", async () => {
    await nl.createBridge("aznl-br0", { mtu: 1500 });
    await nl.createVethPair("aznl-h0", "aznl-p0", { mtu: 1500 });
    const br = await nl.getLink("aznl-br0");
    await nl.setMaster("aznl-h0", br!.index);
    await nl.setUp("aznl-h0");
    await nl.setMtu("aznl-h0", 1300);
    await nl.setMac("aznl-p0", "02:11:22:33:44:55");
    let host = await ipLink("aznl-h0");
    assert.equal(host?.master, "aznl-br0");
    assert.ok(host?.flags.includes("UP"));
    assert.equal(host?.mtu, 1300);
    assert.equal((await ipLink("aznl-p0"))?.address, "02:11:22:33:44:55");
    await nl.setDown("aznl-h0");
    await nl.setMaster("aznl-h0", 0);
    host = await ipLink("aznl-h0");
    assert.ok(!host?.flags.includes("UP"));
    assert.equal(host?.master, undefined);
  });

  it("reports missing links as undefined / ENODEV, and deletes idempotently", async () => {
    assert.equal(await nl.getLink("aznl-none"), undefined);
    await rejectsWithCode(nl.setMtu("aznl-none", 1500), "ENODEV");
    await nl.createBridge("aznl-br0", { mtu: 1500 });
    assert.equal(await nl.deleteLink("aznl-br0"), true);
    assert.equal(await nl.deleteLink("aznl-br0"), false);
    assert.equal(await ipLink("aznl-br0"), undefined);
  });

  it("adds and deletes a /32 scope link route, tolerating EEXIST and ESRCH", async () => {
    await nl.createBridge("aznl-br0", { mtu: 1500 });
    await nl.createBridge("aznl-br1", { mtu: 1500 });
    // The kernel refuses routes through a link that is down.
    await nl.setUp("aznl-br0");
    await nl.setUp("aznl-br1");
    const br0 = (await nl.getLink("aznl-br0"))!.index;
    const br1 = (await nl.getLink("aznl-br1"))!.index;
    const before = await routeLines();
    assert.equal(await nl.addRoute("10.0.0.5", br0), true);
    assert.deepEqual(difference(await routeLines(), before), ["10.0.0.5 dev aznl-br0 proto static scope link"]);
    assert.equal(await nl.addRoute("10.0.0.5", br0), false, "EEXIST is tolerated");
    assert.equal(await nl.addRoute("10.0.0.5", br1), false, "without replace an existing route stays");
    assert.deepEqual(difference(await routeLines(), before), ["10.0.0.5 dev aznl-br0 proto static scope link"]);
    assert.equal(await nl.deleteRoute("10.0.0.5", br1), false, "a route through another link is not touched");
    const listed = await nl.listRoutes(br0);
    assert.deepEqual(
      listed.map((r) => [r.dst, r.prefixLen, r.table, r.scope, r.protocol, r.type]),
      [["10.0.0.5", 32, 254, "LINK", "STATIC", "UNICAST"]],
    );
    assert.equal(await nl.addRoute("10.0.0.5", br1, { replace: true }), true);
    assert.deepEqual(difference(await routeLines(), before), ["10.0.0.5 dev aznl-br1 proto static scope link"]);
    assert.equal(await nl.deleteRoute("10.0.0.5", br1), true);
    assert.equal(await nl.deleteRoute("10.0.0.5", br1), false, "ESRCH is tolerated");
    assert.deepEqual(await routeLines(), before);
  });

  it("adds, lists and deletes source rules (suppress_prefixlength, a table above 255, a protocol) and table routes, idempotently", async () => {
    const table = 0x10000042;
    const rule = { src: "10.9.1.0/24", priority: 30555, table, action: 1, protocol: 165 };
    const local = { ...rule, priority: 30554, table: 254, suppressPrefixLength: 31 };
    await sh("ip", "link", "add", "aznl-h0", "type", "veth", "peer", "name", "aznl-p0");
    await sh("ip", "link", "set", "aznl-h0", "up");
    await sh("ip", "addr", "add", "10.9.1.4/24", "dev", "aznl-h0");
    const index = (await ipLink("aznl-h0"))?.ifindex as number;
    try {
      assert.equal(await nl.addRule(rule), true);
      assert.equal(await nl.addRule(rule), false, "an identical rule: EEXIST, tolerated");
      assert.equal(await nl.addRule(local), true);
      const listed = (await nl.listRules()).filter((r) => r.src === rule.src);
      assert.deepEqual(listed, [local, rule]);
      const shown = await sh("ip", "-4", "rule", "show");
      assert.match(shown, /^30554:\s+from 10\.9\.1\.0\/24 lookup main suppress_prefixlength 31 proto 165/m);
      assert.match(shown, /^30555:\s+from 10\.9\.1\.0\/24 lookup 268435522 proto 165/m);

      await nl.replaceTableRoute({ dst: "10.9.1.0/24", table, oif: index, prefsrc: "10.9.1.4", protocol: 165 });
      await nl.replaceTableRoute({ dst: "0.0.0.0/0", table, oif: index, gateway: "10.9.1.1", protocol: 165 });
      await nl.replaceTableRoute({ dst: "0.0.0.0/0", table, oif: index, gateway: "10.9.1.1", protocol: 165 });
      const routes = (await nl.listRoutes()).filter((r) => r.table === table);
      assert.deepEqual(
        routes.map((r) => [`${r.dst}/${r.prefixLen}`, r.oif, r.gateway, r.prefsrc]),
        [
          ["0.0.0.0/0", index, "10.9.1.1", undefined],
          ["10.9.1.0/24", index, undefined, "10.9.1.4"],
        ],
      );
      assert.equal(await nl.deleteTableRoute("0.0.0.0/0", table), true);
      assert.equal(await nl.deleteTableRoute("0.0.0.0/0", table), false);
      assert.equal(await nl.deleteRule(rule), true);
      assert.equal(await nl.deleteRule(rule), false);
      assert.equal(await nl.deleteRule(local), true);
      assert.deepEqual(
        (await nl.listRules()).filter((r) => r.src === rule.src),
        [],
      );
      await rejectsWithCode(nl.replaceTableRoute({ dst: "0.0.0.0/0", table: 254, oif: index, protocol: 165 }), "EINVAL");
    } finally {
      await cmd("ip", ["rule", "del", "priority", "30555"]);
      await cmd("ip", ["rule", "del", "priority", "30554"]);
      await cmd("ip", ["route", "flush", "table", String(table)]);
    }
  });

  it("lists addresses as iproute2 does", async () => {
    await nl.createBridge("aznl-br0", { mtu: 1500 });
    await sh("ip", "addr", "add", "10.20.30.40/24", "dev", "aznl-br0");
    const br = await nl.getLink("aznl-br0");
    const addrs = await nl.listAddresses(br!.index);
    assert.deepEqual(
      addrs.map((a) => [a.address, a.prefixLen, a.label]),
      [["10.20.30.40", 24, "aznl-br0"]],
    );
  });

  it("keeps one request in flight: thousands of concurrent requests and dumps all succeed", async () => {
    await nl.createBridge("aznl-br0", { mtu: 1500 });
    const jobs: Array<Promise<unknown>> = [];
    for (let i = 0; i < 2000; i++) {
      jobs.push(i % 10 === 0 ? nl.listLinks() : i % 10 === 1 ? nl.listRoutes() : nl.getLink("aznl-br0"));
    }
    const results = await Promise.all(jobs);
    assert.equal(results.length, 2000);
    assert.ok(results.every((r) => r !== undefined));
  });

  it("rejects invalid names before sending anything", async () => {
    const before = await linkNames();
    for (const bad of ["", "a b", "x;reboot", "a\nb", "0123456789abcdef", "..", "a/b", "$(id)", "é"]) {
      await assert.rejects(nl.createBridge(bad, { mtu: 1500 }), /invalid/);
      await assert.rejects(nl.createVethPair("aznl-h0", bad, { mtu: 1500 }), /invalid/);
      await assert.rejects(nl.deleteLink(bad), /invalid/);
    }
    await assert.rejects(nl.createBridge("aznl-br0", { mtu: 20 }), /invalid MTU/);
    assert.deepEqual(await linkNames(), before);
  });
});
