/**
 * Networks on a secondary NIC: the `parent` option, the choice of NIC and its
 * errors, the plan of policy-routing rules and table routes and its diff
 * against the kernel, and the IPAM and the network layer wired as the plugin
 * wires them (the pool bound to the parent's NIC at CreateNetwork).
 */
import { strict as assert } from "node:assert";
import * as v from "valibot";
import { AddressManager, MetadataCache } from "../../../driver/ipam";
import { emptyIpamState } from "../../../driver/ipam/ipam-state";
import type { NicInfo } from "../../../driver/ipam/metadata/types";
import type { LinkInfo } from "../../../driver/dataplane";
import { NetworkManager } from "../../../driver/network/manager";
import { chooseNic } from "../../../driver/network/nic-choice";
import {
  NIC_TABLE_BASE,
  ROUTING_PROTOCOL,
  RULE_PRIORITY_LOCAL,
  RULE_PRIORITY_NIC,
  diffNicRouting,
  planNicRouting,
  ruleKey,
} from "../../../driver/network/nic-routing";
import { parseNetworkOptions, parseParent } from "../../../driver/network/options";
import { NetworkStateSchema, emptyNetworkState, type NetworkRecord } from "../../../driver/network/records";
import type { CreateNetworkRequest } from "../../../driver/protocol/types";
import { FakeClock, FakeSource, MAC1, MAC2, nic, range } from "../ipam/helpers";
import { FakeDataplane } from "./fake-dataplane";
import { silent } from "../support/silent-logger";

const MAC3 = "00:0d:3a:00:00:03";
const NET = "a".repeat(64);
const NET2 = "b".repeat(64);

const links: LinkInfo[] = [
  { name: "eth0", index: 2, mac: MAC1, mtu: 1500, up: true },
  { name: "eth1", index: 3, mac: MAC2, mtu: 1500, up: true },
  { name: "eth2", index: 4, mac: MAC3, mtu: 1500, up: true },
  { name: "docker0", index: 5, mac: "02:42:00:00:00:01", mtu: 1500, up: true },
];

/** eth0 (primary) in 10.0.0.0/24; eth1 and eth2 both in 10.0.1.0/24 (Azure allows two NICs in one subnet). */
function twoInOneSubnet(): NicInfo[] {
  return [
    nic(MAC1, "10.0.0.0/24", ["10.0.0.4", ...range("10.0.0.", 10, 12)]),
    nic(MAC2, "10.0.1.0/24", ["10.0.1.4", ...range("10.0.1.", 10, 12)], false),
    nic(MAC3, "10.0.1.0/24", ["10.0.1.5", ...range("10.0.1.", 20, 22)], false),
  ];
}

describe("the parent network option", () => {
  it("takes an interface name as written and a MAC in any common notation in the plugin's spelling", () => {
    assert.equal(parseParent("eth1"), "eth1");
    assert.equal(parseParent("enP1s1.5"), "enP1s1.5");
    assert.equal(parseParent("00:0D:3A:00:00:02"), MAC2);
    assert.equal(parseParent("00-0d-3a-00-00-02"), MAC2);
    assert.equal(parseParent("000d.3a00.0002"), MAC2);
    // Twelve hex digits could be either: kept, and told apart against the links.
    assert.equal(parseParent("000d3a000002"), "000d3a000002");
    assert.equal(parseNetworkOptions({ parent: " eth1 " }).parent, "eth1");
  });

  it("refuses anything else, naming the value", () => {
    for (const bad of ["", "eth 1", "a-very-long-interface", "00:0d:3a:00:00", "eth1;reboot", "../x"]) {
      assert.throws(() => parseNetworkOptions({ parent: bad }), /parent=.*is neither an interface name .* nor a MAC address/, bad);
    }
  });

  it("is kept in the network record across a save and a load", () => {
    const options = parseNetworkOptions({ parent: "00-0D-3A-00-00-02" });
    const record: NetworkRecord = {
      id: NET,
      bridge: "azvbaaaaaaaaaaa",
      addressSpace: "AzureVNetLocal",
      subnet: "10.0.1.0/24",
      gateway: "10.0.1.1",
      primaryAddress: "10.0.1.4",
      nicMac: MAC2,
      nicPrimary: false,
      mtu: 1500,
      options,
      createdAt: "2026-01-01T00:00:00.000Z",
    };
    const loaded = v.parse(NetworkStateSchema, JSON.parse(JSON.stringify({ networks: { [NET]: record }, endpoints: {} })));
    assert.equal(loaded.networks[NET].options.parent, MAC2);
    assert.equal(loaded.networks[NET].nicPrimary, false);
  });
});

