import { strict as assert } from "node:assert";
import { planFirewall, FirewallNetwork } from "../../../driver/dataplane/firewall-plan";

const net = (over: Partial<FirewallNetwork> = {}): FirewallNetwork => ({
  id: "abc123",
  bridge: "azvb1",
  subnet: "10.0.0.0/24",
  primaryAddress: "10.0.0.4",
  snat: true,
  nonMasqueradeCidrs: ["10.0.0.0/8"],
  allowImds: false,
  ...over,
});

describe("firewall plan", () => {
  it("masquerades to the primary address only traffic leaving the VNet, never to the platform addresses", () => {
    const { natRules } = planFirewall({ networks: [net()] });
    const returns = natRules.filter((r) => r.endsWith("-j RETURN")).map((r) => r.match(/-d (\S+)/)?.[1]);
    assert.deepEqual(returns, ["10.0.0.0/24", "10.0.0.0/8", "168.63.129.16/32", "169.254.169.254/32"]);
    const snat = natRules.filter((r) => r.includes("-j SNAT"));
    assert.equal(snat.length, 1);
    assert.match(snat[0], /-s 10\.0\.0\.0\/24 -m addrtype ! --src-type LOCAL .* -j SNAT --to-source 10\.0\.0\.4$/);
    assert.ok(natRules.indexOf(snat[0]) > natRules.findIndex((r) => r.includes("169.254.169.254")), "exclusions come first");
  });

  it("has no SNAT rule for a network with snat off, and admits IMDS only where allowed", () => {
    const plan = planFirewall({ networks: [net({ snat: false, allowImds: true })] });
    assert.equal(plan.natRules.filter((r) => r.includes("SNAT --to-source")).length, 0);
    assert.equal(plan.filterRules.filter((r) => r.includes("169.254.169.254")).length, 0);
    const closed = planFirewall({ networks: [net()] });
    assert.match(closed.filterRules.join("\n"), /-d 169\.254\.169\.254\/32 -i azvb1 .*-j REJECT/);
  });

  it("blocks the wireserver's ports 80 and 32526 but leaves DNS open, then accepts the bridge both ways", () => {
    const { filterRules } = planFirewall({ networks: [net()] });
    const ws = filterRules.filter((r) => r.includes("168.63.129.16"));
    assert.deepEqual(
      ws.map((r) => r.match(/--dport (\d+)/)?.[1]),
      ["80", "32526"],
    );
    assert.ok(ws.every((r) => r.includes("-j REJECT --reject-with tcp-reset")));
    assert.match(filterRules.at(-2) ?? "", /-i azvb1 .*-j ACCEPT$/);
    assert.match(filterRules.at(-1) ?? "", /-o azvb1 .*-j ACCEPT$/);
  });

  it("declares every chain so a re-apply replaces them whole", () => {
    const { restoreText } = planFirewall({ networks: [net()] });
    assert.match(restoreText, /^\*filter\n:AZURE-VNET-FORWARD - \[0:0\]\n/);
    assert.match(restoreText, /\*nat\n:AZURE-VNET-POSTROUTING - \[0:0\]\n/);
    assert.match(restoreText, /\*mangle\n:AZURE-VNET-MARK - \[0:0\]\n:AZURE-VNET-PLATFORM - \[0:0\]\n/);
    assert.equal(restoreText.match(/^COMMIT$/gm)?.length, 3);
  });

  it("marks every platform block again in mangle and drops marked packets after FORWARD, IMDS only where it is blocked", () => {
    const { mangleRules, filterRules } = planFirewall({ networks: [net(), net({ id: "def456", bridge: "azvb2", allowImds: true })] });
    const blocked = filterRules.filter((r) => r.includes("-j REJECT"));
    const marks = mangleRules.filter((r) => r.startsWith("-A AZURE-VNET-MARK "));
    assert.equal(marks.length, blocked.length, "one mark for each REJECT");
    assert.ok(marks.every((r) => r.endsWith("-j MARK --set-xmark 0x1000000/0x1000000")));
    assert.equal(marks.filter((r) => r.includes("169.254.169.254")).length, 1);
    assert.ok(!marks.some((r) => r.includes("169.254.169.254") && r.includes("azvb2")), "allow-imds leaves IMDS unmarked");
    assert.deepEqual(
      mangleRules.filter((r) => r.startsWith("-A AZURE-VNET-PLATFORM ")),
      [
        '-A AZURE-VNET-PLATFORM -m mark --mark 0x1000000/0x1000000 -m comment --comment "azure-vnet: platform addresses containers may not reach" -j DROP',
      ],
    );
  });

  it("grows with networks, not with anything else", () => {
    const one = planFirewall({ networks: [net()] });
    const two = planFirewall({
      networks: [net(), net({ id: "def456", bridge: "azvb2", subnet: "10.0.1.0/24", primaryAddress: "10.0.1.4" })],
    });
    assert.ok(two.filterRules.length === 2 * one.filterRules.length);
  });

  it("refuses values that could smuggle rules or shell syntax, before rendering anything", () => {
    const bad: Array<Partial<FirewallNetwork>> = [
      { bridge: "azvb1 -j ACCEPT" },
      { bridge: "azvb1\n-A INPUT -j DROP" },
      { subnet: "10.0.0.0/24; rm -rf /" },
      { primaryAddress: "10.0.0.4 --random" },
      { nonMasqueradeCidrs: ["10.0.0.0/8", "$(reboot)"] },
      { id: 'x" -j ACCEPT "' },
    ];
    for (const b of bad) assert.throws(() => planFirewall({ networks: [net(b)] }), Error, JSON.stringify(b));
  });
});
