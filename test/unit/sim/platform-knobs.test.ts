/** Fault knobs, switched at run time through knobs.json as the simulator does. */
import { strict as assert } from "node:assert";
import * as dnsPacket from "dns-packet";
import type { Platform } from "../../../sim/platform/platform";
import { setEndpointKnobs, writeKnobs, type Knobs } from "../../../sim/platform/knobs";
import {
  SOURCE_HEADER,
  dnsQuery,
  httpGet,
  imdsGet,
  makeStateDir,
  rcodeOf,
  removeStateDir,
  startTestPlatform,
  udpExchange,
  waitFor,
} from "./platform-helpers";

describe("platform fault knobs", function () {
  this.timeout(10_000);
  let dir: string;
  let platform: Platform;

  /** Write knobs and wait until the running platform has picked them up and acted on them. */
  async function applyKnobs(knobs: Knobs): Promise<void> {
    writeKnobs(dir, knobs);
    await waitFor(async () => JSON.stringify(platform.state.knobs) === JSON.stringify(knobs), 1000);
    await platform.settled();
  }

  beforeEach(async () => {
    dir = makeStateDir();
    platform = await startTestPlatform(dir);
  });
  afterEach(async () => {
    await platform.close();
    removeStateDir(dir);
  });

  it("starts no listener again for a knobs change that arrives after close (a poll in flight)", async () => {
    const imds = platform.addresses().imds;
    await platform.close();
    // What a poll that was reading knobs.json when close() came would emit.
    platform.state.emit("knobs", {});
    await platform.settled();
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(httpGet(imds, "/metadata/instance?api-version=2021-02-01"), /ECONNREFUSED/);
    // afterEach closes it again: close is idempotent.
  });

  it("latencyMs delays IMDS answers by at least that much", async () => {
    await applyKnobs({ imds: { latencyMs: 300 } });
    const start = Date.now();
    assert.equal((await imdsGet(platform, "10.0.0.4")).status, 200);
    assert.ok(Date.now() - start >= 290, `answered after ${Date.now() - start} ms`);
  });

  it("status forces that HTTP status on every request, with a body", async () => {
    await applyKnobs({ imds: { status: 500 }, wireserver: { status: 503 } });
    const imds = await imdsGet(platform, "10.0.0.4");
    assert.equal(imds.status, 500);
    assert.match(JSON.parse(imds.body).error, /500/);
    const wire = await httpGet(platform.addresses().wireserver, "/machine/plugins?comp=nmagent&type=getinterfaceinfov1", {
      [SOURCE_HEADER]: "10.0.0.4",
    });
    assert.equal(wire.status, 503);
    assert.ok(wire.body.length > 0);
  });

  it("malformed answers 200 with a body that does not parse", async () => {
    await applyKnobs({ imds: { malformed: true } });
    const res = await imdsGet(platform, "10.0.0.4");
    assert.equal(res.status, 200);
    assert.ok(res.body.length > 0);
    assert.throws(() => JSON.parse(res.body));
  });

  it("down refuses IMDS connections, and up serves again on the same port", async () => {
    const before = platform.addresses().imds;
    await applyKnobs({ imds: { down: true } });
    await waitFor(async () => {
      try {
        await imdsGet(platform, "10.0.0.4");
        return false;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === "ECONNREFUSED";
      }
    }, 1000);
    // Other endpoints are unaffected.
    assert.equal((await httpGet(platform.addresses().wireserver, "/?comp=versions")).status, 200);
    setEndpointKnobs(dir, "imds", undefined);
    await waitFor(async () => (await imdsGet(platform, "10.0.0.4")).status === 200, 1000);
    assert.deepEqual(platform.addresses().imds, before);
  });

  it("down on the wireserver takes both of its ports down", async () => {
    await applyKnobs({ wireserver: { down: true } });
    await assert.rejects(httpGet(platform.addresses().wireserver, "/?comp=versions"), { code: "ECONNREFUSED" });
    await assert.rejects(httpGet(platform.addresses().wireserverAlt, "/"), { code: "ECONNREFUSED" });
    await applyKnobs({});
    assert.equal((await httpGet(platform.addresses().wireserverAlt, "/")).status, 200);
  });

  it("DNS knobs: status gives SERVFAIL, malformed gives an undecodable reply, down gives silence", async () => {
    const dns = platform.addresses().dns;
    await applyKnobs({ dns: { status: 500 } });
    const servfail = await udpExchange(dns, dnsQuery("vm1"));
    assert.ok(servfail);
    assert.equal(rcodeOf(dnsPacket.decode(servfail)), 2);

    await applyKnobs({ dns: { malformed: true } });
    const garbled = await udpExchange(dns, dnsQuery("vm1"));
    assert.ok(garbled);
    assert.throws(() => dnsPacket.decode(garbled));

    await applyKnobs({ dns: { down: true } });
    assert.equal(await udpExchange(dns, dnsQuery("vm1"), 300), undefined);

    await applyKnobs({ dns: { latencyMs: 200 } });
    const start = Date.now();
    const slow = await udpExchange(dns, dnsQuery("vm1"));
    assert.ok(slow && Date.now() - start >= 190);
    assert.deepEqual(platform.addresses().dns, dns);
  });

  it("an invalid knobs.json is ignored and the previous knobs stay", async () => {
    await applyKnobs({ imds: { status: 500 } });
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${dir}/knobs.json`, '{"imds": {"status": "broken"}}');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await imdsGet(platform, "10.0.0.4")).status, 500);
  });
});
