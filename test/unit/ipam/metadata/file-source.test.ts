/** Tests of the file metadata source. */
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileSource } from "../../../../driver/ipam/metadata/file-source";

describe("FileSource", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "ipam-file-"));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function write(content: string): Promise<FileSource> {
    const file = path.join(dir, "interfaces.json");
    await fs.writeFile(file, content);
    return new FileSource(file);
  }

  it("reads the Interfaces shape, booleans or strings", async () => {
    const source = await write(
      JSON.stringify({
        Interfaces: [
          {
            MacAddress: "000D3A6E1825",
            IsPrimary: true,
            IPSubnets: [
              {
                Prefix: "10.0.0.0/24",
                IPAddresses: [
                  { Address: "10.0.0.4", IsPrimary: true },
                  { Address: "10.0.0.5", IsPrimary: "false" },
                ],
              },
            ],
          },
          {
            MacAddress: "00-0D-3A-6E-18-26",
            IsPrimary: false,
            IPSubnets: [{ Prefix: "10.1.0.9/24", IPAddresses: [{ Address: "10.1.0.4", IsPrimary: true }] }],
          },
        ],
      }),
    );
    assert.equal(source.name, `file:${path.join(dir, "interfaces.json")}`);
    const nics = await source.fetch();
    assert.deepEqual(
      nics.map((n) => [n.mac, n.isPrimary, n.subnets.map((s) => s.cidr)]),
      [
        ["00:0d:3a:6e:18:25", true, ["10.0.0.0/24"]],
        ["00:0d:3a:6e:18:26", false, ["10.1.0.0/24"]],
      ],
    );
    assert.deepEqual(nics[0].subnets[0].ipConfigs, [
      { address: "10.0.0.4", isPrimary: true, publicIp: "" },
      { address: "10.0.0.5", isPrimary: false, publicIp: "" },
    ]);
  });

  it("names the file when it is missing, not JSON, or the wrong shape", async () => {
    await assert.rejects(new FileSource(path.join(dir, "nope.json")).fetch(), /file:.*nope\.json: cannot read the file: ENOENT/);
    await assert.rejects((await write("{oops")).fetch(), /file:.*interfaces\.json: not valid JSON/);
    await assert.rejects(
      (await write('{"Interfaces":[{"MacAddress":"000D3A6E1825","IPSubnets":[{"Prefix":"10.0.0.0/24"}]}]}')).fetch(),
      /file:.*: malformed data: Interfaces\[0\]\.IPSubnets\[0\]\.IPAddresses: Invalid input: expected array/,
    );
  });
});
