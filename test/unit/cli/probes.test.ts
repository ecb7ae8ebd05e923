/** Tests of the operator probes that stay in the CLI (metadata, socket) and of gatherFacts. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gatherFacts, type KernelReader } from "../../../driver/cli/facts";
import { probeMetadata } from "../../../driver/cli/metadata-probe";
import { probeSocket } from "../../../driver/cli/socket-probe";
import { parseServeConfig, type ServeConfig } from "../../../driver/config";
import { BRIDGE, firewall, links, view } from "./fixtures";

describe("operator probes", () => {
  describe("probeMetadata", () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "azure-vnet-md-"))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const config = (extra: Partial<ServeConfig>): ServeConfig => ({
      ...parseServeConfig([], {}),
      socket: "/x.sock",
      stateDir: "/x",
      imdsUrl: "http://127.0.0.1:9",
      wireserverUrl: "http://127.0.0.1:9",
      ...extra,
    });

    it("reads a metadata file", async () => {
      const file = join(dir, "nics.json");
      writeFileSync(
        file,
        JSON.stringify({
          Interfaces: [
            {
              MacAddress: "000D3A000001",
              IsPrimary: true,
              IPSubnets: [{ Prefix: "10.0.0.0/24", IPAddresses: [{ Address: "10.0.0.4", IsPrimary: true }] }],
            },
          ],
        }),
      );
      const p = await probeMetadata(config({ metadataSource: "file", metadataFile: file }), { timeoutMs: 500, all: true });
      assert.equal(p.answeredBy, `file:${file}`);
      assert.equal(p.nics?.[0].mac, "00:0d:3a:00:00:01");
    });

    it("asks both sources when told to, and records each failure", async () => {
      const p = await probeMetadata(config({}), { timeoutMs: 500, all: true });
      assert.deepEqual(
        p.attempts.map((a) => [a.source, a.ok]),
        [
          ["imds", false],
          ["wireserver", false],
        ],
      );
      assert.match(p.attempts[0].error ?? "", /ECONNREFUSED/);
      assert.equal(p.nics, undefined);
    });
  });

  describe("probeSocket", () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "azure-vnet-sock-"))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("reports a missing socket", async () => {
      assert.deepEqual(await probeSocket(join(dir, "none.sock"), 500), {
        path: join(dir, "none.sock"),
        exists: false,
        isSocket: false,
        answering: false,
      });
    });

    it("activates a listening plugin", async () => {
      const path = join(dir, "p.sock");
      const server = http.createServer((req, res) =>
        res.end(req.url === "/Plugin.Activate" ? '{"Implements":["NetworkDriver","IpamDriver"]}' : "{}"),
      );
      await new Promise<void>((resolve) => server.listen(path, resolve));
      try {
        const p = await probeSocket(path, 500);
        assert.equal(p.answering, true);
        assert.deepEqual(p.implements, ["NetworkDriver", "IpamDriver"]);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it("says a regular file is no socket", async () => {
      const path = join(dir, "f");
      writeFileSync(path, "");
      const p = await probeSocket(path, 500);
      assert.equal(p.isSocket, false);
      assert.equal(p.answering, false);
    });
  });

  describe("gatherFacts", () => {
    it("reads the kernel for every recorded bridge and keeps going when a read fails", async () => {
      const asked: string[] = [];
      const kernel: KernelReader = {
        listLinks: async () => links(),
        containerRoutes: async (names) => {
          asked.push(...names);
          return new Map(names.map((n) => [n, ["10.0.0.10"]]));
        },
        routedPort: async () => undefined,
        readFirewall: async () => firewall(),
        ipForward: async () => {
          throw new Error("EACCES");
        },
        proxyArp: async () => true,
        backends: async () => ({ rulesets: [] }),
        portGuards: async () => [],
        policyRouting: async () => ({ rules: [], routes: [] }),
      };
      const f = await gatherFacts({
        stateDir: "/s",
        checkpoint: async () => view(),
        kernel,
        socket: async () => ({ path: "/p", exists: false, isSocket: false, answering: false }),
      });
      assert.deepEqual(asked, [BRIDGE]);
      assert.deepEqual(f.kernel.routes[BRIDGE], { ok: true, value: ["10.0.0.10"] });
      assert.deepEqual(f.kernel.ipForward, { ok: false, error: "EACCES" });
      assert.equal(f.metadata, undefined);
    });
  });
});
