/** Tests of the AddressManager's address calls: requests, releases, binds, aux addresses. */
import assert from "node:assert/strict";
import { AddressManager } from "../../../driver/ipam/address-manager";
import { emptyIpamState } from "../../../driver/ipam/ipam-state";
import { MetadataCache } from "../../../driver/ipam/metadata";
import {
  createNetwork,
  expectPluginError,
  FakeClock,
  FakeSource,
  GATEWAY,
  harness,
  LOCAL,
  MAC1,
  nic,
  range,
  standardNics,
} from "./helpers";

const AZ = "az network nic ip-config create --resource-group <rg> --nic-name <nic>";

describe("AddressManager addresses", () => {
  describe("gateway", () => {
    it("answers the subnet's .1 with or without --gateway, and never takes an ipconfig for it", async () => {
      const h = harness();
      const { PoolID } = await h.manager.requestPool({ AddressSpace: LOCAL, Pool: "10.0.0.0/24", SubPool: "", Options: {}, V6: false });
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "", Options: GATEWAY }), { Address: "10.0.0.1/24" });
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "10.0.0.1", Options: GATEWAY }), { Address: "10.0.0.1/24" });
      assert.deepEqual(h.state.addresses, {});
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "", Options: {} }), { Address: "10.0.0.10/24" });
    });

    it("refuses another --gateway and says which one to pass", async () => {
      const h = harness();
      const { PoolID } = await h.manager.requestPool({ AddressSpace: LOCAL, Pool: "10.0.0.0/24", SubPool: "", Options: {}, V6: false });
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.0.0.254", Options: GATEWAY }),
        /^the gateway of 10\.0\.0\.0\/24 is 10\.0\.0\.1 \(Azure's subnet gateway\); omit --gateway or pass --gateway 10\.0\.0\.1$/,
      );
    });

    it("uses the subnet's prefix length for smaller subnets", async () => {
      const h = harness([nic(MAC1, "10.2.0.0/26", ["10.2.0.4", "10.2.0.5"])]);
      const PoolID = await createNetwork(h, "10.2.0.0/26");
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "", Options: GATEWAY }), { Address: "10.2.0.1/26" });
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "", Options: null as never }), { Address: "10.2.0.5/26" });
    });
  });

  describe("endpoints", () => {
    it("hands out the lowest free secondary, deterministically, and persists before answering", async () => {
      const h = harness();
      const PoolID = await createNetwork(h);
      const got: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { Address } = await h.manager.requestAddress({ PoolID, Address: "", Options: null as never });
        got.push(Address);
        assert.ok(h.persisted.at(-1)?.includes(`"${Address.split("/")[0]}"`), "persisted before the reply");
      }
      assert.deepEqual(got, ["10.0.0.10/24", "10.0.0.11/24", "10.0.0.12/24"]);
      await h.manager.releaseAddress({ PoolID, Address: "10.0.0.11" });
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "", Options: {} }), { Address: "10.0.0.11/24" });
      assert.deepEqual(h.state.addresses["10.0.0.10"], { poolId: PoolID, kind: "endpoint", lease: 1 });
      assert.equal(h.state.addresses["10.0.0.11"].lease, 4, "the address handed out again is a new grant");
    });

    it("gives a requested secondary ipconfig and skips it when picking", async () => {
      const h = harness();
      const PoolID = await createNetwork(h);
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "10.0.0.10", Options: null as never }), {
        Address: "10.0.0.10/24",
      });
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "", Options: null as never }), { Address: "10.0.0.11/24" });
    });

    it("refuses an address that is already in use", async () => {
      const h = harness();
      const PoolID = await createNetwork(h);
      await h.manager.requestAddress({ PoolID, Address: "10.0.0.12", Options: {} });
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.0.0.12", Options: {} }),
        /^10\.0\.0\.12 is already in use by another container$/,
        "conflict",
      );
    });

    it("refuses an address that is not an ipconfig and gives the az command to add it", async () => {
      const h = harness();
      const PoolID = await createNetwork(h);
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.0.0.99", Options: {} }),
        new RegExp(
          "^10\\.0\\.0\\.99 is not an IP configuration of this VM's NIC 00:0d:3a:00:00:01 \\(it has 10\\.0\\.0\\.10-10\\.0\\.0\\.17\\); " +
            `add it with: ${escape(AZ)} --name ipconfig-10-0-0-99 --private-ip-address 10\\.0\\.0\\.99$`,
        ),
        "invalid",
      );
    });

    it("never gives the VM's primary address", async () => {
      const h = harness();
      const PoolID = await createNetwork(h);
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.0.0.4", Options: {} }),
        /^10\.0\.0\.4 is the VM's primary address and cannot be given to a container$/,
      );
    });

    it("refuses addresses outside the subnet or the --ip-range, and malformed ones", async () => {
      const h = harness();
      const PoolID = await createNetwork(h, "10.0.0.0/24", "10.0.0.12/30");
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.0.0.10", Options: {} }),
        /^10\.0\.0\.10 is outside this network's --ip-range 10\.0\.0\.12\/30$/,
      );
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.1.0.5", Options: {} }),
        /^10\.1\.0\.5 is not inside 10\.0\.0\.0\/24, the subnet of this network$/,
      );
      await expectPluginError(h.manager.requestAddress({ PoolID, Address: "10.0.0", Options: {} }), /^"10\.0\.0" is not an IPv4 address$/);
    });

    it("limits picks to the --ip-range and says so when it is full", async () => {
      const h = harness();
      const PoolID = await createNetwork(h, "10.0.0.0/24", "10.0.0.12/30");
      const got: string[] = [];
      for (let i = 0; i < 4; i++) got.push((await h.manager.requestAddress({ PoolID, Address: "", Options: {} })).Address);
      assert.deepEqual(got, ["10.0.0.12/24", "10.0.0.13/24", "10.0.0.14/24", "10.0.0.15/24"]);
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "", Options: {} }),
        new RegExp(
          "^no free address in the --ip-range 10\\.0\\.0\\.12/30 of 10\\.0\\.0\\.0/24: NIC 00:0d:3a:00:00:01 has 4 secondary IP " +
            "configurations there \\(10\\.0\\.0\\.12-10\\.0\\.0\\.15\\), 4 in use; every usable address of the " +
            "--ip-range is already an ipconfig; recreate the network with a wider --ip-range$",
        ),
        "exhausted",
      );
    });

    it("explains exhaustion with counts, the flagged ones and an az command for the next free address", async () => {
      const h = harness();
      const PoolID = await createNetwork(h);
      for (let i = 0; i < 8; i++) await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
      // One ipconfig removed from the NIC while a container still uses it.
      h.source.nics = [nic(MAC1, "10.0.0.0/24", ["10.0.0.4", ...range("10.0.0.", 10, 16)])];
      h.clock.advance(10_001);
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "", Options: {} }),
        new RegExp(
          "^no free address in 10\\.0\\.0\\.0/24: NIC 00:0d:3a:00:00:01 has 7 secondary IP configurations there " +
            "\\(10\\.0\\.0\\.10-10\\.0\\.0\\.16\\), 7 in use, plus 1 still used by containers although removed from the NIC \\(flagged\\); " +
            `add more with: ${escape(AZ)} --name ipconfig-10-0-0-5 --private-ip-address 10\\.0\\.0\\.5$`,
        ),
        "exhausted",
      );
    });

    it("tells a user with no secondary ipconfigs what to add", async () => {
      const h = harness([nic(MAC1, "10.0.0.0/24", ["10.0.0.4"])]);
      const PoolID = await createNetwork(h);
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "", Options: {} }),
        new RegExp(
          "^no address for a container in 10\\.0\\.0\\.0/24: NIC 00:0d:3a:00:00:01 has no secondary IP configurations there " +
            "\\(its primary 10\\.0\\.0\\.4 stays with the VM, and each container needs a secondary one\\); " +
            `add one per container with: ${escape(AZ)} --name ipconfig-10-0-0-5 --private-ip-address 10\\.0\\.0\\.5$`,
        ),
        "exhausted",
      );
    });

    it("records the container name Docker 29 sends", async () => {
      const h = harness();
      const PoolID = await createNetwork(h);
      await h.manager.requestAddress({ PoolID, Address: "", Options: { "com.docker.network.endpoint.name": "web-1" } });
      assert.deepEqual(h.state.addresses["10.0.0.10"], { poolId: PoolID, kind: "endpoint", name: "web-1", lease: 1 });
    });
  });

  describe("aux addresses", () => {
    async function poolWithoutCreate(h: ReturnType<typeof harness>, subPool = ""): Promise<string> {
      const { PoolID } = await h.manager.requestPool({
        AddressSpace: LOCAL,
        Pool: "10.0.0.0/24",
        SubPool: subPool,
        Options: {},
        V6: false,
      });
      await h.manager.requestAddress({ PoolID, Address: "", Options: GATEWAY });
      return PoolID;
    }

    it("reserves an aux address that is a free ipconfig in range, and keeps it from containers", async () => {
      const h = harness();
      const PoolID = await poolWithoutCreate(h);
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "10.0.0.10", Options: null as never }), {
        Address: "10.0.0.10/24",
      });
      assert.deepEqual(h.state.addresses["10.0.0.10"], { poolId: PoolID, kind: "aux" });
      assert.deepEqual(h.state.pools[PoolID].auxAddresses, ["10.0.0.10"]);
      h.manager.networkCreated({ AddressSpace: LOCAL, Pool: "10.0.0.0/24" });
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "", Options: null as never }), { Address: "10.0.0.11/24" });
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.0.0.10", Options: null as never }),
        /^10\.0\.0\.10 is reserved by --aux-address$/,
        "conflict",
      );
      // Network removal releases the aux address.
      await h.manager.releaseAddress({ PoolID, Address: "10.0.0.10" });
      assert.equal(h.state.addresses["10.0.0.10"], undefined);
      assert.deepEqual(h.state.pools[PoolID].auxAddresses, []);
    });

    it("accepts aux addresses that are not ipconfigs or lie outside the --ip-range, without reserving them", async () => {
      const h = harness();
      const PoolID = await poolWithoutCreate(h, "10.0.0.12/30");
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "10.0.0.200", Options: null as never }), {
        Address: "10.0.0.200/24",
      });
      assert.deepEqual(await h.manager.requestAddress({ PoolID, Address: "10.0.0.10", Options: null as never }), {
        Address: "10.0.0.10/24",
      });
      assert.deepEqual(h.state.addresses, {});
      assert.deepEqual(h.state.pools[PoolID].auxAddresses, ["10.0.0.200", "10.0.0.10"]);
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.5.0.1", Options: null as never }),
        /^--aux-address 10\.5\.0\.1 is outside the subnet 10\.0\.0\.0\/24$/,
      );
    });

    it("refuses an aux address a container already holds", async () => {
      const h = harness();
      const first = await createNetwork(h);
      await h.manager.requestAddress({ PoolID: first, Address: "", Options: {} });
      const PoolID = await poolWithoutCreate(h);
      assert.equal(PoolID, first);
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.0.0.10", Options: null as never }),
        /^10\.0\.0\.10 is already in use by a container; choose another --aux-address$/,
        "conflict",
      );
    });

    it("treats option-less requests as containers after the window, or when the container name is sent", async () => {
      const h = harness();
      const PoolID = await poolWithoutCreate(h);
      await h.manager.requestAddress({ PoolID, Address: "10.0.0.11", Options: { "com.docker.network.endpoint.name": "db" } });
      assert.equal(h.state.addresses["10.0.0.11"].kind, "endpoint");
      h.clock.advance(10_001);
      await expectPluginError(
        h.manager.requestAddress({ PoolID, Address: "10.0.0.99", Options: null as never }),
        /^10\.0\.0\.99 is not an IP configuration/,
      );
    });
  });

  describe("releases", () => {
    it("are idempotent and ignore unknown pools, unknown addresses and other pools' addresses", async () => {
      const h = harness();
      const PoolID = await createNetwork(h);
      const other = await createNetwork(h, "10.1.0.0/24");
      await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
      const before = h.persisted.length;
      await h.manager.releaseAddress({ PoolID: "AzureVNetLocal/10.9.0.0/24", Address: "10.0.0.10" });
      await h.manager.releaseAddress({ PoolID: other, Address: "10.0.0.10" });
      await h.manager.releaseAddress({ PoolID, Address: "10.0.0.200" });
      await h.manager.releaseAddress({ PoolID, Address: "10.0.0.1" });
      await h.manager.releaseAddress({ PoolID, Address: "" });
      assert.equal(h.persisted.length, before);
      await h.manager.releaseAddress({ PoolID, Address: "10.0.0.10/24" });
      await h.manager.releaseAddress({ PoolID, Address: "10.0.0.10" });
      assert.deepEqual(h.state.addresses, {});
      assert.equal(h.persisted.length, before + 1);
    });

    it("dropping the last reference to a pool frees its addresses", async () => {
      const h = harness();
      const PoolID = await createNetwork(h);
      await h.manager.requestAddress({ PoolID, Address: "", Options: {} });
      await h.manager.releasePool({ PoolID });
      assert.deepEqual(h.state, { version: 1, pools: {}, addresses: {}, nextLease: 2 });
    });
  });

  it("rebuilds a pool missing from the state from its PoolID, and rejects IDs it could not have made", async () => {
    const clock = new FakeClock();
    const state = emptyIpamState();
    const manager = new AddressManager({
      metadata: new MetadataCache(new FakeSource(standardNics()), { clock }),
      state,
      persist: async () => undefined,
      clock,
    });
    const PoolID = "AzureVNetLocal/10.0.0.0/24";
    assert.deepEqual(await manager.requestAddress({ PoolID, Address: "", Options: null as never }), { Address: "10.0.0.10/24" });
    assert.equal(state.pools[PoolID].refCount, 1);
    assert.equal(state.pools[PoolID].nicMac, MAC1);
    await expectPluginError(
      manager.requestAddress({ PoolID: "local|10.0.0.0/24", Address: "", Options: {} }),
      /^unknown pool "local\|10\.0\.0\.0\/24": this plugin has no record of it; remove the network and create it again$/,
      "not-found",
    );
    await expectPluginError(
      manager.requestAddress({ PoolID: "AzureVNetLocal/10.9.0.0/24", Address: "", Options: GATEWAY }),
      /^unknown pool "AzureVNetLocal\/10\.9\.0\.0\/24"/,
      "not-found",
    );
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
