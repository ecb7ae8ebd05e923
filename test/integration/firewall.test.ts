import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { PluginError } from "../../driver/errors";
import { DataplaneError } from "../../driver/dataplane/errors";
import { Runner, runProgram } from "../../driver/dataplane/exec";
import {
  applyFirewall,
  detectBackend,
  ensureFirewall,
  FirewallNetwork,
  FirewallPlan,
  IptablesBackend,
  IptablesMode,
  planFirewall,
  readFirewall,
  removeFirewall,
} from "../../driver/dataplane/firewall";
import { iptablesSnapshot, sh } from "./support/host";
import { clearBackend, dockerLikeBaseline } from "./support/iptables";
import { LinuxDataplane } from "../../driver/dataplane";

assertThrowawayNetns();

const net1: FirewallNetwork = {
  id: "net1",
  mode: "bridge",
  bridge: "azv-net1",
  subnet: "10.0.0.0/24",
  primaryAddress: "10.0.0.4",
  snat: true,
  nonMasqueradeCidrs: ["10.1.0.0/16"],
  allowImds: false,
};
const net2: FirewallNetwork = {
  id: "net2",
  mode: "bridge",
  bridge: "azv-net2",
  subnet: "10.0.1.0/24",
  primaryAddress: "10.0.1.4",
  snat: true,
  nonMasqueradeCidrs: [],
  allowImds: true,
};

/** A transparent network on net1's subnet: told apart by its ports' link group. */
const net3: FirewallNetwork = {
  id: "net3",
  mode: "transparent",
  portGroup: 0x10abcdef,
  subnet: "10.0.0.0/24",
  primaryAddress: "10.0.0.4",
  snat: true,
  nonMasqueradeCidrs: [],
  allowImds: true,
};
const NET3_FILTER = [
  '-A AZURE-VNET-FORWARD -d 168.63.129.16/32 -i azvh+ -p tcp -m tcp --dport 80 -m devgroup --src-group 0x10abcdef -m comment --comment "azure-vnet net3: no wireserver" -j REJECT --reject-with tcp-reset',
  '-A AZURE-VNET-FORWARD -d 168.63.129.16/32 -i azvh+ -p tcp -m tcp --dport 32526 -m devgroup --src-group 0x10abcdef -m comment --comment "azure-vnet net3: no wireserver" -j REJECT --reject-with tcp-reset',
  '-A AZURE-VNET-FORWARD -i azvh+ -m devgroup --src-group 0x10abcdef -m comment --comment "azure-vnet net3: from containers" -j ACCEPT',
  '-A AZURE-VNET-FORWARD -o azvh+ -m devgroup --dst-group 0x10abcdef -m comment --comment "azure-vnet net3: to containers" -j ACCEPT',
];
const NET3_RAW = [
  '-A AZURE-VNET-SOURCE -i azvh+ -m rpfilter --invert -m comment --comment "azure-vnet: routed container ports send only from their own address" -j DROP',
];

const NET1_FILTER = [
  '-A AZURE-VNET-FORWARD -d 168.63.129.16/32 -i azv-net1 -p tcp -m tcp --dport 80 -m comment --comment "azure-vnet net1: no wireserver" -j REJECT --reject-with tcp-reset',
  '-A AZURE-VNET-FORWARD -d 168.63.129.16/32 -i azv-net1 -p tcp -m tcp --dport 32526 -m comment --comment "azure-vnet net1: no wireserver" -j REJECT --reject-with tcp-reset',
  '-A AZURE-VNET-FORWARD -d 169.254.169.254/32 -i azv-net1 -m comment --comment "azure-vnet net1: no IMDS" -j REJECT --reject-with icmp-port-unreachable',
  '-A AZURE-VNET-FORWARD -i azv-net1 -m comment --comment "azure-vnet net1: from containers" -j ACCEPT',
  '-A AZURE-VNET-FORWARD -o azv-net1 -m comment --comment "azure-vnet net1: to containers" -j ACCEPT',
];
const NET1_NAT = [
  '-A AZURE-VNET-POSTROUTING -s 10.0.0.0/24 -d 10.0.0.0/24 -m comment --comment "azure-vnet net1: no SNAT" -j RETURN',
  '-A AZURE-VNET-POSTROUTING -s 10.0.0.0/24 -d 10.1.0.0/16 -m comment --comment "azure-vnet net1: no SNAT" -j RETURN',
  '-A AZURE-VNET-POSTROUTING -s 10.0.0.0/24 -d 168.63.129.16/32 -m comment --comment "azure-vnet net1: no SNAT" -j RETURN',
  '-A AZURE-VNET-POSTROUTING -s 10.0.0.0/24 -d 169.254.169.254/32 -m comment --comment "azure-vnet net1: no SNAT" -j RETURN',
  '-A AZURE-VNET-POSTROUTING -s 10.0.0.0/24 -m addrtype ! --src-type LOCAL -m comment --comment "azure-vnet net1: SNAT" -j SNAT --to-source 10.0.0.4',
];