describe("choosing a network's NIC", () => {
  const nics = twoInOneSubnet();

  it("takes the one NIC holding the subnet without a parent", () => {
    assert.deepEqual(chooseNic("10.0.0.0/24", undefined, nics, links), { mac: MAC1, primary: true, ifname: "eth0" });
  });

  it("refuses no parent when two NICs hold the subnet, naming both with their ipconfigs", () => {
    assert.throws(
      () => chooseNic("10.0.1.0/24", undefined, nics, links),
      (err: Error) =>
        /10\.0\.1\.0\/24 is on 2 of this VM's NICs/.test(err.message) &&
        err.message.includes(`eth1 (${MAC2}; 10.0.1.0/24: 10.0.1.4 primary, 10.0.1.10, 10.0.1.11, 10.0.1.12)`) &&
        err.message.includes(`eth2 (${MAC3}; 10.0.1.0/24: 10.0.1.5 primary, 10.0.1.20`) &&
        err.message.includes("pass -o parent="),
    );
  });

  it("takes the NIC a parent names by interface, by MAC or by bare MAC", () => {
    assert.equal(chooseNic("10.0.1.0/24", "eth2", nics, links).mac, MAC3);
    assert.equal(chooseNic("10.0.1.0/24", MAC2, nics, links).mac, MAC2);
    assert.deepEqual(chooseNic("10.0.1.0/24", "000d3a000003", nics, links), { mac: MAC3, primary: false, ifname: "eth2" });
  });

  it("refuses a parent that names no link, a link that is no NIC of the metadata, or a NIC without the subnet", () => {
    assert.throws(() => chooseNic("10.0.1.0/24", "eth9", nics, links), /parent=eth9 names no interface on this VM; its NICs: eth0 \(/);
    assert.throws(
      () => chooseNic("10.0.1.0/24", "docker0", nics, links),
      /the interface docker0 \(02:42:00:00:00:01\) is not one of this VM's NICs in the metadata; its NICs: eth0/,
    );
    assert.throws(
      () => chooseNic("10.0.1.0/24", "eth0", nics, links),
      (err: Error) =>
        err.message.includes(`the NIC eth0 (${MAC1}, primary NIC; 10.0.0.0/24: 10.0.0.4 primary`) &&
        err.message.includes("does not hold the subnet 10.0.1.0/24; the subnet is on eth1"),
    );
  });
});

describe("the plan of a secondary NIC's policy routing", () => {
  const base = {
    addressSpace: "AzureVNetLocal",
    gateway: "10.0.1.1",
    primaryAddress: "10.0.1.4",
    nicMac: MAC2,
    mtu: 1500,
    options: { mode: "bridge" as const, snat: true, allowImds: false },
  };
  const net = (id: string, extra: Partial<NetworkRecord> = {}): NetworkRecord => ({
    id,
    bridge: `azvb${id.slice(0, 11)}`,
    subnet: "10.0.1.0/24",
    nicPrimary: false,
    createdAt: `2026-01-01T00:00:0${id === NET ? 0 : 1}.000Z`,
    ...base,
    ...extra,
  });
  const table = NIC_TABLE_BASE + 3;

  it("gives a secondary NIC's subnet two rules and a table of the NIC's own, once however many networks use it", () => {
    const plan = planNicRouting([net(NET), net(NET2, { options: { ...base.options, mode: "transparent" } })], links);
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.rules, [
      { src: "10.0.1.0/24", action: 1, protocol: ROUTING_PROTOCOL, priority: RULE_PRIORITY_LOCAL, table: 254, suppressPrefixLength: 31 },
      { src: "10.0.1.0/24", action: 1, protocol: ROUTING_PROTOCOL, priority: RULE_PRIORITY_NIC, table },
    ]);
    assert.deepEqual(plan.routes, [
      { dst: "10.0.1.0/24", table, oif: 3, prefsrc: "10.0.1.4", protocol: ROUTING_PROTOCOL },
      { dst: "0.0.0.0/0", table, oif: 3, gateway: "10.0.1.1", protocol: ROUTING_PROTOCOL },
    ]);
    assert.ok(RULE_PRIORITY_LOCAL < RULE_PRIORITY_NIC && RULE_PRIORITY_NIC < 32766, "both before the main table's rule");
  });

  it("plans nothing for the primary NIC or a record older than the NIC's kind, and says when the NIC has no link", () => {
    assert.deepEqual(planNicRouting([net(NET, { nicPrimary: true, nicMac: MAC1 }), net(NET2, { nicPrimary: undefined })], links), {
      rules: [],
      routes: [],
      problems: [],
    });
    const gone = planNicRouting([net(NET, { nicMac: "00:0d:3a:00:00:99" })], links);
    assert.equal(gone.rules.length, 0);
    assert.match(gone.problems[0], /no link with the MAC 00:0d:3a:00:00:99/);
  });

  it("diffs against the kernel: its own leftovers are extra, the operator's rules and tables never", () => {
    const plan = planNicRouting([net(NET)], links);
    const live = {
      rules: [
        { ...plan.rules[0] },
        // Ours, for a subnet no network has any more.
        { src: "10.0.9.0/24", action: 1, protocol: ROUTING_PROTOCOL, priority: RULE_PRIORITY_NIC, table: NIC_TABLE_BASE + 9 },
        // The operator's, at the same priority.
        { src: "10.0.8.0/24", action: 1, protocol: 0, priority: RULE_PRIORITY_NIC, table: 100 },
      ],
      routes: [
        // The default went elsewhere: missing, and replaced.
        { dst: "0.0.0.0", prefixLen: 0, table, type: "1", scope: "0", protocol: "165", oif: 2, gateway: "10.0.0.1" },
        { dst: "0.0.0.0", prefixLen: 0, table: NIC_TABLE_BASE + 9, type: "1", scope: "0", protocol: "165", oif: 9 },
        { dst: "0.0.0.0", prefixLen: 0, table: 100, type: "1", scope: "0", protocol: "3", oif: 2 },
      ],
    };
    const diff = diffNicRouting(plan, live);
    assert.deepEqual(diff.missingRules, [plan.rules[1]]);
    assert.deepEqual(diff.missingRoutes, plan.routes);
    assert.deepEqual(
      diff.extraRules.map((r) => r.src),
      ["10.0.9.0/24"],
    );
    assert.deepEqual(diff.extraRoutes, [{ dst: "0.0.0.0/0", table: NIC_TABLE_BASE + 9 }]);
    // Within an earlier plan only what it had is extra: a network's removal takes its own, and leaves others' leftovers to the repair.
    const removal = diffNicRouting(planNicRouting([], links), live, plan);
    assert.deepEqual(
      removal.extraRules.map((r) => r.src),
      ["10.0.1.0/24"],
    );
    assert.deepEqual(removal.extraRoutes, [{ dst: "0.0.0.0/0", table }]);
  });
});

