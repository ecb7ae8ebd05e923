/**
 * plugin-config/config.json against what Docker, runc and the driver expect
 * of it. Docker checks almost nothing at `docker plugin create`; mistakes
 * show up only at enable or at the first network, so they are caught here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command } from "commander";
import { parseServeConfig, registerServeOptions } from "../../../driver/config";

const ROOT = resolve(__dirname, "../../../..");
const read = (path: string) => readFileSync(resolve(ROOT, path), "utf8");

interface Mount {
  name: string;
  source: string;
  destination: string;
  type: string;
  options: string[];
  settable?: string[];
}
interface Env {
  name: string;
  value: string;
  settable?: string[];
}
interface PluginConfig {
  entrypoint: string[];
  interface: { types: string[]; socket: string };
  network: { type: string };
  linux: { capabilities: string[] };
  mounts: Mount[];
  env: Env[];
}

const config = JSON.parse(read("plugin-config/config.json")) as PluginConfig;
const mount = (name: string) => {
  const m = config.mounts.find((x) => x.name === name);
  assert.ok(m, `no mount named ${name}`);
  return m;
};
const envValues = () => Object.fromEntries(config.env.map((e) => [e.name, e.value]));
/** Environment variables `azure-vnet-plugin serve` reads, from its option help ("env NAME"). */
const serveVariables = () =>
  registerServeOptions(new Command("serve"))
    .options.map((o) => /\(env ([A-Z_]+)/.exec(o.description ?? "")?.[1])
    .filter((v) => v !== undefined);

describe("plugin-config/config.json", () => {
  it("declares both roles in the exact form Docker registers handlers under", () => {
    assert.deepEqual(config.interface.types, ["docker.networkdriver/1.0", "docker.ipamdriver/1.0"]);
  });

  it("names a socket whose host path fits a unix socket address", () => {
    assert.match(config.interface.socket, /^[a-z0-9.-]+$/);
    // Docker binds /run/docker/plugins/<64-hex plugin id>/ over the plugin's /run/docker/plugins.
    const hostPath = `/run/docker/plugins/${"0".repeat(64)}/${config.interface.socket}`;
    assert.ok(Buffer.byteLength(hostPath) <= 107, `${hostPath} is longer than sun_path allows`);
  });

  it("starts the bundle's serve on that socket and on the state mount, with settings the driver accepts", () => {
    const [node, ...rest] = config.entrypoint;
    const [main, command, ...args] = rest.slice(rest.findIndex((a) => !a.startsWith("-")));
    assert.equal(node, "/usr/local/bin/node");
    assert.equal(main, "/app/azure-vnet-plugin.js");
    assert.equal(command, "serve");
    const serve = parseServeConfig(args, envValues());
    assert.equal(serve.socket, `/run/docker/plugins/${config.interface.socket}`);
    assert.equal(serve.stateDir, mount("state").destination);
  });

  it("puts node and the driver where the rootfs build does", () => {
    assert.match(read("plugin-config/collect-userland.sh"), /\$DEST\/usr\/local\/bin\/node/);
    assert.match(read("plugin-config/Dockerfile"), /^COPY app\/ \/app\/$/m);
    assert.match(read("scripts/plugin-build.sh"), /tar -C dist\/bundle .*\| tar -xf - -C "\$CTX\/app"/);
    assert.match(read("scripts/bundle.mjs"), /const OUT = join\(OUT_DIR, "azure-vnet-plugin\.js"\)/);
  });

  it("gives node only flags it accepts", () => {
    const flags = config.entrypoint.slice(1, config.entrypoint.indexOf("/app/azure-vnet-plugin.js"));
    const run = spawnSync(process.execPath, [...flags, "-e", ""], { encoding: "utf8" });
    assert.equal(run.status, 0, `node ${flags.join(" ")}: ${run.stderr}`);
    assert.equal(run.stderr, "", `node ${flags.join(" ")} warns: ${run.stderr}`);
  });

  it("runs in the host network namespace with CAP_NET_ADMIN as its only extra capability", () => {
    // Docker's links (Join's SrcName) must be made where Docker looks for them.
    assert.equal(config.network.type, "host");
    // The managed-plugin e2e proves this set sufficient; add one only with a failing flow to show.
    assert.deepEqual(config.linux.capabilities, ["CAP_NET_ADMIN"]);
  });

  it("keeps state on the host at the path the legacy install and the operator commands use", () => {
    const state = mount("state");
    assert.equal(state.source, "/var/lib/azure-vnet");
    assert.equal(state.destination, "/var/lib/azure-vnet");
    assert.equal(state.type, "bind");
    assert.ok(state.options.includes("rw"));
    assert.deepEqual(state.settable, ["source"]);
  });

  it("shares the host's xtables lock at the path iptables takes it", () => {
    const lock = mount("xtables-lock");
    assert.equal(lock.source, "/run/xtables.lock");
    assert.equal(lock.destination, "/run/xtables.lock");
    assert.ok(lock.options.includes("rw"));
  });

  it("lets the driver reach Docker's API at the socket it mounts", () => {
    const sock = mount("docker-socket");
    assert.equal(sock.source, "/run/docker.sock");
    assert.equal(envValues().DOCKER_HOST, `unix://${sock.destination}`);
    assert.deepEqual(sock.settable, ["source"]);
  });

  it("mounts the network sysctls outside /proc, where runc allows it, and tells the driver where", () => {
    const sysctl = mount("sysctl-net");
    assert.equal(sysctl.source, "/proc/sys/net");
    assert.ok(!sysctl.destination.startsWith("/proc/"), "runc refuses bind mounts inside /proc");
    assert.ok(sysctl.options.includes("rw"));
    assert.equal(envValues().AZURE_VNET_SYSCTL_NET_DIR, sysctl.destination);
    assert.match(read("driver/dataplane/sysctl.ts"), /process\.env\.AZURE_VNET_SYSCTL_NET_DIR/);
  });

  it("gives every bind a source the host has after boot (tmpfiles.d makes the missing ones)", () => {
    const tmpfiles = read("plugin-config/tmpfiles.d/azure-vnet.conf");
    for (const m of config.mounts) {
      assert.equal(m.type, "bind");
      // The kernel's and Docker's own are there whenever the plugin starts.
      if (m.source.startsWith("/proc/") || m.name === "docker-socket") continue;
      assert.match(tmpfiles, new RegExp(`^[df] ${m.source.replace(/[.]/g, "\\.")} `, "m"), `tmpfiles.d does not create ${m.source}`);
    }
  });

  it("lets users set the log level and format, and declares only variables something reads", () => {
    for (const name of ["LOG_LEVEL", "LOG_FORMAT"]) {
      const e = config.env.find((x) => x.name === name);
      assert.deepEqual(e?.settable, ["value"], `${name} is not settable`);
    }
    // DOCKER_HOST is read for the reconciliation with Docker (reconcile/docker-engine.ts); GLIBC_TUNABLES by glibc's malloc.
    const known = new Set([...serveVariables(), "AZURE_VNET_SYSCTL_NET_DIR", "DOCKER_HOST", "GLIBC_TUNABLES"]);
    assert.ok(known.has("LOG_LEVEL"), "could not read the serve settings");
    for (const e of config.env) assert.ok(known.has(e.name), `${e.name} is read by nothing`);
  });
});