const MARK = "-j MARK --set-xmark 0x1000000/0x1000000";
const NET1_MANGLE = [
  `-A AZURE-VNET-MARK -d 168.63.129.16/32 -i azv-net1 -p tcp -m tcp --dport 80 -m comment --comment "azure-vnet net1: no wireserver" ${MARK}`,
  `-A AZURE-VNET-MARK -d 168.63.129.16/32 -i azv-net1 -p tcp -m tcp --dport 32526 -m comment --comment "azure-vnet net1: no wireserver" ${MARK}`,
  `-A AZURE-VNET-MARK -d 169.254.169.254/32 -i azv-net1 -m comment --comment "azure-vnet net1: no IMDS" ${MARK}`,
  '-A AZURE-VNET-PLATFORM -m mark --mark 0x1000000/0x1000000 -m comment --comment "azure-vnet: platform addresses containers may not reach" -j DROP',
];

const invalid = (err: unknown) => err instanceof PluginError && err.code === "invalid";

describe("firewall plan", () => {
  it("renders one network's rules exactly", () => {
    const plan = planFirewall({ networks: [net1] });
    assert.deepEqual(plan.filterRules, NET1_FILTER);
    assert.deepEqual(plan.natRules, NET1_NAT);
    assert.deepEqual(plan.mangleRules, NET1_MANGLE);
    assert.equal(
      plan.restoreText,
      [
        ...["*filter", ":AZURE-VNET-FORWARD - [0:0]", ...NET1_FILTER, "COMMIT"],
        ...["*nat", ":AZURE-VNET-POSTROUTING - [0:0]", ":AZURE-VNET-DNAT - [0:0]", ...NET1_NAT, "COMMIT"],
        ...["*mangle", ":AZURE-VNET-MARK - [0:0]", ":AZURE-VNET-PLATFORM - [0:0]", ...NET1_MANGLE, "COMMIT"],
        ...["*raw", ":AZURE-VNET-SOURCE - [0:0]", "COMMIT", ""],
      ].join("\n"),
    );
  });

  it("keeps every network's subnet out of every network's SNAT, and skips SNAT when off", () => {
    const plan = planFirewall({ networks: [net1, { ...net2, snat: false }] });
    assert.ok(plan.natRules.some((r) => r.startsWith("-A AZURE-VNET-POSTROUTING -s 10.0.0.0/24 -d 10.0.1.0/24 ")));
    assert.ok(!plan.natRules.some((r) => r.includes("-s 10.0.1.0/24")), "no SNAT rules for a network without SNAT");
    assert.ok(!plan.filterRules.some((r) => r.includes("169.254.169.254") && r.includes("azv-net2")), "IMDS allowed");
  });

  it("has a fixed number of rules per network, whatever the number of containers", () => {
    // There is no container in the input at all: containers only add /32 routes, never rules.
    const three = planFirewall({
      networks: [net1, net2, { ...net2, id: "net3", bridge: "azv-net3", subnet: "10.0.2.0/24" }],
    });
    assert.equal(three.filterRules.length, 5 + 4 + 4);
    // Per SNAT network: 3 subnets + its own extra CIDRs + 2 platform addresses, then the SNAT rule.
    assert.equal(three.natRules.length, 3 + 1 + 2 + 1 + (3 + 2 + 1) * 2);
  });

  it("renders an empty plan that just empties the chains", () => {
    const plan = planFirewall({ networks: [] });
    assert.equal(
      plan.restoreText,
      "*filter\n:AZURE-VNET-FORWARD - [0:0]\nCOMMIT\n*nat\n:AZURE-VNET-POSTROUTING - [0:0]\n:AZURE-VNET-DNAT - [0:0]\nCOMMIT\n" +
        "*mangle\n:AZURE-VNET-MARK - [0:0]\n:AZURE-VNET-PLATFORM - [0:0]\n" +
        `${NET1_MANGLE.at(-1)}\nCOMMIT\n*raw\n:AZURE-VNET-SOURCE - [0:0]\nCOMMIT\n`,
    );
  });

  it("renders a 0.0.0.0/0 exclusion the way iptables-save prints it", () => {
    const plan = planFirewall({ networks: [{ ...net1, nonMasqueradeCidrs: ["0.0.0.0/0"] }] });
    assert.ok(plan.natRules.includes('-A AZURE-VNET-POSTROUTING -s 10.0.0.0/24 -m comment --comment "azure-vnet net1: no SNAT" -j RETURN'));
  });

  it("refuses any value that is not plain, without rendering anything", () => {
    const bad: Array<Partial<Record<keyof FirewallNetwork, unknown>>> = [
      { id: 'n"1' },
      { id: "n 1" },
      { id: "n\n1" },
      { id: "" },
      { id: "x".repeat(65) },
      { bridge: "br0 -j ACCEPT" },
      { bridge: "br0\n-A FORWARD -j ACCEPT" },
      { bridge: 'br"0' },
      { bridge: "br0;id" },
      { bridge: "" },
      { bridge: "0123456789abcdef" },
      { subnet: "10.0.0.0/24 -j ACCEPT" },
      { subnet: "10.0.0.0/24\nCOMMIT" },
      { subnet: "10.0.0.1/24" },
      { subnet: "10.0.0.0" },
      { subnet: "10.0.0.0/33" },
      { subnet: "0.0.0.0/0" },
      { primaryAddress: "10.0.0.4 --random" },
      { primaryAddress: "10.0.0.4/32" },
      { primaryAddress: "$(reboot)" },
      { nonMasqueradeCidrs: ["10.0.0.0/8\n-A FORWARD -j ACCEPT"] },
      { nonMasqueradeCidrs: ["any"] },
      { nonMasqueradeCidrs: [5] },
      { nonMasqueradeCidrs: "10.0.0.0/8" },
      { nonMasqueradeCidrs: ["10.1.2.0/16"] },
      { snat: "yes" },
      { allowImds: 1 },
    ];
    for (const change of bad) {
      const network = { ...net1, ...change } as FirewallNetwork;
      assert.throws(() => planFirewall({ networks: [network] }), invalid, JSON.stringify(change));
    }
    assert.throws(() => planFirewall({ networks: [net1, { ...net2, bridge: net1.bridge }] }), invalid);
    assert.throws(() => planFirewall({ networks: [net1, { ...net2, id: net1.id }] }), invalid);
    assert.throws(() => planFirewall({} as never), invalid);
  });
});

