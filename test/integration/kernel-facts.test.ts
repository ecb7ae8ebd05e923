/**
 * The read-only kernel facts the operator commands get through the Dataplane
 * (ip_forward, proxy_arp, the iptables rulesets), checked against what the
 * kernel says through sysctl, iproute2 and iptables.
 */
import { strict as assert } from "node:assert";
import { assertThrowawayNetns } from "./support/guard";
import { LinuxDataplane } from "../../driver/dataplane";
import { cmd, iptablesSnapshot, readSysctl, sh } from "./support/host";
import { clearBackend, dockerLikeBaseline } from "./support/iptables";

assertThrowawayNetns();

const BR = "azk-br0";

describe("kernel facts through the Dataplane", () => {
  const dp = new LinuxDataplane();
  let forwardBefore: string;

  before(() => {
    forwardBefore = readSysctl("ipv4/ip_forward");
  });
  afterEach(async () => {
    await cmd("ip", ["link", "del", BR]);
    for (const mode of ["nft", "legacy"]) await clearBackend(`iptables-${mode}`);
    await sh("sysctl", "-qw", `net.ipv4.ip_forward=${forwardBefore}`);
  });
  after(() => dp.close());

  it("ipForward follows net.ipv4.ip_forward", async () => {
    await sh("sysctl", "-qw", "net.ipv4.ip_forward=0");
    assert.equal(await dp.ipForward(), false);
    await sh("sysctl", "-qw", "net.ipv4.ip_forward=1");
    assert.equal(await dp.ipForward(), true);
  });

  it("proxyArp follows the link's proxy_arp, and is undefined for a link that is not there", async () => {
    assert.equal(await dp.proxyArp(BR), undefined);
    await sh("ip", "link", "add", BR, "type", "bridge");
    await sh("sysctl", "-qw", `net.ipv4.conf.${BR}.proxy_arp=0`);
    assert.equal(await dp.proxyArp(BR), false);
    await sh("sysctl", "-qw", `net.ipv4.conf.${BR}.proxy_arp=1`);
    assert.equal(await dp.proxyArp(BR), true);
  });

  it("iptablesBackends sees Docker's chains in the ruleset that has them, and writes nothing", async () => {
    await dockerLikeBaseline("iptables-legacy");
    const before = [await iptablesSnapshot("iptables-nft-save"), await iptablesSnapshot("iptables-legacy-save")];
    const probe = await dp.iptablesBackends();
    const version = await sh("iptables", "-V");
    assert.equal(probe.defaultMode, version.includes("nf_tables") ? "nft" : "legacy");
    const byMode = Object.fromEntries(probe.rulesets.map((r) => [r.mode, r]));
    assert.deepEqual(byMode.legacy, { mode: "legacy", available: true, dockerChains: ["DOCKER", "DOCKER-USER"], pluginChains: [] });
    assert.deepEqual(byMode.nft, { mode: "nft", available: true, dockerChains: [], pluginChains: [] });
    assert.deepEqual([await iptablesSnapshot("iptables-nft-save"), await iptablesSnapshot("iptables-legacy-save")], before);
  });
});
