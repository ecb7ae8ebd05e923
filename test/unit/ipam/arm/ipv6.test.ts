/**
 * --ipconfig-management arm manages IPv4 ipconfigs only. The NIC's IPv6
 * ipconfigs (in the same dual-stack subnet resource) are the user's: the warm
 * pool neither counts nor removes them, and an IPv6 pool hands them out as
 * they are, refusing at once when none is free.
 */
import assert from "node:assert/strict";
import { expectPluginError, FakeClock, GATEWAY, LOCAL } from "../helpers";
import { FakeArm, ipConfig } from "./fake-arm";
import { type Plugin, requestAddress, startPlugin } from "./setup";

const V6 = "fd00:db8:deca::/64";
const ipv6Config = (name: string, address: string) => ipConfig(name, address, { privateIPAddressVersion: "IPv6" });

describe("warm pool (--ipconfig-management arm) beside IPv6 ipconfigs", () => {
  let arm: FakeArm;
  let clock: FakeClock;
  let plugin: Plugin | undefined;

  beforeEach(async () => {
    clock = new FakeClock(Date.UTC(2026, 0, 1));
    arm = await new FakeArm(clock, [ipv6Config("v6-primary", "fd00:db8:deca::4"), ipv6Config("v6-web", "fd00:db8:deca::5")]).start();
  });

  afterEach(async () => {
    plugin?.pool.close();
    await arm.close();
  });

  it("does not count the NIC's IPv6 ipconfigs towards its IPv4 targets, and carries them back unchanged", async () => {
    plugin = await startPlugin(arm, clock, { warm: 2 });
    assert.equal(arm.puts.length, 1);
    const sent = (arm.puts[0].body as { properties: { ipConfigurations: { name: string; properties: Record<string, unknown> }[] } })
      .properties.ipConfigurations;
    assert.equal(sent.filter((c) => c.name.startsWith("azvnet-")).length, 2, "two IPv4 ipconfigs for two free, whatever the IPv6 ones");
    assert.deepEqual(
      sent.filter((c) => c.name.startsWith("v6-")).map((c) => c.properties.privateIPAddress),
      ["fd00:db8:deca::4", "fd00:db8:deca::5"],
    );
  });

  it("hands out the NIC's secondary IPv6 ipconfig in an IPv6 pool, then refuses at once without asking ARM", async () => {
    plugin = await startPlugin(arm, clock, { warm: 1 });
    const { manager } = plugin;
    const { PoolID } = await manager.requestPool({ AddressSpace: LOCAL, Pool: V6, SubPool: "", Options: {}, V6: true });
    assert.equal((await manager.requestAddress({ PoolID, Address: "", Options: GATEWAY })).Address, "fd00:db8:deca::1/64");
    assert.equal(await requestAddress(manager, PoolID), "fd00:db8:deca::5");
    const puts = arm.puts.length;
    const started = clock.now();
    await expectPluginError(
      requestAddress(manager, PoolID),
      /^no free address in fd00:db8:deca::\/64: NIC .* secondary IPv6 IP configuration there/,
      "exhausted",
    );
    await expectPluginError(requestAddress(manager, PoolID, "fd00:db8:deca::99"), /^fd00:db8:deca::99 is not an IPv6 IP configuration/);
    assert.equal(arm.puts.length, puts, "no NIC update for IPv6");
    assert.ok(clock.now() - started < 5_000, "refused without waiting for the supply");
  });
});
