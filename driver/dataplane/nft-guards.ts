/**
 * Anti-spoofing on the bridge ports, in one nftables `bridge` table whose
 * per-frame cost does not grow with the number of containers: a frame from a
 * plugin port is looked up in one hashed set keyed by (input port, source MAC,
 * source IPv4), so a container may only send IPv4 and ARP with its own MAC and
 * address, and nothing else (every other ether type is dropped).
 *
 * IPv6 (only a port of a dual-stack network has IPv6 elements; every other
 * port's IPv6 is dropped by the first IPv6 rule): a second set keyed by
 * (port, MAC, IPv6 source) holds the container's IPv6 address, its EUI-64
 * link-local address and the unspecified address (duplicate address
 * detection). A neighbour advertisement must also name one of the container's
 * two addresses as its target, looked up in a third set keyed by (port, MAC,
 * target field); router advertisements, redirects and DHCPv6 server replies
 * are dropped; from the link-local or unspecified source only router and
 * neighbour solicitations pass. Every rule is a hashed or constant lookup.
 * Containers share a bridge, so the host's routing (rp_filter) cannot tell
 * them apart; the bridge hook sees the port a frame came in on.
 *
 * The guards fail closed: the chain drops every frame from a plugin port
 * (`azvh…`) that no element allows, so a port whose element was never written,
 * or a set someone flushed, passes nothing.
 *
 * The table's shape (set, chain, rules) is written whole with one `nft -f`
 * transaction when the plugin starts or finds it damaged; a container's guard
 * is then one element added or deleted through netfilter netlink, with no
 * program started. Reconciliation reads the table back with `nft -j` and
 * writes only what differs.
 */
import { eui64LinkLocal, formatIpv4, formatIpv6, macFromBytes, parseIpv4, parseIpv6 } from "../lib/address";
import { DataplaneError } from "./errors";
import { Runner, runProgram } from "./exec";
import { removeLegacyGuards } from "./legacy-guards";
import { attr, nested, NFNL_SUBSYS_NFTABLES, type NfMessage, type Nfnl, strAttr } from "./nfnetlink";
import { assertIfName, assertIPv4, assertIPv6, assertMac } from "./validate";

export interface PortGuard {
  port: string;
  address: string;
  mac: string;
  /** The container's IPv6 address, on a dual-stack network only. */
  address6?: string;
}

export const GUARD_TABLE = "azure-vnet";
const SET = "ports";
/** (port, MAC, IPv6 source): the container's IPv6 address, its link-local address and "::". */
const SET6 = "ports6";
/** (port, MAC, neighbour advertisement target): the container's IPv6 address and its link-local address. */
const TARGETS6 = "targets6";
type SetName = typeof SET | typeof SET6 | typeof TARGETS6;
const CHAIN = "guard";
/** Ports the plugin creates all carry this prefix (see network/records.ts). */
const PORT_PREFIX = "azvh";
/** The target address of a neighbour advertisement: 8 bytes into its ICMPv6 header. */
const NA_TARGET = "@th,64,128";

const NFPROTO_BRIDGE = 7;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NLM_F_CREATE = 0x400;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_DATA_VALUE = 1;
const IFNAMSIZ = 16;

/** The table's shape; elements are added to its sets separately. */
export function shapeText(): string {
  return [
    `table bridge ${GUARD_TABLE} {`,
    `  set ${SET} {`,
    "    type ifname . ether_addr . ipv4_addr",
    "  }",
    `  set ${SET6} {`,
    "    type ifname . ether_addr . ipv6_addr",
    "  }",
    `  set ${TARGETS6} {`,
    `    typeof iifname . ether saddr . ${NA_TARGET}`,
    "  }",
    `  chain ${CHAIN} {`,
    "    type filter hook prerouting priority -300; policy accept;",
    `    iifname != "${PORT_PREFIX}*" accept`,
    `    ether type ip iifname . ether saddr . ip saddr @${SET} accept`,
    // The ARP sender must be the frame's sender too; lengths other than
    // Ethernet/IPv4 would move the fields the lookups read.
    `    ether type arp arp hlen 6 arp plen 4 iifname . ether saddr . arp saddr ip @${SET} iifname . arp saddr ether . arp saddr ip @${SET} accept`,
    `    ether type ip6 iifname . ether saddr . ip6 saddr != @${SET6} drop`,
    `    ether type ip6 icmpv6 type nd-neighbor-advert iifname . ether saddr . ${NA_TARGET} @${TARGETS6} accept`,
    "    ether type ip6 icmpv6 type { nd-neighbor-advert, nd-router-advert, nd-redirect } drop",
    "    ether type ip6 udp sport 547 drop",
    "    ether type ip6 ip6 saddr { ::, fe80::/10 } icmpv6 type { nd-router-solicit, nd-neighbor-solicit } accept",
    "    ether type ip6 ip6 saddr { ::, fe80::/10 } drop",
    "    ether type ip6 accept",
    "    drop",
    "  }",
    "}",
  ].join("\n");
}

