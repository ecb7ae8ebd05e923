/** The netfilter netlink codec: attributes, message framing and error replies, with no socket. */
import assert from "node:assert/strict";
import { endianness } from "node:os";
import {
  attr,
  errnoName,
  frameMessage,
  nested,
  NFNL_SUBSYS_CTNETLINK,
  NFNL_SUBSYS_NFTABLES,
  parseAttrs,
  parseMessages,
  replyErrno,
  strAttr,
  u32be,
  u32host,
} from "../../../driver/dataplane/nfnetlink";

const LE = endianness() === "LE";
const hostU16 = (v: number) => {
  const b = Buffer.alloc(2);
  if (LE) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
};
const hostS32 = (v: number) => {
  const b = Buffer.alloc(4);
  if (LE) b.writeInt32LE(v);
  else b.writeInt32BE(v);
  return b;
};

describe("nfnetlink codec", () => {
  it("pads an attribute to 4 bytes, with a length that counts the header but not the padding", () => {
    const a = attr(7, Buffer.from([1, 2, 3, 4, 5]));
    assert.equal(a.length, 12);
    assert.deepEqual(a.subarray(0, 2), hostU16(9));
    assert.deepEqual(a.subarray(2, 4), hostU16(7));
    assert.deepEqual([...a.subarray(4)], [1, 2, 3, 4, 5, 0, 0, 0]);
    assert.equal(attr(1, Buffer.alloc(0)).length, 4);
  });

  it("writes strings NUL-terminated and u32be in network order", () => {
    assert.deepEqual([...strAttr(1, "ab")], [...hostU16(7), ...hostU16(1), 0x61, 0x62, 0, 0]);
    assert.deepEqual([...u32be(3, 0x0a000001).subarray(4)], [10, 0, 0, 1]);
    assert.deepEqual(u32host(3, 0x01020304).subarray(4).readUInt32BE(0), LE ? 0x04030201 : 0x01020304);
  });

  it("sets NLA_F_NESTED on nested attributes and parses them back with the flag masked", () => {
    const n = nested(2, strAttr(1, "tbl"), u32be(4, 99));
    assert.deepEqual(n.subarray(2, 4), hostU16(2 | 0x8000));
    const top = parseAttrs(Buffer.concat([n, u32be(5, 1)]));
    assert.deepEqual([...top.keys()], [2, 5]);
    const inner = parseAttrs(top.get(2)!);
    assert.equal(inner.get(1)!.toString(), "tbl\0");
    assert.equal(inner.get(4)!.readUInt32BE(0), 99);
  });

  it("masks the byte-order bit, keeps the last of repeated types and stops at a truncated attribute", () => {
    const netOrder = attr(3 | 0x4000, Buffer.from([9, 9, 9, 9]));
    const parsed = parseAttrs(Buffer.concat([u32be(1, 1), netOrder, u32be(1, 2), Buffer.from([0xff, 0x00])]));
    assert.deepEqual([...parsed.keys()].sort(), [1, 3]);
    assert.equal(parsed.get(1)!.readUInt32BE(0), 2);
    // A length running past the end is not read.
    const bad = Buffer.concat([u32be(1, 5), hostU16(40), hostU16(2)]);
    assert.deepEqual([...parseAttrs(bad).keys()], [1]);
  });

  it("frames a message with its nfgenmsg, and parses a datagram of several back", () => {
    const type = (NFNL_SUBSYS_NFTABLES << 8) | 6;
    const one = frameMessage({ type, flags: 0x400, family: 1, resId: 0x0102, attrs: strAttr(1, "t") }, 77, 0x5);
    const two = frameMessage({ type: (NFNL_SUBSYS_CTNETLINK << 8) | 1, family: 2, attrs: Buffer.alloc(0) }, 78, 0x301);
    assert.equal(one.length % 4, 0);
    const msgs = parseMessages(Buffer.concat([one, two]));
    assert.equal(msgs.length, 2);
    assert.deepEqual(
      msgs.map((m) => [m.type, m.flags, m.seq, m.port]),
      [
        [type, 0x405, 77, 0],
        [0x101, 0x301, 78, 0],
      ],
    );
    // nfgenmsg: family, version 0, res_id big endian.
    assert.deepEqual([...msgs[0].payload.subarray(0, 4)], [1, 0, 0x01, 0x02]);
    assert.equal(parseAttrs(msgs[0].payload.subarray(4)).get(1)!.toString(), "t\0");
    assert.equal(msgs[1].payload.length, 4);
  });

  it("drops a truncated message at the end of a datagram", () => {
    const whole = frameMessage({ type: 0x100, family: 2, attrs: u32be(1, 1) }, 1, 0);
    assert.equal(parseMessages(Buffer.concat([whole, whole.subarray(0, 10)])).length, 1);
    assert.equal(parseMessages(whole.subarray(0, whole.length - 4)).length, 0);
  });

  it("reads the errno of an error reply and names it", () => {
    assert.equal(replyErrno(Buffer.concat([hostS32(-2), Buffer.alloc(16)])), 2);
    assert.equal(replyErrno(hostS32(0)), 0);
    assert.equal(replyErrno(Buffer.alloc(0)), 0);
    assert.equal(errnoName(2), "ENOENT");
    assert.equal(errnoName(-17), "EEXIST");
    assert.equal(errnoName(16), "EBUSY");
    assert.equal(errnoName(95), "EOPNOTSUPP");
    assert.equal(errnoName(4095), "ERRNO_4095");
    // The kernel-internal ENOTSUPP, which can leak out of netlink, has no name in user space.
    assert.equal(errnoName(524), "ERRNO_524");
  });
});
