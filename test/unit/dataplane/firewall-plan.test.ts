import { strict as assert } from "node:assert";
import { planFirewall, FirewallNetwork, FirewallPublished } from "../../../driver/dataplane/firewall-plan";

const net = (over: Partial<FirewallNetwork> = {}): FirewallNetwork => ({
  id: "abc123",
  mode: "bridge",
  bridge: "azvb1",
  subnet: "10.0.0.0/24",
  primaryAddress: "10.0.0.4",
  snat: true,
  nonMasqueradeCidrs: ["10.0.0.0/8"],
  allowImds: false,
  ...over,
});

const pub = (over: Partial<FirewallPublished> = {}): FirewallPublished => ({
  networkId: "abc123",
  endpointId: "e1e1e1e1e1e1",
  address: "10.0.0.10",
  proto: "tcp",
  hostPort: 8080,
  containerPort: 80,
  ...over,
});

describe("firewall plan", () => {
  describe("published ports", () => {
    it("sends a port published on every address of the VM (but not loopback) to its container, for arriving and local traffic alike", () => {
      const plan = planFirewall({ networks: [net()], published: [pub()] });
      assert.deepEqual(plan.dnatRules, [
        '-A AZURE-VNET-DNAT ! -d 127.0.0.0/8 -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 8080 -m comment --comment "azure-vnet abc123: endpoint e1e1e1e1e1e1 *:8080/tcp" -j DNAT --to-destination 10.0.0.10:80',
      ]);
      assert.match(plan.restoreText, /^\*nat\n:AZURE-VNET-POSTROUTING - \[0:0\]\n:AZURE-VNET-DNAT - \[0:0\]\n/m);
      assert.ok(plan.restoreText.includes(plan.dnatRules[0]));
    });

    it("limits a port published on one address to it, and renders udp", () => {
      const plan = planFirewall({
        networks: [net()],
        published: [pub({ proto: "udp", hostIp: "10.0.0.4", hostPort: 53, containerPort: 5353 })],
      });
      assert.match(
        plan.dnatRules[0],
        /^-A AZURE-VNET-DNAT -d 10\.0\.0\.4\/32 -p udp -m addrtype --dst-type LOCAL -m udp --dport 53 .*-j DNAT --to-destination 10\.0\.0\.10:5353$/,
      );
    });

    it("leaves the forward, SNAT and platform rules as they are (published traffic is admitted by 'to containers', its source kept)", () => {
      const without = planFirewall({ networks: [net()] });
      const withPorts = planFirewall({ networks: [net()], published: [pub()] });
      assert.deepEqual(withPorts.filterRules, without.filterRules);
      assert.deepEqual(withPorts.natRules, without.natRules);
      assert.deepEqual(withPorts.mangleRules, without.mangleRules);
      assert.deepEqual(without.dnatRules, []);
    });

    it("refuses a port published twice, overlapping addresses included", () => {
      assert.throws(
        () => planFirewall({ networks: [net()], published: [pub(), pub({ endpointId: "e2", address: "10.0.0.11" })] }),
        /port 8080\/tcp is published twice/,
      );
      assert.throws(
        () => planFirewall({ networks: [net()], published: [pub({ hostIp: "10.0.0.4" }), pub({ endpointId: "e2" })] }),
        /published twice/,
      );
      // Different protocols or different addresses do not overlap.
      planFirewall({ networks: [net()], published: [pub(), pub({ endpointId: "e2", proto: "udp" })] });
      planFirewall({ networks: [net()], published: [pub({ hostIp: "10.0.0.4" }), pub({ endpointId: "e2", hostIp: "10.0.0.6" })] });
    });

    it("refuses values that could change the rule's meaning", () => {
      const bad: [Partial<FirewallPublished>, RegExp][] = [
        [{ networkId: "nope" }, /unknown network/],
        [{ endpointId: "e1 -j ACCEPT" }, /invalid endpoint id/],
        [{ address: "10.0.0.10:1" }, /container address/],
        [{ proto: "sctp" as "tcp" }, /invalid protocol/],
        [{ hostIp: "0.0.0.0/0" }, /host address/],
        [{ hostPort: 0 }, /invalid port/],
        [{ containerPort: 65536 }, /invalid port/],
        [{ hostPort: 80.5 }, /invalid port/],
      ];
      for (const [over, message] of bad)
        assert.throws(() => planFirewall({ networks: [net()], published: [pub(over)] }), message, JSON.stringify(over));
    });
  });

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
    assert.match(restoreText, /\*raw\n:AZURE-VNET-SOURCE - \[0:0\]\nCOMMIT\n$/, "no source check without a transparent network");
    assert.equal(restoreText.match(/^COMMIT$/gm)?.length, 4);
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

describe("firewall plan, transparent networks", () => {
  const routed = (over: Partial<FirewallNetwork> = {}): FirewallNetwork => ({
    id: "tr0001",
    mode: "transparent",
    portGroup: 0x1abcdef0,
    subnet: "10.0.0.0/24",
    primaryAddress: "10.0.0.4",
    snat: true,
    nonMasqueradeCidrs: ["10.0.0.0/8"],
    allowImds: false,
    ...over,
  });

  it("recognises a transparent network's traffic by the routed ports and their link group, in both directions", () => {
    const { filterRules } = planFirewall({ networks: [routed()] });
    assert.deepEqual(filterRules, [
      '-A AZURE-VNET-FORWARD -d 168.63.129.16/32 -i azvh+ -p tcp -m tcp --dport 80 -m devgroup --src-group 0x1abcdef0 -m comment --comment "azure-vnet tr0001: no wireserver" -j REJECT --reject-with tcp-reset',
      '-A AZURE-VNET-FORWARD -d 168.63.129.16/32 -i azvh+ -p tcp -m tcp --dport 32526 -m devgroup --src-group 0x1abcdef0 -m comment --comment "azure-vnet tr0001: no wireserver" -j REJECT --reject-with tcp-reset',
      '-A AZURE-VNET-FORWARD -d 169.254.169.254/32 -i azvh+ -m devgroup --src-group 0x1abcdef0 -m comment --comment "azure-vnet tr0001: no IMDS" -j REJECT --reject-with icmp-port-unreachable',
      '-A AZURE-VNET-FORWARD -i azvh+ -m devgroup --src-group 0x1abcdef0 -m comment --comment "azure-vnet tr0001: from containers" -j ACCEPT',
      '-A AZURE-VNET-FORWARD -o azvh+ -m devgroup --dst-group 0x1abcdef0 -m comment --comment "azure-vnet tr0001: to containers" -j ACCEPT',
    ]);
  });

  it("marks the same platform blocks in mangle, and masquerades by subnet as in bridge mode", () => {
    const plan = planFirewall({ networks: [routed()] });
    const marks = plan.mangleRules.filter((r) => r.startsWith("-A AZURE-VNET-MARK "));
    assert.equal(marks.length, 3);
    assert.ok(marks.every((r) => r.includes(" -i azvh+ ") && r.includes(" -m devgroup --src-group 0x1abcdef0 ")));
    assert.deepEqual(
      plan.natRules,
      planFirewall({ networks: [net()] }).natRules.map((r) => r.replaceAll("abc123", "tr0001")),
    );
  });

  it("drops in raw what a routed port sends from an address not routed back to it, once for all transparent networks", () => {
    const source =
      '-A AZURE-VNET-SOURCE -i azvh+ -m rpfilter --invert -m comment --comment "azure-vnet: routed container ports send only from their own address" -j DROP';
    assert.deepEqual(planFirewall({ networks: [routed()] }).rawRules, [source]);
    assert.deepEqual(planFirewall({ networks: [routed(), routed({ id: "tr0002", portGroup: 0x12345678 }), net()] }).rawRules, [source]);
    assert.deepEqual(planFirewall({ networks: [net()] }).rawRules, [], "bridge ports are guarded by their port guards");
    assert.match(
      planFirewall({ networks: [routed()] }).restoreText,
      /\*raw\n:AZURE-VNET-SOURCE - \[0:0\]\n-A AZURE-VNET-SOURCE .*\nCOMMIT\n$/,
    );
  });

  it("keeps two networks on one subnet apart, of either mode, even when only one of them may reach IMDS", () => {
    const bridged = net({ id: "br0001", bridge: "azvb1", allowImds: true });
    const blocked = routed({ id: "tr0001", portGroup: 0x10000001 });
    const open = routed({ id: "tr0002", portGroup: 0x10000002, allowImds: true });
    const { filterRules, mangleRules } = planFirewall({ networks: [bridged, open, blocked] });
    const imds = [...filterRules, ...mangleRules].filter((r) => r.includes("169.254.169.254"));
    assert.equal(imds.length, 2, "one REJECT and one mark, both for the blocked network only");
    assert.ok(imds.every((r) => r.includes("--src-group 0x10000001 ")));
    // Whatever the order, no rule of one network matches the other's packets: the accepts differ by group or bridge.
    const accepts = filterRules.filter((r) => r.endsWith("-j ACCEPT")).map((r) => r.replace(/ -m comment .*/, ""));
    assert.deepEqual(accepts, [
      "-A AZURE-VNET-FORWARD -i azvb1",
      "-A AZURE-VNET-FORWARD -o azvb1",
      "-A AZURE-VNET-FORWARD -i azvh+ -m devgroup --src-group 0x10000002",
      "-A AZURE-VNET-FORWARD -o azvh+ -m devgroup --dst-group 0x10000002",
      "-A AZURE-VNET-FORWARD -i azvh+ -m devgroup --src-group 0x10000001",
      "-A AZURE-VNET-FORWARD -o azvh+ -m devgroup --dst-group 0x10000001",
    ]);
  });

  it("grows with networks, not with containers: five filter rules per network in either mode", () => {
    const plan = planFirewall({ networks: [routed(), routed({ id: "tr0002", portGroup: 2, subnet: "10.0.1.0/24" }), net()] });
    assert.equal(plan.filterRules.length, 15);
  });

  it("refuses a port group that is missing, out of range or shared, and an unknown mode", () => {
    const bad: Array<Partial<Record<keyof FirewallNetwork, unknown>>> = [
      { portGroup: undefined },
      { portGroup: 0 },
      { portGroup: 2 ** 32 },
      { portGroup: 1.5 },
      { portGroup: "0x10 -j ACCEPT" },
      { mode: "routed" },
      { mode: undefined },
    ];
    for (const b of bad)
      assert.throws(() => planFirewall({ networks: [{ ...routed(), ...b } as FirewallNetwork] }), Error, JSON.stringify(b));
    assert.throws(() => planFirewall({ networks: [routed(), routed({ id: "tr0002" })] }), /share the port group/);
    assert.throws(() => planFirewall({ networks: [net({ bridge: undefined })] }), /bridge name/);
  });
});
