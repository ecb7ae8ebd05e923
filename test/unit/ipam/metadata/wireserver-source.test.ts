/** Tests of the wireserver metadata source and its XML parser. */
import assert from "node:assert/strict";
import { parseWireserverInterfaces, WIRESERVER_BASE_URL, WireserverSource } from "../../../../driver/ipam/metadata/wireserver-source";
import { fakeServer, type FakeServer } from "../helpers";

/** NMAgent's answer for a VM with two NICs, the second carrying two subnets. */
const TWO_NICS = `<?xml version="1.0" encoding="utf-8"?>
<Interfaces>
  <Interface MacAddress="000D3A6E1825" IsPrimary="true">
    <IPSubnet Prefix="10.0.0.0/24">
      <IPAddress Address="10.0.0.4" IsPrimary="true"/>
      <IPAddress Address="10.0.0.5" IsPrimary="false"/>
      <IPAddress Address="10.0.0.6" IsPrimary="false"/>
    </IPSubnet>
  </Interface>
  <Interface MacAddress="000D3A6E1826" IsPrimary="false">
    <IPSubnet Prefix="10.1.0.0/24">
      <IPAddress Address="10.1.0.4" IsPrimary="true"/>
    </IPSubnet>
    <IPSubnet Prefix="10.2.0.0/26">
      <IPAddress Address="10.2.0.7" IsPrimary="false"/>
    </IPSubnet>
  </Interface>
</Interfaces>`;

describe("WireserverSource", () => {
  let server: FakeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("targets the platform address by default (never contacted in tests)", () => {
    assert.equal(WIRESERVER_BASE_URL, "http://168.63.129.16");
    assert.equal(new WireserverSource().url, "http://168.63.129.16/machine/plugins?comp=nmagent&type=getinterfaceinfov1");
  });

  it("fetches and parses the interface list", async () => {
    server = await fakeServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/xml" });
      res.end(TWO_NICS);
    });
    const nics = await new WireserverSource({ baseUrl: server.baseUrl }).fetch();
    assert.equal(server.requests[0].url, "/machine/plugins?comp=nmagent&type=getinterfaceinfov1");
    assert.deepEqual(nics, [
      {
        mac: "00:0d:3a:6e:18:25",
        isPrimary: true,
        subnets: [
          {
            cidr: "10.0.0.0/24",
            ipConfigs: [
              { address: "10.0.0.4", isPrimary: true, publicIp: "" },
              { address: "10.0.0.5", isPrimary: false, publicIp: "" },
              { address: "10.0.0.6", isPrimary: false, publicIp: "" },
            ],
          },
        ],
      },
      {
        mac: "00:0d:3a:6e:18:26",
        isPrimary: false,
        subnets: [
          { cidr: "10.1.0.0/24", ipConfigs: [{ address: "10.1.0.4", isPrimary: true, publicIp: "" }] },
          { cidr: "10.2.0.0/26", ipConfigs: [{ address: "10.2.0.7", isPrimary: false, publicIp: "" }] },
        ],
      },
    ]);
  });

  it("reports an HTTP error status", async () => {
    server = await fakeServer((_req, res) => {
      res.writeHead(503, "Service Unavailable");
      res.end();
    });
    await assert.rejects(
      new WireserverSource({ baseUrl: server.baseUrl }).fetch(),
      /^MetadataSourceError: wireserver: HTTP 503 Service Unavailable$/,
    );
  });

  it("times out", async () => {
    server = await fakeServer(() => undefined);
    await assert.rejects(
      new WireserverSource({ baseUrl: server.baseUrl, timeoutMs: 50 }).fetch(),
      /wireserver: GET .* failed: no answer within 50 ms/,
    );
  });
});

describe("parseWireserverInterfaces", () => {
  it("rejects broken XML with the parser's reason", () => {
    assert.throws(
      () => parseWireserverInterfaces("<Interfaces><Interface MacAddress='000D3A6E1825'></Interfaces>"),
      /wireserver: response is not valid XML: Expected closing tag 'Interface'/,
    );
  });

  it("rejects a document without interfaces", () => {
    assert.throws(() => parseWireserverInterfaces("<Interfaces></Interfaces>"), /wireserver: the VM has no network interfaces/);
    assert.throws(() => parseWireserverInterfaces("<Other/>"), /wireserver: malformed data: Interfaces: Invalid input/);
  });

  it("rejects missing attributes and bad values, naming the element", () => {
    assert.throws(
      () => parseWireserverInterfaces('<Interfaces><Interface IsPrimary="true"/></Interfaces>'),
      /Interfaces\.Interface\[0\]\.MacAddress: Invalid input: expected string/,
    );
    assert.throws(
      () =>
        parseWireserverInterfaces(
          '<Interfaces><Interface MacAddress="000D3A6E1825"><IPSubnet Prefix="10.0.0.0/24"><IPAddress Address="10.0.0.x"/></IPSubnet></Interface></Interfaces>',
        ),
      /IPSubnet\[0\]\.IPAddress\[0\]\.Address: Invalid IPv4 address \(got "10\.0\.0\.x"\)/,
    );
    assert.throws(
      () =>
        parseWireserverInterfaces(
          '<Interfaces><Interface MacAddress="000D3A6E1825"><IPSubnet Prefix="10.0.0.0/40"/></Interface></Interfaces>',
        ),
      /IPSubnet\[0\]\.Prefix: not an IPv4 CIDR/,
    );
  });

  it("rejects an address outside its subnet", () => {
    assert.throws(
      () =>
        parseWireserverInterfaces(
          '<Interfaces><Interface MacAddress="000D3A6E1825"><IPSubnet Prefix="10.0.0.0/24"><IPAddress Address="10.0.1.5"/></IPSubnet></Interface></Interfaces>',
        ),
      /wireserver: interface 00:0d:3a:6e:18:25: 10\.0\.1\.5 is outside its subnet 10\.0\.0\.0\/24/,
    );
  });

  it("treats the first address as primary when none is flagged, so the VM's own is never offered", () => {
    const nics = parseWireserverInterfaces(
      '<Interfaces><Interface MacAddress="000D3A6E1825"><IPSubnet Prefix="10.0.0.0/24"><IPAddress Address="10.0.0.4"/><IPAddress Address="10.0.0.5"/></IPSubnet></Interface></Interfaces>',
    );
    assert.deepEqual(
      nics[0].subnets[0].ipConfigs.map((c) => c.isPrimary),
      [true, false],
    );
    assert.equal(nics[0].isPrimary, true);
  });
});
