/**
 * Owns the netfilter netlink socket (NETLINK_NETFILTER): ctnetlink (the
 * conntrack table) and nf_tables speak through it. Each message is a netlink
 * header, a struct nfgenmsg (family, version, resource id) and attributes; this
 * module frames those, matches replies to requests by sequence number, and
 * offers the exchanges its users need: a request with its ACK (and, for a
 * query, the messages before it), a dump, and an nf_tables transaction (a
 * batch, applied whole or not at all).
 *
 * It talks to the `netlink` package at its lowest layer (the raw socket), as
 * the package's message layer hides the error carried by NLMSG_DONE and
 * cannot wait for the many ACKs of a batch. The package's sharp edges are
 * handled as in netlink.ts: one exchange in flight per socket (a serial
 * queue), a large receive buffer, a timeout on every exchange (no reply for
 * that long), and an 'error' listener after which the socket is replaced.
 * Errors become a DataplaneError whose code is the errno name ("ENOENT").
 * The socket belongs to the network namespace the process was in when it was
 * opened.
 */
import { endianness } from "node:os";
import { getSystemErrorName } from "node:util";
import { RawNetlinkSocket } from "netlink/dist/raw";
import { SerialQueue } from "../lib/serial";
import { DataplaneError } from "./errors";

export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_CTNETLINK = 1,
  NFNL_SUBSYS_NFTABLES = 10;

/** One nfnetlink message to send. */
export interface NfMessage {
  /** Full netlink message type: (subsys << 8) | msg. */
  type: number;
  /** Extra netlink header flags (NLM_F_CREATE, ...); REQUEST, ACK and DUMP are added by the exchange. */
  flags?: number;
  /** nfgenmsg.nfgen_family (AF_INET, NFPROTO_INET, ...). */
  family: number;
  /** nfgenmsg.res_id, big endian on the wire. */
  resId?: number;
  /** Attributes, already encoded (see attr and nested). */
  attrs: Buffer;
}

/** One reply of a dump: its message type, nfgenmsg family and the attributes after the nfgenmsg. */
export interface NfReply {
  type: number;
  family: number;
  attrs: Buffer;
}

export interface NfnlOptions {
  /** How long an exchange may go without a reply (default 5 s). */
  timeoutMs?: number;
  /** Socket receive buffer (default 4 MiB). */
  recvBufferBytes?: number;
}

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP_INTR = 0x10;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
const HEADER_BYTES = 16;
const NFGENMSG_BYTES = 4;
const AF_UNSPEC = 0;
/** nf_tables dumps restart when the ruleset changed under them (NLM_F_DUMP_INTR); give up after this many. */
const DUMP_ATTEMPTS = 3;

// ---- attribute codec --------------------------------------------------------

// Netlink headers and attribute headers use host byte order.
const LE = endianness() === "LE";

function writeU16(buf: Buffer, value: number, offset: number): void {
  if (LE) buf.writeUInt16LE(value, offset);
  else buf.writeUInt16BE(value, offset);
}
function writeU32(buf: Buffer, value: number, offset: number): void {
  if (LE) buf.writeUInt32LE(value, offset);
  else buf.writeUInt32BE(value, offset);
}
function readU16(buf: Buffer, offset: number): number {
  return LE ? buf.readUInt16LE(offset) : buf.readUInt16BE(offset);
}
function readU32(buf: Buffer, offset: number): number {
  return LE ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset);
}
function readS32(buf: Buffer, offset: number): number {
  return LE ? buf.readInt32LE(offset) : buf.readInt32BE(offset);
}

const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute: 16-bit length (header included, padding not), 16-bit type, the value padded to 4 bytes. */
export function attr(type: number, value: Buffer): Buffer {
  const length = 4 + value.length;
  if (length > 0xffff) throw new DataplaneError("nfnetlink attribute", "EMSGSIZE", `attribute ${type} is ${length} bytes`);
  const out = Buffer.alloc(align4(length));
  writeU16(out, length, 0);
  writeU16(out, type, 2);
  value.copy(out, 4);
  return out;
}

/** An attribute holding others, with NLA_F_NESTED set (nf_tables requires it; ctnetlink accepts it). */
export function nested(type: number, ...children: Buffer[]): Buffer {
  return attr(type | NLA_F_NESTED, Buffer.concat(children));
}

/** A NUL-terminated string. */
export function strAttr(type: number, s: string): Buffer {
  return attr(type, Buffer.from(`${s}\0`, "utf8"));
}

/** A 32-bit value in network byte order (most nf_tables and ctnetlink numbers). */
export function u32be(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return attr(type, b);
}

