/** The one path that changes a NIC's ipconfigs (sim CLI and ARM alike), without the fabric. */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { commitIpConfigs, readTopologyFile } from "../../../sim/ipconfig-commit";
import { makeStateDir, removeStateDir } from "./platform-helpers";

/** A separate process making `count` commits, each adding the next address to one VM. */
function committer(dir: string, vm: string, first: number, count: number): Promise<number> {
  const module = require.resolve("../../../sim/ipconfig-commit");
  const script = `
    const { commitIpConfigs } = require(${JSON.stringify(module)});
    (async () => {
      for (let i = 0; i < ${count}; i++)
        await commitIpConfigs(${JSON.stringify(dir)}, ${JSON.stringify(vm)}, (s) => [...s, { address: "10.0.0." + (${first} + i) }], { fabric: false });
    })().catch((e) => { console.error(e); process.exit(1); });`;
  return new Promise((resolve) => spawn(process.execPath, ["-e", script], { stdio: "inherit" }).on("exit", (code) => resolve(code ?? 1)));
}

describe("ipconfig commits", function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(() => {
    dir = makeStateDir();
  });
  afterEach(() => removeStateDir(dir));

  it("changes one VM's secondaries and refuses what the topology refuses", async () => {
    await commitIpConfigs(dir, "vm2", (s) => s.filter((c) => c.address !== "10.0.0.20"), { fabric: false });
    assert.ok(!readTopologyFile(dir).vms[1].nic.secondaries.some((c) => c.address === "10.0.0.20"));
    await assert.rejects(
      commitIpConfigs(dir, "vm1", (s) => [...s, { address: "10.0.0.21" }], { fabric: false }),
      /10\.0\.0\.21 is on both/,
    );
    assert.equal(readTopologyFile(dir).vms[0].nic.secondaries.length, 8);
  });

  it("loses no change when two processes commit to different NICs at the same time", async () => {
    const codes = await Promise.all([committer(dir, "vm1", 100, 50), committer(dir, "vm2", 150, 50)]);
    assert.deepEqual(codes, [0, 0]);
    const topo = readTopologyFile(dir);
    assert.equal(topo.vms[0].nic.secondaries.length, 8 + 50);
    assert.equal(topo.vms[1].nic.secondaries.length, 8 + 50);
  });
});
