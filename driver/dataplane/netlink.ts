/**
 * Owns the rtnetlink socket: the only module that talks to the `netlink`
 * package. It wraps one socket for requests and works around the package's
 * sharp edges:
 *  - replies overflowing the socket buffer abort the whole process, so only one
 *    request is ever in flight (a serial queue) and the receive buffer is large;
 *  - parallel dumps on one socket corrupt each other (the queue prevents them);
 *  - errors carry no code, only "Request rejected: EEXIST": we parse it;
 *  - there are no IP/MAC codecs (ours are lib/address) and link kinds come
 *    back as raw attributes.
 * The socket belongs to the network namespace the process was in when it was
 * opened; everything here acts on that namespace.
 */
import { endianness } from "node:os";
// netlink's own parts, not its index: the index also loads its nl80211, genetlink and WireGuard
// definitions, which the plugin never uses and which cost the daemon memory.
import { FlagsNew } from "netlink/dist/constants";
import { createRtNetlink, RtNetlinkSocket } from "netlink/dist/rt/rt";
import * as rt from "netlink/dist/rt/structs";
import { formatIpv4, formatIpv6, macFromBytes, parseIpv4, parseIpv6 } from "../lib/address";
import { SerialQueue } from "../lib/serial";
import { DataplaneError } from "./errors";
import { assertIfName, assertIPv4, assertIPv6, assertMac, assertMtu } from "./validate";

export interface LinkInfo {
  name: string;
  index: number;
  /** Lower case with colons; undefined for links without a hardware address. */
  mac?: string;
  mtu: number;
  /** "bridge", "veth", ... from IFLA_INFO_KIND; undefined for physical NICs. */
  kind?: string;
  /** Index of the bridge (or bond) this link is enslaved to. */
  master?: number;
  /** IFLA_LINK: for a veth, the peer's index (meaningful when the peer is in this namespace). */
  linkIndex?: number;
  /** Set when the link's other side (veth peer) lives in another namespace: its id as seen from here. */
  linkNetnsid?: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** IFLA_GROUP: the link group; undefined for the default group, 0. */
  group?: number;
}

export interface RouteInfo {
  dst: string;
  prefixLen: number;
  table: number;
  type: string;
  scope: string;
  protocol: string;
  oif?: number;
  gateway?: string;
  prefsrc?: string;
}

/** An IPv4 policy-routing rule (`ip rule`) that selects by source prefix. */
export interface RuleInfo {
  priority: number;
  /** Source prefix, e.g. 10.0.1.0/24; undefined for "from all". */
  src?: string;
  /** Destination prefix; undefined for "to all". */
  dst?: string;
  table: number;
  /** FR_ACT_TO_TBL is 1; other actions (blackhole, goto...) are other numbers. */
  action: number;
  /** FRA_PROTOCOL: who made the rule; 0 when not said. */
  protocol: number;
  /** suppress_prefixlength; undefined when the rule has none. */
  suppressPrefixLength?: number;
}

/** A route in a routing table of its own (not main): the connected prefix or the default of a NIC. */
export interface TableRouteSpec {
  /** Destination prefix, e.g. 10.0.1.0/24 or 0.0.0.0/0. */
  dst: string;
  table: number;
  oif: number;
  /** `via`: absent for a connected (scope link) route. */
  gateway?: string;
  /** `src`: the address the VM's own packets on this route take. */
  prefsrc?: string;
  protocol: number;
}

export interface AddressInfo {
  index: number;
  address: string;
  prefixLen: number;
  label?: string;
}

/** A link named or given by index. Names are validated before use. */
export type LinkRef = string | number;

export interface RtnlOptions {
  /** Per-request timeout (default 5 s). */
  timeoutMs?: number;
  /** Socket receive buffer (default 4 MiB). */
  recvBufferBytes?: number;
  /** Called for asynchronous socket errors; the socket is replaced after one. */
  onError?: (err: Error) => void;
}

const AF_INET = 2;
const AF_INET6 = 10;
const MAIN_TABLE = 254;
/** rtm_table / fib_rule_hdr.table when the id is in the RTA_TABLE / FRA_TABLE attribute (ids above 255). */
const RT_TABLE_UNSPEC = 0;
const FR_ACT_TO_TBL = 1;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;