const MODES: IptablesMode[] = ["nft", "legacy"];

describe("iptables backend detection", () => {
  afterEach(async () => {
    for (const mode of MODES) await clearBackend(`iptables-${mode}`);
  });

  for (const mode of MODES) {
    it(`follows Docker's chains to ${mode}`, async () => {
      await dockerLikeBaseline(`iptables-${mode}`);
      const backend = await detectBackend();
      assert.deepEqual(backend, {
        mode,
        iptables: `iptables-${mode}`,
        restore: `iptables-${mode}-restore`,
        save: `iptables-${mode}-save`,
        dockerChains: true,
      });
    });
  }

  it("falls back to what plain iptables is when Docker has no chains yet", async () => {
    const version = await sh("iptables", "-V");
    const backend = await detectBackend();
    assert.equal(backend.mode, version.includes("nf_tables") ? "nft" : "legacy");
    assert.equal(backend.dockerChains, false);
  });

  it("uses plain iptables as the tie-breaker when both backends have Docker chains", async () => {
    await dockerLikeBaseline("iptables-nft");
    await dockerLikeBaseline("iptables-legacy");
    const version = await sh("iptables", "-V");
    assert.equal((await detectBackend()).mode, version.includes("nf_tables") ? "nft" : "legacy");
  });
});

