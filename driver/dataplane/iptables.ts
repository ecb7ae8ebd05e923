/**
 * Owns which iptables backend to drive, and what each one holds. nft and
 * legacy keep separate rulesets in the kernel; rules added through the other
 * one than Docker uses would be evaluated in an unexpected order, so we follow
 * Docker: first by looking for its chains, then by what plain `iptables` is
 * on this host (Docker runs that). `doctor` sees both rulesets, not only the
 * one the plugin picks, through probeBackends.
 */
import { DataplaneError } from "./errors";
import { Runner, runProgram } from "./exec";
import { CHAINS } from "./firewall-plan";

export type IptablesMode = "nft" | "legacy";

export interface IptablesBackend {
  mode: IptablesMode;
  iptables: string;
  restore: string;
  save: string;
  /** Whether Docker's chains were found in this backend's ruleset. */
  dockerChains: boolean;
}

const VARIANTS: Record<IptablesMode, Omit<IptablesBackend, "mode" | "dockerChains">> = {
  nft: { iptables: "iptables-nft", restore: "iptables-nft-restore", save: "iptables-nft-save" },
  legacy: { iptables: "iptables-legacy", restore: "iptables-legacy-restore", save: "iptables-legacy-save" },
};
const GENERIC = { iptables: "iptables", restore: "iptables-restore", save: "iptables-save" };

/** DOCKER, DOCKER-USER, DOCKER-ISOLATION-STAGE-1, DOCKER-FORWARD, ... */
const DOCKER_CHAIN = /^:DOCKER(-[A-Z0-9-]+)? /m;

async function tryOutput(run: Runner, file: string, args: string[], timeoutMs: number): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(file, args, { timeoutMs });
    return `${stdout}\n${stderr}`;
  } catch (err) {
    // Missing, failing or hanging: this variant is not usable here.
    if (err instanceof DataplaneError) return undefined;
    throw err;
  }
}

/** What plain `iptables` is on this host, from `iptables -V`; undefined when it cannot say. */
async function readDefaultMode(run: Runner, timeoutMs: number): Promise<IptablesMode | undefined> {
  const version = await tryOutput(run, GENERIC.iptables, ["-V"], timeoutMs);
  return version?.includes("(nf_tables)") ? "nft" : version?.includes("(legacy)") ? "legacy" : undefined;
}

export async function detectBackend(opts: { run?: Runner; timeoutMs?: number } = {}): Promise<IptablesBackend> {
  const run = opts.run ?? runProgram;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const saved: Record<IptablesMode, string | undefined> = {
    nft: await tryOutput(run, VARIANTS.nft.save, [], timeoutMs),
    legacy: await tryOutput(run, VARIANTS.legacy.save, [], timeoutMs),
  };
  const defaultMode = await readDefaultMode(run, timeoutMs);

  const withDocker = (Object.keys(saved) as IptablesMode[]).filter((m) => DOCKER_CHAIN.test(saved[m] ?? ""));
  let mode: IptablesMode | undefined;
  if (withDocker.length === 1) mode = withDocker[0];
  // Leftovers from a switch of backend: the one plain iptables points at is the live one.
  else if (withDocker.length === 2) mode = defaultMode ?? "nft";
  else mode = defaultMode ?? (saved.nft !== undefined ? "nft" : saved.legacy !== undefined ? "legacy" : undefined);
  if (mode === undefined) throw new DataplaneError("detect iptables backend", "ENOENT", "no usable iptables found");

  const binaries = saved[mode] !== undefined ? VARIANTS[mode] : GENERIC;
  return { mode, ...binaries, dockerChains: withDocker.includes(mode) };
}

export interface SavedTable {
  /** Chain declarations by name, with their policy ("-" for user chains). */
  chains: Map<string, string>;
  /** "-A CHAIN ..." lines in order. */
  rules: string[];
}

/** Splits iptables-save output into tables. Comments and counters are dropped. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let current: SavedTable | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      current = { chains: new Map(), rules: [] };
      tables.set(line.slice(1).trim(), current);
    } else if (!current) {
      continue;
    } else if (line.startsWith(":")) {
      const [name, policy] = line.slice(1).split(" ");
      current.chains.set(name, policy ?? "-");
    } else if (line.startsWith("-A ")) {
      current.rules.push(line.trimEnd());
    } else if (line.startsWith("COMMIT")) {
      current = undefined;
    }
  }
  return tables;
}

// ---- both rulesets, for doctor ------------------------------------------------

const PLUGIN_CHAINS = new Set<string>(CHAINS.map((c) => c.chain));

export interface RulesetView {
  mode: IptablesMode;
  /** `iptables-<mode>-save` ran. */
  available: boolean;
  dockerChains: string[];
  pluginChains: string[];
  error?: string;
}

export interface BackendsProbe {
  /** What plain `iptables` is on this host (Docker runs that one). */
  defaultMode?: IptablesMode;
  rulesets: RulesetView[];
}

/** Which rulesets hold Docker's chains and which hold the plugin's. Read-only. */
export async function probeBackends(opts: { run?: Runner; timeoutMs?: number } = {}): Promise<BackendsProbe> {
  const run = opts.run ?? runProgram;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const modes = Object.keys(VARIANTS) as IptablesMode[];
  const rulesets = await Promise.all(
    modes.map(async (mode): Promise<RulesetView> => {
      try {
        const tables = parseSave((await run(VARIANTS[mode].save, [], { timeoutMs })).stdout);
        const chains = [...tables.values()].flatMap((t) => [...t.chains.keys()]);
        return {
          mode,
          available: true,
          dockerChains: [...new Set(chains.filter((c) => /^DOCKER(-|$)/.test(c)))].sort(),
          pluginChains: chains.filter((c) => PLUGIN_CHAINS.has(c)),
        };
      } catch (err) {
        if (!(err instanceof DataplaneError)) throw err;
        return { mode, available: false, dockerChains: [], pluginChains: [], error: err.message };
      }
    }),
  );
  const defaultMode = await readDefaultMode(run, timeoutMs);
  return { ...(defaultMode && { defaultMode }), rulesets };
}
