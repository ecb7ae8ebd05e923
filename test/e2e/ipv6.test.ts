/**
 * Dual-stack networks (--ipv6) on the simulator's dual-stack subnet: each
 * container gets one IPv4 and one IPv6 ipconfig of its VM's NIC, reaches a
 * container on the other VM over both families with its own addresses, and
 * the internet over IPv6 as the VM's primary IPv6 (whose public IPv6 the
 * internet sees). A container can send IPv6 only from its own address: a
 * spoofed source and a neighbour advertisement for another container's
 * address stop at its bridge port, before the VM or the fabric sees them.
 */
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Simulator } from "../../sim/simulator";
import { parseTopology, type Topology } from "../../sim/topology";
import { PluginProcess } from "../../sim/plugin-process";
import { CREATE_NETWORK, DockerCli, E2E_MODE, WHOAMI_CMD, fetchInContainer, fetchOnceUp } from "./helpers/docker";
import { waitFor } from "../../sim/exec";
import { Harness } from "./helpers/sim-harness";

const SEND_NA = resolve(__dirname, "../../../sim/tools/send-na.py");
const SUBNET = "10.0.0.0/24";
const SUBNET6 = "fd00:db8:deca:1::/64";
const VM1_V6 = "fd00:db8:deca:1::4";
const VM1_PIP6 = "2001:db8:200::4";
const VM1_SECONDARIES = ["10.0.0.10", "10.0.0.11", "10.0.0.12"];
const VM1_SECONDARIES6 = ["fd00:db8:deca:1::10", "fd00:db8:deca:1::11", "fd00:db8:deca:1::12"];
const VM2_SECONDARY = "10.0.0.20";
const VM2_SECONDARY6 = "fd00:db8:deca:1::20";
const INET6 = "2001:db8:100::10";
/** An address of the subnet that is no ipconfig of any NIC. */
const SPOOFED6 = "fd00:db8:deca:1::200";
const PORT = 9096;

function topology(): Topology {
  const ipcs = (list: string[]) => list.map((address) => ({ address }));
  return parseTopology({
    vnet: {
      addressSpace: "10.0.0.0/16",
      subnet: SUBNET,
      gateway: "10.0.0.1",
      addressSpace6: "fd00:db8:deca::/48",
      subnet6: SUBNET6,
    },
    vms: [
      {
        name: "vm1",
        nic: {
          mac: "00:0d:3a:00:00:01",
          primary: { address: "10.0.0.4", publicIp: "203.0.113.4" },
          secondaries: ipcs(VM1_SECONDARIES),
          ipv6: { primary: { address: VM1_V6, publicIp6: VM1_PIP6 }, secondaries: ipcs(VM1_SECONDARIES6) },
        },
      },
      {
        name: "vm2",
        nic: {
          mac: "00:0d:3a:00:00:02",
          primary: { address: "10.0.0.5" },
          secondaries: ipcs([VM2_SECONDARY]),
          ipv6: { primary: { address: "fd00:db8:deca:1::5" }, secondaries: ipcs([VM2_SECONDARY6]) },
        },
      },
    ],
    internet: { hostAddress: "198.51.100.10", hostAddress6: INET6 },
    onPrem: { cidr: "192.168.100.0/24", hostAddress: "192.168.100.10", cidr6: "fd00:1234:5678::/64", hostAddress6: "fd00:1234:5678::10" },
  });
}

/** The caller a WHOAMI_CMD container or whoami server reports, without brackets or IPv4-mapped prefix. */
const caller = (out: string) =>
  out
    .trim()
    .replace(/^\[/, "")
    .replace(/\]$/, "")
    .replace(/^::ffff:/, "");

/** Where a container's /128 points on the VM: its network's bridge, or its own routed port (transparent). */
const ROUTE_DEV = E2E_MODE === "bridge" ? "azvb" : "azvh";

