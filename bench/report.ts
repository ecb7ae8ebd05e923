/**
 * What a benchmark run reports: figures (a value, the baseline measured in
 * the same run, their ratio and the target) and correctness checks. Timing
 * targets are only reported; failed checks make the run fail.
 */

export interface Target {
  /** Whether the limit applies to the ratio or to the value itself. */
  on: "ratio" | "value";
  op: "<=" | ">=";
  limit: number;
}

export interface Figure {
  id: string;
  name: string;
  unit: string;
  value: number;
  baseline?: number;
  /** What the baseline is, e.g. "docker bridge" or "kernel floor". */
  baselineName?: string;
  ratio?: number;
  target?: Target;
  met?: boolean;
  note?: string;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export function figure(f: Omit<Figure, "ratio" | "met">): Figure {
  const ratio = f.baseline === undefined ? undefined : f.value / f.baseline;
  const out: Figure = { ...f, ...(ratio !== undefined && { ratio }) };
  if (f.target) out.met = meets(f.target, f.target.on === "ratio" ? ratio : f.value);
  return out;
}

export function meets(target: Target, x: number | undefined): boolean | undefined {
  if (x === undefined || !Number.isFinite(x)) return undefined;
  return target.op === "<=" ? x <= target.limit : x >= target.limit;
}

export function formatNumber(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return "-";
  if (x === 0) return "0";
  const abs = Math.abs(x);
  if (abs >= 1000) return x.toFixed(0);
  return Number(x.toPrecision(digits)).toString();
}

export function formatTarget(t: Target | undefined, unit: string): string {
  if (!t) return "-";
  const what = t.on === "ratio" ? "ratio" : "";
  const suffix = t.on === "value" && unit ? ` ${unit}` : "";
  return `${what}${what ? " " : ""}${t.op} ${t.limit}${suffix}`;
}

/** A plain-text table, columns padded to their widest cell. */
export function renderTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (c ?? "").padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

export function figuresTable(figures: Figure[]): string {
  const rows = [["figure", "value", "baseline", "ratio", "target", "met?"]];
  for (const f of figures) {
    const unit = f.unit ? ` ${f.unit}` : "";
    rows.push([
      f.name,
      `${formatNumber(f.value)}${unit}`,
      f.baseline === undefined ? "-" : `${formatNumber(f.baseline)}${unit}${f.baselineName ? ` (${f.baselineName})` : ""}`,
      formatNumber(f.ratio),
      formatTarget(f.target, f.unit),
      f.met === undefined ? (f.target ? "n/a" : "") : f.met ? "yes" : "NO",
    ]);
  }
  return renderTable(rows);
}

export function checksTable(checks: Check[]): string {
  return renderTable([["check", "ok?", "detail"], ...checks.map((c) => [c.name, c.ok ? "ok" : "FAILED", c.detail])]);
}
