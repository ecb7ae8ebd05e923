/**
 * The port guards on the real ebtables: what they install, that they fail
 * closed (a port with no chain of its own, or a flushed chain, passes
 * nothing), and that a check finds and repairs damage while writing nothing
 * when all is in place.
 */
import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { type Runner, runProgram } from "../../driver/dataplane/exec";
import { PortGuards } from "../../driver/dataplane/port-guard";
import { sh } from "./support/host";

assertThrowawayNetns();

const A = { port: "azvhaaaaaaaaaaa", address: "10.0.0.10", mac: "02:42:0a:00:00:0a" };
const B = { port: "azvhbbbbbbbbbbb", address: "10.0.0.11", mac: "02:42:0a:00:00:0b" };

const save = async () => (await sh("ebtables-save", "-t", "nat")).split("\n").filter((l) => l.startsWith("-") || l.startsWith(":"));

describe("port guards on ebtables", () => {
  let restores = 0;
  const counting: Runner = (file, args, opts) => {
    if (file === "ebtables-restore") restores++;
    return runProgram(file, args, opts);
  };
  let guards: PortGuards;
  beforeEach(() => {
    restores = 0;
    guards = new PortGuards({ run: counting });
  });
  afterEach(async () => {
    await guards.removeAll();
    assert.deepEqual(
      (await save()).filter((l) => l.includes("AZ")),
      [],
      "nothing of the plugin's left",
    );
  });

  it("installs an entry chain and per-port chains that drop whatever they do not accept", async () => {
    assert.deepEqual(await guards.sync([A, B], true), { repaired: [A.port, B.port], removed: [] });
    const rules = await save();
    assert.ok(rules.includes(":AZURE-VNET-PORTS DROP"), "a port without a chain of its own passes nothing");
    assert.ok(rules.includes("-A PREROUTING -i azvh+ -j AZURE-VNET-PORTS"));
    assert.deepEqual(
      rules.filter((l) => l.includes("AZV-azvhaaaaaaaaaaa")),
      [
        ":AZV-azvhaaaaaaaaaaa DROP",
        "-A AZURE-VNET-PORTS -i azvhaaaaaaaaaaa -j AZV-azvhaaaaaaaaaaa",
        "-A AZV-azvhaaaaaaaaaaa -s ! 02:42:0a:00:00:0a -j DROP",
        "-A AZV-azvhaaaaaaaaaaa -p IPv4 --ip-src ! 10.0.0.10 -j DROP",
        "-A AZV-azvhaaaaaaaaaaa -p IPv4 -j ACCEPT",
        "-A AZV-azvhaaaaaaaaaaa -p ARP --arp-ip-src ! 10.0.0.10 -j DROP",
        "-A AZV-azvhaaaaaaaaaaa -p ARP -j ACCEPT",
        "-A AZV-azvhaaaaaaaaaaa -j DROP",
      ],
    );
  });

  it("writes nothing when every guard is in place, and repairs exactly the damaged ones", async () => {
    await guards.sync([A, B], true);
    restores = 0;
    assert.deepEqual(await guards.sync([A, B], true), { repaired: [], removed: [] });
    assert.equal(restores, 0, "a check of intact guards runs no ebtables-restore");

    // Someone flushes A's chain and deletes B's jump.
    await sh("ebtables", "-t", "nat", "-F", `AZV-${A.port}`);
    await sh("ebtables", "-t", "nat", "-D", "AZURE-VNET-PORTS", "-i", B.port, "-j", `AZV-${B.port}`);
    assert.deepEqual(await guards.sync([A, B], true), { repaired: [A.port, B.port], removed: [] });
    assert.equal(restores, 1, "one run repairs them all");
    assert.deepEqual(await guards.sync([A, B], true), { repaired: [], removed: [] });
    assert.equal((await save()).filter((l) => l.startsWith(`-A AZV-${A.port} `)).length, 6);
  });

  it("rewrites a guard whose address or MAC changed, and removes guards no endpoint explains", async () => {
    await guards.sync([A, B], true);
    const moved = { ...A, address: "10.0.0.12" };
    assert.deepEqual(await guards.sync([moved], true), { repaired: [A.port], removed: [B.port] });
    assert.ok((await save()).includes(`-A AZV-${A.port} -p IPv4 --ip-src ! 10.0.0.12 -j DROP`));
  });

  it("turns the entry chain of an older version, which let unguarded ports through, into one that drops", async () => {
    await sh("ebtables", "-t", "nat", "-N", "AZURE-VNET-PORTS", "-P", "RETURN");
    await sh("ebtables", "-t", "nat", "-A", "PREROUTING", "-i", "azvh+", "-j", "AZURE-VNET-PORTS");
    await guards.add(A);
    assert.ok((await save()).includes(":AZURE-VNET-PORTS DROP"));
  });
});
