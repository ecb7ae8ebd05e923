/**
 * `doctor`'s check of secondary NICs' policy routing: the rules and table
 * routes the saved networks need (nic-routing.ts), compared with the kernel's.
 */
import { diffNicRouting, planNicRouting, routeText, ruleKey } from "../network/nic-routing";
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
