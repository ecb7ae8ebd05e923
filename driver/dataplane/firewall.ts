/**
 * Applying, reading and removing the plugin's firewall chains. One
 * `iptables-restore -w --noflush` run replaces all its chains atomically (a bad
 * batch is rejected whole and the live rules stay as they were); the jumps from
 * the built-in chains are then put first in their chains, and put back first
 * whenever Docker (which re-inserts its own jumps at the top when dockerd
 * starts) or an operator has put rules above them.
 */
import { DataplaneError } from "./errors";
import { Runner, runProgram } from "./exec";
import {
  CHAINS,
  DNAT_CHAIN,
  FirewallPlan,
  FORWARD_CHAIN,
  HOOKS,
  HOOKS6,
  isIssuedPlan,
  MARK_CHAIN,
  PLATFORM_CHAIN,
  POSTROUTING_CHAIN,
  SOURCE_CHAIN,
} from "./firewall-plan";
import { detectBackend, IptablesBackend, IptablesMode, parseSave, SavedTable } from "./iptables";

export * from "./firewall-plan";
export { detectBackend } from "./iptables";
export type { IptablesBackend, IptablesMode } from "./iptables";

export interface FirewallOptions {
  /** Detected when not given. */
  backend?: IptablesBackend;
  run?: Runner;
  timeoutMs?: number;
}

export interface FirewallState {
  mode: IptablesMode;
  forwardChain: boolean;
  postroutingChain: boolean;
  /** Rules of the plugin's chains as iptables-save prints them. */
  filterRules: string[];
  natRules: string[];
  /** The published ports' chain (DNAT_CHAIN). */
  dnatChain: boolean;
  dnatRules: string[];
  /** How many `-A FORWARD -j AZURE-VNET-FORWARD` exist (1 when healthy). */
  forwardJumps: number;
  postroutingJumps: number;
  /** The mangle chains (MARK_CHAIN and PLATFORM_CHAIN) exist. */
  mangleChains: boolean;
  mangleRules: string[];
  /** The raw chain (SOURCE_CHAIN) exists. */
  rawChain: boolean;
  rawRules: string[];
  /** Built-in chains whose first rule is not the jump to the plugin's chain ("filter FORWARD", ...). */
  jumpsNotFirst: string[];
}

async function context(opts: FirewallOptions) {
  const run = opts.run ?? runProgram;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const backend = opts.backend ?? (await detectBackend({ run, timeoutMs }));
  return { run, timeoutMs, backend };
}

export async function applyFirewall(plan: FirewallPlan, opts: FirewallOptions = {}): Promise<void> {
  if (!isIssuedPlan(plan)) throw new DataplaneError("apply firewall", "EINVAL", "plan was not made by planFirewall");
  const o = await context(opts);
  await o.run(o.backend.restore, ["-w", "--noflush"], { input: plan.restoreText, timeoutMs: o.timeoutMs });
  await putJumpsFirst(o);
  if (plan.restoreText6 === undefined) return;
  const o6 = { ...o, backend: ip6Backend(o.backend) };
  await o6.run(o6.backend.restore, ["-w", "--noflush"], { input: plan.restoreText6, timeoutMs: o.timeoutMs });
  await putJumpsFirst(o6, HOOKS6);
}

/** The ip6tables programs of the same ruleset (nft or legacy) as these iptables ones. */
export function ip6Backend(b: IptablesBackend): IptablesBackend {
  const six = (file: string) => file.replace(/(^|\/)iptables/, "$1ip6tables");
  return { ...b, iptables: six(b.iptables), restore: six(b.restore), save: six(b.save) };
}

/** Whether the live ip6tables chains hold exactly the plan's IPv6 rules, each jumped to once and first. */
async function firewall6Matches(plan: FirewallPlan, o: { run: Runner; timeoutMs: number; backend: IptablesBackend }): Promise<boolean> {
  const b = ip6Backend(o.backend);
  const tables = parseSave((await o.run(b.save, [], { timeoutMs: o.timeoutMs })).stdout);
  const same = (a: readonly string[], c: readonly string[]) => a.length === c.length && a.every((r, i) => r === c[i]);
  return (
    same(plan.filterRules6 ?? [], chainRules(tables.get("filter"), FORWARD_CHAIN)) &&
    same(plan.natRules6 ?? [], chainRules(tables.get("nat"), POSTROUTING_CHAIN)) &&
    same(plan.rawRules6 ?? [], chainRules(tables.get("raw"), SOURCE_CHAIN)) &&
    misplacedJumps(tables, HOOKS6).length === 0
  );
}

/** Removes the plugin's ip6tables chains and their jumps (the last dual-stack network went). True if anything was removed. */
export async function removeFirewall6(opts: FirewallOptions = {}): Promise<boolean> {
  const o = await context(opts);
  return removeChains({ ...o, backend: ip6Backend(o.backend) }, HOOKS6);
}

/** Hooks whose jump is missing, repeated or not the first rule of its built-in chain. */
type Hook = { table: string; parent: string; chain: string };

function misplacedJumps(tables: Map<string, SavedTable>, hooks: readonly Hook[] = HOOKS): Hook[] {
  return hooks.filter(({ table, parent, chain }) => {
    const rules = (tables.get(table)?.rules ?? []).filter((r) => r.startsWith(`-A ${parent} `));
    const jump = `-A ${parent} -j ${chain}`;
    return rules[0] !== jump || rules.filter((r) => r === jump).length !== 1;
  });
}

/**
 * Makes each jump the first rule of its built-in chain, exactly once, in one
 * atomic batch: our platform blocks come before Docker's rules (and its DROP
 * policy) and before anything an operator adds to DOCKER-USER.
 */