function checked(g: PortGuard): PortGuard {
  return {
    port: assertIfName(g.port, "bridge port"),
    address: assertIPv4(g.address, "container address"),
    mac: assertMac(g.mac, "container MAC").toLowerCase(),
    ...(g.address6 !== undefined ? { address6: assertIPv6(g.address6, "container IPv6 address") } : {}),
  };
}

/** One element of one of the table's sets. */
export interface GuardElement {
  set: SetName;
  port: string;
  mac: string;
  /** Dotted IPv4 (ports) or canonical IPv6 (ports6, targets6). */
  address: string;
}

/** The elements a (checked) guard wants. */
export function guardElements(g: PortGuard): GuardElement[] {
  const out: GuardElement[] = [{ set: SET, port: g.port, mac: g.mac, address: g.address }];
  if (g.address6 === undefined) return out;
  const own = [g.address6, eui64LinkLocal(g.mac)];
  for (const address of [...own, "::"]) out.push({ set: SET6, port: g.port, mac: g.mac, address });
  for (const address of own) out.push({ set: TARGETS6, port: g.port, mac: g.mac, address });
  return out;
}

const elementText = (e: GuardElement) =>
  `"${e.port}" . ${e.mac} . ${e.set === TARGETS6 ? `0x${(parseIpv6(e.address) as bigint).toString(16).padStart(32, "0")}` : e.address}`;

/** A set key as the kernel stores it: the port name padded to IFNAMSIZ, the MAC to 8 bytes, then the address. */
export function elementKey(e: GuardElement): Buffer {
  const v4 = e.set === SET;
  const key = Buffer.alloc(IFNAMSIZ + 8 + (v4 ? 4 : 16));
  key.write(e.port, 0, "latin1");
  Buffer.from(e.mac.split(":").map((b) => parseInt(b, 16))).copy(key, IFNAMSIZ);
  if (v4) key.writeUInt32BE(parseIpv4(e.address) ?? 0, IFNAMSIZ + 8);
  else Buffer.from((parseIpv6(e.address) ?? 0n).toString(16).padStart(32, "0"), "hex").copy(key, IFNAMSIZ + 8);
  return key;
}

/** The inverse of elementKey, for tests and diagnosis. */
export function elementOfKey(set: SetName, key: Buffer): GuardElement {
  const end = key.indexOf(0);
  const tail = key.subarray(IFNAMSIZ + 8);
  return {
    set,
    port: key.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end).toString("latin1"),
    mac: macFromBytes(key.subarray(IFNAMSIZ, IFNAMSIZ + 6)),
    address: set === SET ? formatIpv4(tail.readUInt32BE(0)) : formatIpv6(BigInt(`0x${tail.toString("hex")}`)),
  };
}

function elementsMessage(type: number, set: SetName, elems: GuardElement[]): NfMessage {
  const elements = elems.map((e) => nested(NFTA_LIST_ELEM, nested(NFTA_SET_ELEM_KEY, attr(NFTA_DATA_VALUE, elementKey(e)))));
  return {
    type: (NFNL_SUBSYS_NFTABLES << 8) | type,
    flags: type === NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0,
    family: NFPROTO_BRIDGE,
    attrs: Buffer.concat([
      strAttr(NFTA_SET_ELEM_LIST_TABLE, GUARD_TABLE),
      strAttr(NFTA_SET_ELEM_LIST_SET, set),
      nested(NFTA_SET_ELEM_LIST_ELEMENTS, ...elements),
    ]),
  };
}

/** What `nft -j list table` shows of the table. */
export interface GuardTableView {
  exists: boolean;
  /** The sets, chain and rules without handles or elements: compared with what the plugin wrote. */
  shape: string;
  elements: GuardElement[];
}

type Json = Record<string, unknown>;

const SETS: readonly string[] = [SET, SET6, TARGETS6];

