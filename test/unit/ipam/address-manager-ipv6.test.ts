/**
 * IPv6 pools: RequestPool with V6 serves the /64 of a NIC's IPv6 ipconfigs,
 * its gateway is <prefix>::1, containers get the NIC's secondary IPv6
 * ipconfigs, and every IPv4 rule (--ip, --ip-range, release, flags, refusals)
 * holds for them the same way, beside the IPv4 pools.
 */
import assert from "node:assert/strict";
import type { NicInfo } from "../../../driver/ipam/metadata";
import { parsePoolId } from "../../../driver/ipam/pool-id";
import type { AddressSupply } from "../../../driver/ipam/supply";
import type { RequestPoolRequest } from "../../../driver/protocol/types";
import { expectPluginError, GATEWAY, harness, type Harness, LOCAL, MAC1, MAC2, nic, range } from "./helpers";

const V6 = "fd00:db8:deca::/64";
const V6B = "fd00:db8:beef::/64";
const POOL6 = `AzureVNetLocal/${V6}`;
const AZ = "az network nic ip-config create --resource-group <rg> --nic-name <nic> ";

/** A NIC with an IPv4 subnet and the /64 of its IPv6 ipconfigs; the first address of each is primary. */
function dualNic(mac: string, v4: string, v4Addresses: string[], v6: string, v6Addresses: string[], isPrimary = true): NicInfo {
  const base = nic(mac, v4, v4Addresses, isPrimary);
  base.subnets.push({ cidr: v6, ipConfigs: v6Addresses.map((address, i) => ({ address, isPrimary: i === 0, publicIp: "" })) });
  return base;
}

/** NIC 1: fd00:db8:deca::4 primary, ::9, ::a and ::10 secondary (numeric order differs from text order). */
function dualNics(v6Addresses = ["fd00:db8:deca::4", "fd00:db8:deca::10", "fd00:db8:deca::a", "fd00:db8:deca::9"]): NicInfo[] {
  return [
    dualNic(MAC1, "10.0.0.0/24", ["10.0.0.4", ...range("10.0.0.", 10, 12)], V6, v6Addresses),
    dualNic(MAC2, "10.1.0.0/24", ["10.1.0.4", "10.1.0.5"], V6B, ["fd00:db8:beef::4", "fd00:db8:beef::5"], false),
  ];
}

function pool6(Pool: string, more: Partial<RequestPoolRequest> = {}): RequestPoolRequest {
  return { AddressSpace: LOCAL, Pool, SubPool: "", Options: {}, V6: true, ...more };
}

/** Network create as Docker does it with --ipv6: the IPv4 pool and gateway, then the IPv6 ones. */
async function dualNetwork(h: Harness, v6 = V6, subPool = ""): Promise<{ v4: string; v6: string }> {
  const v4 = (await h.manager.requestPool({ AddressSpace: LOCAL, Pool: "10.0.0.0/24", SubPool: "", Options: {}, V6: false })).PoolID;
  await h.manager.requestAddress({ PoolID: v4, Address: "", Options: GATEWAY });
  const { PoolID } = await h.manager.requestPool(pool6(v6, { SubPool: subPool }));
  await h.manager.requestAddress({ PoolID, Address: "", Options: GATEWAY });
  h.manager.networkCreated({ AddressSpace: LOCAL, Pool: "10.0.0.0/24" });
  h.manager.networkCreated({ AddressSpace: LOCAL, Pool: v6 });
  return { v4, v6: PoolID };
}

const container = async (h: Harness, PoolID: string, Address = "") =>
  (await h.manager.requestAddress({ PoolID, Address, Options: { "com.docker.network.endpoint.name": "c" } })).Address;

