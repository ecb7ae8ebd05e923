/**
 * The simulated Azure Resource Manager from inside the VMs, with real
 * packets: a NIC PUT takes effect in the fabric only once its operation has
 * succeeded; two VMs racing for one address; a stale etag; throttling; a VM
 * without a managed identity. The client (sim/tools/arm-client.ts) uses
 * only what a VM on Azure has: IMDS, Azure DNS and https://management.azure.com.
 */
import { strict as assert } from "node:assert";
import { resolve } from "node:path";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { Harness } from "./helpers/sim-harness";
import { E2E_MODE } from "./helpers/docker";
import type { Knobs } from "../../sim/platform/knobs";

const CLIENT = resolve(__dirname, "../../sim/tools/arm-client.js");
const vm1 = { vm: "vm1" };
const vm2 = { vm: "vm2" };

interface ClientOut {
  status: number;
  code?: string;
  description?: string;
  retryAfter?: string;
  operation?: string;
  operationStatus?: string;
  etag?: string;
}

// The simulator itself, without the plugin: the bridge pass only.
(E2E_MODE === "bridge" ? describe : describe.skip)("simulated Azure Resource Manager", function () {
  this.timeout(60_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);

  before(async function () {
    this.timeout(120_000);
    await sim.down();
    await sim.up(defaultTopology());
  });
  after(async function () {
    this.timeout(60_000);
    await h.stopAll();
    await sim.down();
  });
  afterEach(async () => knobs({}));

  /** Knobs, and a wait for the platform's next poll of knobs.json. */
  async function knobs(k: Knobs): Promise<void> {
    sim.setKnobs(k);
    await new Promise((r) => setTimeout(r, 500));
  }

  async function client(vm: string, ...args: string[]): Promise<ClientOut> {
    const r = await sim.exec(vm, process.execPath, [CLIENT, ...args], { allowFailure: true, timeoutMs: 30_000 });
    assert.equal(r.code, 0, `arm-client ${args.join(" ")} on ${vm}: ${r.stderr}`);
    return JSON.parse(r.stdout) as ClientOut;
  }

  it("answers management.azure.com from the VMs over HTTPS they trust, at ARM's address", async function () {
    const dns = await h.exec(vm1, "getent", ["hosts", "management.azure.com"]);
    assert.match(dns.stdout, /^198\.18\.0\.10\s+management\.azure\.com/);
    // curl checks the certificate against the VM's CA bundle, which holds the simulator's CA.
    const r = await h.curl(vm1, "https://management.azure.com/subscriptions?api-version=2022-12-01", 5, [
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
    ]);
    assert.equal(r.stdout.trim(), "401", r.stderr);
    assert.equal((await client("vm2", "get-nic")).status, 200);
    // A public endpoint: a secondary without a public IP has no way out to it.
    await h.exec(vm1, "ip", ["addr", "add", "10.0.0.11/32", "dev", "eth0"]);
    try {
      const c0 = await sim.dropCounters();
      const none = await h.curl(vm1, "https://management.azure.com/", 2, ["--interface", "10.0.0.11"]);
      assert.notEqual(none.code, 0, "a secondary without public IP reached ARM");
      assert.ok((await sim.dropCounters()).noPublicIp > c0.noPublicIp);
    } finally {
      await h.exec(vm1, "ip", ["addr", "del", "10.0.0.11/32", "dev", "eth0"]);
    }
  });

  it("delivers packets from an address added by a NIC PUT only once the operation has succeeded", async function () {
    await knobs({ arm: { provisioningDelayMs: 4000 } });
    await h.whoami(vm2, 8090);
    await h.exec(vm1, "ip", ["addr", "add", "10.0.0.40/32", "dev", "eth0"]);
    try {
      const put = await client("vm1", "add", "azvnet-e2e", "10.0.0.40");
      assert.equal(put.status, 200);
      assert.ok(put.operation, "no Azure-AsyncOperation");
      const c0 = await sim.dropCounters();
      const early = await h.curl(vm1, "http://10.0.0.5:8090/", 2, ["--interface", "10.0.0.40"]);
      assert.notEqual(early.code, 0, `reached vm2 before the operation succeeded: ${early.stdout}`);
      const c1 = await sim.dropCounters();
      assert.ok(c1.spoofedIp.vm1 > c0.spoofedIp.vm1, "the fabric did not drop the early packets as spoofed");
      const done = await client("vm1", "wait", put.operation);
      assert.equal(done.operationStatus, "Succeeded");
      const seen = await h.curl(vm1, "http://10.0.0.5:8090/", 3, ["--interface", "10.0.0.40"]);
      assert.equal(seen.stdout.trim(), "10.0.0.40", seen.stderr);
      assert.ok(sim.status().vms[0].secondaries.includes("10.0.0.40"));
    } finally {
      await h.exec(vm1, "ip", ["addr", "del", "10.0.0.40/32", "dev", "eth0"]);
    }
  });

  it("gives one address to exactly one of two VMs asking at once", async function () {
    const [a, b] = await Promise.all([client("vm1", "add", "race", "10.0.0.41"), client("vm2", "add", "race", "10.0.0.41")]);
    assert.deepEqual([a.status, b.status].sort(), [200, 400], JSON.stringify([a, b]));
    const winner = a.status === 200 ? "vm1" : "vm2";
    assert.equal([a, b].find((x) => x.status === 400)?.code, "PrivateIPAddressInUse");
    assert.equal((await client(winner, "wait", String((a.status === 200 ? a : b).operation))).operationStatus, "Succeeded");
    const owners = sim.status().vms.filter((v) => v.secondaries.includes("10.0.0.41"));
    assert.deepEqual(
      owners.map((v) => v.name),
      [winner],
    );
  });

  it("answers 412 to a PUT with a stale etag", async function () {
    const r = await client("vm2", "add", "stale", "10.0.0.42", 'W/"00000000-0000-5000-8000-000000000000"');
    assert.equal(r.status, 412);
    assert.equal(r.code, "PreconditionFailed");
  });

  it("throttles with 429 and Retry-After past the callsPerMinute knob", async function () {
    await knobs({ arm: { callsPerMinute: 3 } });
    // get-nic makes two ARM calls (the VM, then its NIC).
    assert.equal((await client("vm1", "get-nic")).status, 200);
    const throttled = await client("vm1", "get-nic");
    assert.equal(throttled.status, 429, JSON.stringify(throttled));
    assert.ok(Number(throttled.retryAfter) >= 1, `Retry-After ${throttled.retryAfter}`);
  });

  it("answers 400 Identity not found to a VM without a managed identity", async function () {
    await knobs({ vms: { vm2: { identity: false } } });
    const none = await client("vm2", "token");
    assert.equal(none.status, 400);
    assert.equal(none.description, "Identity not found");
    assert.equal((await client("vm1", "token")).status, 200);
  });
});
