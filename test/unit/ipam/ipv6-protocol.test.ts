/**
 * A dual-stack network's IPAM calls over the plugin's socket, as Docker sends
 * them for `docker network create --ipv6` and `docker run --ip6`: the IPv4 and
 * IPv6 pools, their gateways, a container's two addresses, and the teardown.
 */
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import path from "node:path";
import winston from "winston";
import { AddressManager, MetadataCache } from "../../../driver/ipam";
import { emptyIpamState } from "../../../driver/ipam/ipam-state";
import { createProtocolApp, serveUnixSocket } from "../../../driver/protocol/server";
import type { IpamDriver, NetworkDriver } from "../../../driver/protocol/types";
import { fakeNetwork, makeTempDir, sendRequest } from "../protocol/harness";
import { FakeClock, FakeSource, MAC1, nic, range } from "./helpers";

const NAME = { "com.docker.network.endpoint.name": "web" };

async function served() {
  const source = new FakeSource([nic(MAC1, "10.0.0.0/24", ["10.0.0.4", ...range("10.0.0.", 10, 11)])]);
  source.nics[0].subnets.push({
    cidr: "fd00:db8:deca::/64",
    ipConfigs: ["fd00:db8:deca::4", "fd00:db8:deca::9", "fd00:db8:deca::a"].map((address, i) => ({
      address,
      isPrimary: i === 0,
      publicIp: "",
    })),
  });
  const clock = new FakeClock();
  const state = emptyIpamState();
  const ipam = new AddressManager({ metadata: new MetadataCache(source, { clock }), state, persist: async () => undefined, clock });
  const dir = await makeTempDir();
  const socket = path.join(dir, "p.sock");
  const logger = winston.createLogger({ silent: true });
  const app = createProtocolApp({ network: fakeNetwork() as unknown as NetworkDriver, ipam: ipam as IpamDriver, logger });
  const server = await serveUnixSocket(app, socket);
  return {
    state,
    call: async (method: string, body: unknown) => {
      const reply = await sendRequest(socket, `/IpamDriver.${method}`, body);
      return { status: reply.status, json: reply.json };
    },
    close: async () => {
      await server.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

describe("IPAM protocol, dual stack", () => {
  it("serves Docker's sequence for an IPv4 + IPv6 network and a container on it, and its teardown", async () => {
    const s = await served();
    try {
      const space = await s.call("GetDefaultAddressSpaces", undefined);
      const AddressSpace = (space.json as { LocalDefaultAddressSpace: string }).LocalDefaultAddressSpace;
      const v4 = await s.call("RequestPool", { AddressSpace, Pool: "10.0.0.0/24", SubPool: "", Options: {}, V6: false });
      assert.deepEqual(v4, { status: 200, json: { PoolID: "AzureVNetLocal/10.0.0.0/24", Pool: "10.0.0.0/24" } });
      const gw4 = { PoolID: v4.json.PoolID, Address: "", Options: { RequestAddressType: "com.docker.network.gateway" } };
      assert.deepEqual((await s.call("RequestAddress", gw4)).json, { Address: "10.0.0.1/24" });
      const v6 = await s.call("RequestPool", { AddressSpace, Pool: "fd00:db8:deca::/64", SubPool: "", Options: null, V6: true });
      assert.deepEqual(v6, { status: 200, json: { PoolID: "AzureVNetLocal/fd00:db8:deca::/64", Pool: "fd00:db8:deca::/64" } });
      const gw6 = { PoolID: v6.json.PoolID, Address: "", Options: { RequestAddressType: "com.docker.network.gateway" } };
      assert.deepEqual((await s.call("RequestAddress", gw6)).json, { Address: "fd00:db8:deca::1/64" });

      // docker run --ip6 fd00:db8:deca::a: the IPv4 pool first, then the IPv6 one.
      assert.deepEqual(await s.call("RequestAddress", { PoolID: v4.json.PoolID, Address: "", Options: NAME }), {
        status: 200,
        json: { Address: "10.0.0.10/24" },
      });
      assert.deepEqual(await s.call("RequestAddress", { PoolID: v6.json.PoolID, Address: "fd00:db8:deca::a", Options: NAME }), {
        status: 200,
        json: { Address: "fd00:db8:deca::a/128" },
      });
      // A second container without --ip6 gets the other secondary; a third finds none, and is told so.
      assert.deepEqual((await s.call("RequestAddress", { PoolID: v6.json.PoolID, Address: "", Options: NAME })).json, {
        Address: "fd00:db8:deca::9/128",
      });
      const full = await s.call("RequestAddress", { PoolID: v6.json.PoolID, Address: "", Options: NAME });
      assert.equal(full.status, 500);
      assert.match(
        String(full.json.Err),
        /^no free address in fd00:db8:deca::\/64: NIC 00:0d:3a:00:00:01 has 2 secondary IPv6 IP configurations/,
      );
      const wrong = await s.call("RequestAddress", { PoolID: v6.json.PoolID, Address: "fd00:db8:deca::77", Options: NAME });
      assert.match(String(wrong.json.Err), /^fd00:db8:deca::77 is not an IPv6 IP configuration of this VM's NIC 00:0d:3a:00:00:01/);
      assert.deepEqual(Object.keys(s.state.addresses).sort(), ["10.0.0.10", "fd00:db8:deca::9", "fd00:db8:deca::a"]);

      // Container stop (v4, then v6), a repeated release, then docker network rm.
      for (const [PoolID, Address] of [
        [v4.json.PoolID, "10.0.0.10"],
        [v6.json.PoolID, "fd00:db8:deca::a"],
        [v6.json.PoolID, "fd00:db8:deca::a"],
        [v6.json.PoolID, "fd00:db8:deca::9"],
        [v4.json.PoolID, "10.0.0.1"],
        [v6.json.PoolID, "fd00:db8:deca::1"],
      ]) {
        assert.deepEqual(await s.call("ReleaseAddress", { PoolID, Address }), { status: 200, json: {} }, `${PoolID} ${Address}`);
      }
      assert.deepEqual(s.state.addresses, {});
      for (const PoolID of [v4.json.PoolID, v6.json.PoolID]) assert.equal((await s.call("ReleasePool", { PoolID })).status, 200);
      assert.deepEqual(s.state.pools, {});
    } finally {
      await s.close();
    }
  });
});
