/** Tests of reading both iptables rulesets (probeBackends), alone and through LinuxDataplane. */
import assert from "node:assert/strict";
import { DataplaneError, LinuxDataplane } from "../../../driver/dataplane";
import type { Runner } from "../../../driver/dataplane/exec";
import { probeBackends } from "../../../driver/dataplane/iptables";

const NFT_SAVE = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
:AZURE-VNET-FORWARD - [0:0]
-A FORWARD -j AZURE-VNET-FORWARD
COMMIT
`;

const nftHost: Runner = async (file) => {
  if (file === "iptables-nft-save") return { stdout: NFT_SAVE, stderr: "" };
  if (file === "iptables-legacy-save") return { stdout: "", stderr: "" };
  if (file === "iptables") return { stdout: "iptables v1.8.9 (nf_tables)\n", stderr: "" };
  throw new DataplaneError(file, "ENOENT");
};

const NFT_HOST_PROBE = {
  defaultMode: "nft",
  rulesets: [
    { mode: "nft", available: true, dockerChains: ["DOCKER", "DOCKER-USER"], pluginChains: ["AZURE-VNET-FORWARD"] },
    { mode: "legacy", available: true, dockerChains: [], pluginChains: [] },
  ],
};

describe("iptables rulesets", () => {
  describe("probeBackends", () => {
    it("finds Docker's and the plugin's chains per ruleset, and what plain iptables is", async () => {
      assert.deepEqual(await probeBackends({ run: nftHost }), NFT_HOST_PROBE);
    });

    it("marks a ruleset whose tools are missing", async () => {
      const run: Runner = async (file) => {
        throw new DataplaneError(file, "ENOENT");
      };
      const p = await probeBackends({ run });
      assert.equal(p.defaultMode, undefined);
      assert.deepEqual(
        p.rulesets.map((r) => r.available),
        [false, false],
      );
    });
  });

  it("LinuxDataplane.iptablesBackends reads them with the dataplane's runner and timeout, and changes nothing", async () => {
    const calls: string[] = [];
    const run: Runner = async (file, args, opts) => {
      calls.push([file, ...args, `timeout=${opts?.timeoutMs}`].join(" "));
      return nftHost(file, args, opts);
    };
    const dp = new LinuxDataplane({ run, commandTimeoutMs: 1234 });
    try {
      assert.deepEqual(await dp.iptablesBackends(), NFT_HOST_PROBE);
    } finally {
      await dp.close();
    }
    assert.deepEqual(calls.sort(), ["iptables -V timeout=1234", "iptables-legacy-save timeout=1234", "iptables-nft-save timeout=1234"]);
  });
});
