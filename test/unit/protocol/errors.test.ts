import assert from "node:assert/strict";
import { PluginError } from "../../../driver/errors";
import { EP_ID, NET_ID, sleep, startHarness, type Harness } from "./harness";

const CREATE_NETWORK = { NetworkID: NET_ID, Options: {}, IPv4Data: [{ AddressSpace: "s", Pool: "10.1.0.0/24" }], IPv6Data: [] };

describe("protocol errors", () => {
  let h: Harness;
  afterEach(async () => {
    await h.stop();
  });

  describe("driver failures", () => {
    beforeEach(async () => {
      h = await startHarness();
    });

    it("passes a PluginError message through verbatim", async () => {
      h.network.createNetwork.rejects(new PluginError("subnet 10.1.0.0/24 is not in any NIC's Azure subnet", "invalid"));
      const r = await h.call("/NetworkDriver.CreateNetwork", CREATE_NETWORK);
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { Err: "subnet 10.1.0.0/24 is not in any NIC's Azure subnet" });
      assert.equal(r.headers["content-type"], "application/vnd.docker.plugins.v1.2+json");
    });

    it("uses Err (not Error) for IPAM failures too", async () => {
      h.ipam.requestAddress.rejects(new PluginError("no free address in pool p", "exhausted"));
      const r = await h.call("/IpamDriver.RequestAddress", { PoolID: "p", Address: "", Options: null });
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { Err: "no free address in pool p" });
    });

    it("reports any other error as an internal error and logs its stack", async () => {
      h.network.createNetwork.rejects(new TypeError("cannot read properties of undefined"));
      const r = await h.call("/NetworkDriver.CreateNetwork", CREATE_NETWORK);
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { Err: "internal error in NetworkDriver.CreateNetwork: cannot read properties of undefined" });
      const [entry] = await h.waitForLogs(1);
      assert.equal(entry.level, "error");
      assert.equal(entry.outcome, "error");
      assert.match(String(entry.stack), /^TypeError: cannot read properties of undefined\n\s+at /);
    });

    it("reports a thrown non-Error value as an internal error", async () => {
      h.ipam.releasePool.callsFake(() => Promise.reject("disk full"));
      const r = await h.call("/IpamDriver.ReleasePool", { PoolID: "p" });
      assert.deepEqual(r.json, { Err: "internal error in IpamDriver.ReleasePool: disk full" });
    });

    it("catches a synchronous throw from getCapabilities", async () => {
      h.network.getCapabilities.throws(new Error("not initialised"));
      const r = await h.call("/NetworkDriver.GetCapabilities");
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { Err: "internal error in NetworkDriver.GetCapabilities: not initialised" });
    });

    it("strips line breaks from internal error messages", async () => {
      h.network.leave.rejects(new Error("first line\nsecond line"));
      const r = await h.call("/NetworkDriver.Leave", { NetworkID: NET_ID, EndpointID: EP_ID });
      assert.deepEqual(r.json, { Err: "internal error in NetworkDriver.Leave: first line?second line" });
    });

    it("turns a missing driver reply into an internal error instead of an empty 200", async () => {
      h.network.join.resolves(undefined);
      const r = await h.call("/NetworkDriver.Join", { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: "/run/netns/x" });
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { Err: "internal error in NetworkDriver.Join: the driver returned no reply object" });
    });

    it("keeps serving after failures", async () => {
      h.network.deleteNetwork.onFirstCall().rejects(new Error("boom"));
      assert.equal((await h.call("/NetworkDriver.DeleteNetwork", { NetworkID: NET_ID })).status, 500);
      assert.equal((await h.call("/NetworkDriver.DeleteNetwork", { NetworkID: NET_ID })).status, 200);
    });
  });

  describe("paths and methods", () => {
    beforeEach(async () => {
      h = await startHarness();
    });

    it("answers 404 with Err for an unknown method", async () => {
      const r = await h.call("/NetworkDriver.GwAllocCheck", { Options: {} });
      assert.equal(r.status, 404);
      assert.deepEqual(r.json, { Err: "unknown method /NetworkDriver.GwAllocCheck" });
    });

    it("answers 404 for the root path", async () => {
      const r = await h.call("/");
      assert.equal(r.status, 404);
      assert.deepEqual(r.json, { Err: "unknown method /" });
    });

    it("rejects GET on a known method", async () => {
      const r = await h.call("/Plugin.Activate", undefined, { method: "GET" });
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { Err: "Plugin.Activate must be called with POST, not GET" });
    });
  });

  describe("timeouts", () => {
    beforeEach(async () => {
      h = await startHarness({ handlerTimeoutMs: 50 });
    });

    it("answers a hung handler with a timeout error", async () => {
      h.network.join.returns(new Promise(() => undefined));
      const started = Date.now();
      const r = await h.call("/NetworkDriver.Join", { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: "/run/netns/x" });
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { Err: "NetworkDriver.Join timed out after 50 ms" });
      assert.ok(Date.now() - started < 1000);
      const [entry] = await h.waitForLogs(1);
      assert.equal(entry.level, "warn");
      assert.equal(entry.error, "NetworkDriver.Join timed out after 50 ms");
    });

    it("logs a failure that arrives after the timeout, without crashing", async () => {
      h.ipam.requestPool.callsFake(async () => {
        await sleep(100);
        throw new Error("late failure");
      });
      const r = await h.call("/IpamDriver.RequestPool", { AddressSpace: "s", Pool: "", SubPool: "", V6: false });
      assert.deepEqual(r.json, { Err: "IpamDriver.RequestPool timed out after 50 ms" });
      const logs = await h.waitForLogs(2);
      assert.equal(logs.length, 2);
      assert.equal(logs[1].level, "warn");
      assert.equal(logs[1].error, "late failure");
      assert.equal((await h.call("/Plugin.Activate")).status, 200);
    });

    it("does not time out a handler that finishes in time", async () => {
      h.network.leave.callsFake(() => sleep(10));
      const r = await h.call("/NetworkDriver.Leave", { NetworkID: NET_ID, EndpointID: EP_ID });
      assert.equal(r.status, 200);
    });
  });

  describe("request log", () => {
    beforeEach(async () => {
      h = await startHarness();
    });

    it("writes one info line per call with short IDs, outcome and duration", async () => {
      await h.call("/NetworkDriver.CreateEndpoint", { NetworkID: NET_ID, EndpointID: EP_ID, Interface: { Address: "10.1.0.7/24" } });
      await sleep(20);
      const logs = await h.waitForLogs(1);
      assert.equal(logs.length, 1);
      const [entry] = logs;
      assert.equal(entry.level, "info");
      assert.equal(entry.method, "NetworkDriver.CreateEndpoint");
      assert.equal(entry.networkId, NET_ID.slice(0, 12));
      assert.equal(entry.endpointId, EP_ID.slice(0, 12));
      assert.equal(entry.outcome, "ok");
      assert.equal(entry.error, undefined);
      assert.equal(typeof entry.durationMs, "number");
      assert.ok((entry.durationMs as number) >= 0);
    });

    it("logs capability and activation calls at debug level", async () => {
      await h.call("/Plugin.Activate");
      await h.call("/NetworkDriver.GetCapabilities");
      await h.call("/IpamDriver.GetDefaultAddressSpaces");
      await h.call("/NetworkDriver.EndpointOperInfo", { NetworkID: NET_ID, EndpointID: EP_ID });
      const logs = await h.waitForLogs(4);
      assert.deepEqual(
        logs.map((e) => [e.method, e.level]),
        [
          ["Plugin.Activate", "debug"],
          ["NetworkDriver.GetCapabilities", "debug"],
          ["IpamDriver.GetDefaultAddressSpaces", "debug"],
          ["NetworkDriver.EndpointOperInfo", "debug"],
        ],
      );
    });

    it("records the pool ID and address that IPAM handed out", async () => {
      await h.call("/IpamDriver.RequestPool", { AddressSpace: "s", Pool: "10.1.0.0/24", SubPool: "", V6: false });
      await h.call("/IpamDriver.RequestAddress", { PoolID: "azure-local/10.1.0.0/24", Address: "", Options: null });
      const logs = await h.waitForLogs(2);
      assert.equal(logs[0].poolId, "azure-local/10.1.0.0/24");
      assert.equal(logs[1].poolId, "azure-local/10.1.0.0/24");
      assert.equal(logs[1].address, "10.1.0.7/24");
    });

    it("logs a rejected request with its error message and cleaned fields", async () => {
      await h.call("/NetworkDriver.DeleteNetwork", { NetworkID: "bad\nid" });
      const [entry] = await h.waitForLogs(1);
      assert.equal(entry.level, "info");
      assert.equal(entry.outcome, "error");
      assert.equal(entry.networkId, "bad?id");
      assert.match(String(entry.error), /^invalid NetworkDriver\.DeleteNetwork request: NetworkID: /);
    });

    it("logs unknown paths", async () => {
      await h.call("/Nope.Nothing");
      const [entry] = await h.waitForLogs(1);
      assert.equal(entry.method, "/Nope.Nothing");
      assert.equal(entry.error, "unknown method /Nope.Nothing");
    });
  });
});
