/**
 * One daemon per state directory: a second `serve` stops before it reads the
 * checkpoint or touches the kernel, and says which pid holds the directory.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { acquireInstanceLock } from "../../../driver/state/instance-lock";
import { startPlugin } from "../../../driver/plugin";
import { resolveServeConfig } from "../../../driver/config";
import type { Logger } from "../../../driver/log";
import { FakeDataplane } from "../network/fake-dataplane";

const silent: Logger = { error() {}, warn() {}, info() {}, debug() {}, log() {}, child: () => silent } as unknown as Logger;

describe("instance lock", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "azvnet-lock-"));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("lets one holder have a state directory, names its pid to the next, and is free again once released", async () => {
    const first = await acquireInstanceLock(dir, { pid: 4242 });
    await assert.rejects(acquireInstanceLock(dir), /already running \(pid 4242\) with the state directory/);
    // The same directory by another path is the same lock.
    await fs.symlink(dir, `${dir}-link`);
    try {
      await assert.rejects(acquireInstanceLock(`${dir}-link`), /pid 4242/);
    } finally {
      await fs.rm(`${dir}-link`);
    }
    await first.release();
    const again = await acquireInstanceLock(dir);
    await again.release();
  });

  it("keeps directories apart", async () => {
    const other = await fs.mkdtemp(path.join(os.tmpdir(), "azvnet-lock-"));
    try {
      const a = await acquireInstanceLock(dir);
      const b = await acquireInstanceLock(other);
      await Promise.all([a.release(), b.release()]);
    } finally {
      await fs.rm(other, { recursive: true, force: true });
    }
  });

  it("stops a second plugin before it changes the checkpoint or the kernel", async function () {
    this.timeout(20_000);
    const metadataFile = path.join(dir, "interfaces.json");
    const bootIdPath = path.join(dir, "boot_id");
    await fs.writeFile(bootIdPath, "test-boot\n");
    await fs.writeFile(
      metadataFile,
      JSON.stringify({
        Interfaces: [
          {
            MacAddress: "00:0d:3a:00:00:01",
            IsPrimary: true,
            IPSubnets: [
              {
                Prefix: "10.0.0.0/24",
                IPAddresses: [
                  { Address: "10.0.0.4", IsPrimary: true },
                  { Address: "10.0.0.10", IsPrimary: false },
                ],
              },
            ],
          },
        ],
      }),
    );
    const config = (socket: string) =>
      resolveServeConfig(
        { socket: path.join(dir, socket), stateDir: path.join(dir, "state"), metadataSource: "file", metadataFile, logLevel: "error" },
        {},
      );
    const docker = { listNetworks: async () => [], listContainers: async () => [] };
    const first = await startPlugin({ config: config("a.sock"), logger: silent, dataplane: new FakeDataplane(), docker, bootIdPath });
    try {
      const stateFile = path.join(dir, "state", "state.json");
      const before = await fs.readFile(stateFile);
      const untouched = new FakeDataplane();
      await assert.rejects(
        startPlugin({ config: config("b.sock"), logger: silent, dataplane: untouched, docker, bootIdPath }),
        new RegExp(`already running \\(pid ${process.pid}\\)`),
      );
      assert.deepEqual(untouched.calls, [], "the kernel was not touched");
      assert.ok((await fs.readFile(stateFile)).equals(before), "the checkpoint was not rewritten");
      await assert.rejects(fs.stat(path.join(dir, "b.sock")), /ENOENT/);
    } finally {
      await first.close();
    }
    // Closed, the directory is free for the next one.
    const next = await startPlugin({ config: config("c.sock"), logger: silent, dataplane: new FakeDataplane(), docker, bootIdPath });
    await next.close();
  });
});