/** A 32-bit value in host byte order (the few attributes the kernel reads with nla_get_u32, e.g. CTA_FILTER's flags). */
export function u32host(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  writeU32(b, v >>> 0, 0);
  return attr(type, b);
}

/** The attributes of a buffer by type (the nested and byte-order bits masked off); of repeated types the last one wins. */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let offset = 0;
  while (offset + 4 <= buf.length) {
    const length = readU16(buf, offset);
    if (length < 4 || offset + length > buf.length) break;
    out.set(readU16(buf, offset + 2) & NLA_TYPE_MASK, buf.subarray(offset + 4, offset + length));
    offset += align4(length);
  }
  return out;
}

// ---- message framing -----------------------------------------------------

/** A received netlink message: its header fields and the payload after the 16-byte header. */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  port: number;
  payload: Buffer;
}

/** Header, nfgenmsg (version 0) and attributes; the sender port is left 0 for the kernel to fill in. */
export function frameMessage(msg: NfMessage, seq: number, flags: number): Buffer {
  const length = HEADER_BYTES + NFGENMSG_BYTES + msg.attrs.length;
  const out = Buffer.alloc(align4(length));
  writeU32(out, length, 0);
  writeU16(out, msg.type, 4);
  writeU16(out, (msg.flags ?? 0) | flags, 6);
  writeU32(out, seq, 8);
  writeU32(out, 0, 12);
  out.writeUInt8(msg.family, 16);
  out.writeUInt8(0, 17);
  out.writeUInt16BE(msg.resId ?? 0, 18);
  msg.attrs.copy(out, HEADER_BYTES + NFGENMSG_BYTES);
  return out;
}

/** The messages of one datagram; a truncated tail is dropped. */
export function parseMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= buf.length) {
    const length = readU32(buf, offset);
    if (length < HEADER_BYTES || offset + length > buf.length) break;
    out.push({
      type: readU16(buf, offset + 4),
      flags: readU16(buf, offset + 6),
      seq: readU32(buf, offset + 8),
      port: readU32(buf, offset + 12),
      payload: buf.subarray(offset + HEADER_BYTES, offset + length),
    });
    offset += align4(length);
  }
  return out;
}

/** The errno of an NLMSG_ERROR (or NLMSG_DONE) payload as a positive number; 0 for an ACK. */
export function replyErrno(payload: Buffer): number {
  return payload.length >= 4 ? Math.abs(readS32(payload, 0)) : 0;
}

/** "ENOENT" for 2, ...; "ERRNO_<n>" for numbers Node has no name for. 95 is "EOPNOTSUPP", the kernel's name (libuv says ENOTSUP). */
export function errnoName(errno: number): string {
  // Above the kernel's errnos libuv has names of its own (UV_EOF is -4095): not what the kernel meant.
  if (Math.abs(errno) >= 1000) return `ERRNO_${Math.abs(errno)}`;
  try {
    const name = getSystemErrorName(-Math.abs(errno));
    if (name === "ENOTSUP") return "EOPNOTSUPP";
    if (/^E[A-Z0-9]+$/.test(name)) return name;
  } catch {
    // Not a known errno.
  }
  return `ERRNO_${Math.abs(errno)}`;
}

/** The code of an error thrown or emitted by the socket layer (ErrnoException carries one). */
function socketErrorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
  const errno = (err as { errno?: unknown } | undefined)?.errno;
  if (typeof errno === "number") return errnoName(errno);
  return "EIO";
}

function toReply(m: NlMessage): NfReply {
  return { type: m.type, family: m.payload.readUInt8(0), attrs: m.payload.subarray(NFGENMSG_BYTES) };
}

function describe(type: number): string {
  const subsys = type >> 8;
  const name =
    subsys === NFNL_SUBSYS_CTNETLINK ? "ctnetlink" : subsys === NFNL_SUBSYS_NFTABLES ? "nf_tables" : `nfnetlink subsystem ${subsys}`;
  return `${name} message ${type & 0xff}`;
}

// ---- the socket -----------------------------------------------------------

interface Settle<T> {
  ok(value: T): void;
  fail(code: string, detail?: string): void;
}

/** The one exchange in flight: which sequence numbers it owns and what to do with their replies. */
interface Active {
  sock: RawNetlinkSocket;
  seqs: Set<number>;
  onReply(m: NlMessage): void;
  fail(code: string, detail?: string): void;
}

interface Exchange<T> {
  datagram: Buffer;
  onReply(m: NlMessage, settle: Settle<T>): void;
}

export class Nfnl {
  private sock?: RawNetlinkSocket;
  private active?: Active;
  /** One exchange in flight at a time. */
  private readonly queue = new SerialQueue();
  private closed = false;
  private seq = Math.floor(Math.random() * 0x7fffffff) + 1;
  private readonly timeoutMs: number;
  private readonly recvBufferBytes: number;

