import assert from "node:assert/strict";
import { runDoctor, renderDoctor } from "../../../driver/cli/doctor";
import type { Check } from "../../../driver/cli/check";
import type { Facts } from "../../../driver/cli/facts";
import { BRIDGE, EP_ID, HOST_VETH, SWARM_BRIDGE, checkpoint, healthy, links, metadata, nics, onSwarmNetwork, view } from "./fixtures";

function checkOf(f: Facts, id: string): Check {
  const found = runDoctor(f).checks.filter((c) => c.id === id);
  assert.equal(found.length, 1, `expected one ${id} check`);
  return found[0];
}

describe("doctor", () => {
  it("passes every check on a healthy VM whose network is a swarm network, and fails one whose bridge is gone", () => {
    const swarm = onSwarmNetwork(healthy());
    const report = runDoctor(swarm);
    assert.deepEqual(
      report.checks.filter((c) => c.verdict !== "PASS").map((c) => `${c.id}: ${c.finding}`),
      [],
    );
    if (swarm.kernel.links.ok) swarm.kernel.links.value = swarm.kernel.links.value.filter((l) => l.name !== SWARM_BRIDGE);
    const bridges = runDoctor(swarm).checks.find((c) => c.id === "bridges");
    assert.equal(bridges?.verdict, "FAIL");
    assert.match(bridges?.finding ?? "", new RegExp(SWARM_BRIDGE));
  });

  it("passes every check on a healthy VM and says so", () => {
    const report = runDoctor(healthy());
    assert.equal(report.healthy, true);
    assert.deepEqual(
      report.checks.filter((c) => c.verdict !== "PASS").map((c) => `${c.id}: ${c.finding}`),
      [],
    );
    assert.deepEqual(
      report.checks.map((c) => c.id),
      [
        "metadata",
        "nic",
        "ipconfigs",
        "ip-forward",
        "iptables-backend",
        "firewall",
        "bridges",
        "routes",
        "port-guards",
        "routed-ports",
        "nic-routing",
        "stale-state",
        "checkpoint",
        "plugin",
        "socket",
        "docker-api",
        "reconcile",
      ],
    );
    assert.match(renderDoctor(report), /^healthy: 17 checks, 0 warnings$/m);
  });

  describe("metadata", () => {
    it("says which source answered", () => {
      assert.match(checkOf(healthy(), "metadata").finding, /imds answered with 1 NIC in 5 ms; the wireserver fallback answers too/);
    });

    it("warns when IMDS fails but the wireserver answers", () => {
      const f = healthy();
      const m = metadata();
      m.attempts[0] = { ...m.attempts[0], ok: false, nics: undefined, error: "imds: HTTP 500" };
      m.answeredBy = "wireserver";
      f.metadata = m;
      const c = checkOf(f, "metadata");
      assert.equal(c.verdict, "WARN");
      assert.match(c.finding, /imds did not answer \(imds: HTTP 500\); wireserver answered/);
      assert.match(c.fix?.[0] ?? "", /curl -sS --noproxy '\*' -H Metadata:true 'http:\/\/169\.254\.169\.254/);
    });

    it("fails when neither answers, and skips the checks that need an answer", () => {
      const f = healthy();
      f.metadata = {
        configured: "auto",
        attempts: [
          { source: "imds", target: "http://i", ok: false, error: "imds: timeout", ms: 2000 },
          { source: "wireserver", target: "http://w", ok: false, error: "wireserver: refused", ms: 1 },
        ],
      };
      const report = runDoctor(f);
      assert.equal(report.healthy, false);
      const c = report.checks.find((x) => x.id === "metadata") as Check;
      assert.equal(c.verdict, "FAIL");
      assert.equal(c.fix?.length, 2);
      assert.equal(report.checks.find((x) => x.id === "nic")?.verdict, "SKIP");
      assert.equal(report.checks.find((x) => x.id === "ipconfigs")?.verdict, "SKIP");
    });
  });

  it("fails while the plugin holds addresses back after finding its state damaged", () => {
    const f = healthy();
    f.checkpoint = { ok: true, value: view({ ...checkpoint(), trusted: false }) };
    const c = checkOf(f, "checkpoint");
    assert.equal(c.verdict, "FAIL");
    assert.match(c.finding, /hands out no new address until Docker confirms/);
    assert.match(c.fix?.join("\n") ?? "", /docker\.sock/);
  });

  it("fails when the metadata's NIC is no local link", () => {
    const f = healthy();
    f.kernel.links = { ok: true, value: links().filter((l) => l.name !== "eth0") };
    const c = checkOf(f, "nic");
    assert.equal(c.verdict, "FAIL");
    assert.match(c.finding, /NIC 00:0d:3a:00:00:01 from the metadata has no link with that MAC/);
    assert.match(c.fix?.join("\n") ?? "", /--imds-url/);
  });

  describe("ipconfigs", () => {
    it("fails with the az command when the NIC has no secondary ipconfig", () => {
      const f = healthy();
      f.checkpoint = { ok: true, value: view(null) };
      f.metadata = metadata(nics([]));
      const c = checkOf(f, "ipconfigs");
      assert.equal(c.verdict, "FAIL");
      assert.match(c.finding, /no secondary IP configurations/);
      assert.match(
        c.fix?.[0] ?? "",
        /az network nic ip-config create --resource-group <rg> --nic-name <nic> --name ipconfig-10-0-0-5 --private-ip-address 10\.0\.0\.5/,
      );
    });

    it("names the resource group the metadata gives, looks the NIC up by MAC, and drops the hint about placeholders", () => {
      const f = healthy();
      f.checkpoint = { ok: true, value: view(null) };
      f.metadata = metadata(nics([]).map((n) => ({ ...n, resourceGroup: "prod-rg" })));
      const c = checkOf(f, "ipconfigs");
      assert.deepEqual(c.fix, [
        `add one per container, e.g.: az network nic ip-config create --resource-group prod-rg ` +
          `--nic-name "$(az network nic list --resource-group prod-rg --query "[?macAddress=='00-0D-3A-00-00-01'].name" --output tsv)" ` +
          `--name ipconfig-10-0-0-5 --private-ip-address 10.0.0.5`,
      ]);
    });

    it("fails when every secondary ipconfig is in use, suggesting the next address", () => {
      const f = healthy();
      f.metadata = metadata(nics(["10.0.0.10"]));
      const c = checkOf(f, "ipconfigs");
      assert.equal(c.verdict, "FAIL");
      assert.match(c.finding, /all 1 secondary ipconfig are in use/);
      assert.match(c.fix?.[0] ?? "", /--private-ip-address 10\.0\.0\.5$/);
    });

    it("counts the free ones", () => {
      assert.match(checkOf(healthy(), "ipconfigs").finding, /3 of 4 secondary ipconfigs free \(10\.0\.0\.11-10\.0\.0\.13\)/);
    });

    it("warns about an address held by a container whose ipconfig is gone", () => {
      const f = healthy();
      f.metadata = metadata(nics(["10.0.0.11"]));
      const c = checkOf(f, "ipconfigs");
      assert.equal(c.verdict, "WARN");
      assert.match(c.details?.[0] ?? "", /10\.0\.0\.10 is held by container web but is no longer an ipconfig/);
      assert.match(c.fix?.[0] ?? "", /--private-ip-address 10\.0\.0\.10$/);
    });
  });

  it("fails on ip_forward = 0 with the sysctl fix", () => {
    const f = healthy();
    f.kernel.ipForward = { ok: true, value: false };
    const c = checkOf(f, "ip-forward");
    assert.equal(c.verdict, "FAIL");
    assert.deepEqual(c.fix?.[0], "sysctl -w net.ipv4.ip_forward=1");
  });

  describe("iptables backend", () => {
    it("fails when the plugin's chains are in the ruleset Docker does not use", () => {
      const f = healthy();
      f.kernel.backends = {
        ok: true,
        value: {
          defaultMode: "nft",
          rulesets: [
            { mode: "nft", available: true, dockerChains: ["DOCKER"], pluginChains: [] },
            { mode: "legacy", available: true, dockerChains: [], pluginChains: ["AZURE-VNET-FORWARD"] },
          ],
        },
      };
      const c = checkOf(f, "iptables-backend");
      assert.equal(c.verdict, "FAIL");
      assert.match(c.finding, /AZURE-VNET-FORWARD are in the legacy ruleset, but Docker's are in nft/);
      assert.deepEqual(c.fix?.slice(0, 3), [
        "iptables-legacy -w -t filter -D FORWARD -j AZURE-VNET-FORWARD",
        "iptables-legacy -w -t filter -F AZURE-VNET-FORWARD",
        "iptables-legacy -w -t filter -X AZURE-VNET-FORWARD",
      ]);
    });

    it("warns when Docker's chains are nowhere", () => {
      const f = healthy();
      f.kernel.backends = { ok: true, value: { rulesets: [{ mode: "nft", available: true, dockerChains: [], pluginChains: [] }] } };
      assert.equal(checkOf(f, "iptables-backend").verdict, "WARN");
    });
  });

  describe("firewall", () => {
    it("names a missing rule and the command that puts it back in its place", () => {
      const f = healthy();
      const fw = f.kernel.firewall.ok ? f.kernel.firewall.value : assert.fail();
      const removed = fw.filterRules.splice(2, 1)[0];
      const c = checkOf(f, "firewall");
      assert.equal(c.verdict, "FAIL");
      assert.match(c.finding, /1 rule missing: "111111111111: no IMDS" in AZURE-VNET-FORWARD/);
      assert.deepEqual(c.details, [`missing: ${removed}`]);
      assert.equal(c.fix?.[0], `iptables-nft -w -t filter -I AZURE-VNET-FORWARD 3 ${removed.slice("-A AZURE-VNET-FORWARD ".length)}`);
      assert.match(c.fix?.[1] ?? "", /^or restart the plugin/);
    });

    it("numbers several insertions so each lands where planned", () => {
      const f = healthy();
      const fw = f.kernel.firewall.ok ? f.kernel.firewall.value : assert.fail();
      const planned = [...fw.filterRules];
      fw.filterRules = [planned[1], planned[3]];
      const fix = checkOf(f, "firewall").fix ?? [];
      const positions = fix
        .filter((x) => x.includes(" -I AZURE-VNET-FORWARD "))
        .map((x) => Number(/ -I AZURE-VNET-FORWARD (\d+) /.exec(x)?.[1]));
      assert.deepEqual(positions, [1, 3, 5]);
    });

    it("fails when the jump from FORWARD is gone", () => {
      const f = healthy();
      if (f.kernel.firewall.ok) f.kernel.firewall.value.forwardJumps = 0;
      const c = checkOf(f, "firewall");
      assert.equal(c.verdict, "FAIL");
      assert.ok(c.fix?.includes("iptables-nft -w -t filter -I FORWARD 1 -j AZURE-VNET-FORWARD"));
    });

    it("warns about rules no network explains", () => {
      const f = healthy();
      if (f.kernel.firewall.ok) f.kernel.firewall.value.natRules.push("-A AZURE-VNET-POSTROUTING -s 10.9.0.0/24 -j RETURN");
      const c = checkOf(f, "firewall");
      assert.equal(c.verdict, "WARN");
      assert.equal(c.fix?.[0], "iptables-nft -w -t nat -D AZURE-VNET-POSTROUTING -s 10.9.0.0/24 -j RETURN");
    });

    it("passes with no networks and no chains", () => {
      const f = healthy();
      f.checkpoint = { ok: true, value: view(null) };
      f.kernel.firewall = {
        ok: true,
        value: {
          mode: "nft",
          forwardChain: false,
          postroutingChain: false,
          filterRules: [],
          natRules: [],
          dnatChain: false,
          dnatRules: [],
          forwardJumps: 0,
          postroutingJumps: 0,
          mangleChains: false,
          mangleRules: [],
          rawChain: false,
          rawRules: [],
          jumpsNotFirst: [],
        },
      };
      assert.equal(checkOf(f, "firewall").verdict, "PASS");
    });
  });

  it("fails on a bridge that is down or without proxy ARP, with the commands", () => {
    const f = healthy();
    f.kernel.links = { ok: true, value: links().map((l) => (l.name === BRIDGE ? { ...l, up: false } : l)) };
    f.kernel.proxyArp[BRIDGE] = { ok: true, value: false };
    const c = checkOf(f, "bridges");
    assert.equal(c.verdict, "FAIL");
    assert.deepEqual(c.fix, [`ip link set ${BRIDGE} up`, `sysctl -w net.ipv4.conf.${BRIDGE}.proxy_arp=1`]);
  });

  it("fails on a missing container route with the ip route command", () => {
    const f = healthy();
    f.kernel.routes[BRIDGE] = { ok: true, value: [] };
    const c = checkOf(f, "routes");
    assert.equal(c.verdict, "FAIL");
    assert.deepEqual(c.fix, [`ip route replace 10.0.0.10/32 dev ${BRIDGE} scope link`]);
  });

  it("warns about endpoints whose veth is gone and links no record explains", () => {
    const f = healthy();
    f.kernel.links = {
      ok: true,
      value: [...links().filter((l) => l.name !== HOST_VETH), { name: "azvhdeadbeef000", index: 9, mtu: 1500, kind: "veth", up: true }],
    };
    const c = checkOf(f, "stale-state");
    assert.equal(c.verdict, "WARN");
    assert.match(
      c.details?.[0] ?? "",
      new RegExp(`endpoint ${EP_ID.slice(0, 12)} \\(10\\.0\\.0\\.10, container web\\).*${HOST_VETH} is gone`),
    );
    assert.ok(c.fix?.includes("ip link del azvhdeadbeef000"));
    // The route check does not also blame the gone endpoint.
    f.kernel.routes[BRIDGE] = { ok: true, value: [] };
    assert.equal(checkOf(f, "routes").verdict, "PASS");
  });

  it("fails when a live container's port has no anti-spoofing guard, and warns about leftover guards", () => {
    const f = healthy();
    f.kernel.portGuards = { ok: true, value: [] };
    const c = checkOf(f, "port-guards");
    assert.equal(c.verdict, "FAIL");
    assert.deepEqual(c.details, [`missing: guard of ${HOST_VETH} (endpoint ${EP_ID.slice(0, 12)}, 10.0.0.10)`]);
    f.kernel.portGuards = { ok: true, value: [HOST_VETH, "azvh00000000000"] };
    assert.equal(checkOf(f, "port-guards").verdict, "WARN");
  });

  describe("checkpoint", () => {
    it("warns when the plugin will recover from an older generation", () => {
      const f = healthy();
      f.checkpoint = {
        ok: true,
        value: view(checkpoint(), { source: "generation-1", problems: ["/var/lib/azure-vnet/state.json is empty (0 bytes)"] }),
      };
      const c = checkOf(f, "checkpoint");
      assert.equal(c.verdict, "WARN");
      assert.match(c.finding, /will recover from generation-1/);
      assert.deepEqual(c.details, ["/var/lib/azure-vnet/state.json is empty (0 bytes)"]);
    });

    it("fails when no version is usable", () => {
      const f = healthy();
      f.checkpoint = { ok: true, value: view(null, { problems: ["/var/lib/azure-vnet/state.json is truncated (10 bytes)"] }) };
      assert.equal(checkOf(f, "checkpoint").verdict, "FAIL");
    });

    it("fails when the state cannot be read at all", () => {
      const f = healthy();
      f.checkpoint = { ok: false, error: "cannot read plugin state: EACCES" };
      const report = runDoctor(f);
      assert.equal(report.checks.find((c) => c.id === "checkpoint")?.verdict, "FAIL");
      assert.equal(report.checks.find((c) => c.id === "routes")?.verdict, "SKIP");
    });
  });

  describe("socket", () => {
    it("fails when there is no socket", () => {
      const f = healthy();
      f.socket = { path: "/run/docker/plugins/azure-vnet.sock", exists: false, isSocket: false, answering: false };
      const c = checkOf(f, "socket");
      assert.equal(c.verdict, "FAIL");
      assert.equal(c.fix?.[0], "start the legacy install (systemctl start azure-vnet), or install the managed plugin (docs/install.md)");
    });

    it("warns when others than root may use it", () => {
      const f = healthy();
      f.socket.mode = 0o666;
      const c = checkOf(f, "socket");
      assert.equal(c.verdict, "WARN");
      assert.deepEqual(c.fix, ["chmod 600 /run/docker/plugins/azure-vnet.sock"]);
    });
  });

  it("prints each failure with its fix under it, and the verdict last", () => {
    const f = healthy();
    f.kernel.ipForward = { ok: true, value: false };
    const text = renderDoctor(runDoctor(f));
    assert.match(text, /^FAIL {2}ip-forward +net\.ipv4\.ip_forward = 0: the VM does not route/m);
    assert.match(text, /^ +fix: sysctl -w net\.ipv4\.ip_forward=1$/m);
    assert.match(text, /not healthy: 1 of 17 checks failed, 0 warnings\n$/);
  });
});
