/**
 * Policy routing for a network on a secondary NIC, with the real network
 * manager and dataplane in the test's own (throwaway) namespace, which plays
 * a VM with two NICs: veth ends standing in for eth0 (10.0.0.4/24, the
 * VM's default route via 10.0.0.1) and eth1 (10.0.1.4/24). A bridge network
 * on eth1's subnet and a transparent one on eth0's each get a container
 * address; the kernel's own route lookups (`ip route get … iif …`) show
 * which NIC a container's packet leaves through.
 */
import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { LinuxDataplane } from "../../driver/dataplane";
import { NetworkManager, type PoolDirectory, type PoolFacts } from "../../driver/network/manager";
import { emptyNetworkState } from "../../driver/network/records";
import { NIC_TABLE_BASE, ROUTING_PROTOCOL, RULE_PRIORITY_LOCAL, RULE_PRIORITY_NIC } from "../../driver/network/nic-routing";
import type { NicInfo } from "../../driver/ipam/metadata/types";
import type { CreateNetworkRequest } from "../../driver/protocol/types";
import { cmd, ipLink, sh } from "./support/host";
import { clearBackend, dockerLikeBaseline } from "./support/iptables";
import { silent } from "../unit/support/silent-logger";

assertThrowawayNetns();

const ETH0 = { name: "azp-eth0", peer: "azp-eth0x", mac: "00:0d:3a:00:00:01", ip: "10.0.0.4", subnet: "10.0.0.0/24" };
const ETH1 = { name: "azp-eth1", peer: "azp-eth1x", mac: "00:0d:3a:00:00:02", ip: "10.0.1.4", subnet: "10.0.1.0/24" };
const NET0 = "0".repeat(12) + "a".repeat(52);
const NET1 = "1".repeat(12) + "b".repeat(52);
const EP0 = "e0".repeat(32);
const EP1 = "e1".repeat(32);
/** A transparent network on eth1 too: the same subnet, the same NIC. */
const NET2 = "2".repeat(12) + "c".repeat(52);
const EP2 = "e2".repeat(32);
const INTERNET = "203.0.113.7";

const NICS: NicInfo[] = [ETH0, ETH1].map((n, i) => ({
  mac: n.mac,
  isPrimary: i === 0,
  subnets: [
    {
      cidr: n.subnet,
      ipConfigs: [n.ip, n.ip.replace(/\.4$/, ".10")].map((address, j) => ({ address, isPrimary: j === 0, publicIp: "" })),
    },
  ],
}));

/** The IPAM side: each subnet's pool on the NIC holding it. */
function pools(): PoolDirectory {
  const facts = (subnet: string): PoolFacts | undefined => {
    const nic = [ETH0, ETH1].find((n) => n.subnet === subnet);
    return nic && { subnet, gateway: subnet.replace(/0\/24$/, "1"), primaryAddress: nic.ip, nicMac: nic.mac };
  };
  return {
    poolInfoBySubnet: (_space, subnet) => facts(subnet),
    vmNics: async () => structuredClone(NICS),
    bindPoolsToNic: async (_space, subnet) => facts(subnet),
    networkCreated: () => undefined,
    bindAddress: async () => undefined,
    unbindAddress: async () => true,
  };
}

function createReq(id: string, subnet: string, generic: Record<string, string>): CreateNetworkRequest {
  return {
    NetworkID: id,
    Options: { "com.docker.network.generic": generic },
    IPv4Data: [{ AddressSpace: "AzureVNetLocal", Pool: subnet, Gateway: subnet.replace(/0\/24$/, "1/24") }],
    IPv6Data: [],
  };
}

function endpointReq(net: string, id: string, address: string) {
  return { NetworkID: net, EndpointID: id, Interface: { Address: `${address}/24`, AddressIPv6: "", MacAddress: "" }, Options: {} };
}

/** The kernel's choice for a packet entering through `iif`: its `dev` and `via`, or its error. */
async function routeGet(dst: string, from: string, iif: string): Promise<{ dev?: string; via?: string; type?: string; error?: string }> {
  const r = await cmd("ip", ["-4", "-j", "route", "get", dst, "from", from, "iif", iif]);
  if (r.code !== 0) return { error: r.stderr.trim() };
  const [route] = JSON.parse(r.stdout) as { dev?: string; gateway?: string; type?: string }[];
  // iproute2 leaves the type out for a unicast route.
  return { dev: route.dev, via: route.gateway, type: route.type ?? "unicast" };
}

