/**
 * Owns source-based policy routing for networks on a secondary NIC. The VM's
 * main table sends everything beyond the local subnets out of the primary
 * NIC, and Azure drops a packet whose source is not an ipconfig of the NIC it
 * leaves through; so a container holding an ipconfig of eth1 must leave
 * through eth1. For each secondary NIC with at least one network:
 *
 *  - a routing table of its own, `NIC_TABLE_BASE + <the NIC's ifindex>`:
 *    `<subnet> dev ethN scope link src <NIC primary>` and
 *    `default via <subnet gateway> dev ethN`;
 *  - per subnet, `from <subnet> lookup main suppress_prefixlength 31` at
 *    RULE_PRIORITY_LOCAL (a /32 of the main table, a container on this VM on
 *    any network, still wins), then `from <subnet> lookup <table>` at
 *    RULE_PRIORITY_NIC.
 *
 * The table id follows from the NIC's ifindex, unique among the links of the
 * namespace at any time, so it needs no saving, cannot name another NIC's
 * table, and stays clear of main (254), local (255), default (253) and the
 * small ids operators pick; a table left in the band by a NIC that is gone
 * (re-plugged, renumbered) is the plugin's and goes at the next repair.
 * Rules carry ROUTING_PROTOCOL (`proto 165`) and one of the two priorities,
 * routes the band: nothing else is ever taken for the plugin's.
 */
import type { Dataplane, LinkInfo, RouteInfo, RuleInfo, TableRouteSpec } from "../dataplane";
import { shortId } from "../lib/text";
import type { NetworkRecord, NetworkState } from "./records";

/** First table id of the band: table = base + the NIC's ifindex. */
export const NIC_TABLE_BASE = 0x10000000;
/** Last table id of the band. */
export const NIC_TABLE_LAST = 0x1fffffff;
/** `from <subnet> lookup main suppress_prefixlength 31`: local containers first. */
export const RULE_PRIORITY_LOCAL = 30100;
/** `from <subnet> lookup <NIC table>`: everything else out of the subnet's NIC. */
export const RULE_PRIORITY_NIC = 30101;
/** rtm_protocol / FRA_PROTOCOL of what the plugin adds here ("azure-vnet"; unassigned in iproute2's rt_protos). */
export const ROUTING_PROTOCOL = 165;
const MAIN_TABLE = 254;

export type PolicyRule = RuleInfo & { src: string };

export interface NicRoutingPlan {
  rules: PolicyRule[];
  routes: TableRouteSpec[];
  /** Networks whose NIC has no link here: their routing cannot be planned. */
  problems: string[];
}

/** The table of the NIC with this ifindex. */
export function nicTable(ifindex: number): number {
  return NIC_TABLE_BASE + ifindex;
}

export function inTableBand(table: number): boolean {
  return table >= NIC_TABLE_BASE && table <= NIC_TABLE_LAST;
}

/** Whether the network's NIC is a secondary one (recorded at creation; absent on records older than that: primary). */
export function onSecondaryNic(net: NetworkRecord): boolean {
  return net.nicPrimary === false;
}

/** The rules and table routes these networks need, given the VM's links. */
export function planNicRouting(networks: readonly NetworkRecord[], links: readonly LinkInfo[]): NicRoutingPlan {
  const plan: NicRoutingPlan = { rules: [], routes: [], problems: [] };
  const byNic = new Map<string, NetworkRecord[]>();
  const ordered = [...networks].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  for (const net of ordered.filter(onSecondaryNic)) byNic.set(net.nicMac, [...(byNic.get(net.nicMac) ?? []), net]);
  for (const [mac, nets] of byNic) {
    const link = links.find((l) => l.mac === mac);
    if (!link || link.index <= 0 || nicTable(link.index) > NIC_TABLE_LAST) {
      plan.problems.push(`no link with the MAC ${mac} of network ${nets.map((n) => shortId(n.id)).join(", ")}'s NIC`);
      continue;
    }
    const table = nicTable(link.index);
    const subnets = new Set<string>();
    for (const net of nets) {
      const subnet = net.subnet;
      if (subnets.has(subnet)) continue;
      subnets.add(subnet);
      plan.routes.push({
        dst: subnet,
        table,
        oif: link.index,
        ...(net.primaryAddress ? { prefsrc: net.primaryAddress } : {}),
        protocol: ROUTING_PROTOCOL,
      });
      const rule = { src: subnet, action: 1, protocol: ROUTING_PROTOCOL };
      plan.rules.push({ ...rule, priority: RULE_PRIORITY_LOCAL, table: MAIN_TABLE, suppressPrefixLength: 31 });
      plan.rules.push({ ...rule, priority: RULE_PRIORITY_NIC, table });
    }
    // One default per table: the gateway of the NIC's first network (a NIC's subnets share the VNet's fabric).
    plan.routes.push({ dst: "0.0.0.0/0", table, oif: link.index, gateway: nets[0].gateway, protocol: ROUTING_PROTOCOL });
  }
  return plan;
}

/** Whether the kernel holds this rule or route as the plugin's. */
export function isOwnRule(r: RuleInfo): boolean {
  return r.protocol === ROUTING_PROTOCOL && (r.priority === RULE_PRIORITY_LOCAL || r.priority === RULE_PRIORITY_NIC);
}

