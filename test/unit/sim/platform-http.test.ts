/** IMDS and wireserver over real HTTP on loopback. */
import { strict as assert } from "node:assert";
import { defaultTopology } from "../../../sim/topology";
import type { Platform } from "../../../sim/platform/platform";
import { writeKnobs } from "../../../sim/platform/knobs";
import {
  SOURCE_HEADER,
  httpGet,
  imdsGet,
  makeStateDir,
  removeStateDir,
  startTestPlatform,
  waitFor,
  writeTopology,
} from "./platform-helpers";

interface NetworkDoc {
  interface: { ipv4: { ipAddress: { privateIpAddress: string; publicIpAddress: string }[] }; macAddress: string }[];
}

describe("platform HTTP endpoints", function () {
  this.timeout(10_000);
  let dir: string;
  let platform: Platform;

  beforeEach(async () => {
    dir = makeStateDir();
    platform = await startTestPlatform(dir);
  });
  afterEach(async () => {
    await platform.close();
    removeStateDir(dir);
  });

  describe("IMDS", () => {
    it("answers vm1's network document to a caller using vm1's primary address", async () => {
      const res = await imdsGet(platform, "10.0.0.4");
      assert.equal(res.status, 200);
      assert.match(String(res.headers["content-type"]), /application\/json/);
      const doc = JSON.parse(res.body) as NetworkDoc;
      assert.equal(doc.interface[0].macAddress, "000D3A000001");
      assert.equal(doc.interface[0].ipv4.ipAddress[0].privateIpAddress, "10.0.0.4");
    });

    it("identifies the VM by a secondary address too (a container's source)", async () => {
      const doc = JSON.parse((await imdsGet(platform, "10.0.0.23")).body) as NetworkDoc;
      assert.equal(doc.interface[0].macAddress, "000D3A000002");
      assert.equal(doc.interface[0].ipv4.ipAddress[0].privateIpAddress, "10.0.0.5");
    });

    it("answers compute, the whole instance, and text leaves", async () => {
      const compute = JSON.parse((await imdsGet(platform, "10.0.0.4", "/metadata/instance/compute?api-version=2021-02-01")).body);
      assert.equal(compute.name, "vm1");
      assert.equal(compute.location, "simregion");
      const instance = JSON.parse((await imdsGet(platform, "10.0.0.4", "/metadata/instance?api-version=2021-02-01")).body);
      assert.equal(instance.compute.name, "vm1");
      assert.equal(instance.network.interface[0].macAddress, "000D3A000001");
      const leaf = await imdsGet(
        platform,
        "10.0.0.4",
        "/metadata/instance/network/interface/0/ipv4/ipAddress/0/publicIpAddress?api-version=2021-02-01&format=text",
      );
      assert.deepEqual([leaf.status, leaf.body], [200, "203.0.113.4"]);
      assert.equal((await imdsGet(platform, "10.0.0.4", "/metadata/instance/nothing?api-version=2021-02-01")).status, 404);
    });

    it("refuses requests without Metadata: true, with X-Forwarded-For, or without api-version", async () => {
      const at = platform.addresses().imds;
      const noHeader = await httpGet(at, "/metadata/instance/network?api-version=2021-02-01", { [SOURCE_HEADER]: "10.0.0.4" });
      assert.equal(noHeader.status, 400);
      assert.match(JSON.parse(noHeader.body).error, /Required metadata header not specified/);
      const proxied = await httpGet(at, "/metadata/instance/network?api-version=2021-02-01", {
        Metadata: "true",
        "X-Forwarded-For": "10.0.0.4",
        [SOURCE_HEADER]: "10.0.0.4",
      });
      assert.equal(proxied.status, 400);
      const noVersion = await imdsGet(platform, "10.0.0.4", "/metadata/instance/network");
      assert.equal(noVersion.status, 400);
      assert.match(JSON.parse(noVersion.body).error, /api-version/);
    });

    it("refuses callers that are no VM's ipconfig", async () => {
      const res = await imdsGet(platform, "10.0.0.99");
      assert.equal(res.status, 403);
      assert.ok(JSON.parse(res.body).error);
      // Without the test header the loopback source itself is used, and it belongs to no VM.
      const plain = await httpGet(platform.addresses().imds, "/metadata/instance/network?api-version=2021-02-01", { Metadata: "true" });
      assert.equal(plain.status, 403);
    });

    it("throttles one source with 429 past rateLimitPerSecond, not another", async () => {
      writeKnobs(dir, { imds: { rateLimitPerSecond: 5 } });
      await waitFor(async () => platform.state.knobs.imds?.rateLimitPerSecond === 5, 1000);
      const statuses = [];
      for (let i = 0; i < 8; i++) statuses.push((await imdsGet(platform, "10.0.0.4")).status);
      assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
      assert.ok(
        statuses.slice(5).every((s) => s === 429),
        `got ${statuses.join(",")}`,
      );
      assert.equal((await imdsGet(platform, "10.0.0.5")).status, 200);
      // After the one-second window a backed-off client gets through again.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      assert.equal((await imdsGet(platform, "10.0.0.4")).status, 200);
    });

    it("reflects a removed ipconfig within 0.5 s", async () => {
      const topo = defaultTopology();
      topo.vms[0].nic.secondaries = topo.vms[0].nic.secondaries.filter((s) => s.address !== "10.0.0.12");
      writeTopology(dir, topo);
      const took = await waitFor(async () => {
        const doc = JSON.parse((await imdsGet(platform, "10.0.0.4")).body) as NetworkDoc;
        return !doc.interface[0].ipv4.ipAddress.some((a) => a.privateIpAddress === "10.0.0.12");
      }, 500);
      assert.ok(took <= 500);
      // The removed address no longer identifies vm1.
      assert.equal((await imdsGet(platform, "10.0.0.12")).status, 403);
    });

    it("reflects an added ipconfig within 0.5 s", async () => {
      const topo = defaultTopology();
      topo.vms[1].nic.secondaries.push({ address: "10.0.0.200" });
      writeTopology(dir, topo);
      await waitFor(async () => (await imdsGet(platform, "10.0.0.200")).status === 200, 500);
    });

    it("keeps serving the last good topology when the file turns invalid", async () => {
      writeTopology(dir, { ...defaultTopology(), vms: [] } as never);
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal((await imdsGet(platform, "10.0.0.4")).status, 200);
    });
  });

  describe("wireserver", () => {
    const path = "/machine/plugins?comp=nmagent&type=getinterfaceinfov1";

    it("answers the calling VM's interface XML", async () => {
      const res = await httpGet(platform.addresses().wireserver, path, { [SOURCE_HEADER]: "10.0.0.21" });
      assert.equal(res.status, 200);
      assert.match(String(res.headers["content-type"]), /xml/);
      assert.match(res.body, /<Interface MacAddress="000D3A000002" IsPrimary="true">/);
      assert.match(res.body, /<IPAddress Address="10\.0\.0\.5" IsPrimary="true"\/>/);
      assert.doesNotMatch(res.body, /10\.0\.0\.4"/);
    });

    it("refuses unknown callers and answers the versions health check", async () => {
      assert.equal((await httpGet(platform.addresses().wireserver, path, { [SOURCE_HEADER]: "10.0.0.99" })).status, 403);
      const versions = await httpGet(platform.addresses().wireserver, "/?comp=versions");
      assert.equal(versions.status, 200);
      assert.match(versions.body, /<Versions>/);
    });

    it("answers 200 on the second port", async () => {
      assert.equal((await httpGet(platform.addresses().wireserverAlt, "/anything")).status, 200);
    });
  });
});
