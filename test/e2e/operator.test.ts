/**
 * The operator commands against a live simulated VM: `status --json` with a
 * network and a container, `doctor` healthy, then deliberately broken (a
 * plugin rule deleted, ip_forward off) and repaired, and the metrics endpoint.
 * The commands run inside vm1 exactly as an operator would run them there.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { PLUGIN_MAIN, PluginProcess } from "../../sim/plugin-process";
import type { StatusReport } from "../../driver/cli/status";
import type { DoctorReport } from "../../driver/cli/doctor";
import { CREATE_NETWORK, E2E_MODE } from "./helpers/docker";

const METRICS = "127.0.0.1:9417";

describe("operator commands (status, doctor, metrics) on a simulated VM", function () {
  this.timeout(120_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const plugin = new PluginProcess(sim, "vm1", { AZURE_VNET_METRICS_LISTEN: METRICS });

  const inVm = (cmd: string, args: string[]) => sim.exec("vm1", cmd, args, { allowFailure: true, timeoutMs: 60_000 });
  const ok = async (cmd: string, args: string[]) => {
    const r = await inVm(cmd, args);
    assert.equal(r.code, 0, `${cmd} ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const operator = (...args: string[]) => inVm(process.execPath, [PLUGIN_MAIN, ...args]);
  const stateFile = () => join(sim.paths("vm1").pluginState, "state.json");

  before(async function () {
    await sim.down();
    await sim.up(defaultTopology());
    await plugin.start();
    await ok("docker", [...CREATE_NETWORK, "--subnet", "10.0.0.0/24", "vnet"]);
    await ok("docker", ["run", "-d", "--init", "--name", "c1", "--network", "vnet", "local/busybox", "sleep", "3600"]);
  });

  after(async function () {
    await inVm("docker", ["rm", "-f", "c1"]);
    await plugin.stop();
    await sim.down();
  });

  it("status --json shows the network, the pool, the NIC's addresses and the endpoint, and writes nothing", async function () {
    const before = readFileSync(stateFile());
    const r = await operator("status", "--json");
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as StatusReport;
    const netId = await ok("docker", ["network", "inspect", "-f", "{{.Id}}", "vnet"]);
    const epId = await ok("docker", ["inspect", "-f", "{{.NetworkSettings.Networks.vnet.EndpointID}}", "c1"]);

    assert.equal(s.networks.length, 1);
    const n = s.networks[0];
    assert.equal(n.id, netId);
    assert.equal(n.subnet, "10.0.0.0/24");
    assert.equal(n.gateway, "10.0.0.1");
    assert.equal(n.nicMac, "00:0d:3a:00:00:01");
    assert.equal(n.bridgeState, E2E_MODE === "bridge" ? "up" : "none");
    assert.deepEqual(n.options, {
      mode: E2E_MODE,
      snat: true,
      allowImds: false,
      nonMasqueradeCidrs: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
    });

    assert.deepEqual(
      s.pools.map((p) => [p.poolId, p.free?.length, p.used, p.flagged]),
      [["AzureVNetLocal/10.0.0.0/24", 7, ["10.0.0.10"], []]],
    );
    assert.equal(s.nics.length, 1);
    assert.equal(s.nics[0].link, "eth0");
    assert.equal(s.nics[0].primaryAddress, "10.0.0.4");
    assert.equal(s.nics[0].secondaries?.length, 8);
    assert.deepEqual(s.nics[0].free, ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15", "10.0.0.16", "10.0.0.17"]);

    assert.equal(s.endpoints.length, 1);
    const e = s.endpoints[0];
    assert.equal(e.id, epId);
    assert.equal(e.address, "10.0.0.10");
    assert.equal(e.hostVeth, `azvh${epId.slice(0, 11)}`);
    assert.equal(e.hostVethExists, true);
    assert.equal(e.peerInContainer, true);
    assert.equal(e.routed, true);

    assert.equal(s.plugin.answering, true);
    assert.equal(s.metadata?.answeredBy, "imds");
    assert.ok(!("error" in s.firewall) && s.firewall.forwardRules > 0, JSON.stringify(s.firewall));
    assert.deepEqual(readFileSync(stateFile()), before, "status changed the checkpoint");
  });

  it("status prints readable tables", async function () {
    const r = await operator("status");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^00:0d:3a:00:00:01 +eth0 +10\.0\.0\.0\/24 +10\.0\.0\.4 +8 +7 +1 +0 +10\.0\.0\.11-10\.0\.0\.17$/m);
    assert.match(r.stdout, /^\w{12} +\w{12} +10\.0\.0\.10 +- +azvh\w{11} +yes +yes +yes$/m);
  });

  it("doctor finds a healthy VM healthy (exit 0)", async function () {
    const r = await operator("doctor");
    assert.equal(r.code, 0, `doctor said:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^PASS +metadata +imds answered with 1 NIC/m);
    assert.match(r.stdout, /^PASS +firewall /m);
    assert.match(
      r.stdout,
      E2E_MODE === "bridge" ? /^PASS +port-guards +1 container port guarded$/m : /^PASS +routed-ports +1 routed port with/m,
    );
    assert.match(r.stdout, /^healthy: /m);
  });

  it("serves metrics: requests by method and outcome, addresses per pool", async function () {
    const text = await ok("curl", ["-sS", "--noproxy", "*", "-m", "5", `http://${METRICS}/metrics`]);
    assert.match(text, /^azure_vnet_requests_total\{method="NetworkDriver\.CreateEndpoint",outcome="ok"\} 1$/m);
    assert.match(text, /^azure_vnet_request_duration_seconds_count\{method="IpamDriver\.RequestAddress",outcome="ok"\} \d+$/m);
    assert.match(text, /^azure_vnet_pool_addresses\{pool="AzureVNetLocal\/10\.0\.0\.0\/24",state="free"\} 7$/m);
    assert.match(text, /^azure_vnet_pool_addresses\{pool="AzureVNetLocal\/10\.0\.0\.0\/24",state="used"\} 1$/m);
    assert.match(text, /^azure_vnet_reconcile_errors_total 0$/m);
  });

  it("doctor names a deleted rule and ip_forward off (exit 1), and is healthy again once they are fixed", async function () {
    const before = readFileSync(stateFile());
    const saved = await ok("iptables-save", ["-t", "filter"]);
    const imdsRule = saved.split("\n").find((l) => l.startsWith("-A AZURE-VNET-FORWARD ") && l.includes("no IMDS"));
    assert.ok(imdsRule, `no IMDS rule in:\n${saved}`);
    // iptables-save quotes the comment; as an argument list it must not be.
    const spec =
      imdsRule
        .slice("-A AZURE-VNET-FORWARD ".length)
        .match(/"[^"]*"|\S+/g)
        ?.map((t) => t.replace(/^"|"$/g, "")) ?? [];
    await ok("iptables", ["-w", "-D", "AZURE-VNET-FORWARD", ...spec]);
    await ok("sysctl", ["-w", "net.ipv4.ip_forward=0"]);
    try {
      const text = await operator("doctor");
      assert.deepEqual(readFileSync(stateFile()), before, "doctor changed the checkpoint");
      assert.equal(text.code, 1, `doctor said:\n${text.stdout}`);
      assert.match(text.stdout, /^FAIL +ip-forward +net\.ipv4\.ip_forward = 0/m);
      assert.match(text.stdout, /^FAIL +firewall +1 rule missing: "\w{12}: no IMDS" in AZURE-VNET-FORWARD/m);
      assert.match(text.stdout, /fix: sysctl -w net\.ipv4\.ip_forward=1/);
      assert.match(text.stdout, /^not healthy: 2 of \d+ checks failed/m);

      const json = await operator("doctor", "--json");
      assert.equal(json.code, 1);
      const d = JSON.parse(json.stdout) as DoctorReport;
      assert.equal(d.healthy, false);
      assert.deepEqual(
        d.checks
          .filter((c) => c.verdict === "FAIL")
          .map((c) => c.id)
          .sort(),
        ["firewall", "ip-forward"],
      );
      const fw = d.checks.find((c) => c.id === "firewall");
      assert.deepEqual(fw?.details, [`missing: ${imdsRule}`]);
      assert.match(fw?.fix?.[0] ?? "", /^iptables-nft -w -t filter -I AZURE-VNET-FORWARD 3 -d 169\.254\.169\.254\/32 /);
    } finally {
      // The fixes doctor names: ip_forward back on, and a plugin restart rebuilds its chains.
      await ok("sysctl", ["-w", "net.ipv4.ip_forward=1"]);
      await plugin.stop();
      await plugin.start();
    }
    const again = await operator("doctor");
    assert.equal(again.code, 0, `doctor after the fixes said:\n${again.stdout}`);
  });
});
