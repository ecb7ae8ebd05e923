/**
 * Owns doctor's checks of the packet path on the VM itself: forwarding, which
 * iptables ruleset is live, and whether the plugin's chains hold exactly the
 * rules its networks imply (planned by the same code that applies them).
 */
import { type FirewallPlan, type FirewallState, planFirewall, type RulesetView } from "../dataplane";
import {
  CHAINS,
  DNAT_CHAIN,
  FORWARD_CHAIN,
  HOOKS,
  MARK_CHAIN,
  PLATFORM_CHAIN,
  POSTROUTING_CHAIN,
  SOURCE_CHAIN,
} from "../dataplane/firewall-plan";
import { errorMessage } from "../errors";
import { firewallInputFor } from "../network/manager";
import { type Check, check, plural, restartPlugin } from "./check";
import { type Facts, savedState } from "./facts";

export function ipForwardCheck(f: Facts): Check {
  const id = "ip-forward";
  const v = f.kernel.ipForward;
  if (!v.ok) return check(id, "WARN", `cannot read net.ipv4.ip_forward: ${v.error}`);
  if (v.value) return check(id, "PASS", "net.ipv4.ip_forward = 1");
  const networks = Object.keys(savedState(f)?.network.networks ?? {}).length;
  const fix = [
    "sysctl -w net.ipv4.ip_forward=1",
    "echo net.ipv4.ip_forward=1 > /etc/sysctl.d/90-azure-vnet.conf   # keeps it on after a reboot",
  ];
  if (networks === 0) return check(id, "WARN", "net.ipv4.ip_forward = 0; the plugin turns it on when it creates a network", { fix });
  return check(id, "FAIL", "net.ipv4.ip_forward = 0: the VM does not route packets to or from containers", { fix });
}

/** Commands that take the plugin's chains out of one ruleset. */
function removalCommands(r: RulesetView): string[] {
  const bin = `iptables-${r.mode}`;
  const hooks = HOOKS.filter((h) => r.pluginChains.includes(h.chain));
  const jumps = hooks.map(({ table, parent, chain }) => `${bin} -w -t ${table} -D ${parent} -j ${chain}`);
  const chains = CHAINS.filter((c) => r.pluginChains.includes(c.chain));
  return [...jumps, ...chains.flatMap(({ table, chain }) => [`${bin} -w -t ${table} -F ${chain}`, `${bin} -w -t ${table} -X ${chain}`])];
}

export function backendCheck(f: Facts): Check {
  const id = "iptables-backend";
  const b = f.kernel.backends;
  if (!b.ok) return check(id, "WARN", `cannot inspect the iptables rulesets: ${b.error}`);
  const withDocker = b.value.rulesets.filter((r) => r.dockerChains.length > 0);
  const withPlugin = b.value.rulesets.filter((r) => r.pluginChains.length > 0);
  if (b.value.rulesets.every((r) => !r.available)) {
    return check(id, "FAIL", "neither iptables-nft-save nor iptables-legacy-save runs", { fix: ["apt-get install iptables"] });
  }
  if (withDocker.length === 0) {
    return check(
      id,
      "WARN",
      "Docker's chains are in neither the nft nor the legacy ruleset: Docker is not running, or runs with --iptables=false",
      {
        fix: ["start Docker before the plugin creates networks; the plugin puts its rules in the ruleset Docker uses"],
      },
    );
  }
  // Both hold Docker chains after a switch of backend: plain `iptables` is the live one.
  const docker = withDocker.length === 1 ? withDocker[0].mode : (b.value.defaultMode ?? "nft");
  const elsewhere = withPlugin.filter((r) => r.mode !== docker);
  if (elsewhere.length === 0) {
    const where = withPlugin.length
      ? `Docker and the plugin both use iptables-${docker}`
      : `Docker uses iptables-${docker}; the plugin has no chains yet`;
    return check(id, "PASS", where);
  }
  const stale = elsewhere.map(
    (r) => `the plugin's chains ${r.pluginChains.join(", ")} are in the ${r.mode} ruleset, but Docker's are in ${docker}`,
  );
  const inDocker = withPlugin.some((r) => r.mode === docker);
  return check(id, inDocker ? "WARN" : "FAIL", stale.join("; "), {
    fix: [...elsewhere.flatMap(removalCommands), ...(inDocker ? [] : [restartPlugin(f.location)])],
  });
}

/**
 * `iptables -I` commands that put the missing rules back at their planned
 * places, computed in plan order so each position accounts for the rules
 * inserted before it.
 */
function insertCommands(bin: string, table: string, chain: string, planned: readonly string[], live: readonly string[]): string[] {
  const current = [...live];
  const cmds: string[] = [];
  let lastIndex = -1;
  for (const rule of planned) {
    const at = current.indexOf(rule);
    if (at >= 0) {
      lastIndex = at;
      continue;
    }
    current.splice(lastIndex + 1, 0, rule);
    lastIndex += 1;
    cmds.push(`${bin} -w -t ${table} -I ${chain} ${lastIndex + 1} ${rule.slice(`-A ${chain} `.length)}`);
  }
  return cmds;
}

