import { strict as assert } from "node:assert";
import { defaultTopology, parseTopology } from "../../../sim/topology";
import { fullRuleset, updateRuleset } from "../../../sim/fabric-rules";

describe("simulator topology", () => {
  it("has a valid built-in default: two VMs, eight secondaries each, one with its own public IP", () => {
    const t = parseTopology(defaultTopology());
    assert.deepEqual(
      t.vms.map((v) => [v.name, v.nic.primary.address, v.nic.secondaries.length]),
      [
        ["vm1", "10.0.0.4", 8],
        ["vm2", "10.0.0.5", 8],
      ],
    );
    assert.equal(t.vms[0].nic.secondaries.find((s) => s.publicIp)?.address, "10.0.0.17");
  });

  it("names the field and the problem for a bad file", () => {
    const broken = (mut: (t: ReturnType<typeof defaultTopology>) => void) => {
      const t = defaultTopology();
      mut(t);
      return () => parseTopology(t);
    };
    assert.throws(
      broken((t) => (t.vms[0].nic.mac = "00:0D:3A:00:00:01")),
      /vms\.0\.nic\.mac: must be a lower-case MAC/,
    );
    assert.throws(
      broken((t) => (t.vms[1].nic.secondaries[0].address = "10.0.0.10")),
      /ipconfig 10\.0\.0\.10 is on both vm1 and vm2/,
    );
    assert.throws(
      broken((t) => (t.vms[0].nic.secondaries[0].address = "10.0.5.10")),
      /vm1 ipconfig 10\.0\.5\.10 is not inside 10\.0\.0\.0\/24/,
    );
    assert.throws(
      broken((t) => (t.vms[1].name = "vm1")),
      /VM name vm1 is used twice/,
    );
    assert.throws(
      broken((t) => (t.vnet.gateway = "10.1.0.1")),
      /vnet\.gateway 10\.1\.0\.1 is not inside/,
    );
    assert.throws(() => parseTopology({ vms: [] }), /invalid topology: vnet: /);
  });

  it("renders fabric rules: anti-spoofing per NIC, egress only for primaries and public IPs, NAT and NSG", () => {
    const rules = fullRuleset(defaultTopology());
    assert.match(rules, /-A AZSIM-VM-vm1 -m mac ! --mac-source 00:0d:3a:00:00:01 -j AZSIM-DROP-MAC-vm1/);
    assert.match(rules, /-A AZSIM-VM-vm2 -s 10\.0\.0\.27\/32 -j RETURN/);
    const egress = rules
      .split("\n")
      .filter((l) => l.startsWith("-A AZSIM-EGRESS -s"))
      .map((l) => l.split(" ")[3]);
    assert.deepEqual(egress, ["10.0.0.4/32", "10.0.0.17/32", "10.0.0.5/32"]);
    assert.match(rules, /-A AZSIM-SNAT -s 10\.0\.0\.17\/32 -j SNAT --to-source 203\.0\.113\.17/);
    assert.match(rules, /-A AZSIM-NSG -d 10\.0\.0\.27\/32 -p tcp --dport 23 -j AZSIM-DROP-NSG/);
  });

  it("applies an NSG rule by destination ASG to the ipconfigs in that group, and a load balancer to the ipconfigs in its pool", () => {
    const asg = "/subscriptions/s/resourceGroups/sim-rg/providers/Microsoft.Network/applicationSecurityGroups/web";
    const t = defaultTopology();
    t.nsg = [{ action: "deny", destinationAsg: asg, protocol: "tcp", port: 22 }];
    t.vms[0].nic.secondaries[3].applicationSecurityGroups = [asg.toUpperCase()];
    t.vms[1].nic.secondaries[2].applicationSecurityGroups = [asg];
    t.vms[1].nic.secondaries[5].loadBalancerBackendAddressPools = [
      "/subscriptions/5e1a2b3c-0000-4000-8000-00000000a2e0/resourceGroups/sim-rg/providers/Microsoft.Network/loadBalancers/LB1/backendAddressPools/BACKEND",
    ];
    const rules = updateRuleset(parseTopology(t));
    const denied = [...rules.matchAll(/-A AZSIM-NSG -d ([\d.]+)\/32 -p tcp --dport 22 -j AZSIM-DROP-NSG/g)].map((m) => m[1]);
    assert.deepEqual(denied, ["10.0.0.13", "10.0.0.22"]);
    const backends = [...rules.matchAll(/-d 203\.0\.113\.100\/32 .*--to-destination ([\d.]+):8080/g)].map((m) => m[1]);
    assert.deepEqual(backends, ["10.0.0.12", "10.0.0.22", "10.0.0.25"]);
    t.nsg = [{ action: "deny", protocol: "tcp" } as (typeof t.nsg)[number]];
    assert.throws(() => parseTopology(t), /nsg\.0: needs one of destination and destinationAsg/);
    t.nsg = [];
    t.loadBalancers = [
      { frontendIp: "203.0.113.100", frontendPort: 80, backendPort: 8080, protocol: "tcp", pool: "backend", backendPool: [] },
    ];
    assert.throws(() => parseTopology(t), /loadBalancers\.0: needs a backendPool, or a name/);
  });

  it("updates decisions at run time without touching the drop counters", () => {
    const update = updateRuleset(defaultTopology());
    assert.doesNotMatch(update, /:AZSIM-DROP-/);
    assert.doesNotMatch(update, /^:(PREROUTING|FORWARD|POSTROUTING)/m);
    assert.match(update, /:AZSIM-VM-vm1 - \[0:0\]/);
  });
});