describe("AddressManager IPv6 pools", () => {
  it("serves a NIC's IPv6 /64 under its own PoolID, canonical whatever the spelling, beside the IPv4 pool", async () => {
    const h = harness(dualNics());
    const v4 = await h.manager.requestPool({ AddressSpace: LOCAL, Pool: "10.0.0.0/24", SubPool: "", Options: {}, V6: false });
    const first = await h.manager.requestPool(pool6(V6));
    assert.deepEqual(first, { PoolID: POOL6, Pool: V6 });
    assert.notEqual(first.PoolID, v4.PoolID);
    for (const spelling of ["FD00:DB8:DECA::/64", "fd00:0db8:deca:0000::77/64"]) {
      assert.deepEqual(await h.manager.requestPool(pool6(spelling)), first, spelling);
    }
    const record = h.state.pools[POOL6];
    assert.equal(record.refCount, 3);
    assert.equal(record.nicMac, MAC1);
    assert.equal(record.primaryAddress, "fd00:db8:deca::4");
    assert.equal(h.state.pools[v4.PoolID].primaryAddress, "10.0.0.4", "the IPv4 pool keeps the IPv4 primary");
    assert.deepEqual(parsePoolId(POOL6), { addressSpace: LOCAL, subnet: V6 });
    const second = await h.manager.requestPool(pool6(V6B));
    assert.equal(h.state.pools[second.PoolID].nicMac, MAC2, "a second NIC's /64 is served from that NIC");
  });

  it("picks the primary NIC's IPv6 /64 when Docker sends no --subnet", async () => {
    const h = harness(dualNics());
    assert.deepEqual(await h.manager.requestPool(pool6("")), { PoolID: POOL6, Pool: V6 });
    assert.equal(h.state.pools[POOL6].unconfirmedAutoPick, true);
    const v4 = await h.manager.requestPool({ AddressSpace: LOCAL, Pool: "", SubPool: "", Options: {}, V6: false });
    assert.equal(v4.Pool, "10.0.0.0/24");
  });

  it("refuses a --subnet that is not a NIC's IPv6 /64, listing the ones there are", async () => {
    const h = harness(dualNics());
    const choice = `pass one of --subnet ${V6}, --subnet ${V6B}`;
    await expectPluginError(
      h.manager.requestPool(pool6("fd00:db8:dead::/64")),
      new RegExp(`^subnet fd00:db8:dead::/64 is not the IPv6 /64 of any of this VM's NICs; ${choice}$`),
    );
    await expectPluginError(h.manager.requestPool(pool6("fd00:db8::/48")), /^subnet fd00:db8::\/48 is not the IPv6 \/64/);
    await expectPluginError(
      h.manager.requestPool(pool6("10.0.0.0/24")),
      new RegExp(`^--subnet "10.0.0.0/24" is not an IPv6 CIDR; ${choice}$`),
    );
    await expectPluginError(
      h.manager.requestPool(pool6("", { SubPool: "fd00:db8:deca::/80" })),
      new RegExp(`^--ip-range needs --subnet as well; ${choice}$`),
    );
    assert.deepEqual(h.state.pools, {});
  });

  it("says how to add an IPv6 ipconfig when no NIC has one, and names another NIC's /64 when only the primary lacks one", async () => {
    const h = harness([nic(MAC1, "10.0.0.0/24", ["10.0.0.4", "10.0.0.10"])]);
    const howTo = `NIC ${MAC1} has no IPv6 IP configuration, so it has no IPv6 subnet to serve; add one with: ${AZ}--name ipconfig-v6 --private-ip-address-version IPv6`;
    const escaped = howTo.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    await expectPluginError(h.manager.requestPool(pool6("")), new RegExp(`^${escaped}`));
    await expectPluginError(
      h.manager.requestPool(pool6(V6)),
      new RegExp(`^subnet fd00:db8:deca::/64 is not the IPv6 /64 of any of this VM's NICs; ${escaped}`),
    );
    const mixed = harness([
      nic(MAC1, "10.0.0.0/24", ["10.0.0.4"]),
      dualNic(MAC2, "10.1.0.0/24", ["10.1.0.4"], V6B, ["fd00:db8:beef::4"], false),
    ]);
    const err = await expectPluginError(mixed.manager.requestPool(pool6("")), new RegExp(`^${escaped}`));
    assert.match(err.message, /; or pass --subnet fd00:db8:beef::\/64$/);
  });

  it("answers the gateway request with <prefix>::1 and refuses another --gateway", async () => {
    const h = harness(dualNics());
    const { PoolID } = await h.manager.requestPool(pool6(V6));
    assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "", Options: GATEWAY }), { Address: "fd00:db8:deca::1/64" });
    assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "FD00:DB8:DECA:0::1", Options: GATEWAY }), {
      Address: "fd00:db8:deca::1/64",
    });
    await expectPluginError(
      h.manager.requestAddress({ PoolID, Address: "fd00:db8:deca::2", Options: GATEWAY }),
      /^the gateway of fd00:db8:deca::\/64 is fd00:db8:deca::1 \(Azure's subnet gateway\); omit --gateway or pass --gateway fd00:db8:deca::1$/,
    );
    assert.deepEqual(h.state.addresses, {}, "the gateway is not an ipconfig and holds nothing");
    assert.equal(h.manager.poolInfo(PoolID)?.gateway, "fd00:db8:deca::1");
    assert.equal(h.manager.poolInfo(PoolID)?.prefixLength, 64);
  });

  it("hands out the NIC's secondary IPv6 ipconfigs in numeric order, never its primary, then says how to add more", async () => {
    const h = harness(dualNics());
    const { v4, v6 } = await dualNetwork(h);
    const got = [await container(h, v6), await container(h, v4), await container(h, v6), await container(h, v6)];
    assert.deepEqual(got, ["fd00:db8:deca::9/128", "10.0.0.10/24", "fd00:db8:deca::a/128", "fd00:db8:deca::10/128"]);
    assert.deepEqual(Object.keys(h.state.addresses).sort(), ["10.0.0.10", "fd00:db8:deca::10", "fd00:db8:deca::9", "fd00:db8:deca::a"]);
    assert.equal(h.state.addresses["fd00:db8:deca::9"].poolId, v6);
    await expectPluginError(
      container(h, v6),
      new RegExp(
        "^no free address in fd00:db8:deca::/64: NIC 00:0d:3a:00:00:01 has 3 secondary IPv6 IP configurations there " +
          "\\(fd00:db8:deca::9-fd00:db8:deca::a, fd00:db8:deca::10\\), 3 in use; add more with: " +
          `${AZ}--name ipconfig-fd00-db8-deca--5 --private-ip-address fd00:db8:deca::5 --private-ip-address-version IPv6$`,
      ),
      "exhausted",
    );
    assert.equal(await container(h, v4), "10.0.0.11/24", "the IPv4 pool is not affected");
  });

  it("gives an --ip6 only if it is a free secondary IPv6 ipconfig of the pool's NIC, in any spelling", async () => {
    const h = harness(dualNics());
    const { v6 } = await dualNetwork(h);
    assert.equal(await container(h, v6, "FD00:DB8:DECA:0:0:0:0:000A"), "fd00:db8:deca::a/128");
    assert.equal(h.state.addresses["fd00:db8:deca::a"].kind, "endpoint");
    await expectPluginError(
      container(h, v6, "fd00:db8:deca::99"),
      new RegExp(
        "^fd00:db8:deca::99 is not an IPv6 IP configuration of this VM's NIC 00:0d:3a:00:00:01 " +
          "\\(it has fd00:db8:deca::9-fd00:db8:deca::a, fd00:db8:deca::10\\); add it with: " +
          `${AZ}--name ipconfig-fd00-db8-deca--99 --private-ip-address fd00:db8:deca::99 --private-ip-address-version IPv6$`,
      ),
    );
    await expectPluginError(container(h, v6, "fd00:db8:deca::4"), /^fd00:db8:deca::4 is the VM's primary address/);
    await expectPluginError(container(h, v6, "fd00:db8:deca::a"), /^fd00:db8:deca::a is already in use by another container$/, "conflict");
    await expectPluginError(container(h, v6, "fd00:db8:beef::5"), /^fd00:db8:beef::5 is not inside fd00:db8:deca::\/64/);
    await expectPluginError(container(h, v6, "10.0.0.10"), /^"10.0.0.10" is not an IPv6 address$/);
    await expectPluginError(
      h.manager.requestAddress({ PoolID: "AzureVNetLocal/10.0.0.0/24", Address: "fd00:db8:deca::9", Options: {} }),
      /^"fd00:db8:deca::9" is not an IPv4 address$/,
    );
  });

  it("keeps --ip-range inside the /64: hands out only ipconfigs in it and refuses a range outside", async () => {
    const h = harness(dualNics());
    const { v6 } = await dualNetwork(h, V6, "FD00:DB8:DECA::8/125");
    assert.equal(v6, `${POOL6}/fd00:db8:deca::8/125`);
    assert.deepEqual(parsePoolId(v6), { addressSpace: LOCAL, subnet: V6, subPool: "fd00:db8:deca::8/125" });
    assert.deepEqual([await container(h, v6), await container(h, v6)], ["fd00:db8:deca::9/128", "fd00:db8:deca::a/128"]);
    await expectPluginError(
      container(h, v6),
      /^no free address in the --ip-range fd00:db8:deca::8\/125 of fd00:db8:deca::\/64/,
      "exhausted",
    );
    await expectPluginError(
      container(h, v6, "fd00:db8:deca::10"),
      /^fd00:db8:deca::10 is outside this network's --ip-range fd00:db8:deca::8\/125$/,
    );
    await expectPluginError(
      h.manager.requestPool(pool6(V6, { SubPool: "fd00:db8:dead::/80" })),
      /^--ip-range fd00:db8:dead::\/80 is not inside --subnet fd00:db8:deca::\/64$/,
    );
  });

  it("releases an IPv6 address once, in any spelling, and hands it out again", async () => {
    const h = harness(dualNics());
    const { v6 } = await dualNetwork(h);
    assert.equal(await container(h, v6), "fd00:db8:deca::9/128");
    await h.manager.releaseAddress({ PoolID: v6, Address: "FD00:DB8:DECA::9" });
    assert.deepEqual(h.state.addresses, {});
    const saves = h.persisted.length;
    await h.manager.releaseAddress({ PoolID: v6, Address: "fd00:db8:deca::9" });
    await h.manager.releaseAddress({ PoolID: "AzureVNetLocal/10.0.0.0/24", Address: "fd00:db8:deca::a" });
    assert.equal(h.persisted.length, saves, "a repeated or foreign release changes nothing");
    assert.equal(await container(h, v6), "fd00:db8:deca::9/128");
    await h.manager.releasePool({ PoolID: v6 });
    assert.equal(h.state.pools[v6], undefined);
    assert.deepEqual(Object.keys(h.state.addresses), [], "the pool's addresses go with it");
  });

  it("accepts an IPv6 --aux-address in the subnet and holds it back when it is a free ipconfig", async () => {
    const h = harness(dualNics());
    const { PoolID } = await h.manager.requestPool(pool6(V6));
    await h.manager.requestAddress({ PoolID, Address: "", Options: GATEWAY });
    assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "fd00:db8:deca::9", Options: {} }), {
      Address: "fd00:db8:deca::9/64",
    });
    assert.equal(h.state.addresses["fd00:db8:deca::9"].kind, "aux");
    h.manager.networkCreated({ AddressSpace: LOCAL, Pool: V6 });
    assert.equal(await container(h, PoolID), "fd00:db8:deca::a/128");
  });

  it("flags an IPv6 address whose ipconfig left the NIC while in use, never hands it out, and clears the flag when it returns", async () => {
    const h = harness(dualNics());
    const { v6 } = await dualNetwork(h);
    await container(h, v6);
    await container(h, v6);
    h.source.nics = dualNics(["fd00:db8:deca::4", "fd00:db8:deca::10", "fd00:db8:deca::9"]);
    h.clock.advance(10_001);
    const report = await h.manager.report();
    const pool = report.pools.find((p) => p.poolId === v6);
    assert.deepEqual(pool?.flagged, ["fd00:db8:deca::a"]);
    assert.deepEqual(pool?.free, ["fd00:db8:deca::10"]);
    assert.equal(pool?.gateway, "fd00:db8:deca::1");
    assert.equal(h.state.addresses["fd00:db8:deca::a"].flagged, true);
    assert.equal(await container(h, v6), "fd00:db8:deca::10/128");
    h.source.nics = dualNics();
    h.clock.advance(10_001);
    await h.manager.report();
    assert.equal(h.state.addresses["fd00:db8:deca::a"].flagged, undefined);
  });

  it("never asks the ipconfig supply (ARM mode) for IPv6: a full IPv6 pool is refused at once", async () => {
    const h = harness(dualNics());
    const asked: string[] = [];
    const supply: AddressSupply = {
      grow: async (pool) => (asked.push(`grow ${pool.subnet}`), false),
      create: async (address) => (asked.push(`create ${address}`), false),
      touched: (address) => void asked.push(`touched ${address}`),
    };
    h.manager.setSupply(supply);
    const { v4, v6 } = await dualNetwork(h);
    for (let i = 0; i < 3; i++) await container(h, v6);
    await expectPluginError(container(h, v6), /^no free address in fd00:db8:deca::\/64/, "exhausted");
    await expectPluginError(container(h, v6, "fd00:db8:deca::99"), /is not an IPv6 IP configuration/);
    await h.manager.releaseAddress({ PoolID: v6, Address: "fd00:db8:deca::9" });
    assert.deepEqual(
      asked.filter((a) => a.includes(":")),
      [],
      "the supply heard of no IPv6 pool or address",
    );
    for (let i = 0; i < 3; i++) await container(h, v4);
    await expectPluginError(container(h, v4), /^no free address in 10\.0\.0\.0\/24/, "exhausted");
    assert.ok(asked.includes("grow 10.0.0.0/24"), "an IPv4 pool still grows through the supply");
  });
});
