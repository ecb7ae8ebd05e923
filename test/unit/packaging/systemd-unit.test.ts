/**
 * plugin-config/systemd/azure-vnet.service: the keys the legacy install
 * relies on, systemd's own verdict on the file, and its wait-for-socket step.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseServeConfig } from "../../../driver/config";

const UNIT = resolve(__dirname, "../../../../plugin-config/systemd/azure-vnet.service");

/** Section -> key -> values, in order; enough of systemd's syntax for this file (no continuations). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    assert.ok(current, `key outside a section: ${line}`);
    assert.ok(!line.endsWith("\\"), "line continuations are not expected here");
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `not a key=value line: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

function has(cmd: string): boolean {
  return spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
}

describe("plugin-config/systemd/azure-vnet.service", () => {
  const text = readFileSync(UNIT, "utf8");
  const unit = parseUnit(text);
  const key = (section: string, name: string) => unit.get(section)?.get(name) ?? [];

  it("starts before Docker and after the network, and is enabled for boot", () => {
    assert.ok(key("Unit", "Before").join(" ").split(/\s+/).includes("docker.service"));
    assert.ok(key("Unit", "After").join(" ").includes("network-online.target"));
    assert.deepEqual(key("Install", "WantedBy"), ["multi-user.target"]);
  });

  it("runs serve with its defaults, restarts on failure and reads settings from /etc/default", () => {
    assert.deepEqual(key("Service", "ExecStart"), ["/usr/local/bin/azure-vnet-plugin serve"]);
    assert.deepEqual(key("Service", "Restart"), ["on-failure"]);
    assert.deepEqual(key("Service", "EnvironmentFile"), ["-/etc/default/azure-vnet"]);
  });

  it("keeps only the capabilities the dataplane uses", () => {
    assert.deepEqual(key("Service", "CapabilityBoundingSet"), ["CAP_NET_ADMIN CAP_NET_RAW"]);
    // /proc/sys must stay writable: the plugin sets proxy_arp and rp_filter on its bridges.
    assert.equal(key("Service", "ProtectKernelTunables").length, 0);
  });

  it("waits for the socket serve opens by default, and finds one that is there", async function () {
    const [post] = key("Service", "ExecStartPost");
    assert.ok(post, "no ExecStartPost");
    assert.ok(post.includes(parseServeConfig([], {}).socket), "ExecStartPost waits for another socket than serve's default");
    const script = /^\/bin\/sh -c '(.*)'$/.exec(post)?.[1];
    assert.ok(script, `ExecStartPost is not /bin/sh -c '...': ${post}`);
    // systemd turns $$ into $ before running the line.
    const shell = script.replace(/\$\$/g, "$");
    const dir = mkdtempSync(join(tmpdir(), "azure-vnet-unit-"));
    const socket = join(dir, "s.sock");
    const server = createServer();
    await new Promise<void>((ok) => server.listen(socket, ok));
    try {
      const t0 = Date.now();
      const r = spawnSync("/bin/sh", ["-c", shell], {
        env: { PATH: process.env.PATH, AZURE_VNET_SOCKET: socket },
        encoding: "utf8",
        timeout: 10_000,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(Date.now() - t0 < 5_000);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("passes systemd-analyze verify", function () {
    if (!has("systemd-analyze")) this.skip();
    // verify also checks that ExecStart's program exists: stand in an executable that does.
    const dir = mkdtempSync(join(tmpdir(), "azure-vnet-unit-"));
    try {
      const copy = join(dir, "azure-vnet.service");
      writeFileSync(copy, text.replace("/usr/local/bin/azure-vnet-plugin", process.execPath));
      const r = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8", timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), "", r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
