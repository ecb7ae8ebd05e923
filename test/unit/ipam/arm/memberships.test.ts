/**
 * Application Security Groups and load-balancer backend pools of a network's
 * ipconfigs (--ipconfig-management arm): the options, and the warm pool
 * converging each of its ipconfigs to the memberships its endpoint's network
 * names, against a fake ARM.
 */
import assert from "node:assert/strict";
import { hasMemberships, parseNetworkOptions } from "../../../../driver/network/options";
import type { Membership } from "../../../../driver/ipam/arm/nic";
import { FakeClock } from "../helpers";
import { FakeArm, ipConfig, NIC_ID, RG, SUB } from "./fake-arm";
import { createNetwork, type Plugin, requestAddress, startPlugin } from "./setup";

const ASG = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/applicationSecurityGroups/web`;
const ASG2 = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/applicationSecurityGroups/api`;
const POOL = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/loadBalancers/lb1/backendAddressPools/be`;
const USER_ASG = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/applicationSecurityGroups/user`;

type Config = { name: string; properties: Record<string, unknown> };
const configsOf = (body: unknown) => (body as { properties: { ipConfigurations: Config[] } }).properties.ipConfigurations;
const ids = (c: Config | undefined, field: string) => ((c?.properties[field] as { id: string }[] | undefined) ?? []).map((r) => r.id);
const at = (list: Config[], address: string) => list.find((c) => c.properties.privateIPAddress === address);

describe("network options application-security-groups and lb-backend-pools", () => {
  it("take comma-separated ARM ids, provider and type segments in any case, without repeats", () => {
    const lower = ASG.replace("Microsoft.Network/applicationSecurityGroups", "microsoft.network/APPLICATIONSECURITYGROUPS");
    const o = parseNetworkOptions({ "application-security-groups": ` ${ASG}, ${ASG2},${lower}`, "lb-backend-pools": POOL });
    assert.deepEqual(o.applicationSecurityGroups, [ASG, ASG2]);
    assert.deepEqual(o.lbBackendPools, [POOL]);
    assert.equal(hasMemberships(o), true);
    assert.equal(hasMemberships(parseNetworkOptions({})), false);
  });

  it("refuse ids of another form, of the other kind, and an empty list", () => {
    assert.throws(
      () => parseNetworkOptions({ "application-security-groups": POOL }),
      /application-security-groups: .* is not an id of the form \/subscriptions\/<s>\/resourceGroups\/<rg>\/providers\/Microsoft.Network\/applicationSecurityGroups\/<name>/,
    );
    assert.throws(
      () => parseNetworkOptions({ "lb-backend-pools": ASG }),
      /lb-backend-pools: .* is not an id of the form .*backendAddressPools\/<pool>/,
    );
    assert.throws(() => parseNetworkOptions({ "lb-backend-pools": `${POOL}/extra` }), /is not an id of the form/);
    assert.throws(() => parseNetworkOptions({ "application-security-groups": "web" }), /is not an id of the form/);
    assert.throws(() => parseNetworkOptions({ "application-security-groups": ASG.replace(SUB, "not-a-subscription") }), /is not an id/);
    assert.throws(() => parseNetworkOptions({ "lb-backend-pools": " , " }), /lb-backend-pools names no id/);
  });
});

