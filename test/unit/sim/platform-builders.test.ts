/** The pure pieces of the platform: documents, XML, caller identification, knobs. */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XMLParser } from "fast-xml-parser";
import { defaultTopology } from "../../../sim/topology";
import { vmBySourceAddress } from "../../../sim/platform/identify";
import { imdsComputeDocument, imdsNetworkDocument, stableVmId } from "../../../sim/platform/imds-documents";
import { versionsXml, wireserverXml } from "../../../sim/platform/wireserver-xml";
import { readKnobs, setEndpointKnobs, writeKnobs } from "../../../sim/platform/knobs";
import { parseListenAddress } from "../../../sim/platform/listen-address";

describe("platform builders", () => {
  const topo = defaultTopology();

  describe("vmBySourceAddress", () => {
    it("finds a VM by its primary or any secondary ipconfig", () => {
      assert.equal(vmBySourceAddress(topo, "10.0.0.4")?.name, "vm1");
      assert.equal(vmBySourceAddress(topo, "10.0.0.17")?.name, "vm1");
      assert.equal(vmBySourceAddress(topo, "10.0.0.27")?.name, "vm2");
    });

    it("accepts IPv4-mapped IPv6 and rejects addresses that are no ipconfig", () => {
      assert.equal(vmBySourceAddress(topo, "::ffff:10.0.0.5")?.name, "vm2");
      assert.equal(vmBySourceAddress(topo, "10.0.0.99"), undefined);
      assert.equal(vmBySourceAddress(topo, "127.0.0.1"), undefined);
    });
  });

  describe("imdsNetworkDocument", () => {
    it("lists the NIC primary first, with public IPs only where the topology has them", () => {
      const doc = imdsNetworkDocument(topo, "vm1");
      assert.equal(doc.interface.length, 1);
      const nic = doc.interface[0];
      assert.equal(nic.macAddress, "000D3A000001");
      assert.deepEqual(nic.ipv4.subnet, [{ address: "10.0.0.0", prefix: "24" }]);
      assert.deepEqual(nic.ipv6, { ipAddress: [] });
      assert.deepEqual(nic.ipv4.ipAddress[0], { privateIpAddress: "10.0.0.4", publicIpAddress: "203.0.113.4" });
      assert.deepEqual(nic.ipv4.ipAddress[1], { privateIpAddress: "10.0.0.10", publicIpAddress: "" });
      assert.deepEqual(nic.ipv4.ipAddress.at(-1), { privateIpAddress: "10.0.0.17", publicIpAddress: "203.0.113.17" });
      assert.equal(nic.ipv4.ipAddress.length, 9);
    });

    it("refuses an unknown VM name", () => {
      assert.throws(() => imdsNetworkDocument(topo, "vm9"), /no VM named vm9/);
    });
  });

  describe("imdsComputeDocument", () => {
    it("has the fixed simulated placement and a per-VM stable vmId", () => {
      const doc = imdsComputeDocument(topo, "vm2");
      assert.equal(doc.name, "vm2");
      assert.equal(doc.location, "simregion");
      assert.equal(doc.resourceGroupName, "sim-rg");
      assert.equal(doc.osType, "Linux");
      assert.match(doc.subscriptionId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.match(doc.vmId, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(doc.vmId, stableVmId("vm2"));
      assert.notEqual(stableVmId("vm1"), stableVmId("vm2"));
      assert.equal(imdsComputeDocument(topo, "vm1").subscriptionId, doc.subscriptionId);
    });
  });

  describe("wireserverXml", () => {
    it("parses back to the documented Interfaces shape", () => {
      const parser = new XMLParser({
        ignoreAttributes: false,
        attributeNamePrefix: "",
        isArray: (n) => ["Interface", "IPSubnet", "IPAddress"].includes(n),
      });
      const parsed = parser.parse(wireserverXml(topo, "vm2"));
      const iface = parsed.Interfaces.Interface[0];
      assert.equal(iface.MacAddress, "000D3A000002");
      assert.equal(iface.IsPrimary, "true");
      assert.equal(iface.IPSubnet.length, 1);
      assert.equal(iface.IPSubnet[0].Prefix, "10.0.0.0/24");
      const addresses = iface.IPSubnet[0].IPAddress as { Address: string; IsPrimary: string }[];
      assert.deepEqual(addresses[0], { Address: "10.0.0.5", IsPrimary: "true" });
      assert.equal(addresses.length, 9);
      assert.ok(addresses.slice(1).every((a) => a.IsPrimary === "false"));
    });

    it('writes attribute values as name="value", never bare', () => {
      assert.match(wireserverXml(topo, "vm1"), /<IPAddress Address="10\.0\.0\.4" IsPrimary="true"\/>/);
      assert.match(versionsXml(), /<Version>\d{4}-\d{2}-\d{2}<\/Version>/);
    });
  });

  describe("knobs files", () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "azure-vnet-knobs-"))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("reads no file as no faults and round-trips what was written", () => {
      assert.deepEqual(readKnobs(dir), {});
      writeKnobs(dir, { imds: { latencyMs: 50, rateLimitPerSecond: 5 }, dns: { down: true } });
      assert.deepEqual(readKnobs(dir), { imds: { latencyMs: 50, rateLimitPerSecond: 5 }, dns: { down: true } });
    });

    it("replaces one endpoint and keeps the others", () => {
      writeKnobs(dir, { imds: { status: 500 }, wireserver: { malformed: true } });
      setEndpointKnobs(dir, "imds", undefined);
      setEndpointKnobs(dir, "dns", { latencyMs: 5 });
      assert.deepEqual(readKnobs(dir), { wireserver: { malformed: true }, dns: { latencyMs: 5 } });
    });

    it("rejects typos and out-of-range values", () => {
      assert.throws(() => writeKnobs(dir, { imds: { latency: 5 } } as never), /invalid knobs: imds/);
      assert.throws(() => writeKnobs(dir, { wireserver: { rateLimitPerSecond: 5 } } as never), /invalid knobs: wireserver/);
      assert.throws(() => writeKnobs(dir, { imds: { status: 42 } }), /imds\.status/);
      writeFileSync(join(dir, "knobs.json"), '{"nope": {}}');
      assert.throws(() => readKnobs(dir), /invalid knobs/);
    });
  });

  describe("parseListenAddress", () => {
    it("parses host:port and off, and rejects anything else", () => {
      assert.deepEqual(parseListenAddress("169.254.169.254:80", "--imds-listen"), { host: "169.254.169.254", port: 80 });
      assert.equal(parseListenAddress("off", "--dns-listen"), undefined);
      assert.throws(() => parseListenAddress("localhost:80", "--imds-listen"), /--imds-listen/);
      assert.throws(() => parseListenAddress("127.0.0.1:70000", "--imds-listen"), /--imds-listen/);
      assert.throws(() => parseListenAddress("127.0.0.1", "--imds-listen"), /--imds-listen/);
    });
  });
});