// ---- codecs -------------------------------------------------------------

export function encodeIPv4(text: string): Buffer {
  const value = parseIpv4(assertIPv4(text)) as number;
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(value);
  return buf;
}

export function encodeIPv6(text: string): Buffer {
  return Buffer.from((parseIpv6(assertIPv6(text)) as bigint).toString(16).padStart(32, "0"), "hex");
}

export function decodeIPv6(buf: Buffer | undefined): string | undefined {
  return buf && buf.length === 16 ? formatIpv6(BigInt(`0x${buf.toString("hex")}`)) : undefined;
}

export function decodeIPv4(buf: Buffer | undefined): string | undefined {
  return buf && buf.length === 4 ? formatIpv4(buf.readUInt32BE(0)) : undefined;
}

export function encodeMac(text: string): Buffer {
  return Buffer.from(assertMac(text).replace(/:/g, ""), "hex");
}

export function decodeMac(buf: Buffer | undefined): string | undefined {
  return buf && buf.length === 6 ? macFromBytes(buf) : undefined;
}

/** "10.0.1.0/24" into address and prefix length; throws on anything else. */
function splitPrefix(text: string): { addr: Buffer; len: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text);
  const len = m ? Number(m[2]) : -1;
  if (!m || len > 32) throw new DataplaneError("prefix", "EINVAL", `not an IPv4 prefix: ${JSON.stringify(text)}`);
  return { addr: encodeIPv4(m[1]), len };
}

/** A protocol number for rules and routes (rtm_protocol, FRA_PROTOCOL): one byte. */
function assertProtocol(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 255) throw new DataplaneError("protocol", "EINVAL", String(value));
  return value;
}

/** A routing table id the plugin may write: any but unspec, main, local and default. */
function assertTable(value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > 0xffffffff || (value >= 253 && value <= 255))
    throw new DataplaneError("table", "EINVAL", String(value));
  return value;
}

// Netlink structures use host byte order.
const LE = endianness() === "LE";
function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  if (LE) b.writeUInt16LE(value);
  else b.writeUInt16BE(value);
  return b;
}
function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(value);
  else b.writeUInt32BE(value);
  return b;
}
function readU16(buf: Buffer, offset: number): number {
  return LE ? buf.readUInt16LE(offset) : buf.readUInt16BE(offset);
}
function readU32(buf: Buffer, offset: number): number {
  return LE ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset);
}

/** One attribute: 16-bit length (header included, padding not), 16-bit type, payload padded to 4. */
function nlattr(type: number, payload: Buffer): Buffer {
  const length = 4 + payload.length;
  const padded = Buffer.alloc((length + 3) & ~3);
  u16(length).copy(padded, 0);
  u16(type).copy(padded, 2);
  payload.copy(padded, 4);
  return padded;
}

function stringAttr(type: number, value: string): Buffer {
  return nlattr(type, Buffer.from(`${value}\0`, "ascii"));
}

/** struct ifinfomsg for a link that does not exist yet: all zero. */
function emptyIfinfomsg(): Buffer {
  return Buffer.alloc(16);
}

function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let offset = 0;
  while (offset + 4 <= buf.length) {
    const length = readU16(buf, offset);
    if (length < 4 || offset + length > buf.length) break;
    // The top two bits are the nested / byte-order flags.
    out.set(readU16(buf, offset + 2) & 0x3fff, buf.subarray(offset + 4, offset + length));
    offset += (length + 3) & ~3;
  }
  return out;
}

function cString(buf: Buffer | undefined): string | undefined {
  if (!buf) return undefined;
  const nul = buf.indexOf(0);
  return buf.subarray(0, nul < 0 ? buf.length : nul).toString("ascii");
}

// ---- conversions from the package's parsed messages ----------------------

function toLinkInfo(msg: rt.LinkMessage): LinkInfo {
  const info = msg.attrs.linkinfo ? parseAttrs(msg.attrs.linkinfo) : undefined;
  const link = msg.attrs.link as unknown;
  return {
    name: msg.attrs.ifname ?? "",
    index: msg.data.index ?? 0,
    mac: decodeMac(msg.attrs.address),
    mtu: msg.attrs.mtu ?? 0,
    kind: cString(info?.get(IFLA_INFO_KIND)),
    master: msg.attrs.master || undefined,
    linkIndex: Buffer.isBuffer(link) && link.length === 4 ? readU32(link, 0) || undefined : undefined,
    linkNetnsid: msg.attrs.linkNetnsid,
    up: Boolean(msg.data.flags?.up),
    ...(msg.attrs.group ? { group: msg.attrs.group } : {}),
  };
}