/** An address as nft prints it in a set: dotted IPv4, IPv6, or (targets6) a 128-bit hex integer. */
function elementAddress(set: SetName, text: string): string | undefined {
  if (set === SET) return parseIpv4(text) === undefined ? undefined : text;
  const value = set === TARGETS6 && /^0x[0-9a-f]{1,32}$/i.test(text) ? BigInt(text) : parseIpv6(text);
  return value === undefined ? undefined : formatIpv6(value);
}

export function parseTableJson(text: string): GuardTableView {
  const items = ((JSON.parse(text) as { nftables?: Json[] }).nftables ?? []).filter((i) => !("metainfo" in i));
  const table = items.some((i) => "table" in i);
  const shape: unknown[] = [];
  const elements: GuardElement[] = [];
  for (const item of items) {
    const [kind, body] = Object.entries(item)[0] as [string, Json];
    const { handle: _handle, elem, ...rest } = body;
    shape.push({ [kind]: rest });
    if (kind !== "set" || !SETS.includes(rest.name as string) || !Array.isArray(elem)) continue;
    const set = rest.name as SetName;
    for (const e of elem as unknown[]) {
      const concat = (e as { concat?: unknown[] }).concat;
      if (Array.isArray(concat) && concat.length === 3 && concat.every((v) => typeof v === "string")) {
        const [port, mac, raw] = concat as string[];
        const address = elementAddress(set, raw);
        if (address !== undefined) elements.push({ set, port, mac: mac.toLowerCase(), address });
      }
    }
  }
  return { exists: table, shape: JSON.stringify(shape), elements };
}

export interface NftPortGuardOptions {
  nfnl: () => Nfnl;
  run?: Runner;
  timeoutMs?: number;
}

const same = (a: GuardElement, b: GuardElement) => a.set === b.set && a.port === b.port && a.mac === b.mac && a.address === b.address;

export class NftPortGuards {
  /** The shape read back right after the plugin wrote the table; undefined until then. */
  private reference: string | undefined;
  /** The elements the kernel holds, as last read or written. */
  private installed: GuardElement[] = [];

  constructor(private readonly o: NftPortGuardOptions) {}

  private run(file: string, args: string[], input?: string): Promise<{ stdout: string }> {
    return (this.o.run ?? runProgram)(file, args, { input, timeoutMs: this.o.timeoutMs });
  }

  async read(): Promise<GuardTableView> {
    try {
      const view = parseTableJson((await this.run("nft", ["-j", "list", "table", "bridge", GUARD_TABLE])).stdout);
      this.installed = view.elements;
      return view;
    } catch (err) {
      // nft says "No such file or directory" for a table that does not exist.
      if (err instanceof DataplaneError && err.code.startsWith("EXIT_") && /No such file|does not exist/i.test(err.message)) {
        this.installed = [];
        return { exists: false, shape: "", elements: [] };
      }
      throw err;
    }
  }

  /** Writes the whole table with these elements in one transaction: at no moment is a port unguarded. */
  private async rebuild(elements: GuardElement[]): Promise<void> {
    const lines = [`table bridge ${GUARD_TABLE} {}`, `delete table bridge ${GUARD_TABLE}`, shapeText()];
    for (const set of SETS) {
      const of = elements.filter((e) => e.set === set);
      if (of.length > 0) lines.push(`add element bridge ${GUARD_TABLE} ${set} { ${of.map(elementText).join(", ")} }`);
    }
    await this.run("nft", ["-f", "-"], `${lines.join("\n")}\n`);
    const view = await this.read();
    this.reference = view.shape;
    // Guards of an older version (ebtables chains) go once these are in place.
    await removeLegacyGuards({ run: this.o.run, timeoutMs: this.o.timeoutMs });
  }

  /** The table as the plugin wrote it, keeping the elements it holds. */
  private async ready(): Promise<void> {
    if (this.reference !== undefined) return;
    const view = await this.read();
    await this.rebuild(view.elements);
  }

  private async change(add: GuardElement[], del: GuardElement[]): Promise<void> {
    const msgs: NfMessage[] = [];
    for (const set of SETS as SetName[]) {
      const d = del.filter((e) => e.set === set);
      if (d.length > 0) msgs.push(elementsMessage(NFT_MSG_DELSETELEM, set, d));
    }
    for (const set of SETS as SetName[]) {
      const a = add.filter((e) => e.set === set);
      if (a.length > 0) msgs.push(elementsMessage(NFT_MSG_NEWSETELEM, set, a));
    }
    if (msgs.length === 0) return;
    await this.o.nfnl().batch(msgs);
    this.installed = [
      ...this.installed.filter((e) => !del.some((d) => same(d, e))),
      ...add.filter((a) => !this.installed.some((e) => same(a, e))),
    ];
  }

