/**
 * The dataplane rows again on the second NIC: a network on each VM's eth1
 * subnet, whose containers' packets the plugin routes out of eth1 by their
 * source. Three comparisons, each path against one measured in the same
 * rounds: container to container inside the eth1 subnet against vm1's eth1
 * to vm2's eth1, and against the same pair of containers on the primary
 * NIC's network (what the second NIC's routing costs by itself); and a
 * container to vm3's address in the other subnet, which only the policy
 * routing sends out of the right NIC, against vm1 to vm3 host to host. vm3
 * has one NIC: a VM with two would answer the eth1 subnet through its own
 * eth1, with its eth0 address, which Azure drops.
 */
import { ARM_VM, BenchContext, VMS, VNET, type VmName } from "./context";
import { addPathFigures, container, iperfServer, linesOnVms, measureRounds, removePathsAndNetwork, type Endpoint } from "./dataplane";
import { BENCH_SUBNET2, NIC2_PRIMARY } from "./topology";

const NETWORK = "benchvnet-nic2";
const NAMES: Record<"vm1" | "vm2", string> = { vm1: "bench-nic2-src", vm2: "bench-nic2-dst" };
/** The same pair on the primary NIC's network. */
const PRIMARY_NAMES: Record<"vm1" | "vm2", string> = { vm1: "bench-nic2-src0", vm2: "bench-nic2-dst0" };
const CHECK = "iperf3 and ping from a container on vm1's second NIC";

export async function secondNicDataplane(ctx: BenchContext): Promise<void> {
  const host = (vm: VmName): Endpoint => ({ prefix: [], address: ctx.sim.vm(vm).nic.primary.address });
  const hostNic2 = (vm: "vm1" | "vm2"): Endpoint => ({ prefix: [], address: NIC2_PRIMARY[vm] });
  const servers: number[] = [];
  try {
    for (const vm of VMS) {
      const r = await ctx.docker(vm, [
        ...["network", "create", "-d", "azure-vnet", "--ipam-driver", "azure-vnet"],
        ...["--subnet", BENCH_SUBNET2, "-o", "parent=eth1", NETWORK],
      ]);
      if (r.code !== 0) throw new Error(`docker network create ${NETWORK} on ${vm} failed: ${r.stderr.trim()}`);
    }
    const src = await container(ctx, "vm1", NAMES.vm1, NETWORK);
    const dst = await container(ctx, "vm2", NAMES.vm2, NETWORK);
    const src0 = await container(ctx, "vm1", PRIMARY_NAMES.vm1, VNET);
    const dst0 = await container(ctx, "vm2", PRIMARY_NAMES.vm2, VNET);
    const paths = {
      host: { from: host("vm1"), to: host(ARM_VM) },
      hostNic2: { from: hostNic2("vm1"), to: hostNic2("vm2") },
      container: { from: src, to: dst },
      primaryContainer: { from: src0, to: dst0 },
      crossSubnet: { from: src, to: host(ARM_VM) },
    };
    // An iperf3 server on a VM's whole namespace answers every path to that VM's own addresses.
    servers.push(
      await iperfServer(ctx, hostNic2("vm2"), "nic2-host2"),
      await iperfServer(ctx, host(ARM_VM), "nic2-host3", ARM_VM),
      await iperfServer(ctx, dst, "nic2-container"),
      await iperfServer(ctx, dst0, "nic2-container0"),
    );
    const { gbps, rtt } = await measureRounds(ctx, paths);
    ctx.check(
      CHECK,
      true,
      `${ctx.opts.dataplaneRounds} rounds: to a container on vm2's second NIC, to vm3 in the other subnet, and the pair on the primary NICs`,
    );
    ctx.details.dataplaneNic2 = { gbps, rttMs: rtt };
    const rows = [
      {
        id: "nic2-container",
        what: "container -> container on the second NICs",
        path: "container",
        base: "hostNic2",
        baseName: "vm1 eth1 -> vm2 eth1",
        limits: { gbps: 0.9, rtt: 1.25 },
      },
      {
        id: "nic2-vs-primary",
        what: "container -> container on the second NICs",
        path: "container",
        base: "primaryContainer",
        baseName: "the same on the primary NICs",
        limits: { gbps: 0.97, rtt: 1.03 },
      },
      {
        id: "nic2-cross-subnet",
        what: "container on vm1's second NIC -> vm3 host (other subnet)",
        path: "crossSubnet",
        base: "host",
        baseName: "vm1 -> vm3, host to host",
        limits: { gbps: 0.9, rtt: 1.25 },
      },
    ] as const;
    addPathFigures(ctx, { gbps, rtt }, rows);
  } catch (err) {
    ctx.check(CHECK, false, (err as Error).message);
  } finally {
    await removePathsAndNetwork(ctx, servers, { vm1: [NAMES.vm1, PRIMARY_NAMES.vm1], vm2: [NAMES.vm2, PRIMARY_NAMES.vm2] }, NETWORK);
    const left = await linesOnVms(ctx, ["ip", "-4", "rule", "show"], (l) => l.includes(`from ${BENCH_SUBNET2}`));
    ctx.check(
      "no source rule left for the second NIC's subnet after its networks are removed",
      left.length === 0,
      left.join("; ") || "none",
    );
  }
}
