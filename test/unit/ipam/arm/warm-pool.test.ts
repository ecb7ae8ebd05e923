import assert from "node:assert/strict";
import { PluginError } from "../../../../driver/errors";
import { FakeClock, expectPluginError } from "../helpers";
import { FakeArm, ipConfig, NIC_ID, PRINCIPAL, SUBNET_ID } from "./fake-arm";
import { createNetwork, type Plugin, requestAddress, startPlugin, TestTiming } from "./setup";

type Body = { properties: { ipConfigurations: { name: string; properties: Record<string, unknown> }[] } };
const configsOf = (body: unknown) => (body as Body).properties.ipConfigurations;

describe("warm pool (--ipconfig-management arm)", () => {
  let arm: FakeArm;
  let clock: FakeClock;
  const plugins: Plugin[] = [];
  const start = async (...args: Parameters<typeof startPlugin> extends [unknown, unknown, ...infer R] ? R : never) => {
    const p = await startPlugin(arm, clock, ...args);
    plugins.push(p);
    return p;
  };

  beforeEach(async () => {
    clock = new FakeClock(Date.UTC(2026, 0, 1));
    // A user's own ipconfig with a public IP and an ASG: the plugin must carry it back untouched.
    const userConfig = ipConfig("web", "10.0.0.200", {
      publicIPAddress: { id: "/subscriptions/s/resourceGroups/rg1/providers/Microsoft.Network/publicIPAddresses/web-ip" },
      applicationSecurityGroups: [{ id: "/subscriptions/s/resourceGroups/rg1/providers/Microsoft.Network/applicationSecurityGroups/web" }],
    });
    arm = await new FakeArm(clock, [userConfig]).start();
  });

  afterEach(async () => {
    for (const p of plugins.splice(0)) p.pool.close();
    await arm.close();
  });

  it("grows to the warm target in one PUT with If-Match, naming its ipconfigs azvnet- and carrying the user's back unchanged", async () => {
    const before = structuredClone(arm.ipConfigs);
    await start({ warm: 5 });
    assert.equal(arm.puts.length, 1, "one PUT for the whole batch");
    assert.equal(arm.puts[0].ifMatch, 'W/"1"');
    const sent = configsOf(arm.puts[0].body);
    assert.deepEqual(
      sent.filter((c) => !c.name.startsWith("azvnet-")),
      before,
      "the primary and the user's ipconfig are sent exactly as read",
    );
    const own = sent.filter((c) => c.name.startsWith("azvnet-"));
    // The user's ipconfig is free too, so 4 are added for 5 free.
    assert.equal(own.length, 4);
    for (const c of own) {
      assert.match(c.name, /^azvnet-[0-9a-f]{8}$/);
      assert.deepEqual(c.properties, {
        primary: false,
        privateIPAddressVersion: "IPv4",
        subnet: { id: SUBNET_ID },
        privateIPAllocationMethod: "Dynamic",
      });
    }
    assert.equal(new Set(own.map((c) => c.name)).size, 4);
    // Looking again changes nothing: the target is met.
    await plugins[0].pool.check();
    assert.equal(arm.puts.length, 1);
  });

  it("lets a RequestAddress that finds no free ipconfig wait for the growth, with a log line, instead of failing", async () => {
    const p = await start({ warm: 0 });
    assert.equal(arm.puts.length, 0);
    const poolId = await createNetwork(p.manager);
    // The user's ipconfig is the only secondary: the first container gets it, the next ones wait for ARM.
    assert.equal(await requestAddress(p.manager, poolId), "10.0.0.200");
    const addresses = await Promise.all([1, 2, 3].map(() => requestAddress(p.manager, poolId)));
    assert.equal(new Set(addresses).size, 3, `distinct addresses: ${addresses.join(",")}`);
    const own = new Set(arm.own().map((c) => c.properties.privateIPAddress));
    for (const a of addresses) assert.ok(own.has(a), `${a} is an ipconfig the plugin created`);
    assert.ok(arm.puts.length <= 2, `waiting requests share PUTs (${arm.puts.length})`);
    const waitLine = p.log.find((l) => /waiting for new ones from Azure Resource Manager/.test(l.msg));
    assert.ok(waitLine, "an info line says the request waits");
    assert.equal(waitLine.level, "info");
  });

  it("grows ahead of a burst of containers by what they take while one NIC update runs", async () => {
    // Each update takes a few seconds, as on Azure: the pool must not run dry at every one.
    arm.knobs.pollsBeforeDone = 3;
    const p = await start({ warm: 2 });
    const poolId = await createNetwork(p.manager);
    const adding = () => p.log.filter((l) => /adding ipconfigs through Azure Resource Manager/.test(l.msg));
    assert.equal(adding().length, 1, "the first growth, to the warm target");
    assert.equal(adding()[0].fields.headroom, 0, "no demand yet, no headroom");
    // Six containers within a second: 3 a second, while an update takes about 4 s.
    for (let i = 0; i < 6; i++) {
      await requestAddress(p.manager, poolId);
      clock.advance(150);
    }
    await p.pool.check();
    const burst = adding().at(-1);
    assert.ok(burst && Number(burst.fields.headroom) >= 8, `headroom for the burst: ${JSON.stringify(burst?.fields)}`);
    const free = arm.own().length + 1 - 6;
    assert.ok(free >= 2 + 8, `${free} free ipconfigs after the growth, for the warm target and the containers to come`);
    // A slow trickle later (one container every 3 s): the headroom is small again.
    clock.advance(60_000);
    const before = adding().length;
    for (let i = 0; i < free - 1; i++) {
      await requestAddress(p.manager, poolId);
      clock.advance(3_000);
    }
    await p.pool.check();
    assert.ok(adding().length > before, "a growth once the free ones are taken");
    const trickle = Number(adding().at(-1)?.fields.headroom);
    assert.ok(
      trickle < Number(burst.fields.headroom) / 2,
      `headroom for one container every 3 s: ${trickle}, for the burst: ${burst.fields.headroom}`,
    );
  });

  it("gives up on a waiting request after the bounded wait, with words saying the plugin keeps trying", async () => {
    // The growth is sent but never finishes.
    const stuck = new FrozenTiming(clock, () => arm.puts.length > 0);
    const p = await start({ warm: 0 }, { timing: stuck, supplyWaitMs: 300 });
    const poolId = await createNetwork(p.manager);
    await requestAddress(p.manager, poolId);
    const began = Date.now();
    await expectPluginError(
      requestAddress(p.manager, poolId),
      /no free address in 10\.0\.0\.0\/24: Azure Resource Manager did not add an ipconfig in time; the plugin keeps trying/,
      "exhausted",
    );
    assert.ok(Date.now() - began >= 250, "it waited");
    assert.equal(arm.puts.length, 1, "the growth was asked for");
  });

  it("creates the ipconfig a --ip names, and refuses an address in use elsewhere with ARM's reason in words", async () => {
    const p = await start({ warm: 0 });
    const poolId = await createNetwork(p.manager);
    assert.equal(await requestAddress(p.manager, poolId, "10.0.0.77"), "10.0.0.77");
    const made = arm.own().find((c) => c.properties.privateIPAddress === "10.0.0.77");
    assert.ok(made, "an azvnet- ipconfig holds 10.0.0.77");
    assert.equal(made.properties.privateIPAllocationMethod, "Static");
    arm.takenElsewhere.add("10.0.0.78");
    await expectPluginError(
      requestAddress(p.manager, poolId, "10.0.0.78"),
      /cannot add 10\.0\.0\.78 to the NIC: another ipconfig in the virtual network has that address \(.*PrivateIPAddressInUse/,
      "conflict",
    );
  });

  it("removes what a failed operation was adding, and says why in words", async () => {
    const p = await start({ warm: 0 });
    const poolId = await createNetwork(p.manager);
    arm.knobs.failOperation = { code: "PrivateIPAddressInUse", message: "IP address 10.0.0.90 is in use by another VM" };
    await expectPluginError(
      requestAddress(p.manager, poolId, "10.0.0.90"),
      /cannot add 10\.0\.0\.90 to the NIC: another ipconfig in the virtual network has that address/,
      "conflict",
    );
    assert.deepEqual(arm.own(), [], "the failed ipconfig is not left on the NIC");
    assert.ok(
      arm.ipConfigs.some((c) => c.name === "web"),
      "the user's stays",
    );
    assert.equal(await requestAddress(p.manager, poolId, "10.0.0.91"), "10.0.0.91", "the next one works");
  });

  it("follows the NIC's provisioningState when a PUT gives no Azure-AsyncOperation", async () => {
    arm.knobs.noAsyncHeader = true;
    arm.knobs.pollsBeforeDone = 2;
    const p = await start({ warm: 0 });
    const poolId = await createNetwork(p.manager);
    await requestAddress(p.manager, poolId);
    const address = await requestAddress(p.manager, poolId);
    assert.equal(arm.own()[0]?.properties.privateIPAddress, address);
    const waits = p.log.filter((l) => /waiting for new ones/.test(l.msg));
    assert.equal(waits.length, 1, "the request was let go once, when the update had finished");
  });

  it("returns its idle ipconfigs above the target after the cooldown, never one in use, never the user's", async () => {
    const p = await start({ warm: 6, cooldownSeconds: 300 });
    const poolId = await createNetwork(p.manager);
    const used = await requestAddress(p.manager, poolId);
    const putsAfterGrowth = arm.puts.length;
    // Demand falls: 1 in use + 1 warm = 2 wanted of 7 secondaries.
    p.pool.close();
    const q = await start({ warm: 1, cooldownSeconds: 300 }, { state: p.state });
    clock.advance(299_000);
    await q.pool.check();
    assert.equal(arm.puts.length, putsAfterGrowth, "nothing is returned before the cooldown");
    clock.advance(2_000);
    await q.pool.check();
    assert.equal(arm.puts.length, putsAfterGrowth + 1, "one PUT returns them all");
    const names = arm.ipConfigs.map((c) => c.name);
    assert.ok(names.includes("web"), "the user's ipconfig stays");
    assert.ok(names.includes("ipconfig1"), "the primary stays");
    const addresses = arm.ipConfigs.map((c) => c.properties.privateIPAddress);
    assert.ok(addresses.includes(used), "the address in use stays");
    assert.equal(arm.ipConfigs.length, 1 + 2, "primary + 2 secondaries (1 used, 1 warm)");
    // The allocator no longer offers the returned ones.
    const next = await requestAddress(q.manager, poolId);
    assert.ok(addresses.includes(next), `${next} is still an ipconfig`);
  });

  it("reads the NIC again and retries after 412 PreconditionFailed", async () => {
    arm.knobs.stale = 1;
    await start({ warm: 3 });
    assert.equal(arm.puts.length, 2);
    assert.notEqual(arm.puts[0].ifMatch, arm.puts[1].ifMatch, "the retry carries the new etag");
    assert.equal(arm.own().length, 2, "no duplicate from the retry");
  });

  it("waits out 409 AnotherOperationInProgress (its Retry-After) and retries", async () => {
    arm.knobs.busy = 2;
    const p = await start({ warm: 3 });
    assert.equal(arm.puts.length, 3);
    assert.equal(arm.own().length, 2);
    assert.ok(p.timing.sleeps.filter((ms) => ms >= 3_000 && ms < 4_000).length >= 2, `slept ${p.timing.sleeps.join(",")}`);
  });

  it("honours 429's Retry-After with jitter, and backs off on 5xx", async () => {
    arm.knobs.throttle = 2;
    arm.knobs.unavailable = 2;
    const p = await start({ warm: 2 });
    assert.equal(arm.own().length, 1, "the pool grew in the end");
    const throttled = p.timing.sleeps.filter((ms) => ms >= 2_000 && ms < 3_000);
    assert.equal(throttled.length, 2, `two waits of Retry-After 2 s plus jitter: ${p.timing.sleeps.join(",")}`);
    assert.ok(
      throttled.every((ms) => ms > 2_000),
      "jitter is added to Retry-After",
    );
    assert.ok(
      p.timing.sleeps.some((ms) => ms >= 500 && ms < 2_000),
      "a backoff for the 503",
    );
    assert.ok(
      p.log.some((l) => l.level === "warn" && /HTTP 429/.test(String(l.fields.why))),
      "the throttling is logged",
    );
  });

  it("asks IMDS for a token once and again only shortly before it expires", async () => {
    const p = await start({ warm: 1 });
    const calls = arm.tokenCalls;
    assert.equal(calls, 1);
    for (let i = 0; i < 3; i++) await p.pool.check();
    assert.ok(arm.armCalls.length >= 5);
    assert.equal(arm.tokenCalls, 1, "cached between calls");
    clock.advance(54 * 60_000);
    await p.pool.check();
    assert.equal(arm.tokenCalls, 1, "still valid 6 minutes before expiry");
    clock.advance(2 * 60_000);
    await p.pool.check();
    assert.equal(arm.tokenCalls, 2, "renewed within 5 minutes of expiry");
  });

  it("fails a waiting request with the az command that assigns an identity when the VM has none", async () => {
    arm.knobs.noIdentity = true;
    const p = await start({ warm: 0 });
    const poolId = await createNetwork(p.manager);
    await requestAddress(p.manager, poolId);
    await expectRefusal(
      requestAddress(p.manager, poolId),
      /no managed identity.*Identity not found.*az vm identity assign --resource-group rg1 --name vm1.*Network Contributor/,
    );
    assert.ok(p.log.some((l) => l.level === "error" && /az vm identity assign/.test(String(l.fields.error))));
  });

  it("names the role assignment that fixes a 403 AuthorizationFailed, with the principal and the NIC", async () => {
    arm.knobs.forbidden = true;
    const p = await start({ warm: 0 });
    const poolId = await createNetwork(p.manager);
    await requestAddress(p.manager, poolId);
    const err = await expectRefusal(requestAddress(p.manager, poolId), /AuthorizationFailed/);
    assert.ok(
      err.message.includes(`az role assignment create --assignee ${PRINCIPAL} --role "Network Contributor" --scope ${NIC_ID}`),
      err.message,
    );
  });

  it("finds its NIC by MAC among the VM's NICs (ARM's 00-0D-3A-… against the kernel's 00:0d:3a:…)", async () => {
    const p = await start({ warm: 1 });
    assert.ok(arm.armCalls.includes(`GET ${NIC_ID}`));
    assert.ok(p.log.some((l) => /managing the NIC's ipconfigs/.test(l.msg) && l.fields.nic === NIC_ID));
    assert.equal(arm.puts.length, 0, "the user's free ipconfig already meets a warm target of 1");
  });

  it("after a kill during a PUT, a new instance neither adds the batch again nor keeps what is not needed", async () => {
    arm.knobs.holdOperations = true;
    // An instance that stops dead once its PUT is sent: it never polls, never learns the outcome.
    const dead = new FrozenTiming(clock, () => arm.puts.length > 0);
    const first = await start({ warm: 5 }, { timing: dead, settle: false });
    while (arm.puts.length === 0) await new Promise((resolve) => setImmediate(resolve));
    first.pool.close();
    assert.equal(arm.own().length, 4, "ARM accepted the batch; its operation still runs");
    const second = await start({ warm: 5 });
    assert.equal(arm.puts.length, 1, "the restarted instance adopts the batch instead of sending it again");
    arm.finishOperations();
    arm.releaseOperations();
    await second.pool.check();
    assert.equal(arm.own().length, 4, "no duplicate batch");
    const poolId = await createNetwork(second.manager);
    const adopted = new Set(arm.own().map((c) => c.properties.privateIPAddress));
    await requestAddress(second.manager, poolId, "10.0.0.200");
    assert.ok(adopted.has(await requestAddress(second.manager, poolId)), "the adopted ipconfigs serve containers");
    // Demand is lower after the restart: the adopted surplus goes back after the cooldown.
    second.pool.close();
    const third = await start({ warm: 1, cooldownSeconds: 60 }, { state: second.state });
    clock.advance(61_000);
    await third.pool.check();
    assert.equal(arm.own().length, 1 + 1, "no orphan: the one in use and one warm stay");
    assert.ok(arm.ipConfigs.some((c) => c.name === "web"));
  });
});

/** The request fails with an error meant for the user (a PluginError, which Docker shows). */
async function expectRefusal(promise: Promise<unknown>, pattern: RegExp): Promise<Error> {
  const err = await promise.then(
    () => assert.fail(`expected an error matching ${pattern}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PluginError, `a PluginError, not ${String(err)}`);
  assert.match(err.message, pattern);
  return err;
}

/** Test timing whose sleeps never end once `dead()` holds: a process killed at that point. */
class FrozenTiming extends TestTiming {
  constructor(
    clock: FakeClock,
    private readonly dead: () => boolean,
  ) {
    super(clock);
  }
  override sleep(ms: number): Promise<void> {
    return this.dead() ? new Promise<void>(() => undefined) : super.sleep(ms);
  }
}
