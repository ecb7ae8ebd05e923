import assert from "node:assert/strict";
import { PluginError } from "../../../driver/errors";
import { EP_ID, NET_ID, rawExchange, startHarness, type Harness } from "./harness";

const CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json";

describe("protocol routing", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.stop();
  });

  describe("calls without arguments (empty body, no Content-Type)", () => {
    it("Plugin.Activate lists both interfaces", async () => {
      const r = await h.call("/Plugin.Activate");
      assert.equal(r.status, 200);
      assert.equal(r.text, '{"Implements":["NetworkDriver","IpamDriver"]}');
      assert.equal(r.headers["content-type"], CONTENT_TYPE);
    });

    it("NetworkDriver.GetCapabilities returns the driver's answer", async () => {
      const r = await h.call("/NetworkDriver.GetCapabilities");
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { Scope: "local", ConnectivityScope: "local" });
      assert.equal(h.network.getCapabilities.callCount, 1);
    });

    it("IpamDriver.GetCapabilities returns the driver's answer", async () => {
      const r = await h.call("/IpamDriver.GetCapabilities");
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { RequiresMACAddress: false, RequiresRequestReplay: false });
    });

    it("IpamDriver.GetDefaultAddressSpaces returns the driver's answer", async () => {
      const r = await h.call("/IpamDriver.GetDefaultAddressSpaces");
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { LocalDefaultAddressSpace: "azure-local", GlobalDefaultAddressSpace: "azure-global" });
    });

    it("treats a body of JSON null or whitespace as no arguments", async () => {
      assert.equal((await h.call("/NetworkDriver.GetCapabilities", "null\n")).status, 200);
      assert.equal((await h.call("/NetworkDriver.GetCapabilities", " \n")).status, 200);
      assert.equal(h.network.getCapabilities.callCount, 2);
    });
  });

  it("parses the body whatever Content-Type says", async () => {
    const body = { PoolID: "azure-local/10.1.0.0/24", Address: "10.1.0.7" };
    const r = await h.call("/IpamDriver.ReleaseAddress", body, { headers: { "Content-Type": "text/plain" } });
    assert.equal(r.status, 200);
    assert.deepEqual(h.ipam.releaseAddress.firstCall.args[0], body);
  });

  it("answers a query string path like the plain path", async () => {
    const r = await h.call("/Plugin.Activate?x=1");
    assert.equal(r.status, 200);
  });

  it("answers a request line in absolute form by its path", async () => {
    const reply = await rawExchange(
      h.socketPath,
      "POST http://plugin/Plugin.Activate?x=1 HTTP/1.1\r\nHost: plugin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.match(reply, /\{"Implements":\["NetworkDriver","IpamDriver"\]\}$/);
  });

  describe("NetworkDriver", () => {
    it("CreateNetwork passes the request as Docker 20.10 sends it", async () => {
      const body = {
        NetworkID: NET_ID,
        Options: { "com.docker.network.enable_ipv6": false, "com.docker.network.generic": { mode: "l2" } },
        IPv4Data: [{ AddressSpace: "azure-local", Gateway: "10.99.0.1/24", Pool: "10.99.0.0/24" }],
        IPv6Data: [],
      };
      const r = await h.call("/NetworkDriver.CreateNetwork", body);
      assert.equal(r.status, 200);
      assert.equal(r.text, "{}");
      assert.deepEqual(h.network.createNetwork.firstCall.args[0], body);
    });

    it("CreateNetwork normalises null and missing maps and lists, and drops unknown fields", async () => {
      const body = {
        NetworkID: NET_ID,
        Options: null,
        IPv4Data: [{ AddressSpace: "s", Pool: "10.1.0.0/16", Gateway: "", AuxAddresses: null, Future: 1 }],
        IPv6Data: null,
        SomeFutureField: { x: 1 },
      };
      const r = await h.call("/NetworkDriver.CreateNetwork", body);
      assert.equal(r.status, 200);
      assert.deepEqual(h.network.createNetwork.firstCall.args[0], {
        NetworkID: NET_ID,
        Options: {},
        IPv4Data: [{ AddressSpace: "s", Pool: "10.1.0.0/16" }],
        IPv6Data: [],
      });
    });

    it("CreateNetwork keeps IPv6 pools and aux addresses", async () => {
      const body = {
        NetworkID: NET_ID,
        Options: {},
        IPv4Data: [{ AddressSpace: "s", Pool: "10.1.0.0/24", AuxAddresses: { router: "10.1.0.5/24" } }],
        IPv6Data: [{ AddressSpace: "s", Pool: "fd00:1::/64", Gateway: "fd00:1::1/64" }],
      };
      assert.equal((await h.call("/NetworkDriver.CreateNetwork", body)).status, 200);
      const req = h.network.createNetwork.firstCall.args[0];
      assert.deepEqual(req.IPv4Data[0].AuxAddresses, { router: "10.1.0.5/24" });
      assert.equal(req.IPv6Data[0].Gateway, "fd00:1::1/64");
    });

    it("a swarm-scoped network's calls reach the driver under its 25-character id", async () => {
      const swarm = "yt93zcd6htzvzcmmstigpqsym";
      const body = {
        NetworkID: swarm,
        Options: { "com.docker.network.enable_ipv6": false, "com.docker.network.generic": {} },
        IPv4Data: [{ AddressSpace: "s", Gateway: "10.99.0.1/24", Pool: "10.99.0.0/24" }],
        IPv6Data: [],
      };
      assert.equal((await h.call("/NetworkDriver.CreateNetwork", body)).status, 200);
      assert.deepEqual(h.network.createNetwork.firstCall.args[0], body);
      const ep = { NetworkID: swarm, EndpointID: EP_ID };
      assert.equal((await h.call("/NetworkDriver.Leave", ep)).status, 200);
      assert.deepEqual(h.network.leave.firstCall.args[0], ep);
      assert.equal((await h.call("/NetworkDriver.DeleteNetwork", { NetworkID: swarm })).status, 200);
      assert.deepEqual(h.network.deleteNetwork.firstCall.args[0], { NetworkID: swarm });
    });

    it("DeleteNetwork", async () => {
      const r = await h.call("/NetworkDriver.DeleteNetwork", { NetworkID: NET_ID });
      assert.equal(r.status, 200);
      assert.equal(r.text, "{}");
      assert.deepEqual(h.network.deleteNetwork.firstCall.args[0], { NetworkID: NET_ID });
    });

    it("CreateEndpoint passes the interface and returns the driver's reply", async () => {
      h.network.createEndpoint.resolves({ Interface: { MacAddress: "02:42:0a:01:00:07" } });
      const body = {
        NetworkID: NET_ID,
        EndpointID: EP_ID,
        Interface: { Address: "10.99.0.2/24", AddressIPv6: "", MacAddress: "" },
        Options: { "com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": [] },
      };
      const r = await h.call("/NetworkDriver.CreateEndpoint", body);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { Interface: { MacAddress: "02:42:0a:01:00:07" } });
      assert.deepEqual(h.network.createEndpoint.firstCall.args[0], body);
    });

    it("CreateEndpoint fills a missing Interface with empty strings and answers {} for an empty reply", async () => {
      h.network.createEndpoint.resolves(undefined);
      const r = await h.call("/NetworkDriver.CreateEndpoint", { NetworkID: NET_ID, EndpointID: EP_ID });
      assert.equal(r.status, 200);
      assert.equal(r.text, "{}");
      assert.deepEqual(h.network.createEndpoint.firstCall.args[0], {
        NetworkID: NET_ID,
        EndpointID: EP_ID,
        Interface: { Address: "", AddressIPv6: "", MacAddress: "" },
        Options: {},
      });
    });

    it("DeleteEndpoint and Leave", async () => {
      const ids = { NetworkID: NET_ID, EndpointID: EP_ID };
      assert.equal((await h.call("/NetworkDriver.DeleteEndpoint", ids)).text, "{}");
      assert.equal((await h.call("/NetworkDriver.Leave", ids)).text, "{}");
      assert.deepEqual(h.network.deleteEndpoint.firstCall.args[0], ids);
      assert.deepEqual(h.network.leave.firstCall.args[0], ids);
    });

    it("Join passes SandboxKey and returns the driver's reply", async () => {
      const reply = {
        InterfaceName: { SrcName: "azv0123", DstPrefix: "eth" },
        Gateway: "10.99.0.1",
        StaticRoutes: [{ Destination: "10.99.0.1/32", RouteType: 1 }],
        DisableGatewayService: true,
      };
      h.network.join.resolves(reply);
      const body = { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: "/var/run/docker/netns/3f1c9a0b2d4e", Options: {} };
      const r = await h.call("/NetworkDriver.Join", body);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, reply);
      assert.deepEqual(h.network.join.firstCall.args[0], body);
    });

    it("EndpointOperInfo wraps the driver's map in Value", async () => {
      h.network.endpointOperInfo.resolves({ "com.example.ifname": "azv0123" });
      const r = await h.call("/NetworkDriver.EndpointOperInfo", { NetworkID: NET_ID, EndpointID: EP_ID });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { Value: { "com.example.ifname": "azv0123" } });
    });

    it("Program/RevokeExternalConnectivity hand the bindings to the driver and answer {}", async () => {
      const ids = { NetworkID: NET_ID, EndpointID: EP_ID };
      const portmap = [{ Proto: 6, IP: "", Port: 80, HostIP: "", HostPort: 8080, HostPortEnd: 8080 }];
      const options = { "com.docker.network.portmap": portmap };
      assert.equal((await h.call("/NetworkDriver.ProgramExternalConnectivity", { ...ids, Options: options })).text, "{}");
      assert.deepEqual(h.network.programExternalConnectivity.firstCall.args[0], { ...ids, Options: options });
      assert.equal((await h.call("/NetworkDriver.RevokeExternalConnectivity", ids)).text, "{}");
      assert.deepEqual(h.network.revokeExternalConnectivity.firstCall.args[0], ids);
    });

    it("a refused ProgramExternalConnectivity answers 500 with the driver's message", async () => {
      h.network.programExternalConnectivity.rejects(new PluginError("port 8080/tcp is already published", "conflict"));
      const r = await h.call("/NetworkDriver.ProgramExternalConnectivity", { NetworkID: NET_ID, EndpointID: EP_ID, Options: {} });
      assert.notEqual(r.status, 200);
      assert.match(r.text, /port 8080\/tcp is already published/);
    });

    it("swarm-only calls answer empty results", async () => {
      const alloc = await h.call("/NetworkDriver.AllocateNetwork", {
        NetworkID: NET_ID,
        Options: null,
        IPv4Data: [{ AddressSpace: "s", Pool: "10.1.0.0/24" }],
        IPv6Data: null,
      });
      assert.equal(alloc.status, 200);
      assert.equal(alloc.text, '{"Options":{}}');
      assert.equal((await h.call("/NetworkDriver.FreeNetwork", { NetworkID: NET_ID })).text, "{}");
      const discovery = { DiscoveryType: 1, DiscoveryData: { Address: "10.0.0.4", BindAddress: "", Self: true } };
      assert.equal((await h.call("/NetworkDriver.DiscoverNew", discovery)).text, "{}");
      assert.equal((await h.call("/NetworkDriver.DiscoverDelete", discovery)).text, "{}");
    });
  });

  describe("IpamDriver", () => {
    it("RequestPool normalises null Options and returns the driver's reply", async () => {
      const body = { AddressSpace: "azure-local", Pool: "10.99.0.0/24", SubPool: "", Options: null, V6: false };
      const r = await h.call("/IpamDriver.RequestPool", body);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { PoolID: "azure-local/10.1.0.0/24", Pool: "10.1.0.0/24" });
      assert.deepEqual(h.ipam.requestPool.firstCall.args[0], { ...body, Options: {} });
    });

    it("RequestPool accepts an IPv6 pool request and a missing V6 as false", async () => {
      await h.call("/IpamDriver.RequestPool", { AddressSpace: "s", Pool: "fd00::/64", SubPool: "fd00::/80", V6: true });
      assert.deepEqual(h.ipam.requestPool.firstCall.args[0], {
        AddressSpace: "s",
        Pool: "fd00::/64",
        SubPool: "fd00::/80",
        Options: {},
        V6: true,
      });
      await h.call("/IpamDriver.RequestPool", { AddressSpace: "s", Pool: "", SubPool: "" });
      assert.equal(h.ipam.requestPool.secondCall.args[0].V6, false);
    });

    it("ReleasePool", async () => {
      const r = await h.call("/IpamDriver.ReleasePool", { PoolID: "azure-local/10.1.0.0/24" });
      assert.equal(r.text, "{}");
      assert.deepEqual(h.ipam.releasePool.firstCall.args[0], { PoolID: "azure-local/10.1.0.0/24" });
    });

    it("RequestAddress for the gateway keeps its Options", async () => {
      const body = {
        PoolID: "azure-local/10.1.0.0/24",
        Address: "",
        Options: { RequestAddressType: "com.docker.network.gateway" },
      };
      const r = await h.call("/IpamDriver.RequestAddress", body);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { Address: "10.1.0.7/24" });
      assert.deepEqual(h.ipam.requestAddress.firstCall.args[0], body);
    });

    it("RequestAddress for an endpoint turns null Options into {}", async () => {
      await h.call("/IpamDriver.RequestAddress", { PoolID: "p1", Address: "10.99.0.50", Options: null });
      assert.deepEqual(h.ipam.requestAddress.firstCall.args[0], { PoolID: "p1", Address: "10.99.0.50", Options: {} });
    });

    it("ReleaseAddress takes a plain IPv6 address too", async () => {
      const r = await h.call("/IpamDriver.ReleaseAddress", { PoolID: "p6", Address: "fd00::7" });
      assert.equal(r.status, 200);
      assert.deepEqual(h.ipam.releaseAddress.firstCall.args[0], { PoolID: "p6", Address: "fd00::7" });
    });
  });

  it("serves several requests on one kept-alive connection", async () => {
    const http = await import("node:http");
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ask = () =>
        new Promise<number>((resolve, reject) => {
          const req = http.request({ socketPath: h.socketPath, path: "/Plugin.Activate", method: "POST", agent }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          });
          req.on("error", reject);
          req.end();
        });
      assert.deepEqual([await ask(), await ask(), await ask()], [200, 200, 200]);
    } finally {
      agent.destroy();
    }
  });
});
