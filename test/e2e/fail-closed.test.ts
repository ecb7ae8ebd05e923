/**
 * Failing closed on vm1: a second plugin instance on the same state directory
 * exits at once and changes nothing; IMDS and the wireserver's HTTP port stay
 * blocked whatever Docker or an operator puts in FORWARD, across a dockerd
 * restart; in bridge mode, a container whose port guard was flushed or
 * unhooked by hand sends nothing until the plugin's reconciliation has
 * restored the guard; in transparent mode, a container whose routed port left
 * its network's group sends nothing, and one with either source check broken
 * by hand still cannot send as another address, until reconciliation has put
 * the port or the rule back.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { PLUGIN_MAIN, PluginProcess, callPlugin } from "../../sim/plugin-process";
import { isAlive, waitFor } from "../../sim/exec";
import { killAndWait } from "../../sim/vm";
import { CREATE_NETWORK, DockerCli, E2E_MODE } from "./helpers/docker";
import { type VmSnapshot, snapshotVm } from "./helpers/vm-state";
import { GUARD_TABLE, type GuardElement, guardElements } from "./helpers/guards";

const VM2 = "10.0.0.5";
const IMDS_URL = "http://169.254.169.254/metadata/instance?api-version=2021-02-01";
const WIRESERVER_URL = "http://168.63.129.16/?comp=versions";
/** Inside vm1's mount namespace, away from /run/docker/plugins. */
const SECOND_SOCKET = "/run/azure-vnet-second.sock";
const SECOND_EXIT_LIMIT_MS = 5_000;
const RECONCILE_S = 3;
/** "Within a couple of reconcile intervals", with room for a slow machine. */
const RESTORE_LIMIT_MS = 3 * RECONCILE_S * 1000 + 2_000;

