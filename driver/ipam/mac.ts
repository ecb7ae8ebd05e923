/**
 * Metadata sources spell MACs "000D3AF8A1B2"; Linux and the rest of the
 * plugin use "00:0d:3a:f8:a1:b2". Returns undefined for anything that is not
 * six bytes of hex, with no separators or with ':' or '-' between bytes.
 */
export function normaliseMac(text: string): string | undefined {
  const trimmed = text.trim();
  const bare = /^[0-9a-fA-F]{12}$/.test(trimmed)
    ? trimmed
    : /^[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$/.test(trimmed)
      ? trimmed.replace(/[:-]/g, "")
      : undefined;
  return bare?.toLowerCase().match(/../g)?.join(":");
}