  constructor(opts: NfnlOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.recvBufferBytes = opts.recvBufferBytes ?? 4 * 1024 * 1024;
  }

  /** One request, answered by its ACK or ERROR (NLM_F_REQUEST|NLM_F_ACK added). Other replies (an echo) are ignored: see query. */
  request(msg: NfMessage): Promise<void> {
    return this.run<void>(describe(msg.type), (seq) => ({
      datagram: frameMessage(msg, seq(), NLM_F_REQUEST | NLM_F_ACK),
      onReply: (m, settle) => {
        if (m.type !== NLMSG_ERROR) return;
        const errno = replyErrno(m.payload);
        if (errno) settle.fail(errnoName(errno));
        else settle.ok(undefined);
      },
    }));
  }

  /**
   * A request answered by messages and then its ACK (a GET of one object,
   * ctnetlink's statistics): those messages' type, family and attributes.
   */
  query(msg: NfMessage): Promise<NfReply[]> {
    const replies: NfReply[] = [];
    return this.run<NfReply[]>(describe(msg.type), (seq) => ({
      datagram: frameMessage(msg, seq(), NLM_F_REQUEST | NLM_F_ACK),
      onReply: (m, settle) => {
        if (m.type === NLMSG_ERROR) {
          const errno = replyErrno(m.payload);
          if (errno) settle.fail(errnoName(errno));
          else settle.ok(replies);
        } else if (m.type >= 0x10 && m.payload.length >= NFGENMSG_BYTES) {
          replies.push(toReply(m));
        }
      },
    }));
  }

  /**
   * An NLM_F_DUMP request: every reply message's type, family and attributes.
   * A dump the kernel marks inconsistent (NLM_F_DUMP_INTR: nf_tables'
   * ruleset changed during it) is taken again; after three such it rejects with EINTR.
   */
  async dump(msg: NfMessage): Promise<NfReply[]> {
    for (let attempt = 1; ; attempt++) {
      const { replies, interrupted } = await this.dumpOnce(msg);
      if (!interrupted) return replies;
      if (attempt >= DUMP_ATTEMPTS) throw new DataplaneError(describe(msg.type), "EINTR", `the dump was interrupted ${attempt} times`);
    }
  }

  /**
   * An nf_tables transaction: NFNL_MSG_BATCH_BEGIN, the messages (each with
   * NLM_F_REQUEST|NLM_F_ACK) and NFNL_MSG_BATCH_END in one datagram. Resolves
   * when every message is ACKed; otherwise the kernel has applied none of them
   * and this rejects with the first message's error, in batch order.
   */
  batch(msgs: NfMessage[]): Promise<void> {
    if (!msgs.length) return Promise.resolve();
    const marker = (type: number): NfMessage => ({ type, family: AF_UNSPEC, resId: NFNL_SUBSYS_NFTABLES, attrs: Buffer.alloc(0) });
    return this.run<void>(`nf_tables batch of ${msgs.length}`, (seq) => {
      const begin = seq();
      const inner = msgs.map(() => seq());
      const end = seq();
      const datagram = Buffer.concat([
        frameMessage(marker(NFNL_MSG_BATCH_BEGIN), begin, NLM_F_REQUEST),
        ...msgs.map((m, i) => frameMessage(m, inner[i], NLM_F_REQUEST | NLM_F_ACK)),
        frameMessage(marker(NFNL_MSG_BATCH_END), end, NLM_F_REQUEST),
      ]);
      const answers = new Map<number, number>();
      return {
        datagram,
        onReply: (m, settle) => {
          if (m.type !== NLMSG_ERROR) return;
          const errno = replyErrno(m.payload);
          // An error against the batch markers (a malformed batch, no memory) fails it all, with no per-message answers.
          if (m.seq === begin || m.seq === end) {
            if (errno) settle.fail(errnoName(errno), m.seq === begin ? "batch refused" : "batch end refused");
            return;
          }
          answers.set(m.seq, errno);
          if (answers.size < inner.length) return;
          const failed = inner.findIndex((s) => answers.get(s));
          if (failed < 0) settle.ok(undefined);
          else settle.fail(errnoName(answers.get(inner[failed]) ?? 0), `message ${failed} (${describe(msgs[failed].type)}) of the batch`);
        },
      };
    });
  }

  /** No new exchanges; the socket closes once the queued ones have settled. */
  close(): void {
    this.closed = true;
    void this.queue.idle().then(() => this.drop("ECLOSED"));
  }