function compare(plan: FirewallPlan, fw: FirewallState, networks: number, restart: string): Check {
  const id = "firewall";
  const bin = `iptables-${fw.mode}`;
  const pairs = [
    [plan.filterRules, fw.filterRules],
    [plan.natRules, fw.natRules],
    [plan.dnatRules, fw.dnatRules],
    [plan.mangleRules, fw.mangleRules],
    [plan.rawRules, fw.rawRules],
  ] as const;
  const missing = pairs.flatMap(([planned, live]) => planned.filter((r) => !live.includes(r)));
  const extra = pairs.flatMap(([planned, live]) => live.filter((r) => !planned.includes(r)));
  const fails: string[] = [];
  const fix: string[] = [];
  if (!fw.forwardChain || !fw.postroutingChain || !fw.dnatChain || !fw.mangleChains || !fw.rawChain) {
    const absent = [
      !fw.forwardChain && FORWARD_CHAIN,
      !fw.postroutingChain && POSTROUTING_CHAIN,
      !fw.dnatChain && DNAT_CHAIN,
      !fw.mangleChains && `${MARK_CHAIN}/${PLATFORM_CHAIN}`,
      !fw.rawChain && SOURCE_CHAIN,
    ].filter(Boolean);
    return check(
      id,
      "FAIL",
      `chain ${absent.join(" and ")} is missing from iptables-${fw.mode}, although ${plural(networks, "network")} need it`,
      {
        fix: [restart],
      },
    );
  }
  if (fw.forwardJumps === 0) {
    fails.push(`FORWARD does not jump to ${FORWARD_CHAIN}`);
    fix.push(`${bin} -w -t filter -I FORWARD 1 -j ${FORWARD_CHAIN}`);
  }
  if (fw.postroutingJumps === 0) {
    fails.push(`POSTROUTING does not jump to ${POSTROUTING_CHAIN}`);
    fix.push(`${bin} -w -t nat -I POSTROUTING 1 -j ${POSTROUTING_CHAIN}`);
  }
  if (missing.length) {
    fails.push(`${plural(missing.length, "rule")} missing: ${missing.map(describeRule).join("; ")}`);
    fix.push(
      ...insertCommands(bin, "filter", FORWARD_CHAIN, plan.filterRules, fw.filterRules),
      ...insertCommands(bin, "nat", POSTROUTING_CHAIN, plan.natRules, fw.natRules),
      ...insertCommands(bin, "nat", DNAT_CHAIN, plan.dnatRules, fw.dnatRules),
      ...insertCommands(bin, "raw", SOURCE_CHAIN, plan.rawRules, fw.rawRules),
      `or ${restart}`,
    );
  }
  if (fails.length) return check(id, "FAIL", fails.join("; "), { details: missing.map((r) => `missing: ${r}`), fix });

  const orderOk = pairs.every(([planned, live]) => planned.every((r, i) => live[i] === r));
  const duplicates = fw.forwardJumps > 1 || fw.postroutingJumps > 1;
  const notFirst = fw.jumpsNotFirst;
  if (extra.length || !orderOk || duplicates || notFirst.length) {
    const notes = [
      extra.length && `${plural(extra.length, "rule")} that no network explains`,
      !orderOk && !extra.length && "rules out of their planned order",
      duplicates && "the jump to the plugin's chains is there more than once",
      notFirst.length &&
        `the jump to the plugin's chain is not the first rule of ${notFirst.join(", ")} (the plugin puts it back at its next reconciliation)`,
    ].filter(Boolean);
    return check(id, "WARN", `${notes.join("; ")} (iptables-${fw.mode})`, {
      details: extra.map((r) => `extra: ${r}`),
      fix: [...extra.map((r) => `${bin} -w -t ${tableOf(r)} -D${r.slice(2)}`), restart],
    });
  }
  return check(
    id,
    "PASS",
    `${FORWARD_CHAIN} (${plural(plan.filterRules.length, "rule")}) and ${POSTROUTING_CHAIN} (${plural(plan.natRules.length, "rule")}) match the ${plural(networks, "network")}, in iptables-${fw.mode}`,
  );
}

function tableOf(rule: string): string {
  return HOOKS.find((h) => rule.startsWith(`-A ${h.chain} `))?.table ?? "filter";
}

/** `-A CHAIN ... --comment "azure-vnet abc: no IMDS" ...` -> `abc: no IMDS`, else the rule itself. */
function describeRule(rule: string): string {
  const m = /--comment "azure-vnet ([^"]+)"/.exec(rule);
  return m ? `"${m[1]}" in ${rule.split(" ")[1]}` : rule;
}

export function firewallCheck(f: Facts): Check {
  const id = "firewall";
  const data = savedState(f);
  if (!f.checkpoint.ok) return check(id, "SKIP", "no checkpoint to compare the rules with");
  const fw = f.kernel.firewall;
  if (!fw.ok) return check(id, "WARN", `cannot read the firewall: ${fw.error}`, { fix: ["run doctor as root"] });
  const networks = Object.keys(data?.network.networks ?? {}).length;
  if (networks === 0) {
    const v = fw.value;
    const leftover = v.filterRules.length + v.natRules.length + v.dnatRules.length + v.mangleRules.length + v.rawRules.length;
    if (leftover === 0 && !v.forwardChain && !v.postroutingChain && !v.dnatChain && !v.mangleChains && !v.rawChain)
      return check(id, "PASS", "no networks and no plugin chains");
    return check(id, "WARN", `no networks, but the plugin's chains are present with ${plural(leftover, "rule")}`, {
      fix: [restartPlugin(f.location)],
    });
  }
  let plan: FirewallPlan;
  try {
    plan = planFirewall(firewallInputFor((data as NonNullable<typeof data>).network));
  } catch (err) {
    return check(id, "FAIL", `the checkpoint's networks do not make a valid firewall: ${errorMessage(err)}`);
  }
  return compare(plan, fw.value, networks, restartPlugin(f.location));
}
