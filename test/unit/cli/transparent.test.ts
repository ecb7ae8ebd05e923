/**
 * `doctor` and `status` for a VM whose network is in transparent mode: no
 * bridge, the endpoint's route on its own host veth, no port guard, and the
 * routed port's group and sysctls checked instead.
 */
import assert from "node:assert/strict";
import { runDoctor } from "../../../driver/cli/doctor";
import { buildStatus, renderStatus } from "../../../driver/cli/status";
import type { Facts } from "../../../driver/cli/facts";
import { portGroup } from "../../../driver/network/records";
import { BRIDGE, HOST_VETH, NET_ID, checkpoint, firewall, healthy, links, view } from "./fixtures";

const GROUP = portGroup(NET_ID);
const PORT_OK = { group: GROUP, up: true, proxyArp: true, proxyDelay: 0, rpFilter: 1, ipv6Disabled: true };

/** The healthy VM of fixtures.ts, with its network transparent and the kernel as the plugin builds it then. */
function transparentVm(): Facts {
  const cp = checkpoint();
  cp.network.networks[NET_ID].options.mode = "transparent";
  const f = healthy();
  f.checkpoint = { ok: true, value: view(cp) };
  f.kernel.links = {
    ok: true,
    value: links()
      .filter((l) => l.name !== BRIDGE)
      .map((l) => (l.name === HOST_VETH ? { ...l, master: undefined, group: GROUP } : l)),
  };
  f.kernel.routes = { [HOST_VETH]: { ok: true, value: ["10.0.0.10"] } };
  f.kernel.proxyArp = {};
  f.kernel.routedPorts = { [HOST_VETH]: { ok: true, value: { ...PORT_OK } } };
  f.kernel.portGuards = { ok: true, value: [] };
  f.kernel.firewall = { ok: true, value: firewall(cp) };
  return f;
}

const checkOf = (f: Facts, id: string) => runDoctor(f).checks.find((c) => c.id === id);

describe("doctor and status, transparent network", () => {
  it("passes every check when the kernel holds what transparent mode builds", () => {
    const report = runDoctor(transparentVm());
    assert.deepEqual(
      report.checks.filter((c) => c.verdict !== "PASS").map((c) => `${c.id}: ${c.finding}`),
      [],
    );
    assert.equal(checkOf(transparentVm(), "bridges")?.finding, "no bridges needed; 1 transparent network needs none");
    assert.equal(checkOf(transparentVm(), "routes")?.finding, "1 container route in place");
    assert.equal(
      checkOf(transparentVm(), "port-guards")?.finding,
      "0 container ports guarded; 1 routed port of transparent networks needs none",
    );
    assert.match(checkOf(transparentVm(), "routed-ports")?.finding ?? "", /^1 routed port with their network's group/);
    assert.match(checkOf(transparentVm(), "firewall")?.finding ?? "", /match the 1 network/);
  });

  it("fails a routed port that lost its group or its proxy ARP, and says how to put it back", () => {
    const f = transparentVm();
    f.kernel.routedPorts[HOST_VETH] = { ok: true, value: { ...PORT_OK, group: 0, proxyArp: false } };
    const c = checkOf(f, "routed-ports");
    assert.equal(c?.verdict, "FAIL");
    assert.deepEqual(c?.fix?.slice(0, 2), [`ip link set ${HOST_VETH} group ${GROUP}`, `sysctl -w net.ipv4.conf.${HOST_VETH}.proxy_arp=1`]);
  });

  it("fails a route missing from the routed port, naming the port", () => {
    const f = transparentVm();
    f.kernel.routes[HOST_VETH] = { ok: true, value: [] };
    const c = checkOf(f, "routes");
    assert.equal(c?.verdict, "FAIL");
    assert.deepEqual(c?.fix, [`ip route replace 10.0.0.10/32 dev ${HOST_VETH} scope link`]);
  });

  it("calls a bridge under the network's reserved name a leftover, and firewall rules keyed by a bridge wrong", () => {
    const f = transparentVm();
    if (f.kernel.links.ok) f.kernel.links.value.push({ name: BRIDGE, index: 9, mtu: 1500, kind: "bridge", up: true });
    assert.equal(checkOf(f, "stale-state")?.verdict, "WARN");
    f.kernel.firewall = { ok: true, value: firewall() };
    assert.equal(checkOf(f, "firewall")?.verdict, "FAIL", "a bridge network's rules are not this network's");
  });

  it("status shows no bridge, the mode, and the endpoint routed through its own port", () => {
    const r = buildStatus(transparentVm());
    assert.deepEqual([r.networks[0].bridge, r.networks[0].bridgeState, r.networks[0].options.mode], [null, "none", "transparent"]);
    assert.equal(r.endpoints[0].routed, true);
    assert.match(renderStatus(r), /^111111111111 +- +none +10\.0\.0\.0\/24 .* mode=transparent snat=true/m);
  });
});