interface IpRule {
  priority: number;
  src?: string;
  srclen?: number;
  table: string;
  protocol?: string;
  suppress_prefixlen?: number;
}

/** The rules at the plugin's two priorities, as iproute2 shows them. */
async function ownRules(): Promise<string[]> {
  const rules = JSON.parse(await sh("ip", "-4", "-j", "-d", "rule", "show")) as IpRule[];
  return rules
    .filter((r) => r.priority === RULE_PRIORITY_LOCAL || r.priority === RULE_PRIORITY_NIC)
    .map(
      (r) =>
        `${r.priority} from ${r.src}/${r.srclen} lookup ${r.table}${r.suppress_prefixlen !== undefined ? ` suppress ${r.suppress_prefixlen}` : ""} proto ${r.protocol}`,
    )
    .sort();
}

async function tableRoutes(table: number): Promise<string[]> {
  const r = await cmd("ip", ["-4", "route", "show", "table", String(table)]);
  return r.stdout
    .split("\n")
    .map((l) => l.trim().replace(/ linkdown$/, ""))
    .filter(Boolean)
    .sort();
}

describe("policy routing for a network on a secondary NIC", function () {
  this.timeout(60_000);
  const dp = new LinuxDataplane();
  const state = emptyNetworkState();
  const mgr = new NetworkManager({ dataplane: dp, pools: pools(), state, persist: async () => undefined, logger: silent });
  let iptables = "";
  let table = 0;
  let bridge1 = "";
  let expectedRules: string[] = [];

  before(async () => {
    iptables = (await sh("iptables", "-V")).includes("nf_tables") ? "iptables-nft" : "iptables-legacy";
    await dockerLikeBaseline(iptables);
    for (const nic of [ETH0, ETH1]) {
      await sh("ip", "link", "add", nic.name, "address", nic.mac, "type", "veth", "peer", "name", nic.peer);
      await sh("ip", "link", "set", nic.peer, "up");
      await sh("ip", "link", "set", nic.name, "up");
      await sh("ip", "addr", "add", `${nic.ip}/24`, "dev", nic.name);
    }
    // The VM's default route: through the primary NIC, as Azure's DHCP sets it.
    await sh("ip", "route", "add", "default", "via", "10.0.0.1", "dev", ETH0.name);
    table = NIC_TABLE_BASE + ((await ipLink(ETH1.name))?.ifindex ?? 0);
    expectedRules = [
      `${RULE_PRIORITY_LOCAL} from ${ETH1.subnet} lookup main suppress 31 proto ${ROUTING_PROTOCOL}`,
      `${RULE_PRIORITY_NIC} from ${ETH1.subnet} lookup ${table} proto ${ROUTING_PROTOCOL}`,
    ];

    await mgr.createNetwork(createReq(NET0, ETH0.subnet, { mode: "transparent" }));
    await mgr.createNetwork(createReq(NET1, ETH1.subnet, { parent: ETH1.mac.toUpperCase().replace(/:/g, "-") }));
    bridge1 = state.networks[NET1].bridge;
    await mgr.createEndpoint(endpointReq(NET0, EP0, "10.0.0.10"));
    await mgr.createEndpoint(endpointReq(NET1, EP1, "10.0.1.10"));
    await mgr.createNetwork(createReq(NET2, ETH1.subnet, { mode: "transparent", parent: ETH1.name }));
    await mgr.createEndpoint(endpointReq(NET2, EP2, "10.0.1.11"));
  });

  after(async () => {
    await mgr.deleteNetwork({ NetworkID: NET2 }).catch(() => undefined);
    await mgr.deleteNetwork({ NetworkID: NET1 }).catch(() => undefined);
    await mgr.deleteNetwork({ NetworkID: NET0 }).catch(() => undefined);
    await mgr.settled();
    for (const nic of [ETH0, ETH1]) await cmd("ip", ["link", "del", nic.name]);
    await dp.removeFirewall().catch(() => undefined);
    await clearBackend(iptables);
    await dp.close();
  });

  it("records the NIC the parent names, and that it is a secondary one", () => {
    assert.equal(state.networks[NET1].nicMac, ETH1.mac);
    assert.equal(state.networks[NET1].nicPrimary, false);
    assert.equal(state.networks[NET1].options.parent, ETH1.mac);
    assert.equal(state.networks[NET0].nicPrimary, true);
  });

  it("gives the secondary NIC a table of its own (connected route, default via the gateway) and two rules", async () => {
    assert.deepEqual(await tableRoutes(table), [
      `${ETH1.subnet} dev ${ETH1.name} proto ${ROUTING_PROTOCOL} scope link src ${ETH1.ip}`,
      `default via 10.0.1.1 dev ${ETH1.name} proto ${ROUTING_PROTOCOL}`,
    ]);
    assert.deepEqual(await ownRules(), expectedRules);
  });

  it("sends a container's packets beyond its subnet out of its NIC, via the subnet's gateway", async () => {
    assert.deepEqual(await routeGet(INTERNET, "10.0.1.10", bridge1), { dev: ETH1.name, via: "10.0.1.1", type: "unicast" });
    // Another VM in the primary NIC's subnet: still through eth1, whose ipconfig the source is.
    assert.deepEqual(await routeGet("10.0.0.20", "10.0.1.10", bridge1), { dev: ETH1.name, via: "10.0.1.1", type: "unicast" });
    // A VM of the container's own subnet: straight out of eth1, no gateway.
    assert.deepEqual(await routeGet("10.0.1.20", "10.0.1.10", bridge1), { dev: ETH1.name, via: undefined, type: "unicast" });
    // The subnet's gateway (what the bridge answers ARP for) is on eth1: proxy ARP answers for it.
    assert.equal((await routeGet("10.0.1.1", "10.0.1.10", bridge1)).dev, ETH1.name);
  });

  it("keeps a local container on another network local, and the VM's own addresses local", async () => {
    const host0 = Object.values(state.endpoints).find((e) => e.networkId === NET0)?.hostVeth;
    assert.deepEqual(await routeGet("10.0.0.10", "10.0.1.10", bridge1), { dev: host0, via: undefined, type: "unicast" });
    assert.equal((await routeGet(ETH1.ip, "10.0.1.10", bridge1)).type, "local");
    assert.equal((await routeGet(ETH0.ip, "10.0.1.10", bridge1)).type, "local");
  });

  it("leaves the primary NIC's network on the main table", async () => {
    const host0 = Object.values(state.endpoints).find((e) => e.networkId === NET0)?.hostVeth as string;
    assert.deepEqual(await routeGet(INTERNET, "10.0.0.10", host0), { dev: ETH0.name, via: "10.0.0.1", type: "unicast" });
  });

  it("passes inbound packets and their replies under a strict rp_filter on eth1, and still drops spoofed sources", async () => {
    await sh("sysctl", "-qw", `net.ipv4.conf.${ETH1.name}.rp_filter=1`);
    try {
      // From the internet to a container (snat=false, or a public IP of its ipconfig): the reverse path is eth1's table.
      assert.equal((await routeGet("10.0.1.10", INTERNET, ETH1.name)).dev, bridge1);
    } finally {
      await sh("sysctl", "-qw", `net.ipv4.conf.${ETH1.name}.rp_filter=0`);
    }
    // An address no container holds on the bridge, and another network's container: refused by the bridge's rp_filter.
    assert.match((await routeGet(INTERNET, "10.0.1.99", bridge1)).error ?? "", /cross-device|Invalid/i);
    assert.match((await routeGet(INTERNET, "10.0.0.10", bridge1)).error ?? "", /cross-device|Invalid/i);
    // Towards the subnet itself the reverse lookup goes through the rules: the suppress rule still finds the /32, and only that.
    assert.equal((await routeGet("10.0.1.20", "10.0.1.10", bridge1)).dev, ETH1.name);
    assert.match((await routeGet("10.0.1.20", "10.0.1.99", bridge1)).error ?? "", /cross-device|Invalid/i);
  });

  it("does the same for a transparent network's routed port, whose strict rp_filter still drops spoofed sources", async () => {
    const port = state.endpoints[EP2].hostVeth;
    assert.deepEqual(await routeGet(INTERNET, "10.0.1.11", port), { dev: ETH1.name, via: "10.0.1.1", type: "unicast" });
    assert.equal((await routeGet("10.0.1.10", "10.0.1.11", port)).dev, bridge1);
    for (const spoofed of ["10.0.1.10", "10.0.1.99", "10.0.0.10"])
      assert.match((await routeGet(INTERNET, spoofed, port)).error ?? "", /cross-device|Invalid/i, spoofed);
  });

  it("SNATs to the secondary NIC's primary address, which is the NIC the packet leaves through", async () => {
    const nat = await sh(`${iptables}-save`, "-t", "nat");
    const snat = nat.split("\n").filter((l) => l.includes(`-s ${ETH1.subnet}`) && l.includes("-j SNAT"));
    assert.ok(snat.length > 0, nat);
    for (const rule of snat) {
      assert.match(rule, new RegExp(`--to-source ${ETH1.ip.replace(/\./g, "\\.")}$`));
      assert.doesNotMatch(rule, / -o /, "the route, not the rule, picks the NIC");
    }
  });

  it("start-up repair puts back what is missing, removes its own leftovers and leaves the operator's rules", async () => {
    await sh("ip", "rule", "del", "priority", String(RULE_PRIORITY_NIC), "from", ETH1.subnet, "table", String(table));
    await sh("ip", "route", "del", "default", "table", String(table));
    // Left by a NIC that is gone, and by a network removed while the plugin was down.
    await sh("ip", "route", "add", "default", "via", "10.0.9.1", "dev", ETH0.name, "onlink", "table", String(NIC_TABLE_BASE + 999));
    await sh(
      "ip",
      "rule",
      "add",
      "priority",
      String(RULE_PRIORITY_NIC),
      "from",
      "10.0.9.0/24",
      "table",
      String(NIC_TABLE_BASE + 999),
      "protocol",
      String(ROUTING_PROTOCOL),
    );
    // The operator's: same priority, not the plugin's protocol; and a table outside the band.
    await sh("ip", "rule", "add", "priority", String(RULE_PRIORITY_NIC), "from", "10.0.8.0/24", "table", "100");
    await sh("ip", "route", "add", "default", "via", "10.0.0.1", "dev", ETH0.name, "table", "100");
    try {
      const report = await mgr.repairKernel({ removeOrphans: true });
      assert.deepEqual(report.errors, []);
      assert.equal(report.nicRoutingAdded.length, 2);
      assert.equal(report.nicRoutingRemoved.length, 2);
      assert.deepEqual(await ownRules(), [...expectedRules, `${RULE_PRIORITY_NIC} from 10.0.8.0/24 lookup 100 proto unspec`].sort());
      assert.equal((await tableRoutes(table)).length, 2);
      assert.deepEqual(await tableRoutes(NIC_TABLE_BASE + 999), []);
      assert.equal((await tableRoutes(100)).length, 1);
      assert.deepEqual(await routeGet(INTERNET, "10.0.1.10", bridge1), { dev: ETH1.name, via: "10.0.1.1", type: "unicast" });
    } finally {
      await cmd("ip", ["rule", "del", "priority", String(RULE_PRIORITY_NIC), "from", "10.0.8.0/24", "table", "100"]);
      await cmd("ip", ["route", "flush", "table", "100"]);
    }
  });

  it("takes the rules and the table away with the NIC's last network, and the main table serves again", async () => {
    await mgr.deleteNetwork({ NetworkID: NET1 });
    await mgr.settled();
    assert.deepEqual(await ownRules(), expectedRules, "the transparent network still uses eth1");
    assert.equal((await tableRoutes(table)).length, 2);
    await mgr.deleteNetwork({ NetworkID: NET2 });
    await mgr.settled();
    assert.deepEqual(await ownRules(), []);
    assert.deepEqual(await tableRoutes(table), []);
    assert.ok(state.networks[NET0], "the primary NIC's network stays");
    // The VM's own packets from eth1's address follow the main table again.
    const [own] = JSON.parse(await sh("ip", "-4", "-j", "route", "get", INTERNET, "from", ETH1.ip)) as { dev: string }[];
    assert.equal(own.dev, ETH0.name);
  });
});
