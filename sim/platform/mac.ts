/** The platform endpoints print MACs the Azure way: upper-case hex, no separators. */
export function azureMac(mac: string): string {
  return mac.replace(/[^0-9a-fA-F]/g, "").toUpperCase();
}
