/**
 * Anti-spoofing on the bridge ports: a container may only send frames with its
 * own MAC, IPv4 packets and ARP with its own address. Containers share a
 * bridge, so the host's routing (rp_filter) cannot tell them apart; ebtables
 * sees the port a frame came in on.
 *
 * The guards fail closed: every frame from a plugin port enters
 * AZURE-VNET-PORTS, whose policy is DROP, and only a port's own chain accepts
 * it. A port without a chain (its guard never written, or its jump deleted)
 * and a chain someone flushed (its policy is DROP too) pass nothing.
 *
 * Each endpoint gets a chain of its own. Only this plugin manages these
 * chains, so which ports have one is read from the kernel once and then
 * tracked: adding or removing a guard is one `ebtables-restore --noflush` run,
 * whatever the number of endpoints already present, and start-up brings every
 * guard in line in one run.
 */
import { DataplaneError } from "./errors";
import { Runner, runProgram } from "./exec";
import { assertIPv4, assertIfName, assertMac } from "./validate";

export const PORTS_CHAIN = "AZURE-VNET-PORTS";
/** Ports the plugin creates all carry this prefix (see network/records.ts). */
const PORT_PATTERN = "azvh+";
const ENTRY_JUMP = `-A PREROUTING -i ${PORT_PATTERN} -j ${PORTS_CHAIN}`;
const chainOf = (port: string) => `AZV-${port}`;
const jumpOf = (port: string) => `-A ${PORTS_CHAIN} -i ${port} -j ${chainOf(port)}`;

export interface PortGuard {
  port: string;
  address: string;
  mac: string;
}

export interface PortGuardOptions {
  run?: Runner;
  timeoutMs?: number;
}

interface Installed {
  entryChain: boolean;
  /** The entry chain's policy as ebtables-save prints it ("DROP" when healthy). */
  entryPolicy?: string;
  entryJumps: number;
  /** port -> number of jumps to its chain */
  ports: Map<string, number>;
  /** port -> the MAC and address its chain allows */
  allowed: Map<string, { mac?: string; address?: string }>;
  /** port -> its chain's policy and number of rules, to tell a whole guard from a damaged one */
  shape: Map<string, { policy: string; rules: number }>;
}

function parse(text: string): Installed {
  const lines = text.split("\n").map((l) => l.trim());
  const ports = new Map<string, number>();
  const shape = new Map<string, { policy: string; rules: number }>();
  for (const l of lines) {
    const chain = /^:AZV-(\S+) (\S+)/.exec(l);
    if (chain) {
      ports.set(chain[1], ports.get(chain[1]) ?? 0);
      shape.set(chain[1], { policy: chain[2], rules: 0 });
    }
  }
  const allowed = new Map<string, { mac?: string; address?: string }>();
  for (const l of lines) {
    const jump = /^-A AZURE-VNET-PORTS -i (\S+) -j AZV-\1$/.exec(l);
    if (jump && ports.has(jump[1])) ports.set(jump[1], (ports.get(jump[1]) ?? 0) + 1);
    const rule = /^-A AZV-(\S+) /.exec(l);
    const counted = rule && shape.get(rule[1]);
    if (counted) counted.rules += 1;
    const mac = /^-A AZV-(\S+) -s ! ([0-9a-f:]{17}) -j DROP$/i.exec(l);
    if (mac) allowed.set(mac[1], { ...allowed.get(mac[1]), mac: mac[2].toLowerCase() });
    const ip = /^-A AZV-(\S+) -p IPv4 --ip-src ! ([0-9.]+) -j DROP$/.exec(l);
    if (ip) allowed.set(ip[1], { ...allowed.get(ip[1]), address: ip[2] });
  }
  const entry = lines.find((l) => l.startsWith(`:${PORTS_CHAIN} `));
  return {
    entryChain: entry !== undefined,
    entryPolicy: entry?.split(" ")[1],
    entryJumps: lines.filter((l) => l === ENTRY_JUMP).length,
    ports,
    allowed,
    shape,
  };
}

function rulesFor(g: PortGuard): string[] {
  const port = assertIfName(g.port, "bridge port");
  const ip = assertIPv4(g.address, "container address");
  const mac = assertMac(g.mac, "container MAC");
  const chain = chainOf(port);
  // Declaring the chain flushes it: re-adding a guard replaces its rules.
  // ACCEPT ends the nat table's PREROUTING for the frame; RETURN would fall
  // back into the entry chain, whose policy drops.
  return [
    `:${chain} DROP`,
    `-A ${chain} -s ! ${mac} -j DROP`,
    `-A ${chain} -p IPv4 --ip-src ! ${ip} -j DROP`,
    `-A ${chain} -p IPv4 -j ACCEPT`,
    `-A ${chain} -p ARP --arp-ip-src ! ${ip} -j DROP`,
    `-A ${chain} -p ARP -j ACCEPT`,
    // IPv4 only: nothing else a container sends is expected or checked.
    `-A ${chain} -j DROP`,
  ];
}

const GUARD_RULES = 6;

/** Whether the kernel holds exactly this guard: its chain whole, allowing this MAC and address, reached by one jump. */
function intact(st: Installed, g: PortGuard): boolean {
  const allowed = st.allowed.get(g.port);
  const shape = st.shape.get(g.port);
  return (
    st.ports.get(g.port) === 1 &&
    shape?.policy === "DROP" &&
    shape.rules === GUARD_RULES &&
    allowed?.mac === g.mac.toLowerCase() &&
    allowed.address === g.address
  );
}

export class PortGuards {
  private installed: Installed | undefined;

  constructor(private readonly o: PortGuardOptions = {}) {}

