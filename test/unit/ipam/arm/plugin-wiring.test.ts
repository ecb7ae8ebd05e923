/** The daemon with --ipconfig-management arm against a fake ARM and IMDS, and in static mode, which must not call ARM at all. */
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { resolveServeConfig } from "../../../../driver/config";
import { type RunningPlugin, startPlugin } from "../../../../driver/plugin";
import type { DockerApi } from "../../../../driver/reconcile/docker";
import { FakeDataplane } from "../../network/fake-dataplane";
import { recordingLogger } from "../../support/recording-logger";
import { FakeArm } from "./fake-arm";

const docker: DockerApi = { listNetworks: async () => [], listContainers: async () => [] };

describe("the daemon's ipconfig management", function () {
  this.timeout(20_000);
  let dir: string;
  let arm: FakeArm;
  let plugin: RunningPlugin | undefined;
  const log: string[] = [];

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "azvnet-arm-"));
    await fs.writeFile(path.join(dir, "boot_id"), "arm-test-boot\n");
    arm = await new FakeArm({ now: () => Date.now() }).start();
    arm.knobs.pollsBeforeDone = 0;
    log.length = 0;
  });

  afterEach(async () => {
    await plugin?.close();
    plugin = undefined;
    await arm.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function start(flags: Record<string, string>): Promise<RunningPlugin> {
    const config = resolveServeConfig(
      {
        socket: path.join(dir, "p.sock"),
        stateDir: path.join(dir, "state"),
        metadataSource: "imds",
        imdsUrl: arm.url,
        armEndpoint: arm.url,
        reconcileInterval: "3600",
        ...flags,
      },
      {},
    );
    const logger = recordingLogger((level, msg) => void log.push(`${level} ${msg}`));
    plugin = await startPlugin({ config, logger, dataplane: new FakeDataplane(), docker, bootIdPath: path.join(dir, "boot_id") });
    return plugin;
  }

  async function containerAddress(p: RunningPlugin): Promise<string> {
    const { PoolID } = await p.ipam.requestPool({
      AddressSpace: "AzureVNetLocal",
      Pool: "10.0.0.0/24",
      SubPool: "",
      Options: {},
      V6: false,
    });
    p.ipam.networkCreated({ AddressSpace: "AzureVNetLocal", Pool: "10.0.0.0/24" });
    const reply = await p.ipam.requestAddress({ PoolID, Address: "", Options: { "com.docker.network.endpoint.name": "c1" } });
    return reply.Address;
  }

  it("with arm, a container on a NIC without secondary ipconfigs gets one created through ARM", async () => {
    const p = await start({ ipconfigManagement: "arm", warmIpTarget: "0" });
    const address = await containerAddress(p);
    const own = arm.own().map((c) => `${String(c.properties.privateIPAddress)}/24`);
    assert.deepEqual(own, [address]);
    assert.equal(arm.puts.length, 1);
    assert.ok(log.includes("info ipconfig management: arm"), log.join("\n"));
  });

  it("in static mode, calls neither ARM nor the identity endpoint and refuses as before", async () => {
    const p = await start({});
    await assert.rejects(containerAddress(p), /no free|secondary|ipconfig/i);
    assert.deepEqual(arm.armCalls, []);
    assert.equal(arm.tokenCalls, 0);
  });
});
