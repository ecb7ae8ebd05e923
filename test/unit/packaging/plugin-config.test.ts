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

  it("starts the bundle's serve on that socket and with its state in the var-lib mount, with settings the driver accepts", () => {
    const [node, ...rest] = config.entrypoint;
    const [main, command, ...args] = rest.slice(rest.findIndex((a) => !a.startsWith("-")));
    assert.equal(node, "/usr/local/bin/node");
    assert.equal(main, "/app/azure-vnet-plugin.js");
    assert.equal(command, "serve");
    const serve = parseServeConfig(args, envValues());
    assert.equal(serve.socket, `/run/docker/plugins/${config.interface.socket}`);
    assert.equal(serve.stateDir, `${mount("var-lib").destination}/azure-vnet`);
  });

  it("puts node and the driver where the rootfs build does", () => {
    assert.match(read("plugin-config/collect-userland.sh"), /\$DEST\/usr\/local\/bin\/node/);
    assert.match(read("Dockerfile"), /^COPY dist\/bundle\/ \/app\/$/m);
    assert.match(read("Dockerfile"), /^COPY plugin-config\/collect-userland\.sh /m);
    // The build context is the repository: .dockerignore must let in exactly what the Dockerfile copies.
    const ignore = read(".dockerignore");
    assert.match(ignore, /^\*$/m);
    assert.match(ignore, /^!dist\/bundle\/$/m);
    assert.match(ignore, /^!plugin-config\/collect-userland\.sh$/m);
    assert.match(read("scripts/bundle.mjs"), /const OUT = join\(OUT_DIR, "azure-vnet-plugin\.js"\)/);
  });

  it("runs the Node release plugin-build.sh pins and checks, online and offline", () => {
    const script = read("scripts/plugin-build.sh");
    const version = /^NODE_VERSION=(24\.\d+\.\d+)$/m.exec(script)?.[1];
    assert.ok(version, "plugin-build.sh pins no Node 24 release");
    assert.match(script, /^NODE_INTEGRITY=sha512-[A-Za-z0-9+/]{86}==$/m);
    assert.equal(/^ARG BASE_IMAGE=(.*)$/m.exec(read("Dockerfile"))?.[1], `node:${version}-bookworm-slim`);
    for (const file of ["Dockerfile", "scripts/plugin-build.sh", "plugin-config/README.md", "README.md"])
      assert.doesNotMatch(read(file), /node:20/, `${file} still names node:20`);
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
    const varLib = mount("var-lib");
    const serve = parseServeConfig(config.entrypoint.slice(config.entrypoint.indexOf("serve") + 1), envValues());
    // The host path behind the state directory is the source with what follows the destination.
    assert.ok(serve.stateDir.startsWith(varLib.destination + "/"));
    assert.equal(varLib.source + serve.stateDir.slice(varLib.destination.length), "/var/lib/azure-vnet");
    assert.equal(parseServeConfig([], {}).stateDir, "/var/lib/azure-vnet");
    // Submounts (a separate /var/lib/azure-vnet) are seen; unmounts on the host reach the plugin's copy.
    assert.deepEqual(varLib.options, ["rbind", "rw", "rslave"]);
    assert.deepEqual(varLib.settable, ["source"]);
  });

  it("shares the host's xtables lock through /run, at the path Docker's iptables takes it", () => {
    const run = mount("run");
    assert.equal(run.source, "/run");
    assert.ok(run.options.includes("rw"));
    const lockfile = envValues().XTABLES_LOCKFILE;
    assert.equal(lockfile, `${run.destination}/xtables.lock`);
    assert.equal(run.source + lockfile.slice(run.destination.length), "/run/xtables.lock");
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

  it("binds only what every booted host has, so enable needs no preparation", () => {
    // A fresh host's directories, the kernel's, and Docker's own socket (there whenever Docker starts plugins).
    const always = new Set(["/var/lib", "/run", "/proc/sys/net", "/run/docker.sock"]);
    for (const m of config.mounts) {
      assert.equal(m.type, "bind");
      assert.ok(always.has(m.source), `${m.name} binds ${m.source}, which a fresh host may lack`);
    }
  });

  it("makes every serve setting a user changes settable, with a value serve accepts as it stands", () => {
    // The socket and the state directory are the entrypoint's; a metadata file would need a mount of its own (args).
    const fixed = new Set(["AZURE_VNET_SOCKET", "AZURE_VNET_STATE_DIR", "AZURE_VNET_METADATA_FILE"]);
    const settable = config.env.filter((e) => e.settable?.includes("value")).map((e) => e.name);
    assert.deepEqual(
      settable.sort(),
      serveVariables()
        .filter((v) => !fixed.has(v))
        .sort(),
    );
    // Flags (args) win over the variables, as documented.
    const serve = parseServeConfig(["--log-level", "warn"], { ...envValues(), LOG_LEVEL: "debug", AZURE_VNET_RECONCILE_INTERVAL: "5" });
    assert.equal(serve.logLevel, "warn");
    assert.equal(serve.reconcileInterval, 5);
  });

  it("lets users set the log level and format, and declares only variables something reads", () => {
    for (const name of ["LOG_LEVEL", "LOG_FORMAT"]) {
      const e = config.env.find((x) => x.name === name);
      assert.deepEqual(e?.settable, ["value"], `${name} is not settable`);
    }
    // DOCKER_HOST is read for the reconciliation with Docker (reconcile/docker-engine.ts); GLIBC_TUNABLES by glibc's malloc,
    // XTABLES_LOCKFILE by iptables.
    const known = new Set([...serveVariables(), "AZURE_VNET_SYSCTL_NET_DIR", "DOCKER_HOST", "GLIBC_TUNABLES", "XTABLES_LOCKFILE"]);
    assert.ok(known.has("LOG_LEVEL"), "could not read the serve settings");
    for (const e of config.env) assert.ok(known.has(e.name), `${e.name} is read by nothing`);
  });
});
