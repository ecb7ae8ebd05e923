/**
 * Drops connection-tracking entries of a container address that is going away,
 * so that a later container given the same address does not inherit flows
 * (and their SNAT mappings) of the previous one. It speaks ctnetlink over the
 * dataplane's netfilter netlink socket (nfnetlink.ts): a dump of the IPv4
 * entries that mention the address, then one delete per entry, with no helper
 * program.
 *
 * Each dump walks the kernel's whole hash table (about 9 ms for 262144
 * buckets, however few entries there are) and each entry copied out costs
 * about 6 µs to move and parse. So a small table is dumped once and filtered
 * here, for every address of a batch at once; a busy one (more than
 * FULL_DUMP_MAX_ENTRIES per address, from ctnetlink's own count) is filtered
 * in the kernel (CTA_FILTER, Linux 5.8 and later), with one dump per place the
 * address can stand: original or reply tuple, source or destination. Every
 * entry is checked here either way, so a kernel that ignores the filter costs
 * time, not correctness.
 */
import { decodeIPv4, encodeIPv4 } from "./netlink";
import { attr, nested, NFNL_SUBSYS_CTNETLINK, Nfnl, NfMessage, parseAttrs, u32host } from "./nfnetlink";
import { DataplaneError } from "./errors";
import { assertIPv4 } from "./validate";

const AF_INET = 2;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const IPCTNL_MSG_CT_GET_STATS = 5;
const CTA_STATS_GLOBAL_ENTRIES = 1;
const CTA_TUPLE_ORIG = 1;
const CTA_TUPLE_REPLY = 2;
const CTA_ID = 12;
const CTA_ZONE = 18;
const CTA_FILTER = 25;
const CTA_TUPLE_IP = 1;
const CTA_IP_V4_SRC = 1;
const CTA_IP_V4_DST = 2;
const CTA_FILTER_ORIG_FLAGS = 1;
const CTA_FILTER_REPLY_FLAGS = 2;
const CTA_FILTER_F_CTA_IP_SRC = 1 << 0;
const CTA_FILTER_F_CTA_IP_DST = 1 << 1;
/** Up to this many entries one whole dump beats four filtered ones (three more table walks); see the top. */
export const FULL_DUMP_MAX_ENTRIES = 4000;

/** One IPv4 conntrack entry, as much of it as deleting it needs. */
export interface Flow {
  /** The CTA_TUPLE_ORIG attributes, sent back as they came to name the entry. */
  orig: Buffer;
  /** CTA_ZONE (big-endian u16) when the entry is not in the default zone. */
  zone?: Buffer;
  /** CTA_ID: a delete with it spares a newer entry that happens to have the same tuple. */
  id?: Buffer;
  origSrc?: string;
  origDst?: string;
  replySrc?: string;
  replyDst?: string;
}

export interface ConntrackOptions {
  nfnl: Nfnl;
}

function tupleAddresses(tuple: Buffer | undefined): { src?: string; dst?: string } {
  const ip = tuple ? parseAttrs(tuple).get(CTA_TUPLE_IP) : undefined;
  if (!ip) return {};
  const attrs = parseAttrs(ip);
  return { src: decodeIPv4(attrs.get(CTA_IP_V4_SRC)), dst: decodeIPv4(attrs.get(CTA_IP_V4_DST)) };
}

/** The entry in a dump reply's attributes; undefined without an original tuple. */
export function parseFlow(attrs: Buffer): Flow | undefined {
  const a = parseAttrs(attrs);
  const orig = a.get(CTA_TUPLE_ORIG);
  if (!orig) return undefined;
  const o = tupleAddresses(orig);
  const r = tupleAddresses(a.get(CTA_TUPLE_REPLY));
  return { orig, zone: a.get(CTA_ZONE), id: a.get(CTA_ID), origSrc: o.src, origDst: o.dst, replySrc: r.src, replyDst: r.dst };
}

/** The addresses an entry names, in either direction. */
export function flowAddresses(f: Flow): string[] {
  return [f.origSrc, f.origDst, f.replySrc, f.replyDst].filter((x): x is string => x !== undefined);
}

