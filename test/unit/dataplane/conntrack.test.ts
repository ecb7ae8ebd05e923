/** The ctnetlink messages of conntrack.ts: entries parsed from dump replies, and the dump and delete requests built. */
import assert from "node:assert/strict";
import { deleteRequest, dumpRequest, flowAddresses, parseFlow } from "../../../driver/dataplane/conntrack";
import { attr, nested, parseAttrs, u32be, u32host } from "../../../driver/dataplane/nfnetlink";

const ip = (text: string) => Buffer.from(text.split(".").map(Number));
const u16be = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const u8 = (v: number) => Buffer.from([v]);

/** A tuple as the kernel dumps it: CTA_TUPLE_IP {src, dst}, CTA_TUPLE_PROTO {num, ports}. */
function tuple(type: number, src: string, dst: string, sport: number, dport: number): Buffer {
  return nested(
    type,
    nested(1, attr(1, ip(src)), attr(2, ip(dst))),
    nested(2, attr(1, u8(17)), attr(2, u16be(sport)), attr(3, u16be(dport))),
  );
}

/** A UDP entry from 10.0.0.5 to 8.8.8.8, SNATed to 10.1.0.4, in zone 7. */
const ENTRY = Buffer.concat([
  tuple(1, "10.0.0.5", "8.8.8.8", 40000, 53),
  tuple(2, "8.8.8.8", "10.1.0.4", 53, 40000),
  u32be(3, 0x8), // CTA_STATUS
  u32be(12, 0xdeadbeef), // CTA_ID
  attr(18, u16be(7)), // CTA_ZONE
  u32be(7, 30), // CTA_TIMEOUT
]);

describe("conntrack messages", () => {
  it("parses the addresses, zone and id of a dumped entry", () => {
    const f = parseFlow(ENTRY);
    assert.ok(f);
    assert.equal(f.origSrc, "10.0.0.5");
    assert.equal(f.origDst, "8.8.8.8");
    assert.equal(f.replySrc, "8.8.8.8");
    assert.equal(f.replyDst, "10.1.0.4");
    assert.deepEqual(flowAddresses(f), ["10.0.0.5", "8.8.8.8", "8.8.8.8", "10.1.0.4"]);
    assert.deepEqual([...f.zone!], [0, 7]);
    assert.equal(f.id!.readUInt32BE(0), 0xdeadbeef);
  });

  it("ignores a reply without an original tuple, and an entry without a reply tuple has only its original addresses", () => {
    assert.equal(parseFlow(u32be(3, 1)), undefined);
    const f = parseFlow(tuple(1, "10.0.0.5", "10.0.0.6", 1, 2));
    assert.deepEqual(flowAddresses(f!), ["10.0.0.5", "10.0.0.6"]);
  });

  it("deletes by the original tuple exactly as dumped, with the zone and id", () => {
    const f = parseFlow(ENTRY)!;
    const msg = deleteRequest(f);
    assert.equal(msg.type, 0x102);
    assert.equal(msg.family, 2);
    const a = parseAttrs(msg.attrs);
    assert.deepEqual([...a.keys()], [1, 18, 12]);
    assert.deepEqual(a.get(1), parseAttrs(ENTRY).get(1));
    assert.deepEqual([...a.get(18)!], [0, 7]);
    assert.equal(a.get(12)!.readUInt32BE(0), 0xdeadbeef);
    // Without zone and id only the tuple goes.
    const plain = deleteRequest(parseFlow(tuple(1, "10.0.0.5", "10.0.0.6", 1, 2))!);
    assert.deepEqual([...parseAttrs(plain.attrs).keys()], [1]);
  });

  it("asks for a whole IPv4 dump, or one filtered by an end of one tuple", () => {
    const whole = dumpRequest();
    assert.equal(whole.type, 0x101);
    assert.equal(whole.family, 2);
    assert.equal(whole.attrs.length, 0);

    const f = dumpRequest({ ip: "10.0.0.5", tuple: "reply", end: "dst" });
    const a = parseAttrs(f.attrs);
    assert.deepEqual([...a.keys()], [2, 25]);
    const ipAttrs = parseAttrs(parseAttrs(a.get(2)!).get(1)!);
    assert.deepEqual([...ipAttrs.keys()], [2]);
    assert.deepEqual([...ipAttrs.get(2)!], [10, 0, 0, 5]);
    const filter = parseAttrs(a.get(25)!);
    assert.deepEqual([...filter.keys()], [2]);
    // CTA_FILTER_F_CTA_IP_DST, in host order (the kernel reads it with nla_get_u32).
    assert.deepEqual(filter.get(2), u32host(0, 2).subarray(4));

    const o = parseAttrs(dumpRequest({ ip: "10.0.0.5", tuple: "orig", end: "src" }).attrs);
    assert.deepEqual([...o.keys()], [1, 25]);
    assert.deepEqual([...parseAttrs(o.get(25)!).keys()], [1]);
  });

  it("refuses an invalid address before building anything", () => {
    assert.throws(() => dumpRequest({ ip: "10.0.0.256", tuple: "orig", end: "src" }), /invalid/);
  });
});
