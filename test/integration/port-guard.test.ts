/**
 * The port guards on the real nftables, with real frames: a container port
 * sends only its own MAC and address, the guards fail closed (a port without
 * an element, or a flushed set, passes nothing), a guard is added or removed
 * without starting any program, and a check finds and repairs damage while
 * writing nothing when all is in place. Guards of an older version (ebtables
 * chains) go once the table is in place.
 */
import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { type Runner, runProgram } from "../../driver/dataplane/exec";
import { Nfnl } from "../../driver/dataplane/nfnetlink";
import { GUARD_TABLE, NftPortGuards } from "../../driver/dataplane/nft-guards";
import { cmd, sh } from "./support/host";
import { ChildNamespaces } from "./support/netns";

assertThrowawayNetns();

const BRIDGE = "azvbguardtest";
const C1 = { suffix: "c1", port: "azvhg5", peer: "azvpg5", address: "10.0.0.5", mac: "02:42:0a:00:00:05" };
const C2 = { suffix: "c2", port: "azvhg6", peer: "azvpg6", address: "10.0.0.6", mac: "02:42:0a:00:00:06" };
const SPOOFED = "10.0.0.99";

const guardOf = (c: typeof C1) => ({ port: c.port, address: c.address, mac: c.mac });
const table = async () => (await cmd("nft", ["list", "table", "bridge", GUARD_TABLE])).stdout;

