/**
 * Conntrack clean-up through ctnetlink, on the real table of the throwaway
 * namespace: UDP flows between addresses on lo (tracked because a table of
 * this test's own hooks conntrack), NAT that leaves an address only in the
 * reply tuple, a zone other than the default, a table busy enough to be
 * filtered in the kernel. The table is read back with the conntrack program,
 * not with the code under test. Also the netfilter netlink socket itself:
 * errno names, nf_tables batches applied whole or not at all, close.
 */
import { strict as assert } from "node:assert";
import dgram from "node:dgram";
import sinon from "sinon";
import { assertThrowawayNetns } from "./support/guard";
import {
  deleteRequest,
  dumpRequest,
  forgetFlows,
  forgetFlowsOf,
  forgetFlowsOutside,
  FULL_DUMP_MAX_ENTRIES,
} from "../../driver/dataplane/conntrack";
import { DataplaneError } from "../../driver/dataplane/errors";
import { nested, Nfnl, NFNL_SUBSYS_NFTABLES, type NfMessage, strAttr, attr } from "../../driver/dataplane/nfnetlink";
import { cmd, sh } from "./support/host";

assertThrowawayNetns();

const A = "10.231.0.1";
const B = "10.231.0.2";
const C = "10.231.0.3";
const D = "10.231.0.4";
/** Its flows are put in conntrack zone 7. */
const Z = "10.231.0.5";
/** Its flows on port 5300 are DNATed to A. */
const V = "10.231.0.100";
/** In the "plugin subnet" of forgetFlowsOutside: K is held, S is not. */
const K = "10.231.1.1";
const S = "10.231.1.2";
const ADDRESSES = [A, B, C, D, Z, V, K, S];

const TEST_TABLE = "azvnet_ct_test";
const RULES = `table ip ${TEST_TABLE} {
  chain to_zone { type filter hook output priority raw; ip saddr ${Z} ct zone set 7; }
  chain to_track { type filter hook output priority filter; ct state new counter; }
  chain to_a { type nat hook output priority -100; ip daddr ${V} udp dport 5300 dnat to ${A}; }
  chain from_a { type nat hook postrouting priority srcnat; ip saddr ${C} ip daddr ${D} udp dport 5301 snat to ${A}; }
}
`;

/** One UDP datagram from `from` to each port of `to`; each makes its own conntrack entry. */
async function flows(from: string, to: string, ports: number[]): Promise<void> {
  const sock = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, from, () => resolve());
    });
    for (const port of ports) {
      await new Promise<void>((resolve, reject) => sock.send("x", port, to, (err) => (err ? reject(err) : resolve())));
    }
  } finally {
    sock.close();
  }
}

const range = (first: number, count: number) => Array.from({ length: count }, (_, i) => first + i);

