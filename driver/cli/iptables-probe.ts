/**
 * Which iptables rulesets hold Docker's chains and which hold the plugin's.
 * nft and legacy are separate rulesets in the kernel; rules in the one Docker
 * does not use are evaluated in an order nobody planned for, so `doctor`
 * needs to see both, not only the one the plugin picks.
 */
import { DataplaneError } from "../dataplane/errors";
import { type Runner, runProgram } from "../dataplane/exec";
import { FORWARD_CHAIN, MARK_CHAIN, PLATFORM_CHAIN, POSTROUTING_CHAIN } from "../dataplane/firewall-plan";

const PLUGIN_CHAINS = new Set([FORWARD_CHAIN, POSTROUTING_CHAIN, MARK_CHAIN, PLATFORM_CHAIN]);
import { type IptablesMode, parseSave } from "../dataplane/iptables";

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

const MODES: IptablesMode[] = ["nft", "legacy"];

export async function probeBackends(opts: { run?: Runner; timeoutMs?: number } = {}): Promise<BackendsProbe> {
  const run = opts.run ?? runProgram;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const rulesets = await Promise.all(
    MODES.map(async (mode): Promise<RulesetView> => {
      try {
        const tables = parseSave((await run(`iptables-${mode}-save`, [], { timeoutMs })).stdout);
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
  let defaultMode: IptablesMode | undefined;
  try {
    const { stdout, stderr } = await run("iptables", ["-V"], { timeoutMs });
    const text = `${stdout}${stderr}`;
    defaultMode = text.includes("(nf_tables)") ? "nft" : text.includes("(legacy)") ? "legacy" : undefined;
  } catch (err) {
    if (!(err instanceof DataplaneError)) throw err;
  }
  return { ...(defaultMode && { defaultMode }), rulesets };
}
