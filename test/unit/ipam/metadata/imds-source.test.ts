/** Tests of the IMDS metadata source and its parser. */
import assert from "node:assert/strict";
import type http from "node:http";
import { ImdsSource, IMDS_BASE_URL, parseImdsInstance, parseImdsNetwork } from "../../../../driver/ipam/metadata/imds-source";
import { MetadataSourceError } from "../../../../driver/ipam/metadata/source-error";
import { fakeServer, type FakeServer } from "../helpers";

/** Two NICs as IMDS 2021-02-01 returns them; the second has two subnets. */
const TWO_NICS = JSON.stringify({
  interface: [
    {
      ipv4: {
        ipAddress: [
          { privateIpAddress: "10.0.0.4", publicIpAddress: "20.1.2.3" },
          { privateIpAddress: "10.0.0.5", publicIpAddress: "" },
          { privateIpAddress: "10.0.0.6", publicIpAddress: "" },
        ],
        subnet: [{ address: "10.0.0.0", prefix: "24" }],
      },
      ipv6: { ipAddress: [] },
      macAddress: "000D3AF8A1B2",
    },
    {
      ipv4: {
        ipAddress: [
          { privateIpAddress: "10.1.0.4", publicIpAddress: "" },
          { privateIpAddress: "10.2.0.7", publicIpAddress: "" },
          { privateIpAddress: "10.1.0.9", publicIpAddress: "" },
        ],
        subnet: [
          { address: "10.1.0.0", prefix: "24" },
          { address: "10.2.0.0", prefix: "26" },
        ],
      },
      ipv6: { ipAddress: [] },
      macAddress: "000D3AF8A1B3",
    },
  ],
});

/** The whole instance document, as /metadata/instance answers: compute (abridged) and network. */
const INSTANCE = JSON.stringify({ compute: { name: "vm1", resourceGroupName: "prod-rg", vmId: "x" }, network: JSON.parse(TWO_NICS) });