describe("memberships of the plugin's ipconfigs (--ipconfig-management arm)", () => {
  let arm: FakeArm;
  let clock: FakeClock;
  let plugin: Plugin | undefined;
  /** What the network manager would answer: address -> its network's memberships. */
  let wanted: Map<string, Membership>;

  const start = async (secondaries: ReturnType<typeof ipConfig>[] = []) => {
    arm = await new FakeArm(clock, secondaries).start();
    plugin = await startPlugin(arm, clock, { warm: 3 }, { settle: false });
    plugin.pool.setMemberships((address) => wanted.get(address));
    await plugin.pool.idle();
    return plugin;
  };
  const deadline = () => clock.now() + 20_000;

  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 0, 1));
    wanted = new Map();
  });

  afterEach(async () => {
    plugin?.pool.close();
    plugin = undefined;
    await arm.close();
  });

  it("joins concurrent endpoints' ipconfigs in one If-Match PUT, leaving the others exactly as read", async () => {
    const userConfig = ipConfig("web", "10.0.0.200", { applicationSecurityGroups: [{ id: USER_ASG }] });
    const p = await start([userConfig]);
    const poolId = await createNetwork(p.manager);
    const a = await requestAddress(p.manager, poolId);
    const b = await requestAddress(p.manager, poolId);
    // The pool refills first (its own PUT).
    await p.pool.check();
    const before = structuredClone(arm.ipConfigs);
    const putsBefore = arm.puts.length;
    wanted.set(a, { applicationSecurityGroups: [ASG], lbBackendPools: [POOL] });
    wanted.set(b, { applicationSecurityGroups: [ASG, ASG2], lbBackendPools: [] });
    await Promise.all([p.pool.join(a, deadline()), p.pool.join(b, deadline())]);
    assert.equal(arm.puts.length, putsBefore + 1, "one PUT for both");
    const put = arm.puts[arm.puts.length - 1];
    assert.ok(put.ifMatch, "the PUT carries If-Match");
    const sent = configsOf(put.body);
    assert.deepEqual(ids(at(sent, a), "applicationSecurityGroups"), [ASG]);
    assert.deepEqual(ids(at(sent, a), "loadBalancerBackendAddressPools"), [POOL]);
    assert.deepEqual(ids(at(sent, b), "applicationSecurityGroups"), [ASG, ASG2]);
    assert.deepEqual(ids(at(sent, b), "loadBalancerBackendAddressPools"), []);
    const untouched = sent.filter((c) => c.properties.privateIPAddress !== a && c.properties.privateIPAddress !== b);
    assert.deepEqual(
      untouched,
      before.filter((c) => c.properties.privateIPAddress !== a && c.properties.privateIPAddress !== b),
      "the primary, the user's and the free ipconfigs go back as read",
    );
    // Already as wanted: looking again sends nothing, and a join is answered without a PUT.
    await p.pool.check();
    await p.pool.join(a, deadline());
    assert.equal(arm.puts.length, putsBefore + 1);
    // A pass with nothing to change reads the NIC once, for memberships and pool alike.
    const calls = arm.armCalls.length;
    await p.pool.check();
    assert.deepEqual(arm.armCalls.slice(calls), [`GET ${NIC_ID}`]);
  });

  it("clears a released endpoint's memberships in the background", async () => {
    const p = await start();
    const poolId = await createNetwork(p.manager);
    const a = await requestAddress(p.manager, poolId);
    wanted.set(a, { applicationSecurityGroups: [ASG], lbBackendPools: [POOL] });
    await p.pool.join(a, deadline());
    assert.deepEqual(ids(at(arm.ipConfigs, a), "loadBalancerBackendAddressPools"), [POOL]);
    wanted.delete(a);
    p.pool.touched(a);
    // A release is acted on after the pool's settle time (1 s).
    await new Promise((r) => setTimeout(r, 1_100));
    await p.pool.idle();
    assert.deepEqual(ids(at(arm.ipConfigs, a), "loadBalancerBackendAddressPools"), []);
    assert.deepEqual(ids(at(arm.ipConfigs, a), "applicationSecurityGroups"), []);
  });

  it("converges drift on its periodic pass: a free ipconfig of its own leaves its groups, an in-use one joins; others are never touched", async () => {
    const stale = ipConfig("azvnet-0000000a", "10.0.0.30", {
      applicationSecurityGroups: [{ id: ASG }],
      loadBalancerBackendAddressPools: [{ id: POOL }],
    });
    const inUse = ipConfig("azvnet-0000000b", "10.0.0.31");
    const user = ipConfig("web", "10.0.0.200", { loadBalancerBackendAddressPools: [{ id: POOL }] });
    wanted.set("10.0.0.31", { applicationSecurityGroups: [ASG2], lbBackendPools: [POOL] });
    // A user's ipconfig is never changed, even when an endpoint holds its address.
    wanted.set("10.0.0.200", { applicationSecurityGroups: [ASG2], lbBackendPools: [] });
    await start([stale, inUse, user]);
    const find = (name: string) => arm.ipConfigs.find((c) => c.name === name);
    assert.deepEqual(ids(find("azvnet-0000000a"), "applicationSecurityGroups"), []);
    assert.deepEqual(ids(find("azvnet-0000000a"), "loadBalancerBackendAddressPools"), []);
    assert.deepEqual(ids(find("azvnet-0000000b"), "applicationSecurityGroups"), [ASG2]);
    assert.deepEqual(ids(find("azvnet-0000000b"), "loadBalancerBackendAddressPools"), [POOL]);
    assert.deepEqual(find("web"), user);
    await assert.rejects(p().pool.join("10.0.0.200", deadline()), /10\.0\.0\.200 is ipconfig web, which the plugin did not create/);
    await assert.rejects(p().pool.join("10.0.0.99", deadline()), /10\.0\.0\.99 is not an ipconfig of the NIC/);
  });

  it("reads the NIC again after a 412 and waits out a 409 before setting memberships", async () => {
    const p = await start([ipConfig("azvnet-0000000c", "10.0.0.32")]);
    wanted.set("10.0.0.32", { applicationSecurityGroups: [ASG], lbBackendPools: [] });
    arm.knobs.stale = 1;
    arm.knobs.busy = 1;
    const putsBefore = arm.puts.length;
    await p.pool.join("10.0.0.32", deadline());
    assert.equal(arm.puts.length, putsBefore + 3, "412, 409, then the PUT that took");
    assert.ok(
      p.timing.sleeps.some((ms) => ms >= 3_000 && ms < 4_000),
      "waited the 409's Retry-After",
    );
    assert.deepEqual(ids(at(arm.ipConfigs, "10.0.0.32"), "applicationSecurityGroups"), [ASG]);
  });

  it("refuses a join with ARM's reason when the NIC update fails, and one whose deadline passed", async () => {
    const p = await start([ipConfig("azvnet-0000000d", "10.0.0.33")]);
    wanted.set("10.0.0.33", { applicationSecurityGroups: [ASG], lbBackendPools: [] });
    arm.knobs.failOperation = { code: "InvalidResourceReference", message: "Resource lb1 referenced by resource vm1-nic was not found." };
    await assert.rejects(p.pool.join("10.0.0.33", deadline()), /InvalidResourceReference|lb1 referenced/);
    arm.knobs.holdOperations = true;
    await assert.rejects(
      p.pool.join("10.0.0.33", clock.now()),
      /did not put the ipconfig of 10\.0\.0\.33 into the network's security groups and backend pools in time/,
    );
    arm.releaseOperations();
  });

  it("keeps the pool growing when ARM refuses a membership", async () => {
    const p = await start();
    const poolId = await createNetwork(p.manager);
    await p.pool.check();
    assert.equal(arm.own().length, 3);
    const taken = [await requestAddress(p.manager, poolId), await requestAddress(p.manager, poolId)];
    wanted.set(taken[0], { applicationSecurityGroups: [ASG], lbBackendPools: [] });
    arm.knobs.failOperation = { code: "InvalidResourceReference", message: "not found" };
    await assert.rejects(p.pool.join(taken[0], deadline()), /not found/);
    await p.pool.idle();
    // Two in use and the warm three, and the headroom for two grants at once.
    assert.ok(arm.own().length >= 5, `the pool did not grow past the refusal: ${arm.own().length} ipconfigs`);
    assert.ok(p.log.some((l) => l.msg === "cannot set the security groups and backend pools of ipconfigs"));
  });

  const p = () => plugin as Plugin;
});
