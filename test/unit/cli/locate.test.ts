/**
 * Finding the plugin through Docker's API: a fake Docker answers GET /plugins
 * on a loopback unix socket, and the operator commands' choice of socket,
 * and the daemon's AzureVnet.Status answer, are checked against it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { choosePlugin, describeLocation, type PluginLocation } from "../../../driver/cli/locate";
import { probe } from "../../../driver/cli/probed";
import { probePluginStatus, probeSocket } from "../../../driver/cli/socket-probe";
import { type DockerPluginInfo, listDockerPlugins } from "../../../driver/reconcile/docker-engine";
import { createProtocolApp, serveUnixSocket } from "../../../driver/protocol/server";
import type { IpamDriver, NetworkDriver } from "../../../driver/protocol/types";
import type { PluginStatusReply } from "../../../driver/reconcile/report";
import { reconcileReport } from "./fixtures";

const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);
const ID_WEAVE = "c".repeat(64);

function plugin(id: string, name: string, enabled: boolean, extra: Partial<DockerPluginInfo> = {}): DockerPluginInfo {
  return {
    Id: id,
    Name: name,
    Enabled: enabled,
    Config: {
      Entrypoint: ["/usr/local/bin/node", "/app/azure-vnet-plugin.js", "serve"],
      Interface: { Types: ["docker.networkdriver/1.0", "docker.ipamdriver/1.0"], Socket: "azvnet.sock" },
    },
    Settings: { Mounts: [{ Name: "docker-socket", Source: "/run/docker.sock", Destination: "/run/docker.sock" }] },
    ...extra,
  };
}

const WEAVE = plugin(ID_WEAVE, "weaveworks/net-plugin:latest", true, {
  Config: { Entrypoint: ["/home/weave/launch.sh"], Interface: { Types: ["docker.networkdriver/1.0"], Socket: "weave.sock" } },
});

describe("locating the plugin through Docker's API", () => {
  let dir: string;
  let docker: http.Server;
  let plugins: DockerPluginInfo[] | "refuse";
  const seen: string[] = [];
  const env = () => ({ DOCKER_HOST: `unix://${join(dir, "docker.sock")}` });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "azure-vnet-locate-"));
    seen.length = 0;
    docker = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (plugins === "refuse") {
        res.statusCode = 403;
        res.end('{"message":"permission denied"}');
        return;
      }
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify(plugins));
    });
    await new Promise<void>((resolve) => docker.listen(join(dir, "docker.sock"), resolve));
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => docker.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const locate = async (opts: { given?: string } = {}, e: NodeJS.ProcessEnv = env()): Promise<PluginLocation> =>
    choosePlugin({ ...opts, legacySocket: "/run/docker/plugins/azure-vnet.sock", plugins: await probe(() => listDockerPlugins(e, 1000)) });

  it("finds the enabled managed plugin's socket under /run/docker/plugins/<id>/, ignoring other network plugins", async () => {
    plugins = [WEAVE, plugin(ID_A, "azure-vnet:latest", true)];
    const l = await locate();
    assert.deepEqual(seen, ["GET /plugins"]);
    assert.equal(l.how, "managed");
    assert.equal(l.socket, `/run/docker/plugins/${ID_A}/azvnet.sock`);
    assert.equal(l.plugin?.name, "azure-vnet:latest");
    assert.equal(l.plugin?.dockerSocketSource, "/run/docker.sock");
    assert.deepEqual(
      l.candidates.map((c) => c.name),
      ["azure-vnet:latest"],
    );
    assert.equal(describeLocation(l), `managed plugin azure-vnet:latest (id aaaaaaaaaaaa), enabled, socket ${l.socket}`);
  });

  it("recognises a plugin pushed under a registry path, or installed under an alias by its entrypoint", async () => {
    plugins = [plugin(ID_A, "registry.local:5000/team/azure-vnet:1.2.0", true)];
    assert.equal((await locate()).plugin?.name, "registry.local:5000/team/azure-vnet:1.2.0");
    plugins = [plugin(ID_A, "vnet:prod", true)];
    assert.equal((await locate()).plugin?.name, "vnet:prod");
    plugins = [plugin(ID_A, "vnet:prod", true, { Config: { Entrypoint: ["/other"], Interface: WEAVE.Config?.Interface } })];
    assert.equal((await locate()).plugin, undefined);
  });

  it("with several installed, picks the enabled one and says which others there are", async () => {
    plugins = [plugin(ID_A, "azure-vnet:0.9", false), plugin(ID_B, "azure-vnet:1.0", true)];
    const l = await locate();
    assert.equal(l.plugin?.name, "azure-vnet:1.0");
    assert.equal(l.socket, `/run/docker/plugins/${ID_B}/azvnet.sock`);
    assert.match(describeLocation(l), /; also installed: azure-vnet:0\.9 \(disabled\)$/);
  });

  it("falls back to the legacy socket when no managed plugin is enabled, keeping the disabled one to name in fixes", async () => {
    plugins = [plugin(ID_A, "azure-vnet:latest", false)];
    const l = await locate();
    assert.equal(l.how, "legacy");
    assert.equal(l.socket, "/run/docker/plugins/azure-vnet.sock");
    assert.equal(l.plugin?.enabled, false);
    assert.match(describeLocation(l), /managed plugin azure-vnet:latest is installed but disabled/);
  });

  it("falls back to the legacy socket when Docker cannot be asked, and says why", async () => {
    plugins = "refuse";
    let l = await locate();
    assert.equal(l.how, "legacy");
    assert.match(l.dockerError ?? "", /HTTP 403: permission denied/);
    l = await locate({}, { DOCKER_HOST: `unix://${join(dir, "absent.sock")}` });
    assert.equal(l.how, "legacy");
    assert.match(l.dockerError ?? "", /ENOENT/);
  });

  it("--socket overrides what Docker says, and still names the managed plugin whose socket it is", async () => {
    plugins = [plugin(ID_A, "azure-vnet:latest", true)];
    let l = await locate({ given: "/tmp/other.sock" });
    assert.equal(l.how, "given");
    assert.equal(l.socket, "/tmp/other.sock");
    assert.equal(l.plugin, undefined);
    l = await locate({ given: `/run/docker/plugins/${ID_A}/azvnet.sock` });
    assert.equal(l.plugin?.name, "azure-vnet:latest");
  });

  it("ignores entries it cannot make a safe socket path from", async () => {
    plugins = [
      plugin("../../etc", "azure-vnet:latest", true),
      plugin(ID_A, "azure-vnet:latest", true, {
        Config: { Entrypoint: [], Interface: { Types: ["docker.networkdriver/1.0"], Socket: "../../evil.sock" } },
      }),
    ];
    assert.equal((await locate()).candidates.length, 0);
  });
});

describe("the daemon's AzureVnet.Status over its socket", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "azure-vnet-status-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const drivers = { network: {} as NetworkDriver, ipam: {} as IpamDriver, logger };

  it("answers the last reconciliation, which probePluginStatus reads back; Activate still answers", async () => {
    const reply: PluginStatusReply = {
      startedAt: "2026-03-01T11:00:00.000Z",
      reconcileIntervalSeconds: 60,
      dockerHost: "unix:///run/docker.sock",
      lastReconcile: reconcileReport(Date.parse("2026-03-01T11:59:00.000Z"), {
        error: "unix:///run/docker.sock: connect ECONNREFUSED /run/docker.sock",
        unreachable: "unix:///run/docker.sock",
      }),
      memory: { rss: 62_000_000, heapTotal: 9_000_000, heapUsed: 7_500_000, external: 1_200_000 },
    };
    const socket = join(dir, "azvnet.sock");
    const server = await serveUnixSocket(createProtocolApp({ ...drivers, status: () => reply }), socket);
    try {
      assert.deepEqual(await probePluginStatus(socket, 1000), reply);
      assert.equal((await probeSocket(socket, 1000)).answering, true);
    } finally {
      await server.close();
    }
  });

  it("rejects when the plugin does not know the method (an older daemon)", async () => {
    const socket = join(dir, "azvnet.sock");
    const server = await serveUnixSocket(createProtocolApp(drivers), socket);
    try {
      await assert.rejects(probePluginStatus(socket, 1000), /AzureVnet.Status answered something unexpected/);
    } finally {
      await server.close();
    }
  });
});