describe("dual-stack networks (--ipv6)", function () {
  this.timeout(180_000);
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  const plugin = new PluginProcess(sim, "vm1");
  const plugin2 = new PluginProcess(sim, "vm2");
  const docker = new DockerCli(sim, "vm1");
  const docker2 = new DockerCli(sim, "vm2");
  const create = ["network", "create", "--ipv6", "--subnet", SUBNET, "--subnet", SUBNET6];
  let before6 = { routes: "", forwarding: "" };

  const ip6Of = (d: DockerCli, name: string) =>
    d.ok(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}", name]);
  const ipOf = (d: DockerCli, name: string) => d.ok(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name]);
  /** Runs a program of the VM in the network namespace of one of its containers. */
  const inContainer = async (d: DockerCli, name: string, cmd: string[]) => {
    const pid = await d.ok(["inspect", "-f", "{{.State.Pid}}", name]);
    return sim.exec(d.vm, "nsenter", ["-t", pid, "-n", ...cmd], { allowFailure: true });
  };
  /** c2: a second container on vm1, with the IPv6 address given by --ip6. */
  const startC2 = async () => {
    const r = await docker.run([
      "run",
      "-d",
      "--init",
      "--name",
      "c2",
      "--network",
      "dual",
      "--ip6",
      VM1_SECONDARIES6[2],
      "local/busybox",
      ...WHOAMI_CMD,
    ]);
    assert.equal(r.code, 0, r.stderr);
  };
  /**
   * An unsolicited neighbour advertisement from a container of vm1 (sim/tools/send-na.py, run in its
   * network namespace with a sysfs of that namespace, where the tool reads the interface's MAC).
   */
  const sendNa = async (name: string, source: string, target: string) => {
    const script = 'mount -t sysfs sysfs /sys && exec python3 "$0" eth0 "$1" "$2"';
    return inContainer(docker, name, ["unshare", "-m", "--propagation", "private", "sh", "-c", script, SEND_NA, source, target]);
  };
  const fetch = async (d: DockerCli, name: string, url: string) => {
    const r = await fetchInContainer(sim, d.vm, name, url);
    assert.equal(r.code, 0, `${url} from ${name}: ${r.stderr}`);
    return caller(r.stdout);
  };
  const drops6 = async () => {
    const c = await sim.dropCounters();
    return { ip: c.spoofedIp6.vm1 ?? 0, na: c.spoofedNa6.vm1 ?? 0, mac: c.spoofedMac6.vm1 ?? 0 };
  };
  const vmIpv6 = async () => ({
    routes: (await sim.exec("vm1", "ip", ["-6", "route", "show"])).stdout,
    forwarding: (await sim.exec("vm1", "sysctl", ["-n", "net.ipv6.conf.all.forwarding"])).stdout.trim(),
  });

  before(async function () {
    this.timeout(300_000);
    await sim.down();
    await sim.up(topology());
    before6 = await vmIpv6();
    await plugin.start();
    await plugin2.start();
    await h.whoami({ edge: "inet" }, PORT, INET6);
    await docker.ok([...CREATE_NETWORK, ...create.slice(2), "dual"]);
    await docker2.ok([...CREATE_NETWORK, ...create.slice(2), "dual"]);
    for (const [d, name] of [
      [docker, "c1"],
      [docker2, "r1"],
    ] as const) {
      const r = await d.run(["run", "-d", "--init", "--name", name, "--network", "dual", "local/busybox", ...WHOAMI_CMD]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async function () {
    this.timeout(180_000);
    await docker.remove(["c1", "c2", "c3", "boot6"]).catch(() => undefined);
    await docker2.remove(["r1"]).catch(() => undefined);
    await h.stopAll();
    await plugin.stop();
    await plugin2.stop();
    await sim.down();
  });

  it("gives each container one ipconfig of each family, its IPv6 address as a /128 with the default route via fe80::1", async function () {
    assert.ok(VM1_SECONDARIES.includes(await ipOf(docker, "c1")));
    const v6 = await ip6Of(docker, "c1");
    assert.ok(VM1_SECONDARIES6.includes(v6), `c1 got ${v6}, not an IPv6 ipconfig of vm1`);
    assert.equal(await ip6Of(docker2, "r1"), VM2_SECONDARY6);
    const len = await docker.ok(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.GlobalIPv6PrefixLen}}{{end}}", "c1"]);
    assert.equal(len, "128");
    const addrs = await inContainer(docker, "c1", ["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"]);
    assert.match(addrs.stdout, new RegExp(`inet6 ${v6}/128 `));
    const routes = await inContainer(docker, "c1", ["ip", "-6", "route", "show"]);
    assert.match(routes.stdout, /^default via fe80::1 dev eth0/m);
    assert.doesNotMatch(routes.stdout, /fd00:db8:deca:1::\/64/, "the /64 must not be on-link in the container");
    // The VM: the container's /128 through the bridge, forwarding on, the gateway on the bridge.
    const vmRoutes = await sim.exec("vm1", "ip", ["-6", "route", "show", `${v6}/128`]);
    assert.match(vmRoutes.stdout, new RegExp(`dev ${ROUTE_DEV}`));
    assert.equal((await vmIpv6()).forwarding, "1");
  });

  it("carries IPv6 and IPv4 between containers on the two VMs, each seeing the other's own address", async function () {
    const c1 = await ip6Of(docker, "c1");
    const r1 = await ip6Of(docker2, "r1");
    assert.equal(await fetch(docker, "c1", `http://[${r1}]:8080/cgi-bin/ip`), c1);
    assert.equal(await fetch(docker2, "r1", `http://[${c1}]:8080/cgi-bin/ip`), r1);
    assert.equal(await fetch(docker, "c1", `http://${VM2_SECONDARY}:8080/cgi-bin/ip`), await ipOf(docker, "c1"));
    assert.deepEqual(await drops6(), { ip: 0, na: 0, mac: 0 });
  });

  it("honours --ip6, and carries IPv6 between two containers of one VM", async function () {
    await startC2();
    assert.equal(await ip6Of(docker, "c2"), VM1_SECONDARIES6[2]);
    assert.equal(await fetch(docker, "c1", `http://[${VM1_SECONDARIES6[2]}]:8080/cgi-bin/ip`), await ip6Of(docker, "c1"));
  });

  it("sends IPv6 to the internet as the VM's primary IPv6, which arrives as its public IPv6", async function () {
    assert.equal(await fetch(docker, "c1", `http://[${INET6}]:${PORT}/`), VM1_PIP6);
  });

  it("runs a dual-stack compose project (enable_ipv6, ipv6_address)", async function () {
    const file = join(sim.dir, "ipv6-compose.yml");
    writeFileSync(
      file,
      [
        "services:",
        "  web:",
        "    image: local/busybox",
        "    init: true",
        '    command: ["sleep", "600"]',
        "    networks:",
        "      vnet6:",
        `        ipv4_address: ${VM1_SECONDARIES[1]}`,
        `        ipv6_address: ${VM1_SECONDARIES6[1]}`,
        "networks:",
        "  vnet6:",
        "    driver: azure-vnet",
        "    enable_ipv6: true",
        "    ipam:",
        "      driver: azure-vnet",
        "      config:",
        `        - subnet: ${SUBNET}`,
        `        - subnet: ${SUBNET6}`,
        "",
      ].join("\n"),
    );
    const v2 = (await sim.exec("vm1", "docker", ["compose", "version"], { allowFailure: true })).code === 0;
    const compose = (args: string[]) =>
      v2
        ? docker.ok(["compose", "-p", "six", "-f", file, ...args], 120_000)
        : sim.exec("vm1", "docker-compose", ["-p", "six", "-f", file, ...args], { timeoutMs: 120_000 });
    await docker.remove(["c2"]);
    await compose(["up", "-d"]);
    try {
      const id = await docker.ok(["ps", "-q", "--filter", "label=com.docker.compose.project=six"]);
      assert.equal(await ip6Of(docker, id), VM1_SECONDARIES6[1]);
      assert.equal(await ipOf(docker, id), VM1_SECONDARIES[1]);
    } finally {
      await compose(["down"]);
    }
    await startC2();
  });

  it("puts back a lost /128 route and the bridge's gateway at start-up, and IPv6 works again", async function () {
    const c1 = await ip6Of(docker, "c1");
    const bridge = new RegExp(`dev (${ROUTE_DEV}\\S+)`).exec(
      (await sim.exec("vm1", "ip", ["-6", "route", "show", `${c1}/128`])).stdout,
    )?.[1] as string;
    assert.ok(bridge, "no /128 route for c1");
    await plugin.stop("SIGKILL");
    await sim.exec("vm1", "ip", ["-6", "route", "del", `${c1}/128`, "dev", bridge]);
    await sim.exec("vm1", "ip", ["-6", "addr", "del", "fe80::1/64", "dev", bridge]);
    await plugin.start();
    assert.match((await sim.exec("vm1", "ip", ["-6", "route", "show", `${c1}/128`])).stdout, new RegExp(`dev ${bridge}`));
    assert.match((await sim.exec("vm1", "ip", ["-6", "addr", "show", "dev", bridge])).stdout, /inet6 fe80::1\/64/);
    assert.equal(await fetch(docker2, "r1", `http://[${c1}]:8080/cgi-bin/ip`), await ip6Of(docker2, "r1"));
  });

  it("drops IPv6 from a container with a source that is not its own at its port: the fabric never sees it", async function () {
    const d0 = await drops6();
    const add = await inContainer(docker, "c1", ["ip", "-6", "addr", "add", `${SPOOFED6}/128`, "dev", "eth0", "nodad"]);
    assert.equal(add.code, 0, add.stderr);
    try {
      const r1 = await ip6Of(docker2, "r1");
      const ping = await inContainer(docker, "c1", ["busybox", "ping", "-6", "-c", "2", "-W", "1", "-I", SPOOFED6, r1]);
      assert.match(
        ping.stdout,
        /2 packets transmitted, 0 packets received/,
        `a ping from a spoofed IPv6 source: ${ping.stdout}${ping.stderr}`,
      );
      if (E2E_MODE === "bridge") {
        const guard = await sim.exec("vm1", "nft", ["list", "table", "bridge", "azure-vnet"]);
        assert.match(guard.stdout, /ports6/);
      }
      assert.deepEqual(await drops6(), d0, "the fabric saw spoofed IPv6 from vm1");
    } finally {
      await inContainer(docker, "c1", ["ip", "-6", "addr", "del", `${SPOOFED6}/128`, "dev", "eth0"]);
    }
    // Its own address still works.
    assert.equal(await fetch(docker, "c1", `http://[${await ip6Of(docker2, "r1")}]:8080/cgi-bin/ip`), await ip6Of(docker, "c1"));
  });

  it("drops a neighbour advertisement from a container for another container's address: the VM keeps the right MAC", async function () {
    const c1 = await ip6Of(docker, "c1");
    const c2 = await ip6Of(docker, "c2");
    const c2Mac = await docker.ok(["exec", "c2", "cat", "/sys/class/net/eth0/address"]);
    assert.match(c2Mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const neigh = async () => (await sim.exec("vm1", "ip", ["-6", "neigh", "show", c2])).stdout;
    // The VM learns c2's MAC by talking to it.
    assert.equal((await sim.exec("vm1", "busybox", ["ping", "-6", "-c", "1", "-W", "2", c2], { allowFailure: true })).code, 0);
    assert.match(await neigh(), new RegExp(`lladdr ${c2Mac}`, "i"));
    const d0 = await drops6();
    const na = await sendNa("c1", c1, c2);
    assert.equal(na.code, 0, na.stderr);
    await new Promise((r) => setTimeout(r, 300));
    assert.match(await neigh(), new RegExp(`lladdr ${c2Mac}`, "i"), "c1's advertisement took over c2's address");
    assert.deepEqual(await drops6(), d0);
  });

  it("brings a dual-stack restart-policy container back after a VM reboot, reached over IPv6 with its own address", async function () {
    const r = await docker.run([
      ...["run", "-d", "--init", "--restart", "always", "--name", "boot6", "--network", "dual"],
      ...["--ip6", VM1_SECONDARIES6[1], "local/busybox", ...WHOAMI_CMD],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const d0 = await drops6();
    // The plugin's unit starts before docker.service, as on a real VM.
    await sim.rebootVm("vm1", { beforeDocker: async () => void (await plugin.start()) });
    const running = async () => (await docker.run(["inspect", "-f", "{{.State.Running}}", "boot6"])).stdout.trim() === "true";
    await waitFor("boot6 running again after the reboot", running, 60_000, 500);
    assert.equal(await ip6Of(docker, "boot6"), VM1_SECONDARIES6[1]);
    const url = `http://[${VM1_SECONDARIES6[1]}]:8080/cgi-bin/ip`;
    assert.equal(caller(await fetchOnceUp(sim, "vm2", "r1", url)), await ip6Of(docker2, "r1"));
    assert.equal((await sim.exec("vm1", "sysctl", ["-n", "net.ipv6.conf.all.forwarding"])).stdout.trim(), "1");
    assert.deepEqual(await drops6(), d0);
  });

  it("removing the containers and the network leaves no IPv6 route or ip6tables chain behind (forwarding stays on)", async function () {
    await docker.remove(["c1", "c2", "boot6"]);
    await docker.ok(["network", "rm", "dual"]);
    const after = await vmIpv6();
    assert.equal(after.routes, before6.routes);
    assert.equal(after.forwarding, "1");
    const rules = await sim.exec("vm1", "ip6tables-save", []);
    assert.doesNotMatch(rules.stdout, /AZURE-VNET/);
    const guard = await sim.exec("vm1", "nft", ["list", "tables"]);
    assert.doesNotMatch(guard.stdout, /azure-vnet/);
  });
});
