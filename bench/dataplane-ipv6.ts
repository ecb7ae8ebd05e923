/**
 * The dataplane rows again over IPv6: a dual-stack network (--ipv6) in bridge
 * mode on each VM, on the bench subnet and the VNet's IPv6 /64, with one
 * container on each VM. Container to container over IPv6 is set against vm1's
 * primary IPv6 to vm2's, host to host, and against the same pair of
 * containers over IPv4 (what IPv6 costs the plugin's path by itself). A
 * container's IPv6 address is a /128 with its default route via fe80::1 on
 * its bridge, and the VM holds a /128 route to it: removing the network must
 * leave none of those routes.
 */
import { BenchContext, VMS } from "./context";
import { addPathFigures, container, iperfServer, linesOnVms, measureRounds, removePathsAndNetwork, type Endpoint } from "./dataplane";
import { BENCH_SUBNET, BENCH_SUBNET6, IPV6_PRIMARY } from "./topology";

const NETWORK = "benchvnet-ipv6";
const NAMES = { vm1: "bench-v6-src", vm2: "bench-v6-dst" } as const;
const CHECK = "iperf3 and ping over IPv6 between containers on vm1 and vm2";

export async function ipv6Dataplane(ctx: BenchContext): Promise<void> {
  const host6 = (vm: "vm1" | "vm2"): Endpoint => ({ prefix: [], address: IPV6_PRIMARY[vm] });
  const over6 = (e: Endpoint): Endpoint => {
    if (!e.address6) throw new Error(`no IPv6 address on a container of ${NETWORK}`);
    return { prefix: e.prefix, address: e.address6 };
  };
  const servers: number[] = [];
  const container6: string[] = [];
  let routesBefore = 0;
  try {
    for (const vm of VMS) {
      const r = await ctx.docker(vm, [
        ...["network", "create", "-d", "azure-vnet", "--ipam-driver", "azure-vnet", "--ipv6"],
        ...["--subnet", BENCH_SUBNET, "--subnet", BENCH_SUBNET6, NETWORK],
      ]);
      if (r.code !== 0) throw new Error(`docker network create ${NETWORK} on ${vm} failed: ${r.stderr.trim()}`);
    }
    const src = await container(ctx, "vm1", NAMES.vm1, NETWORK);
    const dst = await container(ctx, "vm2", NAMES.vm2, NETWORK);
    const paths = {
      host6: { from: host6("vm1"), to: host6("vm2") },
      container6: { from: over6(src), to: over6(dst) },
      container4: { from: src, to: dst },
    };
    container6.push(paths.container6.from.address, paths.container6.to.address);
    // iperf3 -s listens on both families: one server per namespace answers the IPv4 and IPv6 paths.
    servers.push(await iperfServer(ctx, host6("vm2"), "ipv6-host"), await iperfServer(ctx, dst, "ipv6-container"));
    const { gbps, rtt } = await measureRounds(ctx, paths);
    routesBefore = (await containerRoutes(ctx, container6)).length;
    ctx.check(
      CHECK,
      true,
      `${ctx.opts.dataplaneRounds} rounds, ${paths.container6.from.address} -> ${paths.container6.to.address}, and the same pair over IPv4`,
    );
    ctx.details.dataplaneIpv6 = { gbps, rttMs: rtt };
    const rows = [
      {
        id: "ipv6",
        path: "container6",
        what: "container -> container over IPv6",
        base: "host6",
        baseName: "vm1 -> vm2 over IPv6, host to host",
        limits: { gbps: 0.9, rtt: 1.25 },
      },
      {
        id: "ipv6-vs-ipv4",
        path: "container6",
        what: "container -> container, IPv6 vs IPv4",
        base: "container4",
        baseName: "the same pair over IPv4",
        limits: { gbps: 0.97, rtt: 1.03 },
      },
    ] as const;
    addPathFigures(ctx, { gbps, rtt }, rows);
  } catch (err) {
    ctx.check(CHECK, false, (err as Error).message);
  } finally {
    await removePathsAndNetwork(ctx, servers, { vm1: [NAMES.vm1], vm2: [NAMES.vm2] }, NETWORK);
    const left = await containerRoutes(ctx, container6);
    // Each VM routes its own container's /128 to its bridge: both must have been there for "none left" to mean anything.
    ctx.check(
      "no /128 route of the IPv6 containers left on either VM after their network is removed",
      container6.length > 0 && routesBefore === container6.length && left.length === 0,
      `${routesBefore} of ${container6.length} present while measuring; left: ${left.join("; ") || "none"}`,
    );
  }
}

/** The VMs' IPv6 routes to any of the given addresses (a /128 shows as the bare address). */
function containerRoutes(ctx: BenchContext, addresses: string[]): Promise<string[]> {
  return linesOnVms(ctx, ["ip", "-6", "route", "show"], (l) => addresses.some((a) => l.startsWith(`${a} `) || l.startsWith(`${a}/128 `)));
}