function toRouteInfo(msg: rt.RouteMessage): RouteInfo {
  return {
    dst: decodeIPv4(msg.attrs.dst) ?? "0.0.0.0",
    prefixLen: msg.data.dstLen ?? 0,
    table: msg.attrs.table ?? msg.data.table ?? 0,
    type: String(msg.data.type),
    scope: String(msg.data.scope),
    protocol: String(msg.data.protocol),
    oif: msg.attrs.oif,
    gateway: decodeIPv4(msg.attrs.gateway),
    prefsrc: decodeIPv4(msg.attrs.prefsrc),
  };
}

function toRuleInfo(msg: rt.RuleMessage): RuleInfo {
  const src = decodeIPv4(msg.attrs.src);
  const dst = decodeIPv4(msg.attrs.dst);
  const suppress = msg.attrs.suppressPrefixlen;
  const suppressed = suppress && suppress.length === 4 ? readU32(suppress, 0) : undefined;
  const action = msg.data.action;
  return {
    priority: msg.attrs.priority ?? 0,
    ...(src ? { src: `${src}/${msg.data.srcLen ?? 0}` } : {}),
    ...(dst ? { dst: `${dst}/${msg.data.dstLen ?? 0}` } : {}),
    table: msg.attrs.table ?? msg.data.table ?? 0,
    action: typeof action === "number" ? action : action === "toTbl" ? FR_ACT_TO_TBL : -1,
    protocol: msg.attrs.protocol ?? 0,
    // The kernel reports -1 (all ones) for a rule without it.
    ...(suppressed !== undefined && suppressed !== 0xffffffff ? { suppressPrefixLength: suppressed } : {}),
  };
}

function toAddressInfo(msg: rt.AddressMessage): AddressInfo | undefined {
  // For IPv4, IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
  const address = decodeIPv4(msg.attrs.local ?? msg.attrs.address);
  if (!address) return undefined;
  return { index: msg.data.index ?? 0, address, prefixLen: msg.data.prefixlen ?? 0, label: msg.attrs.label };
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
  const message = err instanceof Error ? err.message : String(err);
  const rejected = /Request rejected: (E[A-Z0-9]+|-?\d+)/.exec(message);
  if (rejected) return rejected[1];
  if (/Timeout has been reached/.test(message)) return "ETIMEDOUT";
  return "EUNKNOWN";
}

function refAttrs(ref: LinkRef): { data: rt.Link; attrs: { ifname?: string } } {
  if (typeof ref === "number") {
    if (!Number.isInteger(ref) || ref <= 0) throw new DataplaneError("link", "EINVAL", `bad index ${ref}`);
    return { data: { index: ref }, attrs: {} };
  }
  // Index 0 plus IFLA_IFNAME makes the kernel look the link up by name.
  return { data: { index: 0 }, attrs: { ifname: assertIfName(ref) } };
}

/** fib_rule_hdr and attributes of a rule: the table in FRA_TABLE (ids above 255 do not fit the header's byte). */
function ruleMessage(rule: RuleInfo & { src: string }): [rt.Rule, rt.RuleAttrs] {
  const { addr, len } = splitPrefix(rule.src);
  const to = rule.dst === undefined ? undefined : splitPrefix(rule.dst);
  if (!Number.isInteger(rule.priority) || rule.priority <= 0 || rule.priority > 0xffffffff)
    throw new DataplaneError("rule", "EINVAL", `bad priority ${rule.priority}`);
  const table = rule.table === MAIN_TABLE ? MAIN_TABLE : assertTable(rule.table);
  return [
    { family: AF_INET, srcLen: len, ...(to ? { dstLen: to.len } : {}), table: RT_TABLE_UNSPEC, action: FR_ACT_TO_TBL },
    {
      src: addr,
      ...(to ? { dst: to.addr } : {}),
      priority: rule.priority,
      table,
      protocol: assertProtocol(rule.protocol),
      ...(rule.suppressPrefixLength !== undefined ? { suppressPrefixlen: u32(rule.suppressPrefixLength) } : {}),
    },
  ];
}

