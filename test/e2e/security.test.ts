/**
 * What a container must not be able to do: send as another container (IP or
 * MAC), reach IMDS or the wireserver's HTTP ports; and who may talk to the
 * plugin's socket. In bridge mode the port guards drop a spoofed MAC; in
 * transparent mode a MAC never leaves the container's own veth, and what the
 * fabric sees is the NIC's MAC whatever the container does.
 */
import { strict as assert } from "node:assert";
import { statSync } from "node:fs";
import { Simulator } from "../../sim/simulator";
import { defaultTopology } from "../../sim/topology";
import { PluginProcess } from "../../sim/plugin-process";
import { Harness } from "./helpers/sim-harness";
import { CREATE_NETWORK, E2E_MODE, imdsGetArgs, sleeperArgs } from "./helpers/docker";

describe("security", function () {
  const sim = new Simulator(process.env.AZSIM_DIR ?? "/tmp/azure-vnet-sim-e2e");
  const h = new Harness(sim);
  const plugin = new PluginProcess(sim, "vm1");
  const docker = (args: string[]) => sim.exec("vm1", "docker", args, { allowFailure: true, timeoutMs: 60_000 });
  const inC = (name: string, cmd: string[]) => docker(["exec", name, ...cmd]);

  before(async function () {
    await sim.down();
    await sim.up(defaultTopology());
    await plugin.start();
    const r = await docker([...CREATE_NETWORK, "--subnet", "10.0.0.0/24", "vnet"]);
    assert.equal(r.code, 0, r.stderr);
    // The attacker may reconfigure its own interface (NET_ADMIN), as a compromised root container could.
    for (const [name, ip, extra] of [
      ["attacker", "10.0.0.10", ["--cap-add", "NET_ADMIN"]],
      ["victim", "10.0.0.11", []],
    ] as const) {
      const run = await docker(sleeperArgs(name, "vnet", [...extra, "--ip", ip]));
      assert.equal(run.code, 0, run.stderr);
    }
  });

  after(async function () {
    await h.stopAll();
    // Containers go while the plugin still answers (else dockerd waits ~15 s per call for it).
    await sim.down();
    await plugin.stop();
  });

  it("serves its socket to root only", function () {
    const st = statSync(plugin.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it("lets a container send with its own address", async function () {
    const r = await inC("attacker", ["ping", "-c", "1", "-W", "2", "10.0.0.5"]);
    assert.match(r.stdout, /1 packets received/);
  });

  it("drops packets a container sends with another container's address", async function () {
    const add = await inC("attacker", ["ip", "addr", "add", "10.0.0.11/32", "dev", "eth0"]);
    assert.equal(add.code, 0, add.stderr);
    // vm2's connection tracking shows whether a packet from an address arrived
    // (replies go to the victim, or to nobody, so the attacker's view proves nothing).
    const seenOnVm2 = async (src: string) => {
      const r = await sim.exec("vm2", "conntrack", ["-L", "-p", "icmp", "--src", src], { allowFailure: true });
      assert.match(r.stderr, /flow entries have been shown/, `conntrack on vm2 did not run: ${r.stderr}`);
      return r.stdout.includes(`src=${src} `);
    };
    for (const src of ["10.0.0.11", "10.0.0.12"])
      await sim.exec("vm2", "conntrack", ["-D", "-p", "icmp", "--src", src], { allowFailure: true });
    try {
      await inC("attacker", ["ping", "-c", "2", "-W", "1", "-I", "10.0.0.11", "10.0.0.5"]);
      assert.equal(await seenOnVm2("10.0.0.11"), false, "a spoofed packet reached vm2");
      // An address that belongs to no container is refused the same way.
      await inC("attacker", ["ip", "addr", "add", "10.0.0.12/32", "dev", "eth0"]);
      const free = await inC("attacker", ["ping", "-c", "2", "-W", "1", "-I", "10.0.0.12", "10.0.0.5"]);
      assert.match(free.stdout, /2 packets transmitted/, `the ping from 10.0.0.12 did not run: ${free.stderr}`);
      assert.equal(await seenOnVm2("10.0.0.12"), false, "a packet from an unassigned address reached vm2");
    } finally {
      await inC("attacker", ["ip", "addr", "del", "10.0.0.11/32", "dev", "eth0"]);
      await inC("attacker", ["ip", "addr", "del", "10.0.0.12/32", "dev", "eth0"]);
    }
    const victim = await inC("victim", ["ping", "-c", "1", "-W", "2", "10.0.0.5"]);
    assert.match(victim.stdout, /1 packets received/, "the victim keeps working");
    assert.equal(await seenOnVm2("10.0.0.11"), true, "vm2 records the victim's own packets");
    // The same check sees 10.0.0.12 once a container really holds it.
    const holder = await docker([
      "run",
      "--rm",
      "--network",
      "vnet",
      "--ip",
      "10.0.0.12",
      "local/busybox",
      "ping",
      "-c",
      "1",
      "-W",
      "2",
      "10.0.0.5",
    ]);
    assert.match(holder.stdout, /1 packets received/, `a container holding 10.0.0.12 could not reach vm2: ${holder.stderr}`);
    assert.equal(await seenOnVm2("10.0.0.12"), true, "vm2 records packets from 10.0.0.12 once a container holds it");
  });

  it(
    E2E_MODE === "bridge"
      ? "drops frames a container sends with another container's MAC"
      : "keeps another container's MAC on the attacker's own veth: the fabric sees only the NIC's, the victim keeps its traffic",
    async function () {
      const victimMac = (await inC("victim", ["cat", "/sys/class/net/eth0/address"])).stdout.trim();
      const ownMac = (await inC("attacker", ["cat", "/sys/class/net/eth0/address"])).stdout.trim();
      assert.match(victimMac, /^[0-9a-f:]{17}$/);
      const foreignMacs = async () => (await sim.dropCounters()).spoofedMac.vm1;
      const before = await foreignMacs();
      await inC("attacker", ["ip", "link", "set", "eth0", "address", victimMac]);
      try {
        const r = await inC("attacker", ["ping", "-c", "2", "-W", "1", "10.0.0.5"]);
        // A bridge port's guard drops the frames; a routed port has no MAC to check: the VM routes
        // the packet, which leaves with the NIC's MAC like every other.
        if (E2E_MODE === "bridge") assert.match(r.stdout, /0 packets received/);
        assert.equal(await foreignMacs(), before, "the fabric saw a frame from vm1 with a MAC not the NIC's");
        const meanwhile = await inC("victim", ["ping", "-c", "1", "-W", "2", "10.0.0.5"]);
        assert.match(meanwhile.stdout, /1 packets received/, "the victim keeps working while the attacker wears its MAC");
      } finally {
        await inC("attacker", ["ip", "link", "set", "eth0", "address", ownMac]);
      }
      const victim = await inC("victim", ["ping", "-c", "1", "-W", "2", "10.0.0.5"]);
      assert.match(victim.stdout, /1 packets received/, "the victim keeps working");
      const back = await inC("attacker", ["ping", "-c", "1", "-W", "2", "10.0.0.5"]);
      assert.match(back.stdout, /1 packets received/, "the attacker works again with its own MAC");
    },
  );

  it("refuses containers the wireserver's HTTP ports and IMDS at once, and keeps DNS open", async function () {
    const t0 = Date.now();
    const ws = await inC("victim", ["timeout", "5", "wget", "-q", "-O", "-", "http://168.63.129.16/?comp=versions"]);
    assert.notEqual(ws.code, 0);
    const imds = await inC("victim", imdsGetArgs());
    assert.notEqual(imds.code, 0);
    assert.ok(Date.now() - t0 < 4000, "refused, not left to time out");
    const dns = await inC("victim", ["nslookup", "vm2.", "168.63.129.16"]);
    assert.match(dns.stdout, /10\.0\.0\.5/);
  });

  it("lets containers of a network created with allow-imds=true reach IMDS", async function () {
    const r = await docker([
      ...CREATE_NETWORK,
      "--subnet",
      "10.0.0.0/24",
      "--ip-range",
      "10.0.0.16/30",
      "-o",
      "allow-imds=true",
      "imdsnet",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const get = await docker([
      "run",
      "--rm",
      "--network",
      "imdsnet",
      "local/busybox",
      ...imdsGetArgs("instance/compute?api-version=2021-02-01"),
    ]);
    assert.match(get.stdout, /"name":\s*"vm1"/);
    await docker(["network", "rm", "imdsnet"]);
  });
});
