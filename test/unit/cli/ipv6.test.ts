/** status and doctor on a dual-stack network: the container's IPv6 address, and the IPv6 pieces on the VM. */
import assert from "node:assert/strict";
import { runDoctor } from "../../../driver/cli/doctor";
import { buildStatus, renderStatus } from "../../../driver/cli/status";
import type { Check } from "../../../driver/cli/check";
import type { Facts, Ipv6Facts } from "../../../driver/cli/facts";
import { BRIDGE, EP_ID, NET_ID, checkpoint, healthy, view } from "./fixtures";

const A6 = "fd00:db8:deca:1::10";

/** The healthy VM with its network made dual-stack, and the kernel as `ipv6` says. */
function dualStack(ipv6?: Partial<Ipv6Facts>): Facts {
  const f = healthy();
  const cp = checkpoint();
  Object.assign(cp.network.networks[NET_ID], { subnet6: "fd00:db8:deca:1::/64", primaryAddress6: "fd00:db8:deca:1::4" });
  cp.network.endpoints[EP_ID].address6 = A6;
  f.checkpoint = { ok: true, value: view(cp) };
  if (ipv6) f.kernel.ipv6 = { [BRIDGE]: { ok: true, value: { addresses: ["fe80::1"], routes: [A6], forwarding: true, ...ipv6 } } };
  return f;
}

const ipv6Check = (f: Facts) => runDoctor(f).checks.find((c) => c.id === "ipv6") as Check | undefined;

describe("status and doctor: dual-stack networks", () => {
  it("has no ipv6 check while no network has IPv6", () => {
    assert.equal(ipv6Check(healthy()), undefined);
  });

  it("passes when the gateway, the container's /128 and forwarding are in place", () => {
    assert.deepEqual(ipv6Check(dualStack({})), {
      id: "ipv6",
      verdict: "PASS",
      finding: "1 dual-stack network: gateway fe80::1, container routes and forwarding in place",
    });
  });

  it("fails with the commands that put back a missing gateway, route and forwarding", () => {
    const c = ipv6Check(dualStack({ addresses: [], routes: [], forwarding: false }));
    assert.equal(c?.verdict, "FAIL");
    assert.deepEqual(c?.fix?.slice(0, 3), [
      "sysctl -w net.ipv6.conf.all.forwarding=1",
      `ip -6 addr add fe80::1/64 dev ${BRIDGE} nodad`,
      `ip -6 route replace ${A6}/128 dev ${BRIDGE}`,
    ]);
    assert.equal(runDoctor(dualStack({ routes: [] })).healthy, false);
  });

  it("warns when the IPv6 state could not be read", () => {
    assert.equal(ipv6Check(dualStack())?.verdict, "WARN");
  });

  it("shows the container's IPv6 address beside its IPv4 one", () => {
    const r = buildStatus(dualStack({}));
    assert.equal(r.endpoints[0].address6, A6);
    assert.match(renderStatus(r), new RegExp(`10\\.0\\.0\\.10, ${A6}`));
  });
});
