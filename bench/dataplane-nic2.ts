/**
 * The dataplane rows again on the second NIC: a network on each VM's eth1
 * subnet, whose containers' packets the plugin routes out of eth1 by their
 * source. Two paths, each against the same path between the VMs' own
 * addresses: container to container inside the eth1 subnet (baseline vm1's
 * eth1 to vm2's eth1), and a container to vm3's address in the other subnet,
 * which only the policy routing sends out of the right NIC (baseline vm1 to
 * vm3 host to host). vm3 has one NIC: a VM with two would answer the eth1
 * subnet through its own eth1, with its eth0 address, which Azure drops.
 */
import { ARM_VM, BenchContext, VMS, type VmName } from "./context";
import { container, iperfServer, measureRounds, type Endpoint } from "./dataplane";
import { BENCH_SUBNET2, NIC2_PRIMARY } from "./topology";
import { median } from "./stats";
import { killAndWait } from "../sim/vm";

const NETWORK = "benchvnet-nic2";
const NAMES: Record<"vm1" | "vm2", string> = { vm1: "bench-nic2-src", vm2: "bench-nic2-dst" };

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
    const paths = {
      host: { from: host("vm1"), to: host(ARM_VM) },
      hostNic2: { from: hostNic2("vm1"), to: hostNic2("vm2") },
      container: { from: src, to: dst },
      crossSubnet: { from: src, to: host(ARM_VM) },
    };
    // An iperf3 server on a VM's whole namespace answers every path to that VM's own addresses.
    servers.push(
      await iperfServer(ctx, hostNic2("vm2"), "nic2-host2"),
      await iperfServer(ctx, host(ARM_VM), "nic2-host3", ARM_VM),
      await iperfServer(ctx, dst, "nic2-container"),
    );
    const { gbps, rtt } = await measureRounds(ctx, paths);
    ctx.check(
      "iperf3 and ping from a container on vm1's second NIC",
      true,
      `${ctx.opts.dataplaneRounds} rounds: to a container on vm2's second NIC, and to vm3 in the other subnet`,
    );
    ctx.details.dataplaneNic2 = { gbps, rttMs: rtt };
    const rows = [
      { id: "container", what: "container -> container on the second NICs", base: "hostNic2", baseName: "vm1 eth1 -> vm2 eth1" },
      {
        id: "cross-subnet",
        what: "container on vm1's second NIC -> vm3 host (other subnet)",
        base: "host",
        baseName: "vm1 -> vm3, host to host",
      },
    ] as const;
    const metrics = [
      { id: "throughput", what: "TCP throughput", unit: "Gbit/s", data: gbps, op: ">=", limit: 0.9 },
      { id: "rtt", what: "ping RTT", unit: "ms", data: rtt, op: "<=", limit: 1.25 },
    ] as const;
    for (const row of rows) {
      const path = row.id === "container" ? "container" : "crossSubnet";
      for (const m of metrics) {
        ctx.addFigure({
          id: `dp-${m.id}-nic2-${row.id}`,
          name: `${m.what} ${row.what}, bridge, median`,
          unit: m.unit,
          value: median(m.data[path]),
          baseline: median(m.data[row.base]),
          baselineName: row.baseName,
          target: { on: "ratio", op: m.op, limit: m.limit },
        });
      }
    }
  } catch (err) {
    ctx.check("iperf3 and ping from a container on vm1's second NIC", false, (err as Error).message);
  } finally {
    for (const pid of servers) await killAndWait(pid, 3_000);
    await ctx.docker("vm1", ["rm", "-f", NAMES.vm1]);
    await ctx.docker("vm2", ["rm", "-f", NAMES.vm2]);
    for (const vm of VMS) await ctx.docker(vm, ["network", "rm", NETWORK]);
    const left: string[] = [];
    for (const vm of VMS) {
      const rules = await ctx.sim.exec(vm, "ip", ["-4", "rule", "show"], { allowFailure: true });
      left.push(
        ...rules.stdout
          .split("\n")
          .filter((l) => l.includes(BENCH_SUBNET2))
          .map((l) => `${vm}: ${l.trim()}`),
      );
    }
    ctx.check(
      "no source rule left for the second NIC's subnet after its networks are removed",
      left.length === 0,
      left.join("; ") || "none",
    );
  }
}
