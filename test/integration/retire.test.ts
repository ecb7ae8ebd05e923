/**
 * Deferred kernel clean-up: deleting a veth pair holds the calling thread in
 * the kernel for many milliseconds (grace periods), and the daemon has one
 * thread. The dataplane deletes pairs in batches, one kernel call for many,
 * and only in a lull between requests (IdleGate), unless a request waits for
 * the clean-up itself.
 */
import { strict as assert } from "node:assert";
import sinon from "sinon";
import { assertThrowawayNetns } from "./support/guard";
import { LinuxDataplane } from "../../driver/dataplane";
import { LinkOps, RETIRING_GROUP } from "../../driver/dataplane/links";
import { Rtnl } from "../../driver/dataplane/netlink";
import { IdleGate } from "../../driver/lib/idle-gate";
import { PluginError } from "../../driver/errors";
import { cmd, linkNames, sh } from "./support/host";

assertThrowawayNetns();

const BRIDGE = "azvbrettest";

/** The longest the event loop went without running a 1 ms timer while `fn` ran. */
async function longestStall(fn: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 5));
  } finally {
    clearInterval(timer);
  }
  return longest;
}

const ours = async (tag: string) => (await linkNames()).filter((l) => l.startsWith(`azvh${tag}`) || l.startsWith(`azvc${tag}`));

describe("deferred veth deletion", function () {
  this.timeout(60_000);
  let rtnl: Rtnl;
  let links: LinkOps;
  let deletes: sinon.SinonSpy;
  let groupDeletes: sinon.SinonSpy;
  before(async () => {
    rtnl = new Rtnl();
    links = new LinkOps(rtnl);
    await links.ensureBridge(BRIDGE, 1500);
  });
  beforeEach(() => {
    deletes = sinon.spy(Rtnl.prototype, "deleteLink");
    groupDeletes = sinon.spy(Rtnl.prototype, "deleteGroup");
  });
  afterEach(() => sinon.restore());
  after(async () => {
    await rtnl.close();
    await cmd("ip", ["link", "del", BRIDGE]);
  });

  const pairs = async (tag: string, n: number) => {
    for (let i = 0; i < n; i++)
      await links.createEndpointLink({ bridge: BRIDGE, hostName: `azvh${tag}${i}`, peerName: `azvc${tag}${i}`, mtu: 1500 });
    return Array.from({ length: n }, (_, i) => `azvh${tag}${i}`);
  };

  it("deletes many pairs with one kernel call, each name getting its own outcome", async () => {
    const names = await pairs("b", 12);
    await sh("ip", "link", "add", "azvhbnotveth", "type", "bridge");
    try {
      const outcomes = await links.removeEndpointLinks([...names, "azvhbabsent", "azvhbnotveth"]);
      assert.deepEqual(
        outcomes.slice(0, 13).map((o) => (o.status === "fulfilled" ? o.value : o.reason)),
        [...names.map(() => true), false],
      );
      const refused = outcomes[13];
      assert.ok(refused.status === "rejected" && refused.reason instanceof PluginError && /is not a veth/.test(refused.reason.message));
      assert.equal(groupDeletes.callCount, 1, "one deletion by group");
      assert.equal(deletes.callCount, 0, "no deletion one by one");
      assert.deepEqual(await ours("b"), ["azvhbnotveth"], "every pair is gone, the bridge stays");
    } finally {
      await cmd("ip", ["link", "del", "azvhbnotveth"]);
    }
  });

  it("deletes a single pair by itself, and with it a pair a crash left marked", async () => {
    const [left] = await pairs("l", 1);
    await sh("ip", "link", "set", left, "group", String(RETIRING_GROUP));
    const [one] = await pairs("s", 1);
    assert.equal(await links.removeEndpointLink(one), true);
    assert.equal(deletes.callCount, 1);
    assert.deepEqual(await ours("s"), []);
    // The next batch of two takes the marked one with it.
    const two = await pairs("t", 2);
    await links.removeEndpointLinks(two);
    assert.deepEqual([...(await ours("t")), ...(await ours("l"))], []);
  });

  it("waits for a lull between requests: no stall while one is in flight, then one batch", async () => {
    const gate = new IdleGate({ quietMs: 20, maxWaitMs: 10_000 });
    const dp = new LinuxDataplane({ idle: gate });
    try {
      const names = await pairs("g", 8);
      gate.enter();
      const removing = Promise.all(names.map((n) => dp.removeEndpointLink(n)));
      const stall = await longestStall(() => new Promise((r) => setTimeout(r, 300)));
      assert.equal((await ours("g")).length, 16, "nothing deleted while a request is in flight");
      assert.ok(stall < 15, `the event loop ran on while the request was in flight (longest stall ${stall.toFixed(1)} ms)`);
      gate.leave();
      assert.deepEqual(
        await removing,
        names.map(() => true),
      );
      assert.deepEqual(await ours("g"), []);
      assert.equal(groupDeletes.callCount, 1);
    } finally {
      gate.close();
      await dp.close();
    }
  });

  it("goes at once for a request that waits for the clean-up itself", async () => {
    const gate = new IdleGate({ quietMs: 20, maxWaitMs: 10_000 });
    const dp = new LinuxDataplane({ idle: gate });
    try {
      const [name] = await pairs("h", 1);
      gate.enter();
      const t0 = performance.now();
      assert.equal(await gate.hurry(dp.removeEndpointLink(name)), true);
      assert.ok(performance.now() - t0 < 5_000);
      assert.deepEqual(await ours("h"), []);
      gate.leave();
    } finally {
      gate.close();
      await dp.close();
    }
  });

  it("refuses a bad name before anything is queued", async () => {
    const dp = new LinuxDataplane();
    try {
      await assert.rejects(dp.removeEndpointLink("bad name!"), /invalid/);
      await assert.rejects(dp.forgetFlows("10.0.0.256"), /invalid/);
    } finally {
      await dp.close();
    }
  });
});