export function isOwnRoute(r: RouteInfo): boolean {
  return inTableBand(r.table);
}

/** A rule as `ip rule` takes it (after add/del), also the key rules are compared by. */
export function ruleKey(r: RuleInfo): string {
  const table = r.table === MAIN_TABLE ? "main" : String(r.table);
  const suppress = r.suppressPrefixLength !== undefined ? ` suppress_prefixlength ${r.suppressPrefixLength}` : "";
  return `priority ${r.priority} from ${r.src ?? "all"} lookup ${table}${suppress}`;
}

function routeDst(r: RouteInfo): string {
  return `${r.dst}/${r.prefixLen}`;
}

/** A route as `ip route replace` takes it; `ifname` names the link (else its index). */
export function routeText(r: TableRouteSpec, ifname?: string): string {
  const via = r.gateway ? ` via ${r.gateway}` : "";
  const link = r.gateway ? "" : " scope link";
  const src = r.prefsrc ? ` src ${r.prefsrc}` : "";
  return `${r.dst}${via} dev ${ifname ?? `#${r.oif}`}${link}${src} proto ${r.protocol} table ${r.table}`;
}

function sameRoute(want: TableRouteSpec, have: RouteInfo): boolean {
  return (
    have.table === want.table &&
    routeDst(have) === want.dst &&
    have.oif === want.oif &&
    (have.gateway ?? "") === (want.gateway ?? "") &&
    (have.prefsrc ?? "") === (want.prefsrc ?? "")
  );
}

export interface NicRoutingDiff {
  missingRules: PolicyRule[];
  missingRoutes: TableRouteSpec[];
  /** The plugin's rules and routes the plan has no place for. */
  extraRules: PolicyRule[];
  extraRoutes: { dst: string; table: number }[];
}

/**
 * What differs between the plan and the kernel. A route to a planned prefix
 * that goes elsewhere is missing (and replaced), not extra. With `within`,
 * only what that earlier plan had counts as extra (a network's removal takes
 * only what it alone needed).
 */
export function diffNicRouting(
  plan: NicRoutingPlan,
  live: { rules: readonly RuleInfo[]; routes: readonly RouteInfo[] },
  within?: NicRoutingPlan,
): NicRoutingDiff {
  const liveRules = new Set(live.rules.filter(isOwnRule).map(ruleKey));
  const ownRoutes = live.routes.filter(isOwnRoute);
  const planned = new Set(plan.rules.map(ruleKey));
  const plannedDst = new Set(plan.routes.map((r) => `${r.table} ${r.dst}`));
  const allowed = within && {
    rules: new Set(within.rules.map(ruleKey)),
    routes: new Set(within.routes.map((r) => `${r.table} ${r.dst}`)),
  };
  return {
    missingRules: plan.rules.filter((r) => !liveRules.has(ruleKey(r))),
    missingRoutes: plan.routes.filter((want) => !ownRoutes.some((have) => sameRoute(want, have))),
    extraRules: live.rules
      .filter((r): r is PolicyRule => isOwnRule(r) && r.src !== undefined && !planned.has(ruleKey(r)))
      .filter((r) => !allowed || allowed.rules.has(ruleKey(r))),
    extraRoutes: ownRoutes
      .map((r) => ({ dst: routeDst(r), table: r.table }))
      .filter((r) => !plannedDst.has(`${r.table} ${r.dst}`))
      .filter((r) => !allowed || allowed.routes.has(`${r.table} ${r.dst}`)),
  };
}

export interface NicRoutingResult {
  added: string[];
  removed: string[];
  problems: string[];
}

/**
 * Brings the kernel's policy routing in line with the networks: what is
 * missing is added (routes before the rules that look them up) and, with
 * `remove`, the plugin's own rules and routes that no network needs go
 * (rules before the routes): all of them (`"others"`), or only those an
 * earlier plan had (a plan: a network's removal).
 */
export async function syncNicRouting(
  dp: Dataplane,
  state: NetworkState,
  remove: "none" | "others" | NicRoutingPlan,
  links?: readonly LinkInfo[],
): Promise<NicRoutingResult> {
  const plan = planNicRouting(Object.values(state.networks), links ?? (await dp.listLinks()));
  const live = await dp.readPolicyRouting();
  const diff = diffNicRouting(plan, live, typeof remove === "object" ? remove : undefined);
  const result: NicRoutingResult = { added: [], removed: [], problems: plan.problems };
  for (const route of diff.missingRoutes) {
    await dp.replaceTableRoute(route);
    result.added.push(routeText(route));
  }
  for (const rule of diff.missingRules) {
    await dp.addPolicyRule(rule);
    result.added.push(`${ruleKey(rule)} proto ${rule.protocol}`);
  }
  if (remove === "none") return result;
  for (const rule of diff.extraRules) if (await dp.removePolicyRule(rule)) result.removed.push(ruleKey(rule));
  for (const route of diff.extraRoutes)
    if (await dp.removeTableRoute(route.dst, route.table)) result.removed.push(`${route.dst} table ${route.table}`);
  return result;
}
