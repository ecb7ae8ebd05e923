/**
 * Where the kernel spends a path's CPU: `perf record` samples the whole
 * machine while one iperf3 run crosses the path, and the samples taken in the
 * iperf3 processes (whose system calls and softirqs carry every packet of the
 * path, sender and receiver both run here) are grouped by the kernel part
 * their symbol belongs to. Divided by the bytes moved, that is the cost per
 * gigabyte of each part, so two paths can be set side by side: what a
 * container path adds over host to host, and whether the plugin's own rules
 * are any of it. Needs perf (linux-perf); without it the profile is skipped.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../sim/exec";

/** Kernel parts, first match wins; the order puts the specific before the general. */
const PARTS: [string, RegExp][] = [
  // iptables-nft rules (Docker's, the simulator's, the plugin's) and the plugin's bridge guard all run here.
  ["nftables rules", /^(nft_|nf_tables_|__nft_)/],
  ["legacy iptables rules", /^(ipt_do_table|xt_|ebt_|ip6t_)/],
  ["conntrack and NAT", /^(nf_conntrack|__nf_conntrack|nf_ct_|nf_nat|ipv4_conntrack|hash_conntrack|tcp_packet$|nf_confirm)/],
  ["netfilter hooks", /^(nf_hook|nf_iterate|br_nf_|nf_bridge|__nf_)/],
  ["bridge", /^(br_|__br_)/],
  ["veth", /^(veth_|__veth_)/],
  [
    "IP forwarding and routing",
    /^(ip_forward|ip_route|fib_|ip_rcv|ip_output|ip_finish_output|ip_local_|__ip_|ip_sublist|neigh_|rt_|dst_|ip_list_rcv|arp_)/,
  ],
  [
    "device and softirq",
    /^(__dev_|dev_|netif_|__netif_|process_backlog|net_rx_action|napi_|__napi_|gro_|skb_gro|__do_softirq|handle_softirqs|do_softirq|__local_bh|eth_|sch_|qdisc_|__qdisc|pfifo|enqueue_to_backlog)/,
  ],
  ["TCP", /^(tcp_|__tcp_|inet_|sk_|sock_|__sk_|lock_sock|release_sock|__inet)/],
  ["copies and checksums", /^(copy_|_copy_|__copy_|skb_copy|csum_|__csum|memcpy|rep_movs|copyin|copyout|simple_copy)/],
  [
    "skb memory",
    /^(kmem_|__kmem|kfree|__kfree|skb_release|__alloc_skb|alloc_skb|__slab|slab_|page_frag|skb_free|napi_skb|consume_skb|___slab)/,
  ],
];

export interface KernelProfile {
  /** Samples per GB moved, by part; "other kernel" and "user" close the sum. */
  perGB: Record<string, number>;
  samples: number;
  gigabytes: number;
}

export async function perfAvailable(): Promise<boolean> {
  const r = await run("perf", ["--version"], { allowFailure: true, timeoutMs: 5_000 }).catch(() => undefined);
  return r?.code === 0;
}

/** Group perf's per-symbol sample counts (`perf report -n --sort sym`) into kernel parts. */
export function partsOf(report: string): { counts: Record<string, number>; samples: number } {
  const counts: Record<string, number> = {};
  let samples = 0;
  for (const line of report.split("\n")) {
    // "    12.34%           456  [k] veth_xmit"
    const m = /^\s*[\d.]+%\s+(\d+)\s+\[([k.])\]\s+(\S+)/.exec(line);
    if (!m) continue;
    const n = Number(m[1]);
    samples += n;
    const part = m[2] === "." ? "user" : (PARTS.find(([, re]) => re.test(m[3]))?.[0] ?? "other kernel");
    counts[part] = (counts[part] ?? 0) + n;
  }
  return { counts, samples };
}

/**
 * Records the machine while `load` runs (it returns the bytes it moved), and
 * reads the samples of the iperf3 processes by kernel part.
 */
export async function profileDuring(load: () => Promise<number>): Promise<KernelProfile> {
  const dir = mkdtempSync(join(tmpdir(), "azv-perf-"));
  const data = join(dir, "perf.data");
  try {
    const perf = spawn("perf", ["record", "-q", "-e", "cpu-clock", "-F", "2999", "-a", "-o", data], { stdio: "ignore" });
    const exited = new Promise<void>((resolve) => perf.once("exit", () => resolve()));
    let bytes: number;
    try {
      bytes = await load();
    } finally {
      perf.kill("SIGINT");
      await exited;
    }
    const r = await run(
      "perf",
      ["report", "-i", data, "--stdio", "-n", "--no-children", "--sort", "sym", "-g", "none", "--comm", "iperf3"],
      {
        timeoutMs: 120_000,
      },
    );
    const { counts, samples } = partsOf(r.stdout);
    const gigabytes = bytes / 1e9;
    const perGB = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / gigabytes]));
    return { perGB, samples, gigabytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Parts as rows, paths as columns: samples per GB, and each path's total. */
export function profileTable(profiles: Record<string, KernelProfile>): string[][] {
  const paths = Object.keys(profiles);
  const parts = [...PARTS.map(([name]) => name), "other kernel", "user"];
  const cell = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const rows = [["samples per GB", ...paths]];
  for (const part of parts) rows.push([part, ...paths.map((p) => cell(profiles[p].perGB[part] ?? 0))]);
  rows.push(["total", ...paths.map((p) => cell(Object.values(profiles[p].perGB).reduce((a, b) => a + b, 0)))]);
  return rows;
}
