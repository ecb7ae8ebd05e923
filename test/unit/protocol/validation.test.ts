import assert from "node:assert/strict";
import { EP_ID, NET_ID, rawExchange, startHarness, type Harness, type Reply } from "./harness";

/** Every rejected request must be a 500 with a one-line Err and no driver call. */
function assertRejected(r: Reply, expected: string): string {
  assert.equal(r.status, 500, r.text);
  assert.equal(typeof r.json.Err, "string", r.text);
  const err = r.json.Err as string;
  assert.ok(err.includes(expected), `Err ${JSON.stringify(err)} should include ${JSON.stringify(expected)}`);
  assert.ok(
    [...err].every((c) => c >= " " && c !== "\u007f"),
    `Err must be one printable line: ${JSON.stringify(err)}`,
  );
  return err;
}

describe("protocol request validation", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    const called = [...Object.values(h.network), ...Object.values(h.ipam)].filter((s) => s.called);
    await h.stop();
    assert.deepEqual(called, [], "no driver method may be called for an invalid request");
  });

  describe("body", () => {
    it("rejects a body that is not JSON", async () => {
      const r = await h.call("/NetworkDriver.CreateNetwork", '{"NetworkID": ');
      assertRejected(r, "invalid NetworkDriver.CreateNetwork request: body: is not valid JSON (");
    });

    it("rejects a body that is a JSON array", async () => {
      const r = await h.call("/NetworkDriver.DeleteNetwork", "[1,2]");
      assertRejected(r, "invalid NetworkDriver.DeleteNetwork request: body: must be an object (got an array)");
    });

    it("rejects an empty body where fields are required", async () => {
      const r = await h.call("/NetworkDriver.Join");
      assertRejected(r, "invalid NetworkDriver.Join request: NetworkID: is required; EndpointID: is required");
    });

    it("accepts a body of exactly 1 MiB", async () => {
      const body = "{}".padEnd(1024 * 1024, " ");
      const r = await h.call("/Plugin.Activate", body);
      assert.equal(r.status, 200);
    });

    it("rejects a body over 1 MiB announced by Content-Length", async () => {
      const body = "{}".padEnd(1024 * 1024 + 1, " ");
      const r = await h.call("/NetworkDriver.CreateNetwork", body);
      assertRejected(r, "invalid NetworkDriver.CreateNetwork request: body: exceeds the 1 MiB limit (1048576 bytes)");
      assert.equal(r.headers.connection, "close");
    });

    it("rejects a chunked body once it passes 1 MiB", async () => {
      const chunk = " ".repeat(64 * 1024);
      let payload = "POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
      for (let i = 0; i < 17; i++) payload += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
      payload += "0\r\n\r\n";
      const answer = await rawExchange(h.socketPath, payload);
      assert.match(answer, /^HTTP\/1\.1 500 /);
      assert.ok(answer.includes('{"Err":"invalid IpamDriver.RequestPool request: body: exceeds the 1 MiB limit'), answer);
    });
  });

  describe("IDs", () => {
    it("names the field and the rule for a bad EndpointID", async () => {
      const r = await h.call("/NetworkDriver.CreateEndpoint", { NetworkID: NET_ID, EndpointID: EP_ID.toUpperCase() });
      assertRejected(
        r,
        `invalid NetworkDriver.CreateEndpoint request: EndpointID: must be 64 lower-case hex characters (got "${EP_ID.toUpperCase().slice(0, 100)}")`,
      );
    });

    it("rejects a NetworkID of the wrong type", async () => {
      const r = await h.call("/NetworkDriver.DeleteNetwork", { NetworkID: 42 });
      assertRejected(r, "invalid NetworkDriver.DeleteNetwork request: NetworkID: must be a string (got 42)");
    });

    const NETWORK_ID_RULE =
      "NetworkID: must be a Docker network id: 64 lower-case hex characters, or 25 lower-case letters and digits (swarm)";

    it("rejects a NetworkID that is too short", async () => {
      const r = await h.call("/NetworkDriver.Leave", { NetworkID: NET_ID.slice(1), EndpointID: EP_ID });
      assertRejected(r, NETWORK_ID_RULE);
    });

    it("rejects NetworkIDs of neither form: upper case, a letter beyond z, a length between or around the two", async () => {
      const swarm = "yt93zcd6htzvzcmmstigpqsym";
      for (const bad of [
        swarm.toUpperCase(),
        `${swarm.slice(0, 24)}-`,
        swarm.slice(1),
        `${swarm}a`,
        "g".repeat(64),
        NET_ID.toUpperCase(),
      ]) {
        const r = await h.call("/NetworkDriver.DeleteNetwork", { NetworkID: bad });
        assertRejected(r, `${NETWORK_ID_RULE} (got "${bad}")`);
      }
    });

    it("lists several problems in one message", async () => {
      const r = await h.call("/NetworkDriver.Leave", { NetworkID: "x", EndpointID: null });
      const err = assertRejected(r, `${NETWORK_ID_RULE} (got "x")`);
      assert.ok(err.endsWith("; EndpointID: must be a string (got null)"), err);
    });

    it("refuses a swarm-form id as an EndpointID: endpoints are always made by the node's dockerd", async () => {
      const r = await h.call("/NetworkDriver.DeleteEndpoint", { NetworkID: NET_ID, EndpointID: "yt93zcd6htzvzcmmstigpqsym" });
      assertRejected(r, 'EndpointID: must be 64 lower-case hex characters (got "yt93zcd6htzvzcmmstigpqsym")');
    });
  });

  describe("addresses", () => {
    const network = (ipv4: unknown, ipv6: unknown = []) => ({ NetworkID: NET_ID, Options: {}, IPv4Data: ipv4, IPv6Data: ipv6 });

    it("rejects a pool with an impossible prefix length", async () => {
      const r = await h.call("/NetworkDriver.CreateNetwork", network([{ AddressSpace: "s", Pool: "10.1.0.0/33" }]));
      assertRejected(
        r,
        'invalid NetworkDriver.CreateNetwork request: IPv4Data[0].Pool: must be an IPv4 CIDR such as 10.1.0.0/24 (got "10.1.0.0/33")',
      );
    });

    it("rejects an IPv6 pool listed under IPv4Data", async () => {
      const r = await h.call("/NetworkDriver.CreateNetwork", network([{ AddressSpace: "s", Pool: "fd00::/64" }]));
      assertRejected(r, 'IPv4Data[0].Pool: must be an IPv4 CIDR such as 10.1.0.0/24 (got "fd00::/64")');
    });

    it("rejects a gateway without prefix length", async () => {
      const r = await h.call("/NetworkDriver.CreateNetwork", network([], [{ AddressSpace: "s", Pool: "fd00::/64", Gateway: "fd00::1" }]));
      assertRejected(r, 'IPv6Data[0].Gateway: must be empty or an IPv6 CIDR such as fd00::/64 (got "fd00::1")');
    });

    it("rejects IPv4Data that is not a list", async () => {
      const r = await h.call("/NetworkDriver.CreateNetwork", network({ Pool: "10.1.0.0/24" }));
      assertRejected(r, "IPv4Data: must be an array (got an object)");
    });

    it("rejects a bad aux address, naming its key", async () => {
      const r = await h.call(
        "/NetworkDriver.CreateNetwork",
        network([{ AddressSpace: "s", Pool: "10.1.0.0/24", AuxAddresses: { "my host": "10.1.0.5" } }]),
      );
      assertRejected(r, 'IPv4Data[0].AuxAddresses["my host"]: must be an IPv4 CIDR');
    });

    it("rejects an endpoint address without prefix length and a bad MAC", async () => {
      const r = await h.call("/NetworkDriver.CreateEndpoint", {
        NetworkID: NET_ID,
        EndpointID: EP_ID,
        Interface: { Address: "10.1.0.7", AddressIPv6: "", MacAddress: "02-42-0a-01-00-07" },
      });
      const err = assertRejected(r, 'Interface.Address: must be empty or an IPv4 CIDR such as 10.1.0.0/24 (got "10.1.0.7")');
      assert.ok(err.includes("Interface.MacAddress: must be empty or a MAC address in colon form"), err);
    });

    it("rejects a requested address with a prefix length", async () => {
      const r = await h.call("/IpamDriver.RequestAddress", { PoolID: "p", Address: "10.1.0.7/24", Options: null });
      assertRejected(
        r,
        "invalid IpamDriver.RequestAddress request: Address: must be empty or an IPv4 or IPv6 address without prefix length",
      );
    });

    it("rejects IPv6 zone IDs", async () => {
      const r = await h.call("/IpamDriver.ReleaseAddress", { PoolID: "p", Address: "fe80::1%eth0" });
      assertRejected(r, 'Address: must be an IPv4 or IPv6 address without prefix length, such as 10.1.0.7 or fd00::7 (got "fe80::1%eth0")');
    });

    it("rejects a missing ReleaseAddress address", async () => {
      const r = await h.call("/IpamDriver.ReleaseAddress", { PoolID: "p" });
      assertRejected(r, "invalid IpamDriver.ReleaseAddress request: Address: is required");
    });
  });

  describe("RequestPool", () => {
    it("rejects a V6 that is not a boolean", async () => {
      const r = await h.call("/IpamDriver.RequestPool", { AddressSpace: "s", Pool: "", SubPool: "", V6: "yes" });
      assertRejected(r, 'invalid IpamDriver.RequestPool request: V6: must be true or false (got "yes")');
    });

    it("rejects a pool of the other family", async () => {
      const r = await h.call("/IpamDriver.RequestPool", { AddressSpace: "s", Pool: "10.1.0.0/24", SubPool: "", V6: true });
      assertRejected(r, 'Pool: must be an IPv6 CIDR because V6 is true (got "10.1.0.0/24")');
    });

    it("rejects a SubPool without Pool", async () => {
      const r = await h.call("/IpamDriver.RequestPool", { AddressSpace: "s", Pool: "", SubPool: "10.1.0.0/25", V6: false });
      assertRejected(r, "SubPool: needs Pool");
    });

    it("rejects Options that are not a string map", async () => {
      const r = await h.call("/IpamDriver.RequestPool", { AddressSpace: "s", Pool: "", SubPool: "", Options: { mtu: 1500 } });
      assertRejected(r, "Options.mtu: must be a string (got 1500)");
    });
  });

  describe("hostile strings", () => {
    it("never echoes a newline from a field", async () => {
      const r = await h.call("/NetworkDriver.DeleteNetwork", { NetworkID: "abc\nlevel=error msg=forged\r\n" });
      assertRejected(r, 'NetworkID: must not contain control characters or line breaks (got "abc?level=error msg=forged??")');
    });

    it("rejects control characters in free-form fields", async () => {
      const r = await h.call("/IpamDriver.RequestPool", { AddressSpace: "local\u001b[2J", Pool: "", SubPool: "" });
      assertRejected(r, 'AddressSpace: must not contain control characters or line breaks (got "local?[2J")');
    });

    it("rejects shell metacharacters in SandboxKey", async () => {
      const r = await h.call("/NetworkDriver.Join", {
        NetworkID: NET_ID,
        EndpointID: EP_ID,
        SandboxKey: "/var/run/docker/netns/x; rm -rf /",
        Options: {},
      });
      assertRejected(
        r,
        'SandboxKey: must be empty or an absolute path without spaces, quotes or shell metacharacters (got "/var/run/docker/netns/x; rm -rf /")',
      );
    });

    it("rejects a relative SandboxKey", async () => {
      const r = await h.call("/NetworkDriver.Join", { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: "netns/x" });
      assertRejected(r, "SandboxKey: must be empty or an absolute path");
    });

    it("rejects command substitution in a PoolID", async () => {
      const r = await h.call("/IpamDriver.ReleasePool", { PoolID: "$(reboot)" });
      assertRejected(r, "invalid IpamDriver.ReleasePool request: PoolID: must be a non-empty name of letters, digits");
    });

    it("cleans an option key that contains a line break", async () => {
      const r = await h.call("/IpamDriver.RequestAddress", { PoolID: "p", Address: "", Options: { "a\nb": "c" } });
      assertRejected(r, 'Options["a?b"]: key must not contain control characters or line breaks (got "a?b")');
    });

    it("quotes at most 100 characters of a bad value", async () => {
      const bad = "z".repeat(300);
      const r = await h.call("/NetworkDriver.DeleteNetwork", { NetworkID: bad });
      const err = assertRejected(r, `(got "${"z".repeat(100)}...")`);
      assert.ok(!err.includes("z".repeat(101)));
    });

    it("does not quote a value over the length cap at all", async () => {
      const r = await h.call("/IpamDriver.ReleasePool", { PoolID: "p".repeat(5000) });
      const err = assertRejected(r, "PoolID: must be at most 4096 characters (got 5000)");
      assert.ok(err.length < 200, err);
    });
  });
});