function imdsHandler(body: string): http.RequestListener {
  return (req, res) => {
    // Real IMDS refuses requests without the header.
    if (req.headers["metadata"] !== "true") {
      res.writeHead(400, { "Content-Type": "application/json" });
      res.end('{"error":"Bad request. Required metadata header not specified"}');
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(body);
  };
}

describe("ImdsSource", () => {
  let server: FakeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("targets the link-local IMDS address by default (never contacted in tests)", () => {
    assert.equal(IMDS_BASE_URL, "http://169.254.169.254");
    assert.equal(new ImdsSource().url, "http://169.254.169.254/metadata/instance?api-version=2021-02-01");
  });

  it("sends Metadata: true to the documented path and parses two NICs, each with the VM's resource group", async () => {
    server = await fakeServer(imdsHandler(INSTANCE));
    const nics = await new ImdsSource({ baseUrl: server.baseUrl }).fetch();
    const req = server.requests[0];
    assert.equal(req.url, "/metadata/instance?api-version=2021-02-01");
    assert.equal(req.headers["metadata"], "true");
    assert.equal(req.headers["x-forwarded-for"], undefined);
    assert.deepEqual(nics, [
      {
        mac: "00:0d:3a:f8:a1:b2",
        isPrimary: true,
        resourceGroup: "prod-rg",
        subnets: [
          {
            cidr: "10.0.0.0/24",
            ipConfigs: [
              { address: "10.0.0.4", isPrimary: true, publicIp: "20.1.2.3" },
              { address: "10.0.0.5", isPrimary: false, publicIp: "" },
              { address: "10.0.0.6", isPrimary: false, publicIp: "" },
            ],
          },
        ],
      },
      {
        mac: "00:0d:3a:f8:a1:b3",
        isPrimary: false,
        resourceGroup: "prod-rg",
        subnets: [
          {
            cidr: "10.1.0.0/24",
            ipConfigs: [
              { address: "10.1.0.4", isPrimary: true, publicIp: "" },
              { address: "10.1.0.9", isPrimary: false, publicIp: "" },
            ],
          },
          { cidr: "10.2.0.0/26", ipConfigs: [{ address: "10.2.0.7", isPrimary: false, publicIp: "" }] },
        ],
      },
    ]);
  });

  it("the fake IMDS rejects a request without the Metadata header, as the real one does", async () => {
    server = await fakeServer(imdsHandler(TWO_NICS));
    const res = await fetch(`${server.baseUrl}/metadata/instance/network?api-version=2021-02-01`);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /metadata header not specified/);
  });

  it("reports an HTTP error status with the source name and the body", async () => {
    server = await fakeServer((_req, res) => {
      res.writeHead(429, "Too Many Requests");
      res.end("throttled");
    });
    await assert.rejects(new ImdsSource({ baseUrl: server.baseUrl }).fetch(), (err: Error) => {
      assert.ok(err instanceof MetadataSourceError);
      assert.equal(err.message, "imds: HTTP 429 Too Many Requests: throttled");
      return true;
    });
  });

  it("times out when IMDS never answers", async () => {
    server = await fakeServer(() => {
      /* never answers */
    });
    const started = Date.now();
    await assert.rejects(
      new ImdsSource({ baseUrl: server.baseUrl, timeoutMs: 100 }).fetch(),
      /imds: GET .* failed: no answer within 100 ms/,
    );
    assert.ok(Date.now() - started < 2000);
  });

  it("reports a refused connection", async () => {
    server = await fakeServer(() => undefined);
    const url = server.baseUrl;
    await server.close();
    server = undefined;
    await assert.rejects(
      new ImdsSource({ baseUrl: url }).fetch(),
      /imds: GET http:\/\/127\.0\.0\.1:\d+\/metadata.* failed: .*ECONNREFUSED/,
    );
  });

  it("ignores proxy settings in the environment", async () => {
    server = await fakeServer(imdsHandler(INSTANCE));
    const saved = { http: process.env.HTTP_PROXY, lower: process.env.http_proxy };
    process.env.HTTP_PROXY = "http://127.0.0.1:9";
    process.env.http_proxy = "http://127.0.0.1:9";
    try {
      assert.equal((await new ImdsSource({ baseUrl: server.baseUrl }).fetch()).length, 2);
    } finally {
      restoreEnv("HTTP_PROXY", saved.http);
      restoreEnv("http_proxy", saved.lower);
    }
  });
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

describe("parseImdsInstance", () => {
  it("leaves the resource group out when compute does not name it, and still reads the NICs", () => {
    const network = JSON.parse(TWO_NICS) as unknown;
    for (const compute of [undefined, {}, { resourceGroupName: "" }, { resourceGroupName: 7 }]) {
      const nics = parseImdsInstance(JSON.stringify({ compute, network }));
      assert.equal(nics.length, 2);
      assert.ok(
        nics.every((n) => !("resourceGroup" in n)),
        JSON.stringify(compute),
      );
    }
  });

  it("names the network category when it is malformed", () => {
    assert.throws(() => parseImdsInstance(JSON.stringify({ compute: {} })), /imds: malformed data: network/);
  });
});

describe("parseImdsNetwork", () => {
  const one = (iface: unknown) => JSON.stringify({ interface: [iface] });
  const base = {
    ipv4: { ipAddress: [{ privateIpAddress: "10.0.0.4", publicIpAddress: "" }], subnet: [{ address: "10.0.0.0", prefix: "24" }] },
    ipv6: { ipAddress: [] },
    macAddress: "000D3AF8A1B2",
  };

  it("canonicalises a subnet given with host bits", () => {
    const nics = parseImdsNetwork(one({ ...base, ipv4: { ...base.ipv4, subnet: [{ address: "10.0.0.77", prefix: "24" }] } }));
    assert.equal(nics[0].subnets[0].cidr, "10.0.0.0/24");
  });

  it("rejects malformed JSON", () => {
    assert.throws(() => parseImdsNetwork('{"interface": ['), /^MetadataSourceError: imds: response is not valid JSON/);
  });

  it("rejects a missing interface list", () => {
    assert.throws(() => parseImdsNetwork("{}"), /imds: malformed data: interface: Invalid input: expected array/);
  });

  it("rejects an empty interface list", () => {
    assert.throws(() => parseImdsNetwork('{"interface":[]}'), /imds: .*the VM has no network interfaces/);
  });

  it("rejects a bad IP and names the field and value", () => {
    const body = one({ ...base, ipv4: { ...base.ipv4, ipAddress: [{ privateIpAddress: "10.0.0.300" }] } });
    assert.throws(
      () => parseImdsNetwork(body),
      /imds: malformed data: interface\[0\]\.ipv4\.ipAddress\[0\]\.privateIpAddress: Invalid IPv4 address \(got "10\.0\.0\.300"\)/,
    );
  });

  it("rejects a bad MAC, a missing ipv4 block and a bad prefix", () => {
    assert.throws(() => parseImdsNetwork(one({ ...base, macAddress: "xyz" })), /interface\[0\]\.macAddress: not a MAC address/);
    assert.throws(() => parseImdsNetwork(one({ macAddress: "000D3AF8A1B2" })), /interface\[0\]\.ipv4: Invalid input/);
    assert.throws(() => parseImdsNetwork(one({ ...base, ipv4: [] })), /interface\[0\]\.ipv4: must be an object \(got an array\)$/);
    const badPrefix = { ...base, ipv4: { ...base.ipv4, subnet: [{ address: "10.0.0.0", prefix: "33" }] } };
    assert.throws(() => parseImdsNetwork(one(badPrefix)), /subnet\[0\]\.prefix: prefix must be 0-32/);
  });

  it("rejects an address that is in none of the interface's subnets", () => {
    const body = one({ ...base, ipv4: { ...base.ipv4, ipAddress: [{ privateIpAddress: "10.9.0.4" }] } });
    assert.throws(
      () => parseImdsNetwork(body),
      /imds: interface 00:0d:3a:f8:a1:b2: 10\.9\.0\.4 is in none of its subnets \(10\.0\.0\.0\/24\)/,
    );
  });

  it("rejects duplicate addresses and duplicate interfaces", () => {
    const twice = { ...base, ipv4: { ...base.ipv4, ipAddress: [{ privateIpAddress: "10.0.0.4" }, { privateIpAddress: "10.0.0.4" }] } };
    assert.throws(() => parseImdsNetwork(one(twice)), /10\.0\.0\.4 is listed twice/);
    assert.throws(() => parseImdsNetwork(JSON.stringify({ interface: [base, base] })), /interface 00:0d:3a:f8:a1:b2 is listed twice/);
  });
});