  /** One step whatever the number of guards: the elements of this port, replacing any other it had. */
  async add(guard: PortGuard): Promise<void> {
    const want = guardElements(checked(guard));
    const port = want[0].port;
    for (let attempt = 0; ; attempt++) {
      await this.ready();
      const stale = this.installed.filter((e) => e.port === port && !want.some((w) => same(w, e)));
      try {
        await this.change(
          want.filter((w) => !this.installed.some((e) => same(w, e))),
          stale,
        );
        return;
      } catch (err) {
        // The table or an element was changed behind our back: read it again and retry once.
        this.reference = undefined;
        if (attempt > 0) throw err;
      }
    }
  }

  /** False if the port had no guard. */
  async remove(port: string): Promise<boolean> {
    assertIfName(port, "bridge port");
    for (let attempt = 0; ; attempt++) {
      await this.ready();
      const gone = this.installed.filter((e) => e.port === port);
      if (gone.length === 0) return false;
      try {
        await this.change([], gone);
        return true;
      } catch (err) {
        this.reference = undefined;
        if (attempt > 0) throw err;
      }
    }
  }

  /**
   * Make the guards match `wanted`: every wanted port gets its elements; with
   * `removeOthers`, every other element goes. Reads the table first and
   * writes nothing when it already matches; a damaged shape is rewritten
   * whole. Returns the ports whose guards were missing or damaged, and those
   * whose guards were removed.
   */
  async sync(wanted: PortGuard[], removeOthers: boolean): Promise<{ repaired: string[]; removed: string[] }> {
    const want = wanted.map(checked);
    const wantElems = want.flatMap(guardElements);
    const view = await this.read();
    // No table and nothing to guard (no network, or none with a live endpoint): nothing to make.
    if (!view.exists && want.length === 0) return { repaired: [], removed: [] };
    const keep = new Set(want.map((g) => g.port));
    const others = view.elements.filter((e) => !keep.has(e.port));
    const removed = removeOthers ? [...new Set(others.map((e) => e.port))] : [];
    const shapeOk = view.exists && this.reference !== undefined && view.shape === this.reference;
    if (!shapeOk) {
      // A damaged chain guarded nothing: every wanted guard counts as repaired.
      await this.rebuild([...wantElems, ...(removeOthers ? [] : others)]);
      return {
        repaired: view.exists && this.reference !== undefined ? want.map((g) => g.port) : missing(wantElems, view.elements),
        removed,
      };
    }
    const repaired = missing(wantElems, view.elements);
    const stale = view.elements.filter(
      (e) => (keep.has(e.port) && !wantElems.some((w) => same(w, e))) || (removeOthers && !keep.has(e.port)),
    );
    await this.change(
      wantElems.filter((w) => !view.elements.some((e) => same(w, e))),
      stale,
    );
    return { repaired, removed };
  }

  /** What a port's guard allows, read from the kernel (e.g. a forgotten endpoint's MAC). */
  async allowedOn(port: string): Promise<{ mac?: string; address?: string } | undefined> {
    const e = (await this.read()).elements.find((g) => g.port === port && g.set === SET);
    return e ? { mac: e.mac, address: e.address } : undefined;
  }

  /** Ports that have a guard, for reconciliation and diagnosis (read from the kernel). */
  async list(): Promise<string[]> {
    try {
      return [...new Set((await this.read()).elements.map((e) => e.port))];
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "ENOENT") return [];
      throw err;
    }
  }

  /** The table and any guards of an older version: for when the last network goes. */
  async removeAll(): Promise<void> {
    if ((await this.read()).exists) await this.run("nft", ["delete", "table", "bridge", GUARD_TABLE]);
    await removeLegacyGuards({ run: this.o.run, timeoutMs: this.o.timeoutMs });
    this.installed = [];
    this.reference = undefined;
  }
}

/** Ports of wanted elements that are not held. */
function missing(want: GuardElement[], held: GuardElement[]): string[] {
  return [...new Set(want.filter((w) => !held.some((e) => same(e, w))).map((w) => w.port))];
}
