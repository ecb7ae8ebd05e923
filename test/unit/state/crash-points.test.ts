/**
 * Crash points of the work the plugin does not wait for before it answers:
 * the deferred save of a release and the endpoint clean-up that trails
 * DeleteEndpoint. A crash is the state directory as it is on disk at that
 * moment (copied) and the kernel as it is (a copy of the fake one); a second
 * plugin is started from those and must neither hand an address out twice
 * nor leave anything of the old endpoint behind.
 */
import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { resolveServeConfig } from "../../../driver/config";
import { type RunningPlugin, startPlugin } from "../../../driver/plugin";
import type { DockerApi } from "../../../driver/reconcile/docker";
import { FakeDataplane } from "../network/fake-dataplane";
import { silent } from "../support/silent-logger";

const SUBNET = "10.0.0.0/24";
const NET = "d".repeat(64);
const POOL = `AzureVNetLocal/${SUBNET}`;
const epId = (n: number) => String(n).repeat(64).slice(0, 64);

interface Started {
  plugin: RunningPlugin;
  dp: FakeDataplane;
  stateDir: string;
}

describe("crash points of deferred work", function () {
  this.timeout(20_000);
  let dir: string;
  const running: RunningPlugin[] = [];

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "azvnet-crash-"));
    await fs.writeFile(path.join(dir, "boot_id"), "crash-test-boot\n");
    await fs.writeFile(
      path.join(dir, "interfaces.json"),
      JSON.stringify({
        Interfaces: [
          {
            MacAddress: "00:0d:3a:00:00:01",
            IsPrimary: true,
            IPSubnets: [
              {
                Prefix: SUBNET,
                IPAddresses: [
                  { Address: "10.0.0.4", IsPrimary: true },
                  ...[10, 11, 12].map((n) => ({ Address: `10.0.0.${n}`, IsPrimary: false })),
                ],
              },
            ],
          },
        ],
      }),
    );
  });
  afterEach(async () => {
    for (const p of running.splice(0)) await p.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Docker lists the network and no container: whatever the plugin holds there is abandoned. */
  const docker: DockerApi = {
    listNetworks: async () => [
      { Id: NET, Name: "vnet", Driver: "azure-vnet", IPAM: { Driver: "azure-vnet", Config: [{ Subnet: SUBNET }] }, Options: {} },
    ],
    listContainers: async () => [],
  };

  async function start(stateDir: string, dp: FakeDataplane, tag: string): Promise<Started> {
    const config = resolveServeConfig(
      {
        socket: path.join(dir, `${tag}.sock`),
        stateDir,
        metadataSource: "file",
        metadataFile: path.join(dir, "interfaces.json"),
        reconcileInterval: "3600",
        reconcileGrace: "1",
      },
      {},
    );
    const plugin = await startPlugin({ config, logger: silent, dataplane: dp, docker, bootIdPath: path.join(dir, "boot_id") });
    running.push(plugin);
    return { plugin, dp, stateDir };
  }

  /** The disk and the kernel as they are at this instant. */
  async function crash(s: Started, tag: string): Promise<{ stateDir: string; dp: FakeDataplane }> {
    const copy = path.join(dir, `${tag}-state`);
    await fs.cp(s.stateDir, copy, { recursive: true });
    return { stateDir: copy, dp: s.dp.snapshot() };
  }

  async function network(p: RunningPlugin): Promise<void> {
    await p.ipam.requestPool({ AddressSpace: "AzureVNetLocal", Pool: SUBNET, SubPool: "", Options: {}, V6: false });
    await p.network.createNetwork({
      NetworkID: NET,
      Options: { "com.docker.network.generic": {} },
      IPv4Data: [{ AddressSpace: "AzureVNetLocal", Pool: SUBNET, Gateway: "10.0.0.1/24" }],
      IPv6Data: [],
    });
  }

  const take = async (p: RunningPlugin, address = "") =>
    (await p.ipam.requestAddress({ PoolID: POOL, Address: address, Options: {} })).Address.split("/")[0];

  async function container(p: RunningPlugin, n: number, address?: string): Promise<string> {
    const ip = await take(p, address);
    await p.network.createEndpoint({
      NetworkID: NET,
      EndpointID: epId(n),
      Interface: { Address: `${ip}/24`, AddressIPv6: "", MacAddress: "" },
      Options: {},
    });
    await p.network.join({ NetworkID: NET, EndpointID: epId(n), SandboxKey: "/var/run/docker/netns/x", Options: {} });
    return ip;
  }

  async function stop(p: RunningPlugin, n: number, ip: string): Promise<void> {
    await p.network.leave({ NetworkID: NET, EndpointID: epId(n) });
    await p.network.deleteEndpoint({ NetworkID: NET, EndpointID: epId(n) });
    await p.ipam.releaseAddress({ PoolID: POOL, Address: ip });
  }

  it("an address is on disk before RequestAddress answers: after a crash it is not handed out again", async () => {
    const first = await start(path.join(dir, "state"), new FakeDataplane(), "a");
    await network(first.plugin);
    const ip = await take(first.plugin);
    const after = await crash(first, "crash");
    const second = await start(after.stateDir, after.dp, "b");
    await assert.rejects(take(second.plugin, ip), /already in use/);
    assert.notEqual(await take(second.plugin), ip);
  });

  it("a release lost in a crash is repaired at start-up: the endpoint's veth is gone, so its address is free again", async () => {
    const first = await start(path.join(dir, "state"), new FakeDataplane(), "a");
    await network(first.plugin);
    const ip = await container(first.plugin, 1);
    await stop(first.plugin, 1, ip);
    await first.plugin.network.settled();
    // Within the deferral: the removal and the release are not on disk yet.
    const after = await crash(first, "crash");
    const disk = await fs.readFile(path.join(after.stateDir, "state.json"), "utf8");
    assert.match(disk, new RegExp(epId(1)), "the crash lost the removal");

    const second = await start(after.stateDir, after.dp, "b");
    await second.plugin.network.settled();
    assert.equal(second.plugin.checkpoint.network.endpoints[epId(1)], undefined, "the dead endpoint is gone");
    assert.equal(await take(second.plugin, ip), ip, "and its address is free");
  });

  it("DeleteEndpoint answers before the clean-up, and a clean-up cut short by a crash is finished at start-up", async () => {
    const dp = new FakeDataplane();
    const first = await start(path.join(dir, "state"), dp, "a");
    await network(first.plugin);
    const ip = await container(first.plugin, 1);
    let release = () => undefined as void;
    dp.hold = new Promise<void>((resolve) => (release = resolve));
    await first.plugin.network.deleteEndpoint({ NetworkID: NET, EndpointID: epId(1) });
    assert.ok(dp.links.has(`azvh${epId(1).slice(0, 11)}`), "the reply came while the veth was still there");
    await first.plugin.ipam.releaseAddress({ PoolID: POOL, Address: ip });
    // The deferred save lands; the clean-up is still stuck.
    await new Promise((r) => setTimeout(r, 400));
    const after = await crash(first, "crash");
    assert.doesNotMatch(await fs.readFile(path.join(after.stateDir, "state.json"), "utf8"), new RegExp(epId(1)));
    assert.equal(after.dp.routes.get(ip) !== undefined, true, "the crash left the route");

    await start(after.stateDir, after.dp, "b");
    assert.equal(after.dp.routes.has(ip), false, "start-up removed the left-over route");
    assert.equal(
      [...after.dp.links.keys()].some((l) => l.includes(epId(1).slice(0, 11))),
      false,
      "and the veth",
    );
    assert.equal(after.dp.guards.size, 0, "and the guard");
    assert.ok(after.dp.flowsForgotten.includes(ip), "and the address's flows");
    release();
  });

  it("an address whose clean-up is running is handed out only when no other is free", async () => {
    const dp = new FakeDataplane();
    const { plugin } = await start(path.join(dir, "state"), dp, "a");
    await network(plugin);
    const ip = await container(plugin, 1);
    assert.equal(ip, "10.0.0.10");
    let release = () => undefined as void;
    dp.hold = new Promise<void>((resolve) => (release = resolve));
    await stop(plugin, 1, ip);
    assert.equal(await take(plugin), "10.0.0.11", "the lowest free address is still being cleaned up: the next one is given");
    assert.equal(await take(plugin), "10.0.0.12");
    assert.equal(await take(plugin), "10.0.0.10", "with no other free, it is given anyway (its CreateEndpoint waits)");
    release();
    await plugin.network.settled();
  });

  it("a new endpoint with the address waits for the old one's clean-up", async () => {
    const dp = new FakeDataplane();
    const { plugin } = await start(path.join(dir, "state"), dp, "a");
    await network(plugin);
    const ip = await container(plugin, 1);
    let release = () => undefined as void;
    dp.hold = new Promise<void>((resolve) => (release = resolve));
    await stop(plugin, 1, ip);
    let created = false;
    const next = container(plugin, 2, ip).then(() => (created = true));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(created, false, "CreateEndpoint waits while the old veth, flows and route are there");
    release();
    await next;
    const calls = dp.calls;
    assert.ok(calls.indexOf("forgetFlows") < calls.lastIndexOf("createEndpointLink"), "old flows gone before the new veth");
    assert.equal(dp.routes.get(ip) !== undefined, true, "the new endpoint has its route");
  });
});