  private async dumpOnce(msg: NfMessage): Promise<{ replies: NfReply[]; interrupted: boolean }> {
    const replies: NfReply[] = [];
    let interrupted = false;
    await this.run<void>(describe(msg.type), (seq) => ({
      datagram: frameMessage(msg, seq(), NLM_F_REQUEST | NLM_F_DUMP),
      onReply: (m, settle) => {
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_DONE) {
          // Since Linux 4.x the DONE message carries the dump's own error, if it failed half way.
          const errno = replyErrno(m.payload);
          if (errno) settle.fail(errnoName(errno), "dump failed");
          else settle.ok(undefined);
        } else if (m.type === NLMSG_ERROR) {
          // An ACK (errno 0) is only an acknowledgement; the dump still ends with DONE.
          const errno = replyErrno(m.payload);
          if (errno) settle.fail(errnoName(errno));
        } else if (m.type >= 0x10 && m.payload.length >= NFGENMSG_BYTES) {
          replies.push(toReply(m));
        }
      },
    }));
    return { replies, interrupted };
  }

  // ---- queue and socket lifecycle ----

  private run<T>(op: string, build: (seq: () => number) => Exchange<T>): Promise<T> {
    if (this.closed) return Promise.reject(new DataplaneError(op, "ECLOSED", "netfilter netlink socket closed"));
    return this.queue.run(() => this.exchange(op, build));
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = this.seq >= 0xffffffff ? 1 : this.seq + 1;
    return s;
  }

  private exchange<T>(op: string, build: (seq: () => number) => Exchange<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let sock: RawNetlinkSocket;
      try {
        sock = this.open();
      } catch (err) {
        reject(new DataplaneError(op, socketErrorCode(err), err instanceof Error ? err.message : String(err)));
        return;
      }
      const seqs = new Set<number>();
      let ex: Exchange<T>;
      try {
        ex = build(() => {
          const s = this.nextSeq();
          seqs.add(s);
          return s;
        });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (err: DataplaneError | undefined, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.active?.sock === sock && this.active.seqs === seqs) this.active = undefined;
        if (this.sock === sock) sock.unref();
        if (err) reject(err);
        else resolve(value as T);
      };
      const settle: Settle<T> = {
        ok: (value) => finish(undefined, value),
        fail: (code, detail) => finish(new DataplaneError(op, code, detail)),
      };
      // The clock restarts with every reply, so a long dump is not cut off while the kernel is still answering.
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          // A late reply must not be read as the answer to the next exchange: start again on a fresh socket.
          this.drop();
          settle.fail("ETIMEDOUT", `no reply within ${this.timeoutMs} ms`);
        }, this.timeoutMs);
      };
      this.active = {
        sock,
        seqs,
        onReply: (m) => {
          arm();
          ex.onReply(m, settle);
        },
        fail: (code, detail) => settle.fail(code, detail),
      };
      arm();
      sock.ref();
      try {
        sock.send(ex.datagram, undefined, (error) => {
          if (error) settle.fail(socketErrorCode(error), error.message);
        });
      } catch (err) {
        settle.fail(socketErrorCode(err), err instanceof Error ? err.message : String(err));
      }
    });
  }

  private receive(sock: RawNetlinkSocket, buf: Buffer, port: number): void {
    // Only the kernel (port 0) answers; nothing else may speak for it.
    if (port !== 0) return;
    for (const m of parseMessages(buf)) {
      const active = this.active;
      if (!active || active.sock !== sock) return;
      if (active.seqs.has(m.seq)) active.onReply(m);
    }
  }

  private open(): RawNetlinkSocket {
    if (this.sock) return this.sock;
    const sock = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: this.recvBufferBytes, sendBufferSize: this.recvBufferBytes });
    sock.on("message", (buf, rinfo) => this.receive(sock, buf, rinfo.port));
    sock.on("truncatedMessage", () => {
      if (this.active?.sock === sock) this.active.fail("EMSGSIZE", "a reply was truncated");
    });
    sock.on("error", (err) => {
      if (this.sock === sock) this.drop(socketErrorCode(err), err.message);
    });
    // Referenced only while an exchange waits, so an idle socket does not keep the process alive.
    sock.unref();
    this.sock = sock;
    return sock;
  }

  /** Closes the socket; an exchange still waiting on it fails at once (with code, when given). */
  private drop(code?: string, detail?: string): void {
    const sock = this.sock;
    this.sock = undefined;
    if (!sock) return;
    const active = this.active;
    if (active?.sock === sock) {
      this.active = undefined;
      if (code) active.fail(code, detail ?? "netfilter netlink socket closed");
    }
    try {
      sock.close();
    } catch {
      // Already closed by the package after a fatal error.
    }
  }
}
