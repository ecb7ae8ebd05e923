/**
 * Anti-spoofing on the bridge ports, in one nftables `bridge` table whose
 * per-frame cost does not grow with the number of containers: a frame from a
 * plugin port is looked up in one hashed set keyed by (input port, source MAC,
 * source IPv4), so a container may only send IPv4 and ARP with its own MAC and
 * address, and nothing else (IPv6 and every other ether type are dropped).
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
import { formatIpv4, macFromBytes, parseIpv4 } from "../lib/address";
import { DataplaneError } from "./errors";
import { Runner, runProgram } from "./exec";
import { removeLegacyGuards } from "./legacy-guards";
import { attr, nested, NFNL_SUBSYS_NFTABLES, type NfMessage, type Nfnl, strAttr } from "./nfnetlink";
import { assertIfName, assertIPv4, assertMac } from "./validate";

export interface PortGuard {
  port: string;
  address: string;
  mac: string;
}

export const GUARD_TABLE = "azure-vnet";
const SET = "ports";
const CHAIN = "guard";
/** Ports the plugin creates all carry this prefix (see network/records.ts). */
const PORT_PREFIX = "azvh";

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

/** The table's shape; elements are added to its set separately. */
function shapeText(): string {
  return [
    `table bridge ${GUARD_TABLE} {`,
    `  set ${SET} {`,
    "    type ifname . ether_addr . ipv4_addr",
    "  }",
    `  chain ${CHAIN} {`,
    "    type filter hook prerouting priority -300; policy accept;",
    `    iifname != "${PORT_PREFIX}*" accept`,
    `    ether type ip iifname . ether saddr . ip saddr @${SET} accept`,
    // The ARP sender must be the frame's sender too; lengths other than
    // Ethernet/IPv4 would move the fields the lookups read.
    `    ether type arp arp hlen 6 arp plen 4 iifname . ether saddr . arp saddr ip @${SET} iifname . arp saddr ether . arp saddr ip @${SET} accept`,
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
  };
}

const elementText = (g: PortGuard) => `"${g.port}" . ${g.mac} . ${g.address}`;

/** A set key as the kernel stores it: the port name padded to IFNAMSIZ, the MAC to 8 bytes, then the address. */
export function elementKey(g: PortGuard): Buffer {
  const key = Buffer.alloc(IFNAMSIZ + 8 + 4);
  key.write(g.port, 0, "latin1");
  Buffer.from(g.mac.split(":").map((b) => parseInt(b, 16))).copy(key, IFNAMSIZ);
  key.writeUInt32BE(parseIpv4(g.address) ?? 0, IFNAMSIZ + 8);
  return key;
}

/** The inverse of elementKey, for tests and diagnosis. */
export function guardOfKey(key: Buffer): PortGuard {
  const end = key.indexOf(0);
  return {
    port: key.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end).toString("latin1"),
    mac: macFromBytes(key.subarray(IFNAMSIZ, IFNAMSIZ + 6)),
    address: formatIpv4(key.readUInt32BE(IFNAMSIZ + 8)),
  };
}

function elementsMessage(type: number, guards: PortGuard[]): NfMessage {
  const elements = guards.map((g) => nested(NFTA_LIST_ELEM, nested(NFTA_SET_ELEM_KEY, attr(NFTA_DATA_VALUE, elementKey(g)))));
  return {
    type: (NFNL_SUBSYS_NFTABLES << 8) | type,
    flags: type === NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0,
    family: NFPROTO_BRIDGE,
    attrs: Buffer.concat([
      strAttr(NFTA_SET_ELEM_LIST_TABLE, GUARD_TABLE),
      strAttr(NFTA_SET_ELEM_LIST_SET, SET),
      nested(NFTA_SET_ELEM_LIST_ELEMENTS, ...elements),
    ]),
  };
}

/** What `nft -j list table` shows of the table. */
export interface GuardTableView {
  exists: boolean;
  /** The set, chain and rules without handles or elements: compared with what the plugin wrote. */
  shape: string;
  elements: PortGuard[];
}

type Json = Record<string, unknown>;