describe("port guards on nftables", function () {
  const ns = new ChildNamespaces("guard");
  const programs: string[] = [];
  const counting: Runner = (file, args, opts) => {
    programs.push(`${file} ${args.join(" ")}`);
    return runProgram(file, args, opts);
  };
  let nfnl: Nfnl;
  let guards: NftPortGuards;
  const c: Record<string, string> = {};

  /** A UDP question from c1 (from `from`) to c2's probe; true if c2 answered. */
  const reaches = async (from: string) => (await ns.probe(c.c1, ["ask", "udp", C2.address, "7", "800", from])).code === 0;

  before(async () => {
    await sh("ip", "link", "add", BRIDGE, "type", "bridge");
    await sh("ip", "link", "set", BRIDGE, "up");
    for (const k of [C1, C2]) {
      c[k.suffix] = await ns.add(k.suffix);
      await sh("ip", "link", "add", k.port, "type", "veth", "peer", "name", k.peer);
      await sh("ip", "link", "set", k.port, "master", BRIDGE);
      await sh("ip", "link", "set", k.port, "up");
      await sh("ip", "link", "set", k.peer, "netns", c[k.suffix]);
      await ns.sh(c[k.suffix], "ip", "link", "set", k.peer, "address", k.mac);
      await ns.sh(c[k.suffix], "ip", "addr", "add", `${k.address}/24`, "dev", k.peer);
      await ns.sh(c[k.suffix], "ip", "link", "set", k.peer, "up");
    }
    await ns.sh(c.c1, "ip", "addr", "add", `${SPOOFED}/24`, "dev", C1.peer);
    await ns.serve(c.c2, ["udp:7"]);
    nfnl = new Nfnl();
  });
  after(async () => {
    nfnl?.close();
    await ns.cleanup();
    await cmd("ip", ["link", "del", BRIDGE]);
    await cmd("ip", ["link", "del", C1.port]);
    await cmd("ip", ["link", "del", C2.port]);
  });
  beforeEach(() => {
    programs.length = 0;
    guards = new NftPortGuards({ nfnl: () => nfnl, run: counting });
  });
  afterEach(async () => {
    await guards.removeAll();
    assert.equal((await cmd("nft", ["list", "table", "bridge", GUARD_TABLE])).code !== 0, true, "the table is gone");
    // A check with nothing to guard (no network left) makes no table.
    assert.deepEqual(await guards.sync([], true), { repaired: [], removed: [] });
    assert.equal((await cmd("nft", ["list", "table", "bridge", GUARD_TABLE])).code !== 0, true, "and stays gone");
  });

  it("without guards a container can send from any address (what the guards are for)", async () => {
    assert.equal(await reaches(C1.address), true);
    assert.equal(await reaches(SPOOFED), true, "a spoofed source gets through an unguarded bridge");
  });

  it("lets a port send only its own MAC and address, and drops a port it has no element for", async () => {
    assert.deepEqual(await guards.sync([guardOf(C1), guardOf(C2)], true), { repaired: [C1.port, C2.port], removed: [] });
    assert.match(await table(), new RegExp(`"${C1.port}" \\. ${C1.mac} \\. ${C1.address.replace(/\./g, "\\.")}`));
    assert.equal(await reaches(C1.address), true, "its own address passes");
    assert.equal(await reaches(SPOOFED), false, "a spoofed source is dropped");

    // The port loses its element: it fails closed.
    assert.equal(await guards.remove(C1.port), true);
    assert.equal(await reaches(C1.address), false, "a port without an element passes nothing");
    assert.equal(await guards.remove(C1.port), false);
  });

  it("adds and removes a guard through netlink, without starting any program", async () => {
    await guards.sync([guardOf(C2)], true);
    programs.length = 0;
    await guards.add(guardOf(C1));
    assert.equal(await reaches(C1.address), true);
    await guards.add({ ...guardOf(C1), address: "10.0.0.55" });
    assert.equal(await reaches(C1.address), false, "re-adding with a new address replaces the old element");
    await guards.remove(C1.port);
    assert.deepEqual(programs, [], "no child process for add or remove");
    assert.doesNotMatch(await table(), new RegExp(C1.port));
  });

  it("writes nothing when every guard is in place, and repairs what was damaged", async () => {
    await guards.sync([guardOf(C1), guardOf(C2)], true);
    programs.length = 0;
    assert.deepEqual(await guards.sync([guardOf(C1), guardOf(C2)], true), { repaired: [], removed: [] });
    assert.deepEqual(
      programs.filter((p) => !p.startsWith("nft -j list")),
      [],
      "a check of intact guards only reads",
    );

    // Someone flushes the set: every port fails closed until the next check.
    await sh("nft", "flush", "set", "bridge", GUARD_TABLE, "ports");
    assert.equal(await reaches(C1.address), false, "a flushed set passes nothing");
    assert.deepEqual(await guards.sync([guardOf(C1), guardOf(C2)], true), { repaired: [C1.port, C2.port], removed: [] });
    assert.equal(await reaches(C1.address), true);

    // Someone deletes the rule that drops: the shape is rewritten whole.
    const listing = JSON.parse(await sh("nft", "-j", "-a", "list", "chain", "bridge", GUARD_TABLE, "guard")) as {
      nftables: { rule?: { handle: number; expr: unknown[] } }[];
    };
    const drop = listing.nftables.find((i) => i.rule && JSON.stringify(i.rule.expr) === '[{"drop":null}]')?.rule;
    assert.ok(drop, "the chain ends in a drop");
    await sh("nft", "delete", "rule", "bridge", GUARD_TABLE, "guard", "handle", String(drop.handle));
    assert.equal(await reaches(SPOOFED), true, "without its drop the chain guards nothing");
    programs.length = 0;
    assert.deepEqual(await guards.sync([guardOf(C1), guardOf(C2)], true), { repaired: [C1.port, C2.port], removed: [] });
    assert.equal(programs.filter((p) => p.startsWith("nft -f")).length, 1, "one transaction rewrites the table");
    assert.equal(await reaches(SPOOFED), false);
    assert.equal(await reaches(C1.address), true);
  });

  it("removes guards no endpoint explains, and keeps them without removeOthers", async () => {
    await guards.sync([guardOf(C1), guardOf(C2)], true);
    assert.deepEqual(await guards.sync([guardOf(C1)], false), { repaired: [], removed: [] });
    assert.deepEqual((await guards.list()).sort(), [C1.port, C2.port]);
    assert.deepEqual(await guards.sync([guardOf(C1)], true), { repaired: [], removed: [C2.port] });
    assert.deepEqual(await guards.list(), [C1.port]);
    assert.deepEqual(await guards.allowedOn(C1.port), { mac: C1.mac, address: C1.address });
  });

  it("removes the ebtables guards of an older version once the table is in place", async () => {
    await sh("ebtables", "-t", "nat", "-N", "AZURE-VNET-PORTS", "-P", "DROP");
    await sh("ebtables", "-t", "nat", "-A", "PREROUTING", "-i", "azvh+", "-j", "AZURE-VNET-PORTS");
    await sh("ebtables", "-t", "nat", "-N", `AZV-${C1.port}`, "-P", "DROP");
    await sh("ebtables", "-t", "nat", "-A", "AZURE-VNET-PORTS", "-i", C1.port, "-j", `AZV-${C1.port}`);
    await guards.sync([guardOf(C1), guardOf(C2)], true);
    const left = (await sh("ebtables-save", "-t", "nat")).split("\n").filter((l) => l.includes("AZ"));
    assert.deepEqual(left, [], "no ebtables guard left");
    assert.equal(await reaches(C1.address), true);
  });
});