async function putJumpsFirst(
  o: { run: Runner; timeoutMs: number; backend: IptablesBackend },
  hooks: readonly Hook[] = HOOKS,
): Promise<void> {
  const tables = parseSave((await o.run(o.backend.save, [], { timeoutMs: o.timeoutMs })).stdout);
  const byTable = new Map<string, string[]>();
  for (const { table, parent, chain } of misplacedJumps(tables, hooks)) {
    const present = (tables.get(table)?.rules ?? []).filter((r) => r === `-A ${parent} -j ${chain}`).length;
    const lines = byTable.get(table) ?? [];
    lines.push(...Array<string>(present).fill(`-D ${parent} -j ${chain}`), `-I ${parent} 1 -j ${chain}`);
    byTable.set(table, lines);
  }
  if (byTable.size === 0) return;
  const input = [...byTable].flatMap(([table, lines]) => [`*${table}`, ...lines, "COMMIT"]).join("\n");
  await o.run(o.backend.restore, ["-w", "--noflush"], { input: `${input}\n`, timeoutMs: o.timeoutMs });
}

function targets(rule: string, chain: string): boolean {
  // A jump to a user chain takes no target options, so it always ends the rule.
  return rule.endsWith(` -j ${chain}`) || rule.endsWith(` -g ${chain}`);
}

function chainRules(table: SavedTable | undefined, chain: string): string[] {
  return (table?.rules ?? []).filter((r) => r.startsWith(`-A ${chain} `));
}

/** Whether the live chains hold exactly the plan's rules, each jumped to once and first. */
export function firewallMatches(plan: FirewallPlan, fw: FirewallState): boolean {
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((r, i) => r === b[i]);
  return (
    same(plan.filterRules, fw.filterRules) &&
    same(plan.natRules, fw.natRules) &&
    same(plan.dnatRules, fw.dnatRules) &&
    same(plan.mangleRules, fw.mangleRules) &&
    same(plan.rawRules, fw.rawRules) &&
    fw.jumpsNotFirst.length === 0
  );
}

/**
 * Applies the plan only where the live rules differ from it (a chain changed
 * by hand, a jump overtaken by Docker's): one iptables-save when all is in
 * place, so checking often costs little and leaves the counters alone.
 * True if it had to apply.
 */
export async function ensureFirewall(plan: FirewallPlan, opts: FirewallOptions = {}): Promise<boolean> {
  const o = await context(opts);
  if (firewallMatches(plan, await readFirewall(o)) && (plan.restoreText6 === undefined || (await firewall6Matches(plan, o)))) return false;
  await applyFirewall(plan, opts);
  return true;
}

export async function readFirewall(opts: FirewallOptions = {}): Promise<FirewallState> {
  const { run, timeoutMs, backend } = await context(opts);
  const tables = parseSave((await run(backend.save, [], { timeoutMs })).stdout);
  const filter = tables.get("filter");
  const nat = tables.get("nat");
  const mangle = tables.get("mangle");
  const raw = tables.get("raw");
  return {
    mode: backend.mode,
    forwardChain: filter?.chains.has(FORWARD_CHAIN) ?? false,
    postroutingChain: nat?.chains.has(POSTROUTING_CHAIN) ?? false,
    filterRules: chainRules(filter, FORWARD_CHAIN),
    natRules: chainRules(nat, POSTROUTING_CHAIN),
    dnatChain: nat?.chains.has(DNAT_CHAIN) ?? false,
    dnatRules: chainRules(nat, DNAT_CHAIN),
    forwardJumps: (filter?.rules ?? []).filter((r) => r === `-A FORWARD -j ${FORWARD_CHAIN}`).length,
    postroutingJumps: (nat?.rules ?? []).filter((r) => r === `-A POSTROUTING -j ${POSTROUTING_CHAIN}`).length,
    mangleChains: (mangle?.chains.has(MARK_CHAIN) ?? false) && (mangle?.chains.has(PLATFORM_CHAIN) ?? false),
    mangleRules: [...chainRules(mangle, MARK_CHAIN), ...chainRules(mangle, PLATFORM_CHAIN)],
    rawChain: raw?.chains.has(SOURCE_CHAIN) ?? false,
    rawRules: chainRules(raw, SOURCE_CHAIN),
    jumpsNotFirst: misplacedJumps(tables).map((h) => `${h.table} ${h.parent}`),
  };
}

/**
 * Removes every rule that jumps to the plugin's chains, then the chains, in one
 * batch per run so no jump is ever left pointing at a missing chain. The rules
 * to delete are taken verbatim from iptables-save. True if anything was removed.
 */
export async function removeFirewall(opts: FirewallOptions = {}): Promise<boolean> {
  return removeChains(await context(opts), CHAINS);
}

async function removeChains(
  { run, timeoutMs, backend }: { run: Runner; timeoutMs: number; backend: IptablesBackend },
  chains: readonly { table: string; chain: string }[],
): Promise<boolean> {
  const tables = parseSave((await run(backend.save, [], { timeoutMs })).stdout);
  const lines: string[] = [];
  for (const { table, chain } of chains) {
    const saved = tables.get(table);
    if (!saved) continue;
    const jumps = saved.rules.filter((r) => !r.startsWith(`-A ${chain} `) && targets(r, chain));
    if (!jumps.length && !saved.chains.has(chain)) continue;
    lines.push(`*${table}`, ...jumps.map((r) => `-D${r.slice(2)}`));
    if (saved.chains.has(chain)) lines.push(`:${chain} - [0:0]`, `-X ${chain}`);
    lines.push("COMMIT");
  }
  if (!lines.length) return false;
  await run(backend.restore, ["-w", "--noflush"], { input: `${lines.join("\n")}\n`, timeoutMs });
  return true;
}