// ---- the socket -----------------------------------------------------------

export class Rtnl {
  private sock?: RtNetlinkSocket;
  /** One request in flight at a time. */
  private readonly queue = new SerialQueue();
  private closed = false;
  private readonly timeoutMs: number;
  private readonly recvBufferBytes: number;

  constructor(private readonly options: RtnlOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.recvBufferBytes = options.recvBufferBytes ?? 4 * 1024 * 1024;
  }

  /** Waits for queued requests, then closes the socket. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue.idle();
    this.drop();
  }

  async listLinks(): Promise<LinkInfo[]> {
    const msgs = await this.run("list links", (s, o) => s.getLinks(undefined, undefined, o));
    return msgs.map(toLinkInfo);
  }

  /** The link, or undefined if there is none by that name or index. */
  async getLink(ref: LinkRef): Promise<LinkInfo | undefined> {
    const { data, attrs } = refAttrs(ref);
    try {
      const msgs = await this.run(`get link ${ref}`, (s, o) => s.getLink(data, attrs, o));
      return msgs.length ? toLinkInfo(msgs[0]) : undefined;
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "ENODEV") return undefined;
      throw err;
    }
  }

  /** A link of another namespace, by its index there and that namespace's id as seen from here (IFLA_TARGET_NETNSID). */
  async getLinkInNamespace(index: number, netnsid: number): Promise<LinkInfo | undefined> {
    if (!Number.isInteger(index) || index <= 0) throw new DataplaneError("link", "EINVAL", `bad index ${index}`);
    if (!Number.isInteger(netnsid) || netnsid < 0) throw new DataplaneError("link", "EINVAL", `bad namespace id ${netnsid}`);
    try {
      const msgs = await this.run(`get link ${index} in namespace ${netnsid}`, (s, o) =>
        s.getLink({ index }, { targetNetnsid: netnsid }, o),
      );
      return msgs.length ? toLinkInfo(msgs[0]) : undefined;
    } catch (err) {
      if (err instanceof DataplaneError && (err.code === "ENODEV" || err.code === "EINVAL")) return undefined;
      throw err;
    }
  }

  async createBridge(name: string, opts: { mtu: number; mac?: string }): Promise<void> {
    assertIfName(name);
    const attrs = {
      ifname: name,
      mtu: assertMtu(opts.mtu),
      // An explicit address stops the bridge from taking its lowest port's MAC,
      // which would change whenever ports come and go.
      address: opts.mac === undefined ? undefined : encodeMac(opts.mac),
      linkinfo: stringAttr(IFLA_INFO_KIND, "bridge"),
    };
    await this.run(`create bridge ${name}`, (s, o) => s.newLink({}, attrs, { ...o, flags: FlagsNew.CREATE | FlagsNew.EXCL }));
  }

  /**
   * Creates a veth pair with both ends in this namespace. The package has no
   * encoder for the peer, so VETH_INFO_PEER is built by hand: an ifinfomsg
   * followed by the peer's own attributes.
   */
  async createVethPair(hostName: string, peerName: string, opts: { mtu: number; peerMac?: string; hostMac?: string }): Promise<void> {
    assertIfName(hostName, "host interface name");
    assertIfName(peerName, "peer interface name");
    const mtu = assertMtu(opts.mtu);
    const peerParts = [emptyIfinfomsg(), stringAttr(IFLA_IFNAME, peerName), nlattr(IFLA_MTU, u32(mtu))];
    if (opts.peerMac !== undefined) peerParts.push(nlattr(IFLA_ADDRESS, encodeMac(opts.peerMac)));
    const linkinfo = Buffer.concat([
      stringAttr(IFLA_INFO_KIND, "veth"),
      nlattr(IFLA_INFO_DATA, nlattr(VETH_INFO_PEER, Buffer.concat(peerParts))),
    ]);
    const attrs = {
      ifname: hostName,
      mtu,
      address: opts.hostMac === undefined ? undefined : encodeMac(opts.hostMac),
      linkinfo,
    };
    await this.run(`create veth ${hostName}/${peerName}`, (s, o) => s.newLink({}, attrs, { ...o, flags: FlagsNew.CREATE | FlagsNew.EXCL }));
  }

  /** Enslaves the link to a bridge, or releases it when master is 0. */
  async setMaster(ref: LinkRef, master: number): Promise<void> {
    const { data, attrs } = refAttrs(ref);
    await this.run(`set master of ${ref}`, (s, o) => s.setLink(data, { ...attrs, master }, o));
  }

  /** Puts the link in a link group (IFLA_GROUP, what `ip link set … group` sets); 0 is the default group. */
  async setGroup(ref: LinkRef, group: number): Promise<void> {
    if (!Number.isInteger(group) || group < 0 || group > 0xffffffff) throw new DataplaneError("set group", "EINVAL", String(group));
    const { data, attrs } = refAttrs(ref);
    await this.run(`set group of ${ref}`, (s, o) => s.setLink(data, { ...attrs, group }, o));
  }

  async setUp(ref: LinkRef): Promise<void> {
    const { data, attrs } = refAttrs(ref);
    await this.run(`set ${ref} up`, (s, o) => s.setLink({ ...data, flags: { up: true }, change: { up: true } }, attrs, o));
  }

  async setDown(ref: LinkRef): Promise<void> {
    const { data, attrs } = refAttrs(ref);
    await this.run(`set ${ref} down`, (s, o) => s.setLink({ ...data, flags: {}, change: { up: true } }, attrs, o));
  }

  async setMtu(ref: LinkRef, mtu: number): Promise<void> {
    const { data, attrs } = refAttrs(ref);
    const value = assertMtu(mtu);
    await this.run(`set mtu of ${ref}`, (s, o) => s.setLink(data, { ...attrs, mtu: value }, o));
  }

  async setMac(ref: LinkRef, mac: string): Promise<void> {
    const { data, attrs } = refAttrs(ref);
    const address = encodeMac(mac);
    await this.run(`set address of ${ref}`, (s, o) => s.setLink(data, { ...attrs, address }, o));
  }

  /** Deletes the link; true if it existed. Deleting either end of a veth removes both. */
  async deleteLink(ref: LinkRef): Promise<boolean> {
    const { data, attrs } = refAttrs(ref);
    try {
      await this.run(`delete link ${ref}`, (s, o) => s.delLink(data, attrs, o));
      return true;
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "ENODEV") return false;
      throw err;
    }
  }

  /**
   * Deletes every link in a link group in one call (RTM_DELLINK by IFLA_GROUP):
   * the kernel unregisters them together and waits for its grace periods once,
   * not once per link. Fails whole (EOPNOTSUPP) if a link in the group cannot be
   * deleted that way; an empty group is no error.
   */
  async deleteGroup(group: number): Promise<void> {
    if (!Number.isInteger(group) || group <= 0 || group > 0xffffffff) throw new DataplaneError("delete group", "EINVAL", String(group));
    await this.run(`delete link group ${group}`, (s, o) => s.delLink({ index: 0 }, { group }, o));
  }

  /**
   * Adds `dst/32 dev <oif> scope link proto static` to the main table. With
   * replace, an existing route for the same destination is taken over (for
   * example one left pointing at another bridge); otherwise an existing route
   * is left alone (EEXIST tolerated). Returns false if the route already existed.
   */
  async addRoute(dst: string, oif: number, opts: { replace?: boolean } = {}): Promise<boolean> {
    const dstBuf = encodeIPv4(dst);
    const flags = FlagsNew.CREATE | (opts.replace ? FlagsNew.REPLACE : FlagsNew.EXCL);
    try {
      await this.run(`add route ${dst}`, (s, o) =>
        s.newRoute(
          { family: AF_INET, dstLen: 32, table: MAIN_TABLE, protocol: "STATIC", scope: "LINK", type: "UNICAST" },
          { dst: dstBuf, oif },
          { ...o, flags },
        ),
      );
      return true;
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "EEXIST") return false;
      throw err;
    }
  }

  /** Deletes `dst/32` in the main table, only if it goes out of `oif`. False if there was none. */
  async deleteRoute(dst: string, oif: number): Promise<boolean> {
    const dstBuf = encodeIPv4(dst);
    try {
      // Scope NOWHERE and type/protocol 0 mean "any" to the kernel's matcher; oif must match.
      await this.run(`delete route ${dst}`, (s, o) =>
        s.delRoute({ family: AF_INET, dstLen: 32, table: MAIN_TABLE, scope: "NOWHERE" }, { dst: dstBuf, oif }, o),
      );
      return true;
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "ESRCH") return false;
      throw err;
    }
  }

  /** `dst/128 dev <oif> proto static metric 1024` in the main table, replacing a route for the same address. */
  async replaceRoute6(dst: string, oif: number): Promise<void> {
    await this.run(`add route ${dst}`, (s, o) =>
      s.newRoute(
        { family: AF_INET6, dstLen: 128, table: MAIN_TABLE, protocol: "STATIC", scope: "UNIVERSE", type: "UNICAST" },
        { dst: encodeIPv6(dst), oif, priority: 1024 },
        { ...o, flags: FlagsNew.CREATE | FlagsNew.REPLACE },
      ),
    );
  }

  /** Deletes `dst/128` in the main table, only if it goes out of `oif`. False if there was none. */
  async deleteRoute6(dst: string, oif: number): Promise<boolean> {
    try {
      await this.run(`delete route ${dst}`, (s, o) =>
        s.delRoute({ family: AF_INET6, dstLen: 128, table: MAIN_TABLE, scope: "NOWHERE" }, { dst: encodeIPv6(dst), oif }, o),
      );
      return true;
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "ESRCH") return false;
      throw err;
    }
  }

  /** Host (/128) routes of the main table: destination and link. */
  async listHostRoutes6(): Promise<{ dst: string; oif?: number }[]> {
    const msgs = await this.run("list routes", (s, o) => s.getRoutes({ family: AF_INET6 }, undefined, o));
    return msgs
      .filter((m) => m.data.dstLen === 128 && (m.attrs.table ?? m.data.table) === MAIN_TABLE && String(m.data.type) === "UNICAST")
      .flatMap((m) => {
        const dst = decodeIPv6(m.attrs.dst);
        return dst ? [{ dst, oif: m.attrs.oif }] : [];
      });
  }

  /** A permanent IPv6 address without duplicate address detection (usable at once); an existing one is left. */
  async addAddress6(index: number, address: string, prefixLen: number): Promise<void> {
    try {
      await this.run(`add address ${address}`, (s, o) =>
        s.newAddress(
          { family: AF_INET6, prefixlen: prefixLen, index, flags: { nodad: true, permanent: true }, scope: 0 },
          { local: encodeIPv6(address), address: encodeIPv6(address), flags: { nodad: true, permanent: true } },
          { ...o, flags: FlagsNew.CREATE | FlagsNew.EXCL },
        ),
      );
    } catch (err) {
      if (!(err instanceof DataplaneError && err.code === "EEXIST")) throw err;
    }
  }

  /** The IPv6 addresses of a link. */
  async listAddresses6(index: number): Promise<string[]> {
    const msgs = await this.run("list addresses", (s, o) => s.getAddresses({ family: AF_INET6 }, undefined, o));
    return msgs.filter((m) => m.data.index === index).flatMap((m) => decodeIPv6(m.attrs.address ?? m.attrs.local) ?? []);
  }

  /** IPv4 routes of every table, optionally only those leaving through one link. */
  async listRoutes(oif?: number): Promise<RouteInfo[]> {
    const msgs = await this.run("list routes", (s, o) => s.getRoutes({ family: AF_INET }, undefined, o));
    const routes = msgs.map(toRouteInfo);
    return oif === undefined ? routes : routes.filter((r) => r.oif === oif);
  }

  /**
   * Adds or replaces a route in a table of its own:
   * `<dst> [via <gateway>] dev <oif> [scope link] [src <prefsrc>] proto <protocol> table <table>`.
   */
  async replaceTableRoute(spec: TableRouteSpec): Promise<void> {
    const { addr, len } = splitPrefix(spec.dst);
    const attrs = {
      ...(len > 0 ? { dst: addr } : {}),
      oif: spec.oif,
      table: assertTable(spec.table),
      ...(spec.gateway ? { gateway: encodeIPv4(spec.gateway) } : {}),
      ...(spec.prefsrc ? { prefsrc: encodeIPv4(spec.prefsrc) } : {}),
    };
    const header = {
      family: AF_INET,
      dstLen: len,
      table: RT_TABLE_UNSPEC,
      protocol: assertProtocol(spec.protocol),
      scope: spec.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
      type: "UNICAST" as const,
    };
    await this.run(`add route ${spec.dst} table ${spec.table}`, (s, o) =>
      s.newRoute(header, attrs, { ...o, flags: FlagsNew.CREATE | FlagsNew.REPLACE }),
    );
  }

  /** Deletes `dst` from the table, whatever it goes through; false if there was none. */
  async deleteTableRoute(dst: string, table: number): Promise<boolean> {
    const { addr, len } = splitPrefix(dst);
    try {
      await this.run(`delete route ${dst} table ${table}`, (s, o) =>
        s.delRoute(
          { family: AF_INET, dstLen: len, table: RT_TABLE_UNSPEC, scope: "NOWHERE" },
          { ...(len > 0 ? { dst: addr } : {}), table: assertTable(table) },
          o,
        ),
      );
      return true;
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "ESRCH") return false;
      throw err;
    }
  }

  /** IPv4 policy-routing rules, in the kernel's order. */
  async listRules(): Promise<RuleInfo[]> {
    const msgs = await this.run("list rules", (s, o) => s.getRules({ family: AF_INET }, undefined, o));
    return msgs.map(toRuleInfo);
  }

  /**
   * Adds `from <src> lookup <table> [suppress_prefixlength N] priority P proto <protocol>`;
   * false if the same rule was there already.
   */
  async addRule(rule: RuleInfo & { src: string }): Promise<boolean> {
    try {
      await this.run(`add rule ${rule.priority} from ${rule.src}`, (s, o) =>
        s.newRule(...ruleMessage(rule), { ...o, flags: FlagsNew.CREATE | FlagsNew.EXCL }),
      );
      return true;
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "EEXIST") return false;
      throw err;
    }
  }

  /** Deletes the rule that matches every field given; false if there was none. */
  async deleteRule(rule: RuleInfo & { src: string }): Promise<boolean> {
    try {
      await this.run(`delete rule ${rule.priority} from ${rule.src}`, (s, o) => s.delRule(...ruleMessage(rule), o));
      return true;
    } catch (err) {
      if (err instanceof DataplaneError && (err.code === "ENOENT" || err.code === "ESRCH")) return false;
      throw err;
    }
  }

  async listAddresses(index?: number): Promise<AddressInfo[]> {
    const msgs = await this.run("list addresses", (s, o) => s.getAddresses({ family: AF_INET }, undefined, o));
    const all = msgs.map(toAddressInfo).filter((a): a is AddressInfo => a !== undefined);
    return index === undefined ? all : all.filter((a) => a.index === index);
  }

  // ---- queue and socket lifecycle ----

  private run<T>(op: string, fn: (s: RtNetlinkSocket, o: { timeout: number }) => Promise<T>): Promise<T> {
    return this.queue.run(() => this.attempt(op, fn));
  }

  private async attempt<T>(op: string, fn: (s: RtNetlinkSocket, o: { timeout: number }) => Promise<T>): Promise<T> {
    if (this.closed && !this.sock) throw new DataplaneError(op, "ECLOSED", "netlink socket closed");
    let sock: RtNetlinkSocket;
    try {
      sock = this.open();
    } catch (err) {
      throw new DataplaneError(op, errorCode(err), err instanceof Error ? err.message : String(err));
    }
    try {
      return await fn(sock, { timeout: this.timeoutMs });
    } catch (err) {
      const code = errorCode(err);
      // A late reply to a timed-out request must not be read as the answer to the next one.
      if (code === "ETIMEDOUT") this.drop();
      throw new DataplaneError(op, code);
    }
  }

  private open(): RtNetlinkSocket {
    if (this.sock) return this.sock;
    const sock = createRtNetlink({ recvBufferSize: this.recvBufferBytes, sendBufferSize: 0 });
    sock.socket.on("error", (err: Error) => {
      if (this.sock === sock) this.drop();
      this.options.onError?.(err);
    });
    this.sock = sock;
    return sock;
  }

  private drop(): void {
    const sock = this.sock;
    this.sock = undefined;
    try {
      sock?.socket.close();
    } catch {
      // Already closed by the package after a fatal error.
    }
  }
}