describe("a network on a secondary NIC, IPAM and network layer wired", () => {
  function wired(nics: NicInfo[]) {
    const dp = new FakeDataplane();
    dp.links.set("eth1", { name: "eth1", index: 3, mac: MAC2, mtu: 1500, up: true });
    dp.links.set("eth2", { name: "eth2", index: 4, mac: MAC3, mtu: 1500, up: true });
    dp.nicAddresses.set("eth1", ["10.0.1.4"]);
    dp.nicAddresses.set("eth2", ["10.0.1.5"]);
    const checkpoint = { ipam: emptyIpamState(), network: emptyNetworkState() };
    const clock = new FakeClock();
    const persist = async () => undefined;
    const ipam = new AddressManager({
      metadata: new MetadataCache(new FakeSource(nics), { clock }),
      state: checkpoint.ipam,
      persist,
      clock,
    });
    const network = new NetworkManager({ dataplane: dp, pools: ipam, state: checkpoint.network, persist, logger: silent });
    const create = async (id: string, subnet: string, generic: Record<string, string> = {}) => {
      const pool = await ipam.requestPool({ AddressSpace: "AzureVNetLocal", Pool: subnet, SubPool: "", Options: {}, V6: false });
      const req: CreateNetworkRequest = {
        NetworkID: id,
        Options: { "com.docker.network.generic": generic },
        IPv4Data: [{ AddressSpace: "AzureVNetLocal", Pool: subnet, Gateway: subnet.replace(/0\/24$/, "1/24") }],
        IPv6Data: [],
      };
      try {
        await network.createNetwork(req);
      } catch (err) {
        await ipam.releasePool({ PoolID: pool.PoolID });
        throw err;
      }
      return pool.PoolID;
    };
    return { dp, checkpoint, ipam, network, create };
  }

  it("refuses a network on a subnet two NICs hold without a parent, and lists both", async () => {
    const t = wired(twoInOneSubnet());
    await assert.rejects(
      t.create(NET, "10.0.1.0/24"),
      /is on 2 of this VM's NICs: eth1 \(00:0d:3a:00:00:02.*eth2 \(00:0d:3a:00:00:03.*-o parent=/,
    );
    assert.deepEqual(t.checkpoint.network.networks, {});
    assert.deepEqual(t.dp.rules, []);
  });

  it("binds the pool to the parent's NIC before any address is handed out, and gives the NIC its rules and table", async () => {
    const t = wired(twoInOneSubnet());
    const poolId = await t.create(NET, "10.0.1.0/24", { parent: "eth2" });
    const net = t.checkpoint.network.networks[NET];
    assert.equal(net.nicMac, MAC3);
    assert.equal(net.nicPrimary, false);
    assert.equal(net.primaryAddress, "10.0.1.5");
    const got = new Set<string>();
    for (let i = 0; i < 3; i++) got.add((await t.ipam.requestAddress({ PoolID: poolId, Address: "", Options: {} })).Address.split("/")[0]);
    assert.deepEqual([...got].sort(), ["10.0.1.20", "10.0.1.21", "10.0.1.22"]);
    assert.deepEqual(
      t.dp.rules.map((r) => `${r.priority} ${r.src} ${r.table}`),
      [`${RULE_PRIORITY_LOCAL} 10.0.1.0/24 254`, `${RULE_PRIORITY_NIC} 10.0.1.0/24 ${NIC_TABLE_BASE + 4}`],
    );
    assert.deepEqual(
      t.dp.tableRoutes.map((r) => `${r.dst}/${r.prefixLen} ${r.gateway ?? "-"} ${r.prefsrc ?? "-"} ${r.oif}`),
      ["10.0.1.0/24 - 10.0.1.5 4", "0.0.0.0/0 10.0.1.1 - 4"],
    );
  });

  it("refuses a second network on the subnet through the other NIC, naming the first one's", async () => {
    const t = wired(twoInOneSubnet());
    await t.create(NET, "10.0.1.0/24", { parent: "eth1" });
    await assert.rejects(
      t.create(NET2, "10.0.1.0/24", { parent: MAC3 }),
      /already uses the subnet 10\.0\.1\.0\/24 on the NIC eth1 \(00:0d:3a:00:00:02\).*not eth2 \(00:0d:3a:00:00:03\)/,
    );
    await t.create(NET2, "10.0.1.0/24", { parent: "eth1" });
    assert.equal(Object.keys(t.checkpoint.network.networks).length, 2);
  });

  it("keeps the rules while another network uses the NIC, and removes them with the last", async () => {
    const t = wired(twoInOneSubnet());
    await t.create(NET, "10.0.1.0/24", { parent: "eth1" });
    await t.create(NET2, "10.0.1.0/24", { parent: "eth1" });
    await t.network.deleteNetwork({ NetworkID: NET });
    assert.equal(t.dp.rules.length, 2);
    assert.equal(t.dp.tableRoutes.length, 2);
    await t.network.deleteNetwork({ NetworkID: NET2 });
    assert.deepEqual(t.dp.rules, []);
    assert.deepEqual(t.dp.tableRoutes, []);
  });

  it("refuses a secondary NIC that is down or lacks its primary address, which its table routes need", async () => {
    const t = wired(twoInOneSubnet());
    t.dp.nicAddresses.set("eth2", []);
    await assert.rejects(
      t.create(NET, "10.0.1.0/24", { parent: "eth2" }),
      /the NIC eth2 \(00:0d:3a:00:00:03\) is up without its primary address 10\.0\.1\.5; .*bring it up with its address/,
    );
    (t.dp.links.get("eth1") as { up: boolean }).up = false;
    await assert.rejects(t.create(NET, "10.0.1.0/24", { parent: "eth1" }), /the NIC eth1 \(00:0d:3a:00:00:02\) is down;/);
    assert.deepEqual(t.checkpoint.network.networks, {});
    assert.deepEqual(t.dp.rules, []);
  });

  it("sends only the other NICs' subnets of a primary-NIC network out of the primary NIC, and adds nothing on a one-NIC VM", async () => {
    const t = wired(twoInOneSubnet());
    await t.create(NET, "10.0.0.0/24");
    const net = t.checkpoint.network.networks[NET];
    assert.equal(net.nicPrimary, true);
    assert.deepEqual(net.otherNicSubnets, ["10.0.1.0/24"]);
    assert.deepEqual(t.dp.rules.map(ruleKey), [
      "priority 30100 from 10.0.0.0/24 lookup main suppress_prefixlength 31",
      `priority 30101 from 10.0.0.0/24 to 10.0.1.0/24 lookup ${NIC_TABLE_BASE + 2}`,
    ]);
    assert.deepEqual(t.dp.tableRoutes.map((r) => `${r.dst}/${r.prefixLen} ${r.gateway ?? "link"} ${r.table}`).sort(), [
      `0.0.0.0/0 10.0.0.1 ${NIC_TABLE_BASE + 2}`,
      `10.0.0.0/24 link ${NIC_TABLE_BASE + 2}`,
    ]);
    await t.network.deleteNetwork({ NetworkID: NET });
    assert.deepEqual(t.dp.rules, []);
    assert.deepEqual(t.dp.tableRoutes, []);

    const one = wired([twoInOneSubnet()[0]]);
    await one.create(NET, "10.0.0.0/24");
    assert.equal(one.checkpoint.network.networks[NET].otherNicSubnets, undefined);
    assert.deepEqual(one.dp.rules, []);
    one.dp.calls = [];
    assert.deepEqual(await one.network.repairNicRouting(), { added: [], removed: [], problems: [] });
    assert.deepEqual(one.dp.calls, [], "a one-NIC VM's reconciliation read the policy routing");
  });

  it("start-up repair restores a secondary NIC's rules and table", async () => {
    const t = wired(twoInOneSubnet());
    await t.create(NET, "10.0.1.0/24", { parent: "eth1" });
    t.dp.rules = [];
    t.dp.tableRoutes = [];
    const report = await t.network.repairKernel({ removeOrphans: true });
    assert.equal(report.nicRoutingAdded.length, 4);
    assert.equal(t.dp.rules.length, 2);
    assert.equal(t.dp.tableRoutes.length, 2);
  });

  it("puts flushed rules back on a reconciliation run", async () => {
    const t = wired(twoInOneSubnet());
    await t.create(NET, "10.0.1.0/24", { parent: "eth1" });
    t.dp.rules = [];
    const result = await t.network.repairNicRouting();
    assert.deepEqual(result.added, [
      "priority 30100 from 10.0.1.0/24 lookup main suppress_prefixlength 31 proto 165",
      `priority 30101 from 10.0.1.0/24 lookup ${NIC_TABLE_BASE + 3} proto 165`,
    ]);
    assert.equal(t.dp.rules.length, 2);
    assert.deepEqual((await t.network.repairNicRouting()).added, []);
  });
});
