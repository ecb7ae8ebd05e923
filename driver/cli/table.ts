/** Left-aligned columns, two spaces apart, for terminal output. */
export function renderTable(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (cell ?? "").padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** A titled section; an empty one says so instead of printing a bare header. */
export function section(title: string, headers: string[], rows: string[][], empty: string): string {
  return `${title}\n${rows.length ? renderTable(headers, rows) : `  (${empty})`}\n`;
}