export function parseTableJson(text: string): GuardTableView {
  const items = ((JSON.parse(text) as { nftables?: Json[] }).nftables ?? []).filter((i) => !("metainfo" in i));
  const table = items.some((i) => "table" in i);
  const shape: unknown[] = [];
  const elements: PortGuard[] = [];
  for (const item of items) {
    const [kind, body] = Object.entries(item)[0] as [string, Json];
    const { handle: _handle, elem, ...rest } = body;
    shape.push({ [kind]: rest });
    if (kind !== "set" || rest.name !== SET || !Array.isArray(elem)) continue;
    for (const e of elem as unknown[]) {
      const concat = (e as { concat?: unknown[] }).concat;
      if (Array.isArray(concat) && concat.length === 3 && concat.every((v) => typeof v === "string")) {
        const [port, mac, address] = concat as string[];
        elements.push({ port, mac: mac.toLowerCase(), address });
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

const same = (a: PortGuard, b: PortGuard) => a.port === b.port && a.mac === b.mac && a.address === b.address;

export class NftPortGuards {
  /** The shape read back right after the plugin wrote the table; undefined until then. */
  private reference: string | undefined;
  /** The elements the kernel holds, as last read or written. */
  private installed: PortGuard[] = [];

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
  private async rebuild(guards: PortGuard[]): Promise<void> {
    const lines = [`table bridge ${GUARD_TABLE} {}`, `delete table bridge ${GUARD_TABLE}`, shapeText()];
    if (guards.length > 0) lines.push(`add element bridge ${GUARD_TABLE} ${SET} { ${guards.map(elementText).join(", ")} }`);
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

  private async change(add: PortGuard[], del: PortGuard[]): Promise<void> {
    const msgs: NfMessage[] = [];
    if (del.length > 0) msgs.push(elementsMessage(NFT_MSG_DELSETELEM, del));
    if (add.length > 0) msgs.push(elementsMessage(NFT_MSG_NEWSETELEM, add));
    if (msgs.length === 0) return;
    await this.o.nfnl().batch(msgs);
    this.installed = [
      ...this.installed.filter((e) => !del.some((d) => same(d, e))),
      ...add.filter((a) => !this.installed.some((e) => same(a, e))),
    ];
  }

  /** One step whatever the number of guards: the element of this port, replacing any other it had. */
  async add(guard: PortGuard): Promise<void> {
    const g = checked(guard);
    for (let attempt = 0; ; attempt++) {
      await this.ready();
      const stale = this.installed.filter((e) => e.port === g.port && !same(e, g));
      try {
        await this.change([g], stale);
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
   * Make the guards match `wanted`: every wanted port gets its element; with
   * `removeOthers`, every other element goes. Reads the table first and
   * writes nothing when it already matches; a damaged shape is rewritten
   * whole. Returns the ports whose guards were missing or damaged, and those
   * whose guards were removed.
   */
  async sync(wanted: PortGuard[], removeOthers: boolean): Promise<{ repaired: string[]; removed: string[] }> {
    const want = wanted.map(checked);
    const view = await this.read();
    // No table and nothing to guard (no network, or none with a live endpoint): nothing to make.
    if (!view.exists && want.length === 0) return { repaired: [], removed: [] };
    const keep = new Set(want.map((g) => g.port));
    const others = view.elements.filter((e) => !keep.has(e.port));
    const removed = removeOthers ? [...new Set(others.map((e) => e.port))] : [];
    const shapeOk = view.exists && this.reference !== undefined && view.shape === this.reference;
    if (!shapeOk) {
      // A damaged chain guarded nothing: every wanted guard counts as repaired.
      await this.rebuild([...want, ...(removeOthers ? [] : others)]);
      return { repaired: view.exists && this.reference !== undefined ? want.map((g) => g.port) : missing(want, view.elements), removed };
    }
    const repaired = missing(want, view.elements);
    const stale = view.elements.filter((e) => (keep.has(e.port) && !want.some((g) => same(g, e))) || (removeOthers && !keep.has(e.port)));
    await this.change(
      want.filter((g) => repaired.includes(g.port)),
      stale,
    );
    return { repaired, removed };
  }

  /** What a port's guard allows, read from the kernel (e.g. a forgotten endpoint's MAC). */
  async allowedOn(port: string): Promise<{ mac?: string; address?: string } | undefined> {
    const e = (await this.read()).elements.find((g) => g.port === port);
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

/** Wanted ports whose exact element is not held. */
function missing(want: PortGuard[], held: PortGuard[]): string[] {
  return want.filter((g) => !held.some((e) => same(e, g))).map((g) => g.port);
}
