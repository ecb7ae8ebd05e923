/** The benchmark's statistics and reporting helpers: pure functions, no simulator. */
import { strict as assert } from "node:assert";
import { blockSizes, firstOfPair, median, quantile, ratio, rotation, summarize } from "../../../bench/stats";
import { partsOf, profileTable } from "../../../bench/kernel-profile";
import { figure, figuresTable, formatNumber, meets } from "../../../bench/report";

describe("bench statistics", () => {
  it("interpolates quantiles between closest ranks", () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([4, 1, 3, 2], 0), 1);
    assert.equal(quantile([4, 1, 3, 2], 1), 4);
    assert.ok(Math.abs(quantile([10, 20, 30, 40, 50], 0.99) - 49.6) < 1e-9);
    assert.equal(median([7]), 7);
  });

  it("gives NaN for no samples and refuses quantiles outside 0..1", () => {
    assert.ok(Number.isNaN(median([])));
    assert.throws(() => quantile([1], 1.5), RangeError);
  });

  it("does not reorder the caller's samples", () => {
    const s = [3, 1, 2];
    quantile(s, 0.5);
    assert.deepEqual(s, [3, 1, 2]);
  });

  it("summarizes samples", () => {
    const s = summarize([1, 2, 3, 4, 5]);
    assert.equal(s.n, 5);
    assert.equal(s.min, 1);
    assert.equal(s.max, 5);
    assert.equal(s.p50, 3);
    assert.equal(s.mean, 3);
  });

  it("computes ratios only from finite values and a non-zero baseline", () => {
    assert.equal(ratio(3, 2), 1.5);
    assert.ok(Number.isNaN(ratio(1, 0)));
    assert.ok(Number.isNaN(ratio(Number.NaN, 1)));
  });

  it("alternates which side of an A/B pair runs first", () => {
    assert.deepEqual([0, 1, 2, 3].map(firstOfPair), ["a", "b", "a", "b"]);
  });

  it("rotates which of three goes first, and reverses every other cycle", () => {
    const orders = [0, 1, 2, 3, 4, 5].map((i) => rotation(["a", "b", "c"], i).join(""));
    assert.deepEqual(orders, ["abc", "bca", "cab", "cba", "acb", "bac"]);
    // Over two cycles each goes first, second and last equally often.
    for (const x of ["a", "b", "c"]) {
      const places = orders.map((o) => o.indexOf(x)).sort();
      assert.deepEqual(places, [0, 0, 1, 1, 2, 2]);
    }
  });

  it("groups perf's per-symbol samples into kernel parts and user time", () => {
    const report = [
      "# Samples: 1K of event 'cpu-clock'",
      "    40.00%           400  [k] veth_xmit",
      "    20.00%           200  [k] nft_do_chain",
      "    10.00%           100  [k] br_handle_frame",
      "     5.00%            50  [k] nf_hook_slow",
      "     5.00%            50  [k] nf_conntrack_in",
      "     5.00%            50  [k] ipt_do_table",
      "     5.00%            50  [.] __memcpy_avx_unaligned",
      "    10.00%           100  [k] some_unknown_function",
    ].join("\n");
    const { counts, samples } = partsOf(report);
    assert.equal(samples, 1000);
    assert.deepEqual(counts, {
      veth: 400,
      "nftables rules": 200,
      bridge: 100,
      "netfilter hooks": 50,
      "conntrack and NAT": 50,
      "legacy iptables rules": 50,
      user: 50,
      "other kernel": 100,
    });
    const rows = profileTable({ a: { perGB: { veth: 400, user: 50 }, samples: 450, gigabytes: 1 } });
    assert.deepEqual(rows.at(-1), ["total", "450"]);
    assert.deepEqual(
      rows.find((r) => r[0] === "veth"),
      ["veth", "400"],
    );
  });

  it("splits work into blocks that differ by at most one", () => {
    assert.deepEqual(blockSizes(10, 4), [3, 3, 2, 2]);
    assert.deepEqual(blockSizes(2, 4), [1, 1, 0, 0]);
    assert.equal(
      blockSizes(250, 3).reduce((a, b) => a + b),
      250,
    );
  });
});

describe("bench figures", () => {
  it("takes the ratio against the baseline and judges ratio targets on it", () => {
    const f = figure({ id: "x", name: "x", unit: "ms", value: 110, baseline: 100, target: { on: "ratio", op: "<=", limit: 1.1 } });
    assert.ok(Math.abs((f.ratio as number) - 1.1) < 1e-9);
    assert.equal(f.met, true);
  });

  it("judges value targets on the value, whatever the ratio", () => {
    const f = figure({ id: "x", name: "x", unit: "MiB", value: 90, baseline: 45, target: { on: "value", op: "<=", limit: 80 } });
    assert.equal(f.ratio, 2);
    assert.equal(f.met, false);
  });

  it("leaves a target undecided when the figure could not be measured", () => {
    assert.equal(meets({ on: "value", op: ">=", limit: 1 }, Number.NaN), undefined);
    const f = figure({ id: "x", name: "x", unit: "", value: Number.NaN, target: { on: "value", op: "<=", limit: 1 } });
    assert.equal(f.met, undefined);
    assert.match(figuresTable([f]), /n\/a/);
  });

  it("prints one row per figure with its target and verdict", () => {
    const table = figuresTable([
      figure({
        id: "t",
        name: "throughput",
        unit: "Gbit/s",
        value: 9,
        baseline: 10,
        baselineName: "host",
        target: { on: "ratio", op: ">=", limit: 0.95 },
      }),
    ]);
    const row = table.split("\n")[2];
    assert.match(row, /^throughput\s+9 Gbit\/s\s+10 Gbit\/s \(host\)\s+0\.9\s+ratio >= 0\.95\s+NO$/);
  });

  it("formats numbers to three significant digits, large ones whole", () => {
    assert.equal(formatNumber(0.12345), "0.123");
    assert.equal(formatNumber(1234.6), "1235");
    assert.equal(formatNumber(undefined), "-");
  });
});
