/**
 * The kernel worker: deleting a veth pair keeps the kernel busy inside the
 * netlink system call for many milliseconds. Made from the main thread, that
 * call stalls the event loop (every request in flight with it); made through
 * the dataplane, which hands it to its worker thread, it does not.
 */
import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { LinuxDataplane } from "../../driver/dataplane";
import { LinkOps } from "../../driver/dataplane/links";
import { Rtnl } from "../../driver/dataplane/netlink";
import { cmd, linkNames, sh } from "./support/host";
import { median } from "../../bench/stats";
import { PluginError } from "../../driver/errors";
import { KernelOffload } from "../../driver/dataplane/offload";

assertThrowawayNetns();

const BRIDGE = "azvbofftest";
const ROUNDS = 5;

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

describe("kernel worker", function () {
  let dp: LinuxDataplane;
  let direct: LinkOps;
  let rtnl: Rtnl;
  before(async () => {
    dp = new LinuxDataplane();
    rtnl = new Rtnl();
    direct = new LinkOps(rtnl);
    await dp.ensureBridge(BRIDGE, 1500);
  });
  after(async () => {
    await dp.close();
    await rtnl.close();
    await cmd("ip", ["link", "del", BRIDGE]);
  });

  const pair = (i: number, tag: string) =>
    dp.createEndpointLink({ bridge: BRIDGE, hostName: `azvh${tag}${i}`, peerName: `azvc${tag}${i}`, mtu: 1500 });

  it("deletes veth pairs without stalling the event loop, where the same call on the main thread does", async () => {
    const inThread: number[] = [];
    const offloaded: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await pair(i, "m");
      await pair(i, "w");
    }
    // Warm both paths (the worker starts on first use).
    await dp.removeEndpointLink("azvhw0");
    await direct.removeEndpointLink("azvhm0");
    for (let i = 1; i < ROUNDS; i++) {
      inThread.push(await longestStall(() => direct.removeEndpointLink(`azvhm${i}`)));
      offloaded.push(await longestStall(() => dp.removeEndpointLink(`azvhw${i}`)));
    }
    assert.deepEqual(
      (await linkNames()).filter((l) => /^azv[hc][mw]/.test(l)),
      [],
      "every pair is gone",
    );
    const stalls = `main thread ${inThread.map((n) => n.toFixed(1)).join(", ")} ms; worker ${offloaded.map((n) => n.toFixed(1)).join(", ")} ms`;
    assert.ok(median(inThread) > 5, `a veth deletion on the main thread stalls it (${stalls})`);
    assert.ok(median(offloaded) < median(inThread) / 2, `the worker keeps the event loop running (${stalls})`);
  });

  it("reports a failure in the worker as the error the main thread would have seen", async () => {
    await sh("ip", "link", "add", "azvhnotveth", "type", "bridge");
    try {
      await assert.rejects(
        dp.removeEndpointLink("azvhnotveth"),
        (err: Error) => err instanceof PluginError && err.code === "conflict" && /is not a veth/.test(err.message),
      );
    } finally {
      await cmd("ip", ["link", "del", "azvhnotveth"]);
    }
    assert.equal(await dp.removeEndpointLink("azvhabsent"), false);
  });

  it("stops an idle worker by letting it close its sockets, and starts another on the next call", async () => {
    const offload = new KernelOffload({ idleStopMs: 50 });
    try {
      assert.equal(await offload.removeEndpointLink("azvhabsent"), false);
      await new Promise((r) => setTimeout(r, 300));
      // The first worker has ended (a torn-down thread with an open netlink socket would have aborted the process).
      assert.equal(await offload.forgetFlows("10.0.0.99"), true);
    } finally {
      await offload.close();
    }
  });
});