for (const mode of MODES) {
  describe(`firewall on iptables-${mode}`, () => {
    let backend: IptablesBackend;
    let baseline: string;
    const snapshot = () => iptablesSnapshot(backend.save);

    before(async () => {
      await dockerLikeBaseline(`iptables-${mode}`);
      backend = await detectBackend();
      assert.equal(backend.mode, mode);
      baseline = await snapshot();
    });
    afterEach(async () => {
      await removeFirewall({ backend });
      assert.equal(await snapshot(), baseline, "each test leaves the baseline behind");
    });
    after(() => clearBackend(`iptables-${mode}`));

    it("installs the chains and one jump to each, first in FORWARD and POSTROUTING", async () => {
      await applyFirewall(planFirewall({ networks: [net1] }), { backend });
      const state = await readFirewall({ backend });
      assert.deepEqual(state.filterRules, NET1_FILTER, "iptables-save prints the rules exactly as planned");
      assert.deepEqual(state.natRules, NET1_NAT);
      assert.equal(state.forwardJumps, 1);
      assert.equal(state.postroutingJumps, 1);
      const forward = (await sh(backend.iptables, "-w", "-S", "FORWARD")).split("\n");
      assert.equal(forward[1], "-A FORWARD -j AZURE-VNET-FORWARD");
      const postrouting = (await sh(backend.iptables, "-w", "-t", "nat", "-S", "POSTROUTING")).split("\n");
      assert.equal(postrouting[1], "-A POSTROUTING -j AZURE-VNET-POSTROUTING");
      assert.deepEqual(state.mangleRules, NET1_MANGLE);
      assert.deepEqual(state.jumpsNotFirst, []);
      const mangleForward = (await sh(backend.iptables, "-w", "-t", "mangle", "-S", "FORWARD")).split("\n");
      assert.equal(mangleForward[1], "-A FORWARD -j AZURE-VNET-MARK", "before the operator's mangle chain");
    });

    it("publishes ports in its own nat chain, jumped to first from PREROUTING and OUTPUT, exactly as planned", async () => {
      const published = [
        { networkId: "net1", endpointId: "ep1", address: "10.0.0.10", proto: "tcp" as const, hostPort: 8080, containerPort: 80 },
        {
          networkId: "net3",
          endpointId: "ep3",
          address: "10.0.0.11",
          proto: "udp" as const,
          hostIp: "10.0.0.4",
          hostPort: 53,
          containerPort: 53,
        },
      ];
      const plan = planFirewall({ networks: [net1, net3], published });
      assert.deepEqual(plan.dnatRules, [
        '-A AZURE-VNET-DNAT ! -d 127.0.0.0/8 -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 8080 -m comment --comment "azure-vnet net1: endpoint ep1 *:8080/tcp" -j DNAT --to-destination 10.0.0.10:80',
        '-A AZURE-VNET-DNAT -d 10.0.0.4/32 -p udp -m addrtype --dst-type LOCAL -m udp --dport 53 -m comment --comment "azure-vnet net3: endpoint ep3 10.0.0.4:53/udp" -j DNAT --to-destination 10.0.0.11:53',
      ]);
      // What dockerd puts in nat PREROUTING and OUTPUT when it starts, before the plugin's.
      await sh(backend.iptables, "-w", "-t", "nat", "-I", "PREROUTING", "1", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER");
      try {
        await applyFirewall(plan, { backend });
        const state = await readFirewall({ backend });
        assert.deepEqual([state.dnatChain, state.dnatRules], [true, plan.dnatRules], "iptables-save prints the rules exactly as planned");
        assert.deepEqual(state.jumpsNotFirst, []);
        for (const parent of ["PREROUTING", "OUTPUT"]) {
          const rules = (await sh(backend.iptables, "-w", "-t", "nat", "-S", parent)).split("\n");
          assert.equal(rules[1], `-A ${parent} -j AZURE-VNET-DNAT`, `first in nat ${parent}`);
        }
        assert.equal(await ensureFirewall(plan, { backend }), false, "what is live matches the plan");
        // The container gone: its rule goes with the next plan, the chain and its jumps stay.
        await applyFirewall(planFirewall({ networks: [net1, net3], published: published.slice(1) }), { backend });
        assert.deepEqual((await readFirewall({ backend })).dnatRules, plan.dnatRules.slice(1));
        await removeFirewall({ backend });
        const nat = await sh(backend.save, "-t", "nat");
        assert.ok(!nat.includes("AZURE-VNET-DNAT"), nat);
      } finally {
        await sh(backend.iptables, "-w", "-t", "nat", "-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER");
      }
    });

    it("prints a transparent network's rules exactly as planned, with its source check first in raw PREROUTING", async () => {
      const plan = planFirewall({ networks: [net1, net3] });
      assert.deepEqual(plan.filterRules, [...NET1_FILTER, ...NET3_FILTER]);
      assert.deepEqual(plan.rawRules, NET3_RAW);
      await applyFirewall(plan, { backend });
      const state = await readFirewall({ backend });
      assert.deepEqual(state.filterRules, plan.filterRules);
      assert.deepEqual(state.mangleRules, plan.mangleRules);
      assert.deepEqual([state.rawChain, state.rawRules], [true, NET3_RAW]);
      assert.deepEqual(state.jumpsNotFirst, []);
      const raw = (await sh(backend.iptables, "-w", "-t", "raw", "-S", "PREROUTING")).split("\n");
      assert.equal(raw[1], "-A PREROUTING -j AZURE-VNET-SOURCE", "before Docker's own raw rules");
      assert.equal(await ensureFirewall(plan, { backend }), false, "what is live matches the plan");
      // The last transparent network gone: the source check goes, the chain stays until the firewall does.
      await applyFirewall(planFirewall({ networks: [net1] }), { backend });
      assert.deepEqual((await readFirewall({ backend })).rawRules, []);
    });

    it("ensureFirewall writes nothing when the rules are in place, and applies when a jump was overtaken or a chain changed", async () => {
      const plan = planFirewall({ networks: [net1] });
      await applyFirewall(plan, { backend });
      let restores = 0;
      const counting: Runner = (file, args, o) => {
        if (file === backend.restore) restores++;
        return runProgram(file, args, o);
      };
      assert.equal(await ensureFirewall(plan, { backend, run: counting }), false);
      assert.equal(restores, 0, "a check of a firewall in place runs no iptables-restore");
      await sh(backend.iptables, "-w", "-I", "FORWARD", "1", "-j", "DOCKER-USER");
      assert.equal(await ensureFirewall(plan, { backend, run: counting }), true);
      assert.deepEqual((await readFirewall({ backend })).jumpsNotFirst, []);
      await sh(backend.iptables, "-w", "-t", "mangle", "-F", "AZURE-VNET-PLATFORM");
      assert.equal(await ensureFirewall(plan, { backend, run: counting }), true);
      assert.deepEqual((await readFirewall({ backend })).mangleRules, NET1_MANGLE);
      assert.equal(await ensureFirewall(plan, { backend, run: counting }), false);
      await sh(backend.iptables, "-w", "-D", "FORWARD", "-j", "DOCKER-USER");
    });

    it("puts its jumps back first, once, when Docker or an operator put rules above them", async () => {
      await applyFirewall(planFirewall({ networks: [net1] }), { backend });
      // What a dockerd restart and an operator do: their jumps at the top of FORWARD, ours twice.
      await sh(backend.iptables, "-w", "-I", "FORWARD", "1", "-j", "DOCKER-USER");
      await sh(backend.iptables, "-w", "-I", "DOCKER-USER", "1", "-j", "ACCEPT");
      await sh(backend.iptables, "-w", "-A", "FORWARD", "-j", "AZURE-VNET-FORWARD");
      await sh(backend.iptables, "-w", "-t", "mangle", "-I", "POSTROUTING", "1", "-j", "ACCEPT");
      const moved = await readFirewall({ backend });
      assert.deepEqual(moved.jumpsNotFirst, ["filter FORWARD", "mangle POSTROUTING"]);
      await applyFirewall(planFirewall({ networks: [net1] }), { backend });
      const state = await readFirewall({ backend });
      assert.deepEqual([state.jumpsNotFirst, state.forwardJumps], [[], 1]);
      const forward = (await sh(backend.iptables, "-w", "-S", "FORWARD")).split("\n");
      assert.equal(forward[1], "-A FORWARD -j AZURE-VNET-FORWARD");
      await sh(backend.iptables, "-w", "-D", "DOCKER-USER", "-j", "ACCEPT");
      await sh(backend.iptables, "-w", "-D", "FORWARD", "-j", "DOCKER-USER");
      await sh(backend.iptables, "-w", "-t", "mangle", "-D", "POSTROUTING", "-j", "ACCEPT");
    });

    it("applying twice gives the same ruleset as once", async () => {
      const plan = planFirewall({ networks: [net1, net2] });
      await applyFirewall(plan, { backend });
      const once = await snapshot();
      await applyFirewall(plan, { backend });
      assert.equal(await snapshot(), once);
    });

    it("replaces the chains whole: a removed network leaves no rules behind", async () => {
      await applyFirewall(planFirewall({ networks: [net1, net2] }), { backend });
      await applyFirewall(planFirewall({ networks: [net2] }), { backend });
      const state = await readFirewall({ backend });
      assert.ok(state.filterRules.every((r) => !r.includes("azv-net1")));
      assert.ok(state.natRules.every((r) => !r.includes("net1")));
      assert.equal(state.filterRules.length, 4);
    });

    it("keeps the live rules when a batch is rejected", async () => {
      await applyFirewall(planFirewall({ networks: [net1] }), { backend });
      const before = await snapshot();
      // Corrupt the first table of the batch on its way to iptables-restore: nothing may change.
      // (Each COMMIT is its own transaction, so the guarantee is per table, and the first failure stops the run.)
      const corrupt = (text = "") => text.replace("COMMIT", "-A NOSUCH-CHAIN -j DROP\nCOMMIT");
      const corrupting: Runner = (file, args, opts) =>
        runProgram(file, args, file === backend.restore ? { ...opts, input: corrupt(opts?.input) } : opts);
      await assert.rejects(
        applyFirewall(planFirewall({ networks: [net2] }), { backend, run: corrupting }),
        (err: unknown) => err instanceof DataplaneError && err.code.startsWith("EXIT_"),
      );
      assert.equal(await snapshot(), before);
    });

    it("refuses a plan that planFirewall did not make", async () => {
      const forged: FirewallPlan = {
        restoreText: "*filter\n-P FORWARD ACCEPT\nCOMMIT\n",
        filterRules: [],
        natRules: [],
        dnatRules: [],
        mangleRules: [],
        rawRules: [],
      };
      const before = await snapshot();
      await assert.rejects(applyFirewall(forged, { backend }), /not made by planFirewall/);
      assert.equal(await snapshot(), before);
    });

    it("removeFirewall restores the tables exactly, duplicate jumps included, and is idempotent", async () => {
      await applyFirewall(planFirewall({ networks: [net1, net2] }), { backend });
      await sh(backend.iptables, "-w", "-A", "FORWARD", "-j", "AZURE-VNET-FORWARD");
      await sh(backend.iptables, "-w", "-t", "nat", "-A", "POSTROUTING", "-o", "azv-x", "-j", "AZURE-VNET-POSTROUTING");
      assert.equal((await readFirewall({ backend })).forwardJumps, 2);
      assert.equal(await removeFirewall({ backend }), true);
      assert.equal(await snapshot(), baseline);
      assert.equal(await removeFirewall({ backend }), false);
      assert.equal(await snapshot(), baseline);
      const state = await readFirewall({ backend });
      assert.deepEqual([state.forwardChain, state.postroutingChain, state.forwardJumps, state.postroutingJumps], [false, false, 0, 0]);
    });

    it("rejects invalid input before running anything", async () => {
      const before = await snapshot();
      let ran = 0;
      const counting: Runner = (file, args, opts) => {
        ran++;
        return runProgram(file, args, opts);
      };
      const dp = new LinuxDataplane({ iptables: backend, run: counting });
      try {
        await assert.rejects(dp.applyFirewall({ networks: [{ ...net1, bridge: "x -j ACCEPT" }] }), invalid);
        await assert.rejects(dp.applyFirewall({ networks: [{ ...net1, nonMasqueradeCidrs: ["10.0.0.0/8 ;"] }] }), invalid);
        assert.equal(ran, 0, "no program was run");
        await dp.applyFirewall({ networks: [net1] });
        assert.ok(ran > 0);
      } finally {
        await dp.close();
      }
      assert.notEqual(await snapshot(), before);
    });
  });
}