/** An IPv4 dump request; with a filter, only entries whose tuple of that direction has ip as that end. */
export function dumpRequest(filter?: { ip: string; tuple: "orig" | "reply"; end: "src" | "dst" }): NfMessage {
  const msg: NfMessage = { type: (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, family: AF_INET, attrs: Buffer.alloc(0) };
  if (!filter) return msg;
  const address = encodeIPv4(filter.ip);
  const ipAttr = attr(filter.end === "src" ? CTA_IP_V4_SRC : CTA_IP_V4_DST, address);
  const flags = filter.end === "src" ? CTA_FILTER_F_CTA_IP_SRC : CTA_FILTER_F_CTA_IP_DST;
  const orig = filter.tuple === "orig";
  msg.attrs = Buffer.concat([
    nested(orig ? CTA_TUPLE_ORIG : CTA_TUPLE_REPLY, nested(CTA_TUPLE_IP, ipAttr)),
    nested(CTA_FILTER, u32host(orig ? CTA_FILTER_ORIG_FLAGS : CTA_FILTER_REPLY_FLAGS, flags)),
  ]);
  return msg;
}

/** The delete of one entry: its original tuple, zone and id as dumped. */
export function deleteRequest(f: Flow): NfMessage {
  const parts = [nested(CTA_TUPLE_ORIG, f.orig)];
  if (f.zone) parts.push(attr(CTA_ZONE, f.zone));
  if (f.id) parts.push(attr(CTA_ID, f.id));
  return { type: (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE, family: AF_INET, attrs: Buffer.concat(parts) };
}

function flowKey(f: Flow): string {
  return `${f.orig.toString("hex")}/${f.zone?.toString("hex") ?? ""}`;
}

/** Deletes the entries one by one; those already gone (ENOENT) are not counted. */
async function deleteFlows(nfnl: Nfnl, flows: Iterable<Flow>): Promise<number> {
  let deleted = 0;
  for (const f of flows) {
    try {
      await nfnl.request(deleteRequest(f));
      deleted++;
    } catch (err) {
      if (!(err instanceof DataplaneError && err.code === "ENOENT")) throw err;
    }
  }
  return deleted;
}

async function dumpFlows(nfnl: Nfnl, msg: NfMessage): Promise<Flow[]> {
  const replies = await nfnl.dump(msg);
  return replies.map((r) => parseFlow(r.attrs)).filter((f): f is Flow => f !== undefined);
}

const PLACES = [
  { tuple: "orig", end: "src" },
  { tuple: "orig", end: "dst" },
  { tuple: "reply", end: "src" },
  { tuple: "reply", end: "dst" },
] as const;

/** How many entries the namespace's table holds (ctnetlink's statistics); undefined if the kernel does not say. */
async function tableSize(nfnl: Nfnl): Promise<number | undefined> {
  try {
    const replies = await nfnl.query({
      type: (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS,
      family: AF_INET,
      attrs: Buffer.alloc(0),
    });
    const entries = replies.length ? parseAttrs(replies[0].attrs).get(CTA_STATS_GLOBAL_ENTRIES) : undefined;
    return entries?.length === 4 ? entries.readUInt32BE(0) : undefined;
  } catch (err) {
    if (err instanceof DataplaneError && (err.code === "EINVAL" || err.code === "EOPNOTSUPP")) return undefined;
    throw err;
  }
}

/** The entries whose either tuple has one of the addresses at either end. */
async function flowsOf(nfnl: Nfnl, ips: readonly string[]): Promise<Flow[]> {
  const wanted = new Set(ips);
  const found = new Map<string, Flow>();
  const keep = (flows: Flow[]) => {
    for (const f of flows) if (flowAddresses(f).some((a) => wanted.has(a))) found.set(flowKey(f), f);
  };
  const size = await tableSize(nfnl);
  // One whole dump serves every address of a batch; filtered dumps cost four table walks per address.
  if (size !== undefined && size <= FULL_DUMP_MAX_ENTRIES * wanted.size) {
    keep(await dumpFlows(nfnl, dumpRequest()));
    return [...found.values()];
  }
  for (const ip of wanted) {
    for (const place of PLACES) {
      try {
        keep(await dumpFlows(nfnl, dumpRequest({ ip, ...place })));
      } catch (err) {
        // A kernel without CTA_FILTER for this: one whole dump, filtered here, for them all.
        if (!(err instanceof DataplaneError && (err.code === "EINVAL" || err.code === "EOPNOTSUPP"))) throw err;
        keep(await dumpFlows(nfnl, dumpRequest()));
        return [...found.values()];
      }
    }
  }
  return [...found.values()];
}

/** Deletes every IPv4 conntrack entry that has ip as source or destination of either direction. */
export async function forgetFlows(ip: string, opts: ConntrackOptions): Promise<boolean> {
  await forgetFlowsOf([ip], opts);
  return true;
}

/** The same for several addresses at once (a batch of released ones), sharing the dumps. */
export async function forgetFlowsOf(ips: readonly string[], opts: ConntrackOptions): Promise<void> {
  for (const ip of ips) assertIPv4(ip, "container address");
  if (ips.length === 0) return;
  await deleteFlows(opts.nfnl, await flowsOf(opts.nfnl, ips));
}

/**
 * One whole dump, deleting the entries that name an address `within` (a
 * plugin subnet, say) that `keep` does not claim: the flows of addresses
 * released while a crash kept forgetFlows from running. Returns how many
 * entries it deleted.
 */
export async function forgetFlowsOutside(
  keep: (ip: string) => boolean,
  within: (ip: string) => boolean,
  opts: ConntrackOptions,
): Promise<number> {
  const stale = (await dumpFlows(opts.nfnl, dumpRequest())).filter((f) => flowAddresses(f).some((a) => within(a) && !keep(a)));
  return deleteFlows(opts.nfnl, stale);
}