  private async read(): Promise<Installed> {
    const text = (await (this.o.run ?? runProgram)("ebtables-save", ["-t", "nat"], { timeoutMs: this.o.timeoutMs })).stdout;
    this.installed = parse(text);
    return this.installed;
  }

  private async current(): Promise<Installed> {
    return this.installed ?? (await this.read());
  }

  private async restore(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    try {
      await (this.o.run ?? runProgram)("ebtables-restore", ["--noflush"], {
        input: ["*nat", ...lines, "COMMIT", ""].join("\n"),
        timeoutMs: this.o.timeoutMs,
      });
    } catch (err) {
      // Someone else changed the chains: forget what we knew and let the caller retry.
      this.installed = undefined;
      throw err;
    }
  }

  private entryLines(st: Installed): string[] {
    const lines: string[] = [];
    // A chain of an older version returned what no guard matched: make it drop.
    if (!st.entryChain) lines.push(`:${PORTS_CHAIN} DROP`);
    else if (st.entryPolicy !== "DROP") lines.push(`-P ${PORTS_CHAIN} DROP`);
    if (st.entryJumps === 0) lines.push(ENTRY_JUMP);
    return lines;
  }

  private commit(st: Installed): void {
    st.entryChain = true;
    st.entryPolicy = "DROP";
    st.entryJumps = Math.max(st.entryJumps, 1);
  }

  async add(g: PortGuard): Promise<void> {
    const rules = rulesFor(g);
    for (let attempt = 0; ; attempt++) {
      const st = await this.current();
      const jumps = st.ports.get(g.port) ?? 0;
      try {
        await this.restore([...this.entryLines(st), ...rules, ...(jumps === 0 ? [jumpOf(g.port)] : [])]);
        this.commit(st);
        st.ports.set(g.port, Math.max(jumps, 1));
        return;
      } catch (err) {
        if (attempt > 0) throw err;
      }
    }
  }

  /** False if the port had no guard. */
  async remove(port: string): Promise<boolean> {
    assertIfName(port, "bridge port");
    for (let attempt = 0; ; attempt++) {
      const st = await this.current();
      const jumps = st.ports.get(port);
      if (jumps === undefined) return false;
      try {
        await this.restore([...Array(jumps).fill(jumpOf(port).replace("-A ", "-D ")), `-F ${chainOf(port)}`, `-X ${chainOf(port)}`]);
        st.ports.delete(port);
        return true;
      } catch (err) {
        if (attempt > 0) throw err;
      }
    }
  }

  /**
   * Make the guards match `wanted` in one run: every wanted port gets its
   * rules (re)written; with `removeOthers`, every other guard goes. Reads the
   * kernel first and writes nothing when it already matches. Returns the
   * ports whose guards were rewritten because they were missing or damaged,
   * and those whose guards were removed.
   */
  async sync(wanted: PortGuard[], removeOthers: boolean): Promise<{ repaired: string[]; removed: string[] }> {
    const st = await this.read();
    const keep = new Set(wanted.map((g) => g.port));
    const gone = removeOthers ? [...st.ports.keys()].filter((p) => !keep.has(p)) : [];
    const repaired = wanted.filter((g) => !intact(st, g)).map((g) => g.port);
    const entryOk = st.entryChain && st.entryPolicy === "DROP" && st.entryJumps === 1;
    if (entryOk && repaired.length === 0 && gone.length === 0) return { repaired, removed: [] };
    // The entry chain is rebuilt whole (declaring it flushes it): one jump per
    // wanted port, none to the chains that go, duplicates of older runs gone.
    const lines = [`:${PORTS_CHAIN} DROP`, ...(st.entryJumps === 0 ? [ENTRY_JUMP] : [])];
    for (let extra = 1; extra < st.entryJumps; extra++) lines.push(ENTRY_JUMP.replace("-A ", "-D "));
    const kept = removeOthers ? [] : [...st.ports.keys()].filter((p) => !keep.has(p));
    for (const g of wanted) lines.push(...rulesFor(g), jumpOf(g.port));
    for (const port of kept) lines.push(jumpOf(port));
    for (const port of gone) lines.push(`-F ${chainOf(port)}`, `-X ${chainOf(port)}`);
    await this.restore(lines);
    this.commit(st);
    st.entryJumps = 1;
    for (const port of [...wanted.map((g) => g.port), ...kept]) st.ports.set(port, 1);
    for (const port of gone) st.ports.delete(port);
    return { repaired, removed: gone };
  }

  /** What a port's guard allows, read from the kernel (e.g. a forgotten endpoint's MAC). */
  async allowedOn(port: string): Promise<{ mac?: string; address?: string } | undefined> {
    return (await this.read()).allowed.get(port);
  }

  /** Ports that have a guard chain, for reconciliation and diagnosis (read from the kernel). */
  async list(): Promise<string[]> {
    try {
      return [...(await this.read()).ports.keys()];
    } catch (err) {
      if (err instanceof DataplaneError && err.code === "ENOENT") return [];
      throw err;
    }
  }

  /** Every guard chain, the entry chain and its jump: for when the last network goes. */
  async removeAll(): Promise<void> {
    const st = await this.read();
    // The entry chain is emptied first: then no per-port chain is referenced.
    const lines: string[] = st.entryChain ? [`-F ${PORTS_CHAIN}`] : [];
    for (const port of st.ports.keys()) lines.push(`-F ${chainOf(port)}`, `-X ${chainOf(port)}`);
    for (let i = 0; i < st.entryJumps; i++) lines.push(ENTRY_JUMP.replace("-A ", "-D "));
    if (st.entryChain) lines.push(`-X ${PORTS_CHAIN}`);
    await this.restore(lines);
    this.installed = { entryChain: false, entryJumps: 0, ports: new Map(), allowed: new Map(), shape: new Map() };
  }
}
