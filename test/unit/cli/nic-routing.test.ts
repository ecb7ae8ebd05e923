/** doctor's nic-routing check: a network on a secondary NIC needs its rules and table routes. */
import assert from "node:assert/strict";
import { runDoctor } from "../../../driver/cli/doctor";
import { buildStatus, renderStatus } from "../../../driver/cli/status";
import type { Check } from "../../../driver/cli/check";
import type { Facts } from "../../../driver/cli/facts";
import { NIC_TABLE_BASE, ROUTING_PROTOCOL, RULE_PRIORITY_NIC } from "../../../driver/network/nic-routing";
import { NET_ID, checkpoint, healthy, links, view } from "./fixtures";

const MAC2 = "00:0d:3a:00:00:02";
const TABLE = NIC_TABLE_BASE + 7;

function nicRouting(f: Facts): Check {
  return runDoctor(f).checks.find((c) => c.id === "nic-routing") as Check;
}

/** The healthy VM, its network moved onto eth1, a secondary NIC (index 7). */
function onSecondaryNic(): Facts {
  const f = healthy();
  const cp = checkpoint();
  const net = cp.network.networks[NET_ID];
  Object.assign(net, { nicMac: MAC2, nicPrimary: false, primaryAddress: "10.0.0.5", options: { ...net.options, parent: "eth1" } });
  f.checkpoint = { ok: true, value: view(cp) };
  f.kernel.links = { ok: true, value: [...links(), { name: "eth1", index: 7, mac: MAC2, mtu: 1500, up: true }] };
  return f;
}

/** The kernel as the plugin leaves it for that network. */
function inPlace(f: Facts): Facts {
  const rule = { src: "10.0.0.0/24", action: 1, protocol: ROUTING_PROTOCOL };
  const route = { table: TABLE, type: "1", protocol: String(ROUTING_PROTOCOL), oif: 7 };
  f.kernel.policyRouting = {
    ok: true,
    value: {
      rules: [
        { ...rule, priority: 30100, table: 254, suppressPrefixLength: 31 },
        { ...rule, priority: RULE_PRIORITY_NIC, table: TABLE },
      ],
      routes: [
        { ...route, dst: "10.0.0.0", prefixLen: 24, scope: "253", prefsrc: "10.0.0.5" },
        { ...route, dst: "0.0.0.0", prefixLen: 0, scope: "0", gateway: "10.0.0.1" },
      ],
    },
  };
  return f;
}

describe("doctor: policy routing of secondary NICs", () => {
  it("passes with no network on a secondary NIC", () => {
    assert.deepEqual(nicRouting(healthy()), { id: "nic-routing", verdict: "PASS", finding: "no network on a secondary NIC" });
  });

  it("fails when a secondary NIC's rules and table are missing, with the commands that put them back", () => {
    const c = nicRouting(onSecondaryNic());
    assert.equal(c.verdict, "FAIL");
    assert.match(c.finding, /^4 rules and routes of a secondary NIC missing: .*Azure drops what leaves the wrong NIC/);
    assert.deepEqual(c.fix?.slice(0, 4), [
      `ip route replace 10.0.0.0/24 dev eth1 scope link src 10.0.0.5 proto 165 table ${TABLE}`,
      `ip route replace 0.0.0.0/0 via 10.0.0.1 dev eth1 proto 165 table ${TABLE}`,
      "ip rule add priority 30100 from 10.0.0.0/24 lookup main suppress_prefixlength 31 proto 165",
      `ip rule add priority 30101 from 10.0.0.0/24 lookup ${TABLE} proto 165`,
    ]);
  });

  it("passes when they are in place, and warns about a leftover of its own with the command that removes it", () => {
    const f = inPlace(onSecondaryNic());
    assert.equal(nicRouting(f).verdict, "PASS");
    assert.match(nicRouting(f).finding, /^1 secondary NIC with 2 rules and 2 table routes in place$/);
    const live = f.kernel.policyRouting.ok ? f.kernel.policyRouting.value : undefined;
    live?.rules.push({ src: "10.9.0.0/24", action: 1, protocol: ROUTING_PROTOCOL, priority: RULE_PRIORITY_NIC, table: TABLE + 1 });
    live?.rules.push({ src: "10.8.0.0/24", action: 1, protocol: 0, priority: RULE_PRIORITY_NIC, table: 100 });
    const c = nicRouting(f);
    assert.equal(c.verdict, "WARN");
    assert.deepEqual(c.fix, [`ip rule del priority 30101 from 10.9.0.0/24 lookup ${TABLE + 1}`]);
  });

  it("fails when the NIC has no link, and skips when the links cannot be read", () => {
    const f = inPlace(onSecondaryNic());
    f.kernel.links = { ok: true, value: links() };
    const c = nicRouting(f);
    assert.equal(c.verdict, "FAIL");
    assert.match(c.details?.[0] ?? "", /no link with the MAC 00:0d:3a:00:00:02/);
    f.kernel.links = { ok: false, error: "EPERM" };
    assert.equal(nicRouting(f).verdict, "SKIP");
  });
});

describe("status: a network's NIC", () => {
  it("names the NIC by interface and MAC, says it is a secondary one, and shows the parent option", () => {
    const r = buildStatus(onSecondaryNic());
    assert.equal(r.networks[0].nicLink, "eth1");
    assert.equal(r.networks[0].nicPrimary, false);
    assert.equal(r.networks[0].options.parent, "eth1");
    assert.match(renderStatus(r), new RegExp(`10\\.0\\.0\\.1 +eth1 ${MAC2} \\(secondary\\) +1 +mode=bridge .* parent=eth1`, "m"));
  });
});
