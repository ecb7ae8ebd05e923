/**
 * `doctor`'s check of secondary NICs' policy routing: the rules and table
 * routes the saved networks need (nic-routing.ts), compared with the kernel's.
 */
import { diffNicRouting, planNicRouting, routeText, ruleKey } from "../network/nic-routing";
import { GATEWAY6 } from "../network/records";
import { type Check, check, plural, restartPlugin } from "./check";
import { type Facts, savedState } from "./facts";
import { valueOf } from "./probed";

export function nicRoutingCheck(f: Facts): Check {
  const id = "nic-routing";
  const data = savedState(f);
  const links = valueOf(f.kernel.links);
  if (!data) return check(id, "SKIP", "the checkpoint could not be read");
  if (!links) return check(id, "SKIP", "cannot list the links");
  const plan = planNicRouting(Object.values(data.network.networks), links);
  if (plan.rules.length === 0 && plan.problems.length === 0 && !f.kernel.policyRouting.ok)
    return check(id, "PASS", "no network on a secondary NIC");
  if (!f.kernel.policyRouting.ok)
    return check(id, "WARN", `cannot read the rules and routes: ${f.kernel.policyRouting.error}`, { fix: ["run doctor as root"] });
  const diff = diffNicRouting(plan, f.kernel.policyRouting.value);
  const ifname = (index: number) => links.find((l) => l.index === index)?.name;
  const missing = diff.missingRules.length + diff.missingRoutes.length;
  const details = [
    ...plan.problems,
    ...diff.missingRoutes.map((r) => `missing: route ${routeText(r, ifname(r.oif))}`),
    ...diff.missingRules.map((r) => `missing: rule ${ruleKey(r)}`),
    ...diff.extraRules.map((r) => `leftover: rule ${ruleKey(r)}`),
    ...diff.extraRoutes.map((r) => `leftover: route ${r.dst} table ${r.table}`),
  ];
  const fix = [
    ...diff.missingRoutes.map((r) => `ip route replace ${routeText(r, ifname(r.oif))}`),
    ...diff.missingRules.map((r) => `ip rule add ${ruleKey(r)} proto ${r.protocol}`),
    ...diff.extraRules.map((r) => `ip rule del ${ruleKey(r)}`),
    ...diff.extraRoutes.map((r) => `ip route del ${r.dst} table ${r.table}`),
  ];
  if (missing || plan.problems.length) {
    return check(
      id,
      "FAIL",
      `${plural(missing, "rule or route", "rules and routes")} of a secondary NIC missing${plan.problems.length ? ", and a NIC not found" : ""}: containers on it send through the VM's default route, and Azure drops what leaves the wrong NIC`,
      { details, fix: [...fix, `or ${restartPlugin(f.location)}`] },
    );
  }
  if (diff.extraRules.length || diff.extraRoutes.length) {
    return check(
      id,
      "WARN",
      `${plural(diff.extraRules.length + diff.extraRoutes.length, "rule or route", "rules and routes")} of the plugin that no network needs`,
      {
        details,
        fix,
      },
    );
  }
  if (plan.rules.length === 0) return check(id, "PASS", "no network on a secondary NIC");
  const nics = new Set(plan.routes.map((r) => r.table)).size;
  return check(
    id,
    "PASS",
    `${plural(nics, "secondary NIC")} with ${plural(plan.rules.length, "rule")} and ${plural(plan.routes.length, "table route")} in place`,
  );
}

/**
 * Dual-stack networks' IPv6 on the VM: the bridge's link-local gateway, each
 * live container's /128 route, and IPv6 forwarding. No check at all while no
 * network has IPv6.
 */
export function ipv6Checks(f: Facts): Check[] {
  const id = "ipv6";
  const data = savedState(f);
  const links = new Set((valueOf(f.kernel.links) ?? []).map((l) => l.name));
  const nets = Object.values(data?.network.networks ?? {}).filter((n) => n.subnet6 && n.options.mode === "bridge" && links.has(n.bridge));
  if (!data || nets.length === 0) return [];
  const details: string[] = [];
  const fix: string[] = [];
  let forwardingOff = false;
  for (const net of nets) {
    const read = f.kernel.ipv6?.[net.bridge];
    if (!read?.ok) {
      details.push(`${net.bridge}: not read (${read ? read.error : "no reader"})`);
      continue;
    }
    if (!read.value.forwarding) forwardingOff = true;
    if (!read.value.addresses.includes(GATEWAY6)) {
      details.push(`missing: ${GATEWAY6} on ${net.bridge} (the containers' IPv6 gateway)`);
      fix.push(`ip -6 addr add ${GATEWAY6}/64 dev ${net.bridge} nodad`);
    }
    for (const ep of Object.values(data.network.endpoints)) {
      if (ep.networkId !== net.id || !ep.address6 || !links.has(ep.hostVeth) || read.value.routes.includes(ep.address6)) continue;
      details.push(`missing: ${ep.address6}/128 dev ${net.bridge}`);
      fix.push(`ip -6 route replace ${ep.address6}/128 dev ${net.bridge}`);
    }
  }
  if (forwardingOff) {
    details.unshift("net.ipv6.conf.all.forwarding = 0");
    fix.unshift("sysctl -w net.ipv6.conf.all.forwarding=1");
  }
  if (fix.length) {
    return [
      check(id, "FAIL", "a dual-stack network's IPv6 is not in place: its containers' IPv6 does not get through the VM", {
        details,
        fix: [...fix, `or ${restartPlugin(f.location)}`],
      }),
    ];
  }
  if (details.length) return [check(id, "WARN", "cannot read the IPv6 of every dual-stack network", { details })];
  return [check(id, "PASS", `${plural(nets.length, "dual-stack network")}: gateway ${GATEWAY6}, container routes and forwarding in place`)];
}