/** The table as the conntrack program prints it, one entry a line, without the seconds left (which tick). */
async function table(): Promise<string[]> {
  const r = await cmd("conntrack", ["-L"], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`conntrack -L exited ${r.code}: ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => l.replace(/^(\S+\s+\d+\s+)\d+\s+/, "$1"));
}

const names = (line: string, ip: string) => new RegExp(`(?:src|dst)=${ip.replace(/\./g, "\\.")}(?=\\s)`).test(line);
const entriesOf = (lines: string[], ip: string) => lines.filter((l) => names(l, ip));
/** The reply half of a conntrack -L line: from the second src=. */
const replyHalf = (line: string) => line.slice(line.indexOf("src=", line.indexOf("src=") + 1));

const rejectsWith = (p: Promise<unknown>, code: string) =>
  assert.rejects(p, (err: unknown) => err instanceof DataplaneError && err.code === code);

describe("conntrack clean-up through ctnetlink", function () {
  this.timeout(120_000);
  const nfnl = new Nfnl();

  before(async () => {
    for (const ip of ADDRESSES) await sh("ip", "addr", "add", `${ip}/32`, "dev", "lo");
    const r = await cmd("nft", ["-f", "-"], { input: RULES });
    if (r.code !== 0) throw new Error(`nft -f exited ${r.code}: ${r.stderr}`);
  });
  beforeEach(() => sh("conntrack", "-F"));
  after(async () => {
    nfnl.close();
    await cmd("nft", ["delete", "table", "ip", TEST_TABLE]);
    await cmd("conntrack", ["-F"]);
    for (const ip of ADDRESSES) await cmd("ip", ["addr", "del", `${ip}/32`, "dev", "lo"]);
  });

  it("deletes the entries that have the address at either end, and no others", async () => {
    await flows(A, C, range(1000, 3));
    await flows(C, A, range(2000, 2));
    await flows(B, D, range(3000, 4));
    const before = await table();
    assert.equal(entriesOf(before, A).length, 5, before.join("\n"));
    assert.equal(entriesOf(before, B).length, 4);

    assert.equal(await forgetFlows(A, { nfnl }), true);

    const after = await table();
    assert.deepEqual(entriesOf(after, A), []);
    assert.deepEqual(entriesOf(after, B), entriesOf(before, B));
  });

  it("finds an address that only the reply tuple has (DNAT to it, SNAT to it)", async () => {
    await flows(C, V, [5300]);
    await flows(C, D, [5301, 5302]);
    const before = await table();
    const natted = entriesOf(before, A);
    assert.equal(natted.length, 2, before.join("\n"));
    for (const line of natted) assert.ok(names(replyHalf(line), A) && !names(line.slice(0, line.length - replyHalf(line).length), A), line);

    await forgetFlows(A, { nfnl });

    const after = await table();
    assert.deepEqual(entriesOf(after, A), []);
    // C's flow to D that was not SNATed is still there.
    assert.equal(after.filter((l) => /dport=5302\b/.test(l)).length, 1, after.join("\n"));
  });

  it("deletes entries of a conntrack zone other than the default", async () => {
    await flows(Z, C, [4000, 4001]);
    const before = entriesOf(await table(), Z);
    assert.equal(before.length, 2);
    assert.ok(
      before.every((l) => /zone=7\b/.test(l)),
      before.join("\n"),
    );

    await forgetFlows(Z, { nfnl });

    assert.deepEqual(entriesOf(await table(), Z), []);
  });

  it("on a busy table filters in the kernel and still finds every entry of the address", async () => {
    await flows(B, D, range(10_000, FULL_DUMP_MAX_ENTRIES + 100));
    await flows(A, C, range(1000, 20));
    await flows(D, A, range(1000, 5));
    // A only in the reply tuple: DNATed to A, SNATed to A.
    await flows(C, V, [5300]);
    await flows(C, D, [5301]);
    const before = await table();
    assert.equal(entriesOf(before, A).length, 27);

    await forgetFlows(A, { nfnl });

    const after = await table();
    assert.deepEqual(entriesOf(after, A), []);
    assert.equal(entriesOf(after, B).length, FULL_DUMP_MAX_ENTRIES + 100);
  });

  it("a batch of addresses shares one whole dump and deletes the entries of each, and no others", async () => {
    await flows(A, C, range(1000, 3));
    await flows(D, B, range(2000, 2));
    await flows(C, D, range(3000, 4));
    const dumps = sinon.spy(nfnl, "dump");
    try {
      await forgetFlowsOf([A, B], { nfnl });
      assert.equal(dumps.callCount, 1, "one dump for both addresses");
    } finally {
      dumps.restore();
    }
    const after = await table();
    assert.deepEqual(entriesOf(after, A), []);
    assert.deepEqual(entriesOf(after, B), []);
    assert.equal(entriesOf(after, C).filter((l) => !names(l, A)).length, 4, after.join("\n"));
  });

  it("a batch on a busy table filters in the kernel for each address", async () => {
    await flows(B, D, range(10_000, 2 * FULL_DUMP_MAX_ENTRIES + 100));
    await flows(A, C, range(1000, 5));
    await flows(C, Z, range(1000, 3));
    // Too many lines to list: counted, and each address asked for by itself.
    const count = async () => Number((await sh("conntrack", "-C")).trim());
    const of = async (ip: string) =>
      (await cmd("conntrack", ["-L", "-s", ip])).stdout.trim() + (await cmd("conntrack", ["-L", "-d", ip])).stdout.trim();
    assert.equal(await count(), 2 * FULL_DUMP_MAX_ENTRIES + 108);
    await forgetFlowsOf([A, Z], { nfnl });
    assert.equal(await of(A), "");
    assert.equal(await of(Z), "");
    assert.equal(await count(), 2 * FULL_DUMP_MAX_ENTRIES + 100, "B's entries are all there");
  });

  it("two clean-ups of the same address at once both succeed (entries already gone are fine)", async () => {
    await flows(A, C, range(1000, 50));
    assert.equal(entriesOf(await table(), A).length, 50);
    assert.deepEqual(await Promise.all([forgetFlows(A, { nfnl }), forgetFlows(A, { nfnl })]), [true, true]);
    assert.deepEqual(entriesOf(await table(), A), []);
  });

  it("forgetFlowsOutside deletes the entries of addresses in the subnet that nobody holds", async () => {
    await flows(K, C, range(1000, 3));
    await flows(S, C, range(1000, 4));
    await flows(C, S, [6000]);
    await flows(B, D, range(3000, 2));
    const within = (ip: string) => ip.startsWith("10.231.1.");
    const keep = (ip: string) => ip === K;

    assert.equal(await forgetFlowsOutside(keep, within, { nfnl }), 5);

    const after = await table();
    assert.deepEqual(entriesOf(after, S), []);
    assert.equal(entriesOf(after, K).length, 3);
    assert.equal(entriesOf(after, B).length, 2);
  });

  it("refuses an address that is not one", async () => {
    await assert.rejects(forgetFlows("10.231.0.256", { nfnl }), /invalid/);
  });
});

describe("netfilter netlink socket", () => {
  const NFT_MSG_NEWTABLE = 0;
  const NFT_MSG_DELTABLE = 2;
  const NFT_MSG_GETTABLE = 1;
  const NFTA_TABLE_NAME = 1;
  const NFPROTO_IPV4 = 2;
  const NLM_F_CREATE = 0x400;
  const tables = ["azvnet_nfnl_a", "azvnet_nfnl_b", "azvnet_nfnl_c"];
  const table = (msg: number, name: string, flags = 0): NfMessage => ({
    type: (NFNL_SUBSYS_NFTABLES << 8) | msg,
    flags,
    family: NFPROTO_IPV4,
    attrs: strAttr(NFTA_TABLE_NAME, name),
  });
  const listed = async () => (await sh("nft", "list", "tables", "ip")).split("\n").filter((l) => l.includes("azvnet_nfnl_"));
  const nfnl = new Nfnl();

  after(async () => {
    nfnl.close();
    for (const t of tables) await cmd("nft", ["delete", "table", "ip", t]);
  });

  it("names the kernel's errno on a refused request (ENOENT for an entry that is not there)", async () => {
    const tuple = Buffer.concat([
      nested(1, attr(1, Buffer.from([10, 231, 9, 9])), attr(2, Buffer.from([10, 231, 9, 8]))),
      nested(2, attr(1, Buffer.from([17])), attr(2, Buffer.from([0, 1])), attr(3, Buffer.from([0, 2]))),
    ]);
    await rejectsWith(nfnl.request(deleteRequest({ orig: tuple })), "ENOENT");
    // The socket goes on working after an error.
    assert.ok(Array.isArray(await nfnl.dump(dumpRequest())));
  });

  it("applies a batch whole, and dumps what it made", async () => {
    await nfnl.batch([table(NFT_MSG_NEWTABLE, tables[0], NLM_F_CREATE), table(NFT_MSG_NEWTABLE, tables[1], NLM_F_CREATE)]);
    assert.deepEqual(await listed(), [`table ip ${tables[0]}`, `table ip ${tables[1]}`]);
    const dumped = await nfnl.dump({ type: (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, family: NFPROTO_IPV4, attrs: Buffer.alloc(0) });
    assert.ok(dumped.some((r) => r.attrs.includes(Buffer.from(`${tables[1]}\0`))));
  });

  it("applies nothing of a batch with a failing message, and rejects with that message's error", async () => {
    const before = await listed();
    await rejectsWith(
      nfnl.batch([table(NFT_MSG_NEWTABLE, tables[2], NLM_F_CREATE), table(NFT_MSG_DELTABLE, "azvnet_nfnl_missing")]),
      "ENOENT",
    );
    assert.deepEqual(await listed(), before);
    // An empty batch sends nothing.
    await nfnl.batch([]);
  });

  it("refuses requests after close", async () => {
    const own = new Nfnl();
    await own.dump(dumpRequest());
    own.close();
    await rejectsWith(own.dump(dumpRequest()), "ECLOSED");
  });
});