interface Finished {
  /** False when the process was still running at the limit (it was then stopped). */
  exited: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** A few of the lines that went or came, shortened; or that only their order changed. */
function lineDiff(before: string, after: string): string {
  const [b, a] = [new Set(before.split("\n")), new Set(after.split("\n"))];
  const cut = (l: string) => (l.length > 160 ? `${l.slice(0, 160)}…` : l);
  const gone = [...b]
    .filter((l) => !a.has(l))
    .slice(0, 3)
    .map(cut);
  const added = [...a]
    .filter((l) => !b.has(l))
    .slice(0, 3)
    .map(cut);
  return gone.length || added.length ? `removed [${gone.join(" | ")}] added [${added.join(" | ")}]` : "same lines, another order";
}

describe("fail closed", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  // Production reconcile interval: no reconciliation can hide a gap in these tests.
  const steady = new PluginProcess(sim, "vm1");
  const fast = new PluginProcess(sim, "vm1", { AZURE_VNET_RECONCILE_INTERVAL: String(RECONCILE_S) });
  const docker = new DockerCli(sim, "vm1");
  const vm1 = (cmd: string, args: string[]) => sim.exec("vm1", cmd, args, { allowFailure: true, timeoutMs: 30_000 });

  const reachesVm2 = async (container: string) =>
    /1 packets received/.test((await docker.run(["exec", container, "ping", "-c", "1", "-W", "2", VM2])).stdout);

  /** vm2's connection tracking: did any ICMP from `src` arrive (whatever happened to the replies)? */
  const seenOnVm2 = async (src: string) => {
    const r = await sim.exec("vm2", "conntrack", ["-L", "-p", "icmp", "--src", src], { allowFailure: true });
    assert.match(r.stderr, /flow entries have been shown/, `conntrack on vm2 did not run: ${r.stderr}`);
    return r.stdout.includes(`src=${src} `);
  };
  const forgetOnVm2 = (src: string) => sim.exec("vm2", "conntrack", ["-D", "-p", "icmp", "--src", src], { allowFailure: true });

  /**
   * A GET from inside a container. True only when the server answered; a
   * refused or timed-out connection is false (busybox's `timeout` exits with
   * the TERM it sent: 143); anything else (the probe itself crashing or
   * missing) throws, so it never passes for "blocked".
   */
  const answers = async (container: string, url: string, headers: string[] = []) => {
    const r = await docker.run([
      "exec",
      container,
      "timeout",
      "3",
      "wget",
      "-q",
      "-O",
      "-",
      ...headers.flatMap((x) => ["--header", x]),
      url,
    ]);
    if (r.code === 0) return true;
    if (r.code === 143 || r.code === 124 || (r.code === 1 && /can't connect|Connection refused|timed out/i.test(r.stderr))) return false;
    throw new Error(`the probe of ${url} from ${container} failed on its own (exit ${r.code}): ${r.stderr.trim()}`);
  };

  /** Start `azure-vnet-plugin serve` in vm1 as PluginProcess does, and wait for it to exit (at most `limitMs`, then it is stopped). */
  const serveUntilExit = (args: string[], env: NodeJS.ProcessEnv, limitMs: number): Promise<Finished> =>
    new Promise((resolveRun, reject) => {
      const child = spawn(
        "nsenter",
        ["-t", String(sim.vmPid("vm1")), "-n", "-m", "-u", "--", process.execPath, PLUGIN_MAIN, "serve", ...args],
        {
          env: { ...sim.dockerEnv("vm1"), LOG_LEVEL: "debug", ...env },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let output = "";
      let exited = true;
      child.stdout.on("data", (d) => (output += d));
      child.stderr.on("data", (d) => (output += d));
      child.once("error", reject);
      const limit = setTimeout(() => {
        exited = false;
        if (child.pid !== undefined) void killAndWait(child.pid, 10_000);
      }, limitMs);
      child.once("close", (code, signal) => {
        clearTimeout(limit);
        resolveRun({ exited, code, signal, output });
      });
    });

  /** What a second instance must leave alone: links, addresses, routes, iptables, the state file and the bridge guards. */
  const snapshot = async (): Promise<VmSnapshot> => ({
    ...(await snapshotVm(sim, "vm1")),
    "bridge guards": (await vm1("nft", ["list", "table", "bridge", GUARD_TABLE])).stdout,
  });

  before(async function () {
    await sim.down();
    await sim.up(defaultTopology());
    await steady.start();
    await docker.ok([...CREATE_NETWORK, "--subnet", "10.0.0.0/24", "vnet"]);
    for (const name of ["web1", "web2"]) {
      const r = await docker.start(name, "vnet", ["--restart", "always"]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async function () {
    // Containers go while the plugin still answers (else dockerd waits ~15 s per call for it).
    await sim.down();
    await steady.stop();
    await fast.stop();
  });

  it("refuses a second instance on the same state directory at once, naming the running one, and changes nothing", async function () {
    assert.match(readFileSync(`/proc/${steady.pid}/cmdline`, "utf8"), /main\.js\0serve/, "the plugin's pid is not its serve process");
    // The running instance's first reconciliation (which may re-apply its rules)
    // is over; the next is a minute away.
    const report = join(sim.paths("vm1").pluginState, "last-reconcile.json");
    await waitFor("the running instance to reconcile with Docker once", () => existsSync(report), 15_000, 100);
    const before = await snapshot();
    let second: Finished;
    try {
      second = await serveUntilExit(["--socket", SECOND_SOCKET], steady.env, SECOND_EXIT_LIMIT_MS);
    } finally {
      await vm1("rm", ["-f", SECOND_SOCKET]);
    }
    const after = await snapshot();

    const problems: string[] = [];
    if (!second.exited) problems.push(`still running after ${SECOND_EXIT_LIMIT_MS} ms (then stopped)`);
    else {
      if (second.code === 0 || second.signal !== null)
        problems.push(`ended with code ${second.code}, signal ${second.signal}: not a refusal`);
      if (!/already running/.test(second.output)) problems.push('its output does not say "already running"');
      if (!new RegExp(`\\bpid ${steady.pid}\\b`).test(second.output))
        problems.push(`its output does not name the running instance (pid ${steady.pid})`);
    }
    for (const aspect of Object.keys(before))
      if (before[aspect] !== after[aspect]) problems.push(`changed ${aspect}: ${lineDiff(before[aspect], after[aspect])}`);
    assert.deepEqual(problems, [], `second instance:\n${second.output.split("\n").slice(-15).join("\n")}`);

    assert.ok(isAlive(steady.pid), "the running instance died");
    assert.equal((await callPlugin(steady.socket, "Plugin.Activate")).status, 200, "the running instance stopped answering");
    for (const name of ["web1", "web2"]) assert.ok(await reachesVm2(name), `${name} no longer reaches vm2`);
  });

  it("keeps IMDS and the wireserver's port 80 blocked with ACCEPT in DOCKER-USER, right after a dockerd restart too", async function () {
    if ((await vm1("iptables", ["-w", "-n", "-L", "DOCKER-USER"])).code !== 0) {
      await sim.exec("vm1", "iptables", ["-w", "-N", "DOCKER-USER"]);
      await sim.exec("vm1", "iptables", ["-w", "-I", "FORWARD", "-j", "DOCKER-USER"]);
    }
    await sim.exec("vm1", "iptables", ["-w", "-I", "DOCKER-USER", "-j", "ACCEPT"]);
    const problems: string[] = [];
    const check = async (when: string) => {
      if (await answers("web1", IMDS_URL, ["Metadata: true"])) problems.push(`IMDS answered the container ${when}`);
      if (await answers("web1", WIRESERVER_URL)) problems.push(`the wireserver's port 80 answered the container ${when}`);
      if (!(await reachesVm2("web1"))) problems.push(`the container did not reach vm2 ${when}`);
    };
    try {
      await check("with ACCEPT in DOCKER-USER");
      await sim.stopVmDocker("vm1", { keepContainers: true });
      await sim.startVmDocker("vm1");
      await waitFor(
        "web1 to be restarted by dockerd",
        async () => (await docker.run(["inspect", "-f", "{{.State.Running}}", "web1"])).stdout.trim() === "true",
        30_000,
        50,
      );
      await check("right after dockerd restarted");
    } finally {
      await vm1("iptables", ["-w", "-D", "DOCKER-USER", "-j", "ACCEPT"]);
    }
    assert.deepEqual(problems, []);
  });

  // Bridge ports only: transparent mode's routed ports have no guard; their equivalent is below.
  (E2E_MODE === "bridge" ? describe : describe.skip)(`a port guard broken by hand (reconcile interval ${RECONCILE_S} s)`, function () {
    before(async function () {
      await steady.stop();
      await fast.start();
    });

    /** The container's host port: the VM's end of its veth. */
    const hostPort = async (container: string) => {
      const iflink = await docker.ok(["exec", container, "cat", "/sys/class/net/eth0/iflink"]);
      const m = new RegExp(`^${iflink}: (azvh[^:@]+)`, "m").exec((await vm1("ip", ["-o", "link"])).stdout);
      assert.ok(m, `no azvh link with index ${iflink} in vm1`);
      return m[1];
    };
    const guardOf = async (port: string) => (await guardElements(vm1)).filter((e) => e.port === port);

    /**
     * Break the guard of a fresh container's port with `breakIt` and, in the
     * same shell, ping vm2 once from the container's network namespace, so no
     * reconciliation can come between the two; then wait for the guard to
     * come back and the container to reach vm2 again.
     */
    const breakAndProbe = async (name: string, breakIt: (guard: GuardElement) => string) => {
      const r = await docker.start(name, "vnet");
      assert.equal(r.code, 0, r.stderr);
      try {
        const address = await docker.ipOf(name);
        const mac = await docker.ok(["exec", name, "cat", "/sys/class/net/eth0/address"]);
        const pid = await docker.ok(["inspect", "-f", "{{.State.Pid}}", name]);
        const port = await hostPort(name);
        const guard = await guardOf(port);
        assert.deepEqual(guard, [{ port, mac, address }], `the guard of ${port}`);
        assert.ok(await reachesVm2(name), "the container does not reach vm2 before the guard is touched");

        await forgetOnVm2(address);
        const probe = await vm1("sh", ["-c", `${breakIt(guard[0])} && nsenter -t ${pid} -n -- busybox ping -c 1 -W 1 ${VM2}`]);
        assert.match(probe.stdout, /1 packets transmitted/, `the guard was not broken or the ping did not run: ${probe.stderr}`);
        const leaked = /1 packets received/.test(probe.stdout);
        const arrived = await seenOnVm2(address);
        assert.ok(
          !leaked && !arrived,
          `a frame from the container got through the broken guard (reply: ${leaked}, seen on vm2: ${arrived})`,
        );

        await waitFor(
          `the guard of ${port} to be restored`,
          async () => JSON.stringify(await guardOf(port)) === JSON.stringify(guard),
          RESTORE_LIMIT_MS,
          200,
        );
        assert.ok(await reachesVm2(name), "the container does not reach vm2 after the guard was restored");
        assert.ok(await seenOnVm2(address), "vm2 records the container's packets once the guard is back");
      } finally {
        await docker.remove([name]);
      }
    };

    it("drops the container's frames after the guard set is flushed, until reconciliation rewrites it", async function () {
      await breakAndProbe("flushed", () => `nft flush set bridge ${GUARD_TABLE} ports`);
    });

    it("drops the container's frames after its guard element is deleted, until reconciliation restores it", async function () {
      await breakAndProbe("unhooked", (g) => `nft delete element bridge ${GUARD_TABLE} ports '{ "${g.port}" . ${g.mac} . ${g.address} }'`);
    });
  });

  (E2E_MODE === "transparent" ? describe : describe.skip)(
    `a routed port broken by hand (reconcile interval ${RECONCILE_S} s)`,
    function () {
      before(async function () {
        await steady.stop();
        await fast.start();
      });

      /** The container's routed port: the VM's end of its veth. */
      const hostPort = async (container: string) => {
        const iflink = await docker.ok(["exec", container, "cat", "/sys/class/net/eth0/iflink"]);
        const m = new RegExp(`^${iflink}: (azvh[^:@]+)`, "m").exec((await vm1("ip", ["-o", "link"])).stdout);
        assert.ok(m, `no azvh link with index ${iflink} in vm1`);
        return m[1];
      };
      const groupOf = async (port: string) => /\bgroup (\S+)/.exec((await vm1("ip", ["-d", "link", "show", port])).stdout)?.[1];
      const rpFilterOf = async (port: string) => (await vm1("cat", [`/proc/sys/net/ipv4/conf/${port}/rp_filter`])).stdout.trim();
      const sourceCheck = async () => (await vm1("iptables", ["-w", "-t", "raw", "-S", "AZURE-VNET-SOURCE"])).stdout.includes("rpfilter");

      it("drops the container's packets after its port left its network's link group, until reconciliation puts it back", async function () {
        const name = "regrouped";
        const r = await docker.start(name, "vnet");
        assert.equal(r.code, 0, r.stderr);
        try {
          const address = await docker.ipOf(name);
          const pid = await docker.ok(["inspect", "-f", "{{.State.Pid}}", name]);
          const port = await hostPort(name);
          const group = await groupOf(port);
          assert.ok(group && group !== "default", `the port is in group ${group}`);
          assert.ok(await reachesVm2(name), "the container does not reach vm2 before the port is touched");

          await forgetOnVm2(address);
          const probe = await vm1("sh", [
            "-c",
            `ip link set ${port} group default && nsenter -t ${pid} -n -- busybox ping -c 1 -W 1 ${VM2}`,
          ]);
          assert.match(probe.stdout, /1 packets transmitted/, `the port was not changed or the ping did not run: ${probe.stderr}`);
          const leaked = /1 packets received/.test(probe.stdout);
          const arrived = await seenOnVm2(address);
          assert.ok(
            !leaked && !arrived,
            `a packet got through a port outside its network's group (reply: ${leaked}, seen on vm2: ${arrived})`,
          );

          await waitFor(`the group of ${port} to be restored`, async () => (await groupOf(port)) === group, RESTORE_LIMIT_MS, 200);
          assert.ok(await reachesVm2(name), "the container does not reach vm2 after its port was put back");
          assert.ok(await seenOnVm2(address), "vm2 records the container's packets once the port is back");
        } finally {
          await docker.remove([name]);
        }
      });

      for (const [what, breakIt] of [
        ["the firewall's source check flushed", () => "iptables -w -t raw -F AZURE-VNET-SOURCE"],
        ["the port's rp_filter off", (port: string) => `sysctl -q -w net.ipv4.conf.${port}.rp_filter=0`],
      ] as const) {
        it(`keeps a spoofed source off the fabric with ${what}, until reconciliation puts it back`, async function () {
          const name = "spoofer";
          const r = await docker.start(name, "vnet", ["--cap-add", "NET_ADMIN"]);
          assert.equal(r.code, 0, r.stderr);
          try {
            const victim = await docker.ipOf("web1");
            const pid = await docker.ok(["inspect", "-f", "{{.State.Pid}}", name]);
            const port = await hostPort(name);
            await docker.ok(["exec", name, "ip", "addr", "add", `${victim}/32`, "dev", "eth0"]);
            await forgetOnVm2(victim);
            const probe = await vm1("sh", ["-c", `${breakIt(port)} && nsenter -t ${pid} -n -- busybox ping -c 2 -W 1 -I ${victim} ${VM2}`]);
            assert.match(probe.stdout, /2 packets transmitted/, `the check was not broken or the ping did not run: ${probe.stderr}`);
            assert.equal(await seenOnVm2(victim), false, `a packet posing as ${victim} reached vm2 with ${what}`);
            await waitFor(
              `${what} to be put back`,
              async () => (await sourceCheck()) && (await rpFilterOf(port)) === "1",
              RESTORE_LIMIT_MS,
              200,
            );
          } finally {
            await docker.remove([name]);
          }
          assert.ok(await reachesVm2("web1"), "the container whose address was posed as keeps working");
          assert.ok(await seenOnVm2(await docker.ipOf("web1")), "and vm2 records its own packets");
        });
      }
    },
  );
});
